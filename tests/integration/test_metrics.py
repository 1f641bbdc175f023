"""Observability: /metrics is valid Prometheus text (checked by promtool) whose counters
move with the traffic the test drives; the generator's status rides on its heartbeats."""
import shutil
import subprocess
import time
import unittest

from bus import HeartbeatWatcher, varint_fields
from harness import SSEClient, SystemTest, http_get, metrics, wait_until


class MetricsTest(SystemTest):
    def test_metrics_pass_promtool_and_move_with_traffic(self):
        _, endpoint = self.generator(interval_ms=50)
        _, url = self.gateway(endpoint, ["--max-clients", "2", "--threads", "16"])
        status, headers, body = http_get(url + "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/plain; version=0.0.4"))
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool from Debian's prometheus package")
        check = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

        before = metrics(url)
        a = SSEClient(url)
        last = a.events(5)[-1]["id"]
        b = SSEClient(url, headers={"Last-Event-ID": last})
        b.events(3)
        refused = SSEClient(url)
        self.assertEqual(refused.status, 503)
        # Each client adds its delivery counts to the shared ones every 100 ms.
        wait_until(lambda: metrics(url)["rn_gateway_events_delivered_total"] >= 8, 2,
                   what="deliveries counted")
        during = metrics(url)
        self.assertEqual(during["rn_gateway_sse_clients"], 2)
        # The streams hold no worker: only the /metrics request itself is being served.
        self.assertEqual(during["rn_gateway_workers_busy"], 1)
        self.assertEqual(during["rn_gateway_threads"], before["rn_gateway_threads"],
                         "streams add no thread")
        self.assertLessEqual(during["rn_gateway_threads"], 48)
        self.assertEqual(during["rn_gateway_sse_refused_total"] - before["rn_gateway_sse_refused_total"], 1)
        self.assertEqual(during["rn_gateway_sse_resumes_total"], 1)
        self.assertEqual(during["rn_gateway_sse_connections_total"], 2)
        for counter in ("rn_gateway_bus_events_total", "rn_gateway_events_delivered_total",
                        "rn_gateway_bytes_written_total", "rn_gateway_write_latency_seconds_count"):
            self.assertGreater(during[counter], before[counter], counter)
        self.assertGreaterEqual(during["rn_gateway_events_delivered_total"], 8)
        self.assertLess(during["rn_gateway_last_event_age_seconds"], 1.0)
        self.assertEqual(during['rn_gateway_write_latency_seconds_bucket{le="+Inf"}'],
                         during["rn_gateway_write_latency_seconds_count"])
        wait_until(lambda: metrics(url)["rn_gateway_bus_heartbeats_total"] >= 1, 5,
                   what="a generator heartbeat counted")
        a.close()
        b.close()
        wait_until(lambda: metrics(url)["rn_gateway_sse_clients"] == 0, 5, what="clients gone")
        check = subprocess.run([promtool, "check", "metrics"],
                               input=http_get(url + "/metrics")[2], capture_output=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_many_series_are_all_rendered(self):
        """Every --connect source at its longest name: /metrics outgrows any fixed buffer
        (it once answered 500 past 16 KiB) and must still come whole."""
        _, endpoint = self.generator(interval_ms=50)
        host, port = endpoint.rsplit(":", 1)
        # One generator under four names: zeros before the port change the name, not the
        # port. SOURCES_MAX endpoints of SOURCES_ENDPOINT_MAX - 1 bytes.
        sources = [f"{host}:{'0' * (255 - len(host) - 1 - len(port) - i)}{port}" for i in range(4)]
        self.assertTrue(all(len(s) <= 255 for s in sources))
        _, url = self.gateway(",".join(sources))
        wait_until(lambda: all(metrics(url)[f'rn_gateway_generator_state{{source="{s}"}}'] != 3
                               for s in sources), 10, what="every source heard")
        status, _, body = http_get(url + "/metrics")
        self.assertEqual(status, 200, body[:200])
        self.assertGreater(len(body), 16384, "the series outgrow the old fixed buffer")
        check = subprocess.run([shutil.which("promtool"), "check", "metrics"], input=body,
                               capture_output=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        text = body.decode()
        for name in ("generator_state", "generator_role", "generator_active",
                     "generator_mirrored_seq", "generator_peer_seen",
                     "generator_takeovers_total", "votes_total"):
            for s in sources:
                self.assertIn(f'rn_gateway_{name}{{source="{s}"}} ', text)
        self.assertIn("rn_gateway_write_latency_seconds_count ", text, "the text is whole")

    def test_generator_status_on_the_heartbeat_topic(self):
        _, endpoint = self.generator(interval_ms=100)
        watcher = HeartbeatWatcher(endpoint)
        watcher.next()
        sock = watcher.sock
        sock.poll(3000)
        fields = varint_fields(sock.recv_multipart()[1])
        self.assertEqual(fields.get(7), 1, "one prefix subscribed: the watcher's _heartbeat")
        self.assertFalse(fields.get(6, 0), "idle")
        self.gateway(endpoint)
        wait_until(lambda: watcher.next()[1], 5, what="publishing once a gateway subscribes")
        sock.poll(3000)
        fields = varint_fields(sock.recv_multipart()[1])
        self.assertEqual(fields.get(7), 2, "_heartbeat (the watcher's and the gateway's) and number")
        first = fields.get(2, 0)
        time.sleep(0.5)
        self.assertGreater(watcher.next()[0], first, "published count grows")
        watcher.close()


if __name__ == "__main__":
    unittest.main()
