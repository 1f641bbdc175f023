"""monitor --metrics: the bus as a subscriber sees it, in valid Prometheus text (checked by
promtool): events and latency counted, the generator's heartbeat fields, and a restarted
generator counted as an epoch change, not as a gap; its latency histogram has the gateway's
buckets, so the two can be read side by side."""
import os
import re
import shutil
import subprocess
import unittest

from harness import BIN, Process, SystemTest, free_port, http_get, wait_until

BUCKET = re.compile(r'^(\w+)_bucket\{le="([^"]+)"\} ')


def scrape(url):
    status, _, body = http_get(url + "/metrics")
    if status != 200:
        raise AssertionError(f"/metrics answered {status}")
    values = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return body, values


class MonitorMetricsTest(SystemTest):
    def test_the_monitor_exports_the_bus(self):
        port = free_port()
        gen, endpoint = self.generator(port=port, interval_ms=50)
        http = free_port()
        monitor = Process("monitor", [os.path.join(BIN, "monitor"), "--connect", endpoint,
                                      "--metrics", f"127.0.0.1:{http}"])
        self.procs.append(monitor)
        url = f"http://127.0.0.1:{http}"
        wait_until(lambda: _events(url) >= 10, 10, what="10 events counted")
        body, m = scrape(url)
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool from Debian's prometheus package")
        check = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertEqual(m["rn_bus_gaps_total"], 0)
        self.assertEqual(m["rn_bus_malformed_total"], 0)
        self.assertEqual(m['rn_bus_latency_seconds_bucket{le="+Inf"}'], m["rn_bus_events_total"])
        # A heartbeat received after this scrape left the generator after every event counted
        # in it (one connection keeps order), so its last seq is at least their number.
        before = scrape(url)[1]
        wait_until(lambda: scrape(url)[1]["rn_bus_heartbeats_total"] >
                   before["rn_bus_heartbeats_total"], 5, what="a heartbeat after the scrape")
        m = scrape(url)[1]
        self.assertEqual(m["rn_bus_generator_publishing"], 1)
        self.assertGreaterEqual(m["rn_bus_generator_subscriptions"], 1)
        self.assertGreaterEqual(m["rn_bus_generator_last_seq"], before["rn_bus_events_total"])
        self.assertGreaterEqual(m["rn_bus_heartbeat_age_seconds"], 0)
        epoch = m["rn_bus_generator_epoch"]

        # A generator restarted on the same port: a new epoch, counted as such.
        gen.stop()
        self.procs.remove(gen)
        self.generator(port=port, interval_ms=50)
        wait_until(lambda: (lambda m: m["rn_bus_epoch_changes_total"] >= 1 and
                            m["rn_bus_generator_epoch"] != epoch)(scrape(url)[1]), 15,
                   what="the new epoch counted and in the heartbeat gauge")
        self.assertEqual(scrape(url)[1]["rn_bus_gaps_total"], 0)

    def test_every_series_of_every_source_is_rendered(self):
        """Every --connect source at its longest name: the monitor's page outgrows any fixed
        buffer (it once cut the text silently at 8 KiB) and must still come whole."""
        _, endpoint = self.generator(interval_ms=50)
        host, port = endpoint.rsplit(":", 1)
        # One generator under four names: zeros before the port change the name, not the
        # port. SOURCES_MAX endpoints of SOURCES_ENDPOINT_MAX - 1 bytes.
        sources = [f"{host}:{'0' * (255 - len(host) - 1 - len(port) - i)}{port}" for i in range(4)]
        http = free_port()
        self.procs.append(Process("monitor", [os.path.join(BIN, "monitor"), "--connect",
                                              ",".join(sources), "--metrics", f"127.0.0.1:{http}"]))
        url = f"http://127.0.0.1:{http}"
        wait_until(lambda: _events(url) >= 1, 10, what="an event counted")
        body, _ = scrape(url)
        self.assertGreater(len(body), 8192, "the series outgrow the old fixed page")
        check = subprocess.run([shutil.which("promtool"), "check", "metrics"], input=body,
                               capture_output=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        text = body.decode()
        for name in ("state", "role", "peer_seen", "mirrored_seq", "standby_synced", "takeovers"):
            for s in sources:
                self.assertIn(f'rn_bus_member_{name}{{source="{s}"}} ', text)
        for s in sources:
            self.assertIn(f'rn_bus_votes_total{{source="{s}"}} ', text, "the text is whole")

    def test_the_monitor_and_the_gateway_share_the_latency_buckets(self):
        _, endpoint = self.generator(interval_ms=50)
        _, gateway = self.gateway(endpoint)
        http = free_port()
        self.procs.append(Process("monitor", [os.path.join(BIN, "monitor"), "--connect",
                                              endpoint, "--metrics", f"127.0.0.1:{http}"]))
        monitor = f"http://127.0.0.1:{http}"
        wait_until(lambda: _events(monitor) >= 1, 10, what="an event counted")
        ours = _bounds(scrape(monitor)[0], "rn_bus_latency_seconds")
        theirs = _bounds(http_get(gateway + "/metrics")[2], "rn_gateway_write_latency_seconds")
        self.assertEqual(ours, theirs)
        self.assertEqual(ours[-1], "+Inf")
        finite = [float(le) for le in ours[:-1]]
        self.assertEqual(finite, sorted(set(finite)))


def _bounds(body, histogram):
    """The le labels of a histogram's buckets, in the order they are written."""
    found = (BUCKET.match(line) for line in body.decode().splitlines())
    return [m.group(2) for m in found if m and m.group(1) == histogram]


def _events(url):
    try:
        return scrape(url)[1]["rn_bus_events_total"]
    except OSError:
        return 0


if __name__ == "__main__":
    unittest.main()
