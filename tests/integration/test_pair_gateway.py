"""A gateway with --connect A,B in front of a generator pair, seen against stand-ins that
follow the contract of proto/rn.proto (fake_pair.py): it relays from the active member,
votes only when no active one is heard, its vote is what lets the passive take over, the
stream goes on with no gap and no reset, and replay follows the new active."""
import os
import re
import signal
import time
import unittest

from cut_proxy import CutProxy
from fake_pair import ACTIVE, PASSIVE, PRIMARY, BACKUP, fake_pair
from harness import SSEClient, SystemTest, free_port, metrics, parse_id, wait_until

FAILOVER_MS = 1000
SANITIZED = bool(os.environ.get("RN_SANITIZED"))


class PairGatewayTest(SystemTest):
    def setUp(self):
        super().setUp()
        self.a, self.b = fake_pair(interval_ms=50, failover_ms=FAILOVER_MS)
        self.addCleanup(self.a.stop)
        self.addCleanup(self.b.stop)

    def pair_gateway(self, extra=()):
        return self.gateway(f"{self.a.endpoint},{self.b.endpoint}", extra)

    def read_through(self, sse, count, timeout):
        """count events, checked consecutive in one epoch with no reset between."""
        events = sse.events(count, timeout)
        self.assertNotIn("reset", [e.get("event") for e in events], events)
        ids = [parse_id(e["id"]) for e in events]
        self.assertEqual(len({epoch for epoch, _ in ids}), 1, ids)
        seqs = [seq for _, seq in ids]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + count)), "a gap or a repeat")
        return ids

    def test_metrics_show_each_source_and_no_vote_while_the_active_is_heard(self):
        _, url = self.pair_gateway()
        a, b = self.a.endpoint, self.b.endpoint
        time.sleep(2.5 * FAILOVER_MS / 1000)
        m = metrics(url)
        self.assertEqual(m[f'rn_gateway_generator_state{{source="{a}"}}'], ACTIVE)
        self.assertEqual(m[f'rn_gateway_generator_state{{source="{b}"}}'], PASSIVE)
        self.assertEqual(m[f'rn_gateway_generator_role{{source="{a}"}}'], PRIMARY)
        self.assertEqual(m[f'rn_gateway_generator_role{{source="{b}"}}'], BACKUP)
        self.assertEqual(m[f'rn_gateway_generator_active{{source="{a}"}}'], 1)
        self.assertEqual(m[f'rn_gateway_generator_active{{source="{b}"}}'], 0)
        self.assertEqual(m[f'rn_gateway_votes_total{{source="{a}"}}'], 0)
        self.assertEqual(m[f'rn_gateway_votes_total{{source="{b}"}}'], 0)
        self.assertEqual(self.b.votes, [])

    def test_the_active_killed_the_vote_makes_the_passive_take_over_no_gap_no_reset(self):
        gw, url = self.pair_gateway()
        sse = SSEClient(url)
        self.addCleanup(sse.close)
        before = self.read_through(sse, 10, 10)
        self.a.silent.set()  # as kill -9: nothing more from it, not even a close
        killed = time.monotonic()
        ids = self.read_through(sse, 1, FAILOVER_MS / 1000 + 5)
        stall = time.monotonic() - killed
        ids += self.read_through(sse, 20, 10)
        seqs = [s for _, s in before + ids]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))), "a gap or a repeat")
        self.assertEqual({e for e, _ in before + ids}, {self.a.history.epoch})
        # Generous: the failover time, one vote period and a second.
        self.assertLess(stall, FAILOVER_MS / 1000 + 1.5)
        self.assertEqual(self.b.takeovers, 1)
        self.assertTrue(self.b.votes, "the passive took over without a vote?")
        epoch, first, last = self.b.votes[0]
        self.assertEqual(epoch, self.a.history.epoch)
        self.assertEqual(first, last)
        self.assertGreater(first, before[-1][1], "a vote names the next event it needs")
        m = metrics(url)
        self.assertEqual(m[f'rn_gateway_generator_active{{source="{self.b.endpoint}"}}'], 1)
        self.assertEqual(m[f'rn_gateway_votes_total{{source="{self.a.endpoint}"}}'], 0)
        self.assertGreaterEqual(m[f'rn_gateway_votes_total{{source="{self.b.endpoint}"}}'], 1)
        self.assertEqual(m['rn_gateway_sse_resets_total{reason="epoch"}'], 0)
        self.assertEqual(m['rn_gateway_sse_resets_total{reason="gap"}'], 0)
        gw.wait_log(r'msg="active source" source=' + re.escape(self.b.endpoint))

    def test_replay_goes_to_the_new_active(self):
        _, url = self.pair_gateway(["--history", "16"])
        sse = SSEClient(url)
        self.addCleanup(sse.close)
        first = self.read_through(sse, 1, 10)[0]
        self.a.silent.set()
        self.read_through(sse, 40, FAILOVER_MS / 1000 + 10)  # past the takeover, past 16
        self.assertEqual(self.b.takeovers, 1)
        served = len(self.b.requests)
        # Older than the gateway's history: only the generator holds it, now the backup.
        resumed = SSEClient(url, headers={"Last-Event-ID": f"{first[0]}-{first[1]}"})
        self.addCleanup(resumed.close)
        ids = self.read_through(resumed, 30, 10)
        self.assertEqual(ids[0], (first[0], first[1] + 1))
        self.assertGreater(len(self.b.requests), served, "the backfill went elsewhere")
        m = metrics(url)
        self.assertEqual(m['rn_gateway_sse_resets_total{reason="too-old"}'], 0)

    def test_a_passive_source_alone_is_not_ready_until_the_vote_makes_it_active(self):
        self.a.silent.set()
        gw, url = self.gateway(self.b.endpoint, ready=False)
        # Not ready from a passive's heartbeats; its vote comes after the failover time.
        wait_until(lambda: self.b.takeovers == 1, FAILOVER_MS / 1000 + 5, what="takeover")
        wait_until(lambda: metrics(url)["rn_gateway_ready"] == 1, 5, what="ready")
        sse = SSEClient(url)
        self.addCleanup(sse.close)
        self.read_through(sse, 5, 5)

    def test_replay_connect_with_two_sources_is_refused(self):
        gw = self.spawn("gateway", "gateway",
                        ["--listen", f"127.0.0.1:{free_port()}", "--connect",
                         f"{self.a.endpoint},{self.b.endpoint}", "--replay-connect",
                         "tcp://127.0.0.1:1"])
        self.assertEqual(gw.proc.wait(10), 2)
        self.assertIn("--replay-connect", gw.text())


if __name__ == "__main__":
    unittest.main()


class RealPairGatewayTest(SystemTest):
    """The same through real generators (generator/README.md, "A pair")."""

    def start_member(self, name, ports, proxies=None, hosts=None):
        """proxies: {name: (bus proxy, replay proxy)} through which the OTHER member reaches
        this one, so that a test can cut the link between the two alone. hosts: {name:
        loopback address} for members on hosts of their own (default 127.0.0.1)."""
        other = "backup" if name == "primary" else "primary"
        host = (hosts or {}).get(name, "127.0.0.1")
        args = ["--bind", f"tcp://{host}:{ports[name][0]}",
                "--interval-ms", "50", "--heartbeat-ms", "200", "--failover-ms", str(FAILOVER_MS),
                "--role", name]
        if proxies:
            peer_bus, peer_replay = (p.port for p in proxies[other])
            args += ["--replay-bind", f"tcp://127.0.0.1:{ports[name][1]}",
                     "--peer", f"tcp://127.0.0.1:{peer_bus}",
                     "--peer-replay-connect", f"tcp://127.0.0.1:{peer_replay}"]
        else:
            # The replay socket where the generator finds a free port (its heartbeats say
            # which): a port chosen here may be taken by a test beside this one by then.
            args += ["--peer", f"tcp://{(hosts or {}).get(other, '127.0.0.1')}:{ports[other][0]}"]
        p = self.spawn(name, "generator", args)
        p.wait_log(r'msg="started"')
        return p

    def start_pair(self, proxies=None, hosts=None):
        ports = {n: (free_port(), free_port()) for n in ("primary", "backup")}
        if proxies is not None:
            proxies.update({n: (CutProxy(b), CutProxy(r)) for n, (b, r) in ports.items()})
            for pair in proxies.values():
                for proxy in pair:
                    self.addCleanup(proxy.close)
        members = {n: self.start_member(n, ports, proxies, hosts) for n in ("primary", "backup")}
        members["backup"].wait_log(r"to=passive", timeout=10)
        connect = ",".join(f"tcp://{(hosts or {}).get(n, '127.0.0.1')}:{ports[n][0]}"
                           for n in ("primary", "backup"))
        return members, connect, ports

    def kill(self, p):
        p.proc.send_signal(signal.SIGKILL)
        p.proc.wait(10)
        return time.monotonic()

    def read_through(self, sse, count, timeout):
        return PairGatewayTest.read_through(self, sse, count, timeout)

    def test_kill_9_of_the_active_no_reset_no_gap_live_within_failover(self):
        members, connect, ports = self.start_pair()
        _, url = self.gateway(connect, ["--history", "16"])
        sse = SSEClient(url)
        self.addCleanup(sse.close)
        before = self.read_through(sse, 20, 10)
        killed = self.kill(members["primary"])
        after = self.read_through(sse, 1, FAILOVER_MS / 1000 + 10)
        stall = time.monotonic() - killed
        after += self.read_through(sse, 40, 10)
        ids = before + after
        self.assertEqual([s for _, s in ids], list(range(ids[0][1], ids[0][1] + len(ids))))
        self.assertEqual(len({e for e, _ in ids}), 1, "no new epoch")
        self.assertLess(stall, FAILOVER_MS / 1000 + (3.0 if SANITIZED else 1.0))
        backup = f"tcp://127.0.0.1:{ports['backup'][0]}"
        m = metrics(url)
        self.assertEqual(m[f'rn_gateway_generator_active{{source="{backup}"}}'], 1)
        self.assertGreaterEqual(m[f'rn_gateway_votes_total{{source="{backup}"}}'], 1)
        for reason in ("epoch", "gap", "too-old"):
            self.assertEqual(m[f'rn_gateway_sse_resets_total{{reason="{reason}"}}'], 0)
        # Replay goes to the new active: an id older than the gateway's 16 events.
        resumed = SSEClient(url, headers={"Last-Event-ID": f"{ids[0][0]}-{ids[0][1]}"})
        self.addCleanup(resumed.close)
        again = self.read_through(resumed, 50, 10)
        self.assertEqual(again[0], (ids[0][0], ids[0][1] + 1))
        self.assertEqual(metrics(url)['rn_gateway_sse_resets_total{reason="too-old"}'], 0)

    def test_a_returned_member_takes_over_when_the_active_stops_no_stall(self):
        """Found by fault.sh (gen-kill, gen-return, then gen-stop): the primary, killed and
        started again (passive, its mirror caught up), took over when the backup was
        stopped, yet clients got nothing for 7.8 s and then six events at once."""
        members, connect, ports = self.start_pair()
        _, url = self.gateway(connect, ["--history", "16"])
        sse = SSEClient(url)
        self.addCleanup(sse.close)
        ids = self.read_through(sse, 10, 10)
        self.kill(members["primary"])
        ids += self.read_through(sse, 10, FAILOVER_MS / 1000 + 10)
        members["primary"] = self.start_member("primary", ports)
        members["primary"].wait_log(r"to=passive", timeout=10)
        ids += self.read_through(sse, 40, 10)
        members["backup"].proc.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        ids += self.read_through(sse, 1, FAILOVER_MS / 1000 + 10)
        stall = time.monotonic() - stopped
        ids += self.read_through(sse, 20, 10)
        self.assertEqual([s for _, s in ids], list(range(ids[0][1], ids[0][1] + len(ids))))
        self.assertEqual(len({e for e, _ in ids}), 1, "no new epoch")
        self.assertLess(stall, FAILOVER_MS / 1000 + (3.0 if SANITIZED else 1.0))

    def test_the_peer_link_cut_alone_no_takeover_nothing_twice(self):
        """The link between the two members cut (both still reach the gateway): the
        gateway hears an active member all along, so it never votes and the passive never
        takes over; clients see every event once, in one epoch. Healed, the passive catches
        up, so a later kill of the active still continues the epoch."""
        proxies = {}
        members, connect, ports = self.start_pair(proxies)
        _, url = self.gateway(connect)
        sse = SSEClient(url)
        self.addCleanup(sse.close)
        ids = self.read_through(sse, 10, 10)
        for pair in proxies.values():
            for proxy in pair:
                proxy.cut()
        ids += self.read_through(sse, 3 * FAILOVER_MS // 50, 3 * FAILOVER_MS / 1000 + 10)
        for pair in proxies.values():
            for proxy in pair:
                proxy.heal()
        wait_until(lambda: members["primary"].text().count('msg="standby synced"') >= 2, 10,
                   what="the standby synced again")
        ids += self.read_through(sse, 20, 10)
        self.assertNotIn('msg="takeover"', members["backup"].text())
        self.assertEqual(metrics(url)[f'rn_gateway_votes_total{{source="{connect.split(",")[1]}"}}'],
                         0)
        self.kill(members["primary"])
        ids += self.read_through(sse, 20, FAILOVER_MS / 1000 + 10)
        self.assertEqual([s for _, s in ids], list(range(ids[0][1], ids[0][1] + len(ids))))
        self.assertEqual(len({e for e, _ in ids}), 1, "one epoch throughout")

    def test_back_and_forth_three_times_then_both_killed_one_reset(self):
        members, connect, ports = self.start_pair()
        _, url = self.gateway(connect)
        sse = SSEClient(url)
        self.addCleanup(sse.close)
        ids = self.read_through(sse, 10, 10)
        active, passive = "primary", "backup"
        for _ in range(3):
            members[passive].wait_log(r"to=passive", timeout=10)
            ids += self.read_through(sse, 20, 10)  # the passive mirrors meanwhile
            self.kill(members[active])
            ids += self.read_through(sse, 10, FAILOVER_MS / 1000 + 10)
            members[active] = self.start_member(active, ports)
            active, passive = passive, active
        self.assertEqual([s for _, s in ids], list(range(ids[0][1], ids[0][1] + len(ids))))
        self.assertEqual(len({e for e, _ in ids}), 1, "one epoch through three takeovers")
        for name in members:
            self.kill(members[name])
        members["primary"] = self.start_member("primary", ports)
        events = sse.events(8, FAILOVER_MS / 1000 + 15)  # events in flight at the kill first
        kinds = [e.get("event") for e in events]
        self.assertEqual(kinds.count("reset"), 1, events)
        reset = kinds.index("reset")
        self.assertEqual(events[reset].get("data"), "epoch", events)
        fresh = [parse_id(e["id"]) for e in events[reset + 1:] if e.get("event") == "number"]
        self.assertGreater(fresh[0][0], ids[0][0], "a new epoch")

    def test_the_gateways_vote_is_what_makes_the_passive_take_over(self):
        members, connect, ports = self.start_pair()
        time.sleep(1)  # some events, mirrored
        self.kill(members["primary"])
        time.sleep(2 * FAILOVER_MS / 1000)
        self.assertNotIn("msg=\"takeover\"", members["backup"].text(), "no vote, no takeover")
        gw, url = self.gateway(connect, ready=False)
        members["backup"].wait_log(r"msg=\"takeover\"", timeout=FAILOVER_MS / 1000 + 5)
        wait_until(lambda: metrics(url)["rn_gateway_ready"] == 1, 10, what="ready")
        sse = SSEClient(url)
        self.addCleanup(sse.close)
        self.read_through(sse, 5, 5)
