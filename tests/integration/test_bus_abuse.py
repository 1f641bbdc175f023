"""A bus no stray peer can switch off: a raw ZMTP peer (no library, no keys) that sends
an unsubscribe it never subscribed changes nothing a client receives; one that
subscribes twice and leaves does not keep an idle generator publishing; a 2 MB
subscription is refused without costing the generator memory."""
import time
import unittest

from bus import HeartbeatWatcher, RawPeer
from harness import SSEClient, SystemTest, free_port, metrics, parse_id, wait_until


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class BusAbuseTest(SystemTest):
    def test_a_forged_unsubscribe_changes_nothing_a_client_receives(self):
        port = free_port()
        self.generator(port=port, interval_ms=100)
        _, url = self.gateway(f"tcp://127.0.0.1:{port}")
        sse = SSEClient(url)
        before = sse.events(3)
        peer = RawPeer(port)
        self.addCleanup(peer.close)
        peer.send(b"\x00number")  # never subscribed
        start = time.monotonic()
        after = sse.events(40, timeout=10)  # four seconds of events: two heartbeats past
        elapsed = time.monotonic() - start
        ids = [parse_id(e["id"]) for e in before + after]
        epoch, first = ids[0]
        self.assertEqual(ids, [(epoch, first + i) for i in range(len(ids))], "no gap")
        self.assertLess(elapsed, 8, "the stream never paused for long")
        self.assertGreater(metrics(url)["rn_gateway_bus_resubscribes_total"], 0,
                           "the gateway re-asserted its subscription")

    def test_a_duplicate_subscribe_does_not_keep_an_idle_generator_publishing(self):
        port = free_port()
        self.generator(port=port, interval_ms=100)
        watcher = HeartbeatWatcher(f"tcp://127.0.0.1:{port}")
        self.addCleanup(watcher.close)
        peer = RawPeer(port)
        peer.send(b"\x01number")
        peer.send(b"\x01number")
        wait_until(lambda: watcher.next()[1], 5, what="publishing for the peer")
        peer.close()  # its only subscriber leaves
        wait_until(lambda: not watcher.next()[1], 5, what="nobody wants the topic")
        time.sleep(2.5)  # the grace period of two heartbeats
        seq, _ = watcher.next()
        self.assertEqual(watcher.latest(2.0), (seq, False), "idle: seq stays")

    def test_a_huge_subscription_is_refused_without_costing_memory(self):
        port = free_port()
        gen, _ = self.generator(port=port, interval_ms=100)
        time.sleep(0.5)
        before = rss_kib(gen.proc.pid)
        peer = RawPeer(port)
        self.addCleanup(peer.close)
        peer.send(b"\x01" + b"n" * (2 << 20))
        self.assertTrue(peer.closed_by_peer(), "the generator drops that peer")
        time.sleep(0.5)
        self.assertLess(rss_kib(gen.proc.pid) - before, 1024, "RSS within 1 MB")
        self.assertTrue(gen.alive())
        # Counted: libzmq tells only of a closed connection, which the generator logs.
        gen.wait_log(r'msg="peer connection closed" socket=bus accepted_total=1 closed_total=1')


if __name__ == "__main__":
    unittest.main()
