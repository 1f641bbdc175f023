"""Replay from the generator: a gateway heals a bus gap from the generator's replay socket
so its clients miss nothing, and a generator that comes back with a lower epoch (its clock
went back) is relayed after a reset instead of being dropped as stale."""
import signal
import time
import unittest

from cut_proxy import CutProxy
from harness import SSEClient, SystemTest, free_port, metrics, parse_id, wait_until


def number_ids(events):
    return [parse_id(e["id"]) for e in events if e.get("event") == "number"]


class ReplayTest(SystemTest):
    def test_a_bus_cut_is_healed_from_the_generator(self):
        port = free_port()
        _, endpoint = self.generator(port=port, interval_ms=50)
        proxy = CutProxy(port)
        self.addCleanup(proxy.close)
        # The bus goes through the proxy; the replay socket is found from the heartbeats. A
        # small history: the refill after the cut is more than --max-lag (64) events, which
        # must not make the connected client count as slow, yet well within the history
        # (128), which a refill beyond would overwrite under the client.
        _, url = self.gateway(f"tcp://127.0.0.1:{proxy.port}", ["--history", "128"])
        sse = SSEClient(url)
        before = sse.events(5)
        proxy.cut()
        time.sleep(4.0)  # about eighty events are published meanwhile
        proxy.heal()
        after = sse.events(120, timeout=30)
        ids = number_ids(before + after)
        epoch = ids[0][0]
        self.assertEqual(ids, [(epoch, ids[0][1] + i) for i in range(len(ids))],
                         "every event, in order, across the cut")
        m = metrics(url)
        self.assertGreater(m["rn_gateway_bus_replayed_total"], 0, "the gap came from replay")
        self.assertEqual(m["rn_gateway_bus_gap_events_total"], 0, "no gap was left")
        self.assertEqual(m['rn_gateway_sse_resets_total{reason="gap"}'], 0)
        self.assertEqual(m["rn_gateway_sse_dropped_slow_total"], 0)

    def test_a_generator_back_with_a_lower_epoch_is_relayed_after_a_reset(self):
        port = free_port()
        gen, endpoint = self.generator(port=port, interval_ms=50, extra=["--epoch", "5000000"])
        _, url = self.gateway(endpoint)
        sse = SSEClient(url)
        old = number_ids(sse.events(3))
        gen.stop(signal.SIGTERM)
        self.generator(port=port, interval_ms=50, extra=["--epoch", "4000000"])  # clock behind
        seen = []
        while not seen or seen[-1].get("event") != "number" or \
                parse_id(seen[-1]["id"])[0] != 4000000:
            seen += sse.events(1, timeout=10)
        self.assertEqual((seen[-2]["event"], seen[-2]["data"]), ("reset", "epoch"), seen[-3:])
        self.assertEqual(parse_id(seen[-1]["id"]), (4000000, 1), "the new stream from its start")
        later = number_ids(sse.events(5))
        self.assertEqual(later, [(4000000, 2 + i) for i in range(5)])
        wait_until(lambda: metrics(url)["rn_gateway_generator_up"] == 1, 5, what="generator up")
        self.assertEqual(metrics(url)["rn_gateway_generator_epoch"], 4000000)
        # A client still holding the old epoch's id is told, then gets the new stream.
        late = SSEClient(url, headers={"Last-Event-ID": f"{old[-1][0]}-{old[-1][1]}"})
        first = late.next_event()
        self.assertEqual((first["event"], first["data"]), ("reset", "epoch"))
        self.assertEqual(parse_id(late.events(1)[0]["id"])[0], 4000000)


if __name__ == "__main__":
    unittest.main()
