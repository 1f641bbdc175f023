"""The open bus: the monitor CLI and a Python subscriber written from the .proto alone see
the same events (ids and values) as an SSE client of a gateway."""
import json
import os
import re
import subprocess
import sys
import threading
import time
import unittest

from harness import BIN, SSEClient, SystemTest, parse_id

SUBSCRIBER = os.path.join(os.path.dirname(__file__), "../../tools/python/rn_subscriber.py")
PROTO_PY = os.path.join(os.environ.get("RN_BUILD_DIR", "build"), "python")


def collect_json_lines(argv, out, timeout=20):
    """Runs a subscriber to completion (it exits after --count events)."""
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    out.extend(json.loads(line) for line in r.stdout.splitlines() if line.startswith("{"))
    out.append(r.returncode)


class SubscribersTest(SystemTest):
    def test_monitor_python_and_sse_see_the_same_events(self):
        _, endpoint = self.generator(interval_ms=100)
        _, url = self.gateway(endpoint)
        monitor, python = [], []
        runs = [threading.Thread(target=collect_json_lines, args=(
                    [os.path.join(BIN, "monitor"), "--connect", endpoint, "--json",
                     "--count", "30"], monitor)),
                threading.Thread(target=collect_json_lines, args=(
                    [sys.executable, SUBSCRIBER, "--connect", endpoint, "--count", "30",
                     "--proto-path", PROTO_PY], python))]
        for t in runs:
            t.start()
        sse = {parse_id(e["id"]): int(e["data"]) for e in SSEClient(url).events(30)}
        for t in runs:
            t.join(30)
        self.assertEqual((monitor.pop(), python.pop()), (0, 0), "both exit cleanly")
        for name, events in (("monitor", monitor), ("python", python)):
            seen = {(e["epoch"], e["seq"]): e["value"] for e in events}
            seqs = sorted(seen)
            self.assertEqual([s for _, s in seqs], list(range(seqs[0][1], seqs[0][1] + 30)),
                             f"{name}: no gap")
            common = set(seen) & set(sse)
            self.assertGreaterEqual(len(common), 20, name)
            self.assertEqual({k: seen[k] for k in common}, {k: sse[k] for k in common}, name)

    def test_monitor_stats_report_rate_and_no_gaps(self):
        _, endpoint = self.generator(interval_ms=50)
        r = subprocess.run([os.path.join(BIN, "monitor"), "--connect", endpoint, "--stats",
                            "--json", "--stats-interval-ms", "1000", "--count", "70"],
                           capture_output=True, text=True, timeout=20)
        reports = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertGreaterEqual(len(reports), 2, r.stdout + r.stderr)
        full = reports[1]  # the first interval includes connecting
        self.assertAlmostEqual(full["rate"], 20, delta=4)
        self.assertTrue(all(rep["gaps"] == 0 and rep["malformed"] == 0 for rep in reports))
        self.assertGreaterEqual(full["latency_ms"]["p50"], 0)

    def test_monitor_bad_input_is_a_clear_error(self):
        r = subprocess.run([os.path.join(BIN, "monitor"), "--connect", "bogus://x"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot connect to 'bogus://x'", r.stderr)
        r = subprocess.run([os.path.join(BIN, "monitor"), "--curve-server-key-file", "/nope"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("CURVE", r.stderr)


class PairSubscriberTest(SystemTest):
    """--connect A,B on a generator pair: the Python subscriber reads both members and
    prints each event once, in seq order, across a takeover (a gateway votes for it)."""

    def test_python_subscriber_reads_a_pair_each_event_once_across_a_takeover(self):
        from test_pair_gateway import RealPairGatewayTest
        pair = RealPairGatewayTest("run")
        pair.procs = self.procs
        members, connect, _ = pair.start_pair()
        self.gateway(connect)  # the voter
        out = []
        run = threading.Thread(target=collect_json_lines, args=(
            [sys.executable, SUBSCRIBER, "--connect", connect, "--count", "80",
             "--proto-path", PROTO_PY], out, 40))
        run.start()
        import time
        time.sleep(1.5)
        pair.kill(members["primary"])
        run.join(45)
        self.assertEqual(out.pop(), 0, "exits cleanly")
        ids = [(e["epoch"], e["seq"]) for e in out]
        self.assertEqual(len(ids), 80)
        self.assertEqual(len({e for e, _ in ids}), 1, "one epoch")
        self.assertEqual([s for _, s in ids], list(range(ids[0][1], ids[0][1] + 80)),
                         "each once, in order, no gap")


class MonitorPairTest(SystemTest):
    """monitor --connect A,B: both members in --stats and --metrics, and its vote alone
    makes the passive take over when the active is killed (no gateway here)."""

    def test_monitor_shows_both_members_and_votes(self):
        import time
        from harness import free_port, metrics
        from test_pair_gateway import RealPairGatewayTest
        pair = RealPairGatewayTest("run")
        pair.procs = self.procs
        members, connect, ports = pair.start_pair()
        a, b = (f"tcp://127.0.0.1:{ports[n][0]}" for n in ("primary", "backup"))
        mport = free_port()
        mon = self.spawn("monitor", "monitor", ["--connect", connect, "--stats", "--json",
                                                "--stats-interval-ms", "500", "--metrics",
                                                f"127.0.0.1:{mport}"])
        time.sleep(1.5)
        m = metrics(f"http://127.0.0.1:{mport}")
        self.assertEqual((m[f'rn_bus_member_state{{source="{a}"}}'],
                          m[f'rn_bus_member_state{{source="{b}"}}']), (0, 2))
        self.assertEqual(m[f'rn_bus_member_role{{source="{b}"}}'], 2)
        self.assertEqual(m[f'rn_bus_votes_total{{source="{b}"}}'], 0)
        pair.kill(members["primary"])
        members["backup"].wait_log(r'msg="takeover"', timeout=6)
        time.sleep(1)
        m = metrics(f"http://127.0.0.1:{mport}")
        self.assertEqual(m[f'rn_bus_member_takeovers{{source="{b}"}}'], 1)
        self.assertEqual((m[f'rn_bus_member_state{{source="{a}"}}'],
                          m[f'rn_bus_member_state{{source="{b}"}}']), (3, 0),
                         "the killed member is not heard, not shown in its last state")
        self.assertGreaterEqual(m[f'rn_bus_votes_total{{source="{b}"}}'], 1)
        self.assertEqual(m[f'rn_bus_votes_total{{source="{a}"}}'], 0)
        self.assertEqual(m["rn_bus_gaps_total"], 0)
        lines = [json.loads(line) for line in mon.text().splitlines() if line.startswith("{")]
        backup = [x for x in lines if x.get("member") == b]
        self.assertEqual((backup[0]["role"], backup[0]["state"]), ("backup", "passive"))
        self.assertEqual(backup[-1]["state"], "active")
        primary = [x for x in lines if x.get("member") == a]
        self.assertEqual(primary[-1]["state"], "silent", "a killed member is not shown active")


    def test_monitor_replays_from_the_active_member_on_its_own_host(self):
        """--replay-from with a pair whose active member is the second endpoint, on another
        host: the replay goes to that member's host (it once went to the first endpoint's
        host with the active's port, found nothing there, and the events were missing)."""
        from test_pair_gateway import RealPairGatewayTest
        pair = RealPairGatewayTest("run")
        pair.procs = self.procs
        members, connect, _ = pair.start_pair(hosts={"backup": "127.0.0.2"})
        self.gateway(connect)  # the voter
        pair.kill(members["primary"])
        taken = members["backup"].wait_log(r'msg="pair continues the epoch" epoch=(\d+)', timeout=10)
        epoch = int(taken.group(1))
        time.sleep(3)  # some 60 events more at 50 ms: 6..35 can only come from the replay
        r = subprocess.run([os.path.join(BIN, "monitor"), "--connect", connect, "--json",
                            "--replay-from", f"{epoch}-5", "--count", "30"],
                           capture_output=True, text=True, timeout=40)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        seqs = [json.loads(line)["seq"] for line in r.stdout.splitlines()
                if line.startswith("{")]
        self.assertEqual(seqs, list(range(6, 36)), r.stderr[-2000:])


if __name__ == "__main__":
    unittest.main()
