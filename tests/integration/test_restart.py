"""The gateway outlives its generator: it reports the generator down, then relays the new
epoch once a generator is back on the same endpoint, without the client reconnecting."""
import signal
import time
import unittest

from harness import SSEClient, SystemTest, free_port, http_get, metrics, parse_id, wait_until


class RestartTest(SystemTest):
    def test_a_new_gateway_does_not_wait_for_the_next_heartbeat(self):
        """A subscriber of the heartbeats gets one at once: a gateway (re)started beside
        a running generator is ready long before the generator's next periodic one."""
        _, endpoint = self.generator(interval_ms=100, extra=("--heartbeat-ms", "20000"))
        time.sleep(1.0)  # the generator's first heartbeat went out to nobody
        started = time.monotonic()
        _, url = self.gateway(endpoint, ["--bus-timeout-ms", "30000"], ready=False)
        wait_until(lambda: http_get(url + "/readyz")[0] == 200, 10, what="gateway ready")
        print(f"ready {time.monotonic() - started:.2f} s after start, heartbeats every 20 s")

    def test_gateway_survives_a_generator_restart(self):
        port = free_port()
        gen, endpoint = self.generator(port=port, interval_ms=200)
        _, url = self.gateway(endpoint, ["--bus-timeout-ms", "1000"])
        sse = SSEClient(url)
        before = sse.events(3)
        old_epoch = parse_id(before[-1]["id"])[0]

        self.assertNotEqual(gen.stop(signal.SIGKILL), 0)
        wait_until(lambda: http_get(url + "/readyz")[0] == 503, 5, what="not ready")
        self.assertEqual(metrics(url)["rn_gateway_generator_up"], 0)
        self.assertEqual(http_get(url + "/healthz")[0], 200, "alive though not ready")

        self.generator(port=port, interval_ms=200)
        wait_until(lambda: http_get(url + "/readyz")[0] == 200, 10, what="ready again")
        after = []
        while not after or "id" not in after[-1] or parse_id(after[-1]["id"])[0] == old_epoch:
            after += sse.events(1, timeout=10)
        self.assertEqual((after[-2]["event"], after[-2]["data"]), ("reset", "epoch"),
                         "the client is told the generator restarted")
        new_epoch, seq = parse_id(after[-1]["id"])
        self.assertGreater(new_epoch, old_epoch, "the new generator's epoch is larger")
        nxt = parse_id(sse.events(1)[0]["id"])
        self.assertEqual(nxt, (new_epoch, seq + 1))


if __name__ == "__main__":
    unittest.main()
