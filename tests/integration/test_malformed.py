"""Bad messages on the bus are counted and dropped; relaying goes on."""
import unittest

from bus import Injector, encode_number
from harness import SSEClient, SystemTest, free_port, http_get, metrics, parse_id, wait_until


class MalformedTest(SystemTest):
    def gateway_with_injector(self):
        """A gateway subscribed to a generator and to the test's injector; and a client."""
        _, endpoint = self.generator(interval_ms=100)
        injector = Injector(free_port())
        self.addCleanup(injector.close)
        _, url = self.gateway(f"{endpoint},{injector.endpoint}")
        injector.wait_subscription(b"number")
        return injector, url, SSEClient(url)

    def test_malformed_messages_are_counted_and_dropped(self):
        injector, url, sse = self.gateway_with_injector()
        sse.events(2)

        valid = encode_number(1, 1, 0, 5)
        bad = [
            ([b"number"], "frames"),
            ([b"number", valid, b"third"], "frames"),
            ([b"number", b"\xff\xff\xff\xff"], "decode"),
            ([b"_heartbeat", b"\x08"], "decode"),
            ([b"numbers", valid], "topic"),
            ([b"number", b""], "field"),
            ([b"number", encode_number(1, 0, 0, 5)], "field"),
        ]
        for frames, _ in bad:
            injector.send(frames)
        expected = {}
        for _, reason in bad:
            expected[reason] = expected.get(reason, 0) + 1

        def counted():
            m = metrics(url)
            return all(m[f'rn_gateway_bus_malformed_total{{reason="{r}"}}'] == n
                       for r, n in expected.items())

        wait_until(counted, 5, what=f"malformed counts {expected}")
        events = sse.events(5)
        ids = [parse_id(e["id"]) for e in events]
        for (e1, s1), (e2, s2) in zip(ids, ids[1:]):
            self.assertEqual((e2, s2), (e1, s1 + 1), "relaying continues without a gap")
        self.assertEqual(http_get(url + "/healthz")[0], 200)

    def test_a_replayed_or_older_event_is_dropped_as_stale(self):
        injector, url, sse = self.gateway_with_injector()
        epoch, seq = parse_id(sse.events(1)[0]["id"])
        injector.send([b"number", encode_number(epoch, seq, 0, 7)])
        injector.send([b"number", encode_number(epoch - 1, seq + 1000, 0, 7)])
        wait_until(lambda: metrics(url)["rn_gateway_bus_stale_total"] == 2, 5,
                   what="two stale events counted")
        ids = [parse_id(e["id"]) for e in sse.events(3)]
        self.assertTrue(all(e == epoch for e, _ in ids), ids)


if __name__ == "__main__":
    unittest.main()
