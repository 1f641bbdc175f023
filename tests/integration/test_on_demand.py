"""Publishing only when wanted: an idle generator, an --on-demand gateway without clients,
and the first browser waking the stream. Observed from the bus, through heartbeats."""
import time
import unittest

from bus import HeartbeatWatcher
from harness import SSEClient, SystemTest, metrics, wait_until


class OnDemandTest(SystemTest):
    def test_generator_without_subscribers_publishes_nothing(self):
        _, endpoint = self.generator(interval_ms=100)
        watcher = HeartbeatWatcher(endpoint)
        first = watcher.next()
        last_seq, publishing = watcher.latest(2.0)
        self.assertEqual((last_seq, publishing), (0, False), first)
        watcher.close()

    def test_on_demand_gateway_idles_until_a_client_comes(self):
        _, endpoint = self.generator(interval_ms=1000)
        watcher = HeartbeatWatcher(endpoint)
        _, url = self.gateway(endpoint, ["--on-demand"])
        self.assertEqual(watcher.latest(2.5), (0, False), "no client: nothing published")
        self.assertEqual(metrics(url)["rn_gateway_bus_events_total"], 0)

        started = time.monotonic()
        sse = SSEClient(url)
        ev = sse.next_event(timeout=3)
        self.assertIsNotNone(ev)
        self.assertLess(time.monotonic() - started, 1.5,
                        "publishing starts within a second of the first client")
        self.assertEqual(ev["id"].split("-")[1], "1", "the first event of this epoch")
        self.assertTrue(watcher.latest(1.0)[1])

        sse.close()
        # The gateway notices the closed stream at its next write, then unsubscribes.
        wait_until(lambda: not watcher.next()[1], 10, what="nobody wants the topic")
        time.sleep(2.5)  # the generator's grace period of two heartbeats
        seq_idle, _ = watcher.next()
        self.assertEqual(watcher.latest(2.0), (seq_idle, False), "idle: seq stays")
        watcher.close()

    def test_default_gateway_keeps_the_stream_warm(self):
        _, endpoint = self.generator(interval_ms=200)
        watcher = HeartbeatWatcher(endpoint)
        _, url = self.gateway(endpoint)
        wait_until(lambda: metrics(url)["rn_gateway_bus_events_total"] >= 3, 5,
                   what="events relayed with no client")
        self.assertTrue(watcher.latest(0.5)[1])
        watcher.close()


if __name__ == "__main__":
    unittest.main()
