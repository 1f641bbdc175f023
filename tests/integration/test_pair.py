"""A generator pair (generator/README.md): one active, one passive that mirrors it and takes
over, in the same epoch at the next seq, only when the active is gone and a subscriber
votes. Real generators on 127.0.0.1; each reaches its peer through a CutProxy, so a test
can cut the link between the two alone while the reader still sees both."""
import os
import signal
import subprocess
import time
import unittest

from cut_proxy import CutProxy
from harness import BIN, SystemTest, free_port, wait_until
from pair_client import ACTIVE, PASSIVE, STARTING, PairReader, request

FAILOVER_MS = 1000
HEARTBEAT_MS = 200
MIRROR_WAIT_MS = 250
# Live again within failover + 1 s of the kill (the bound), more under ASan.
LIVE_BOUND = FAILOVER_MS / 1000 + (3.0 if os.environ.get("RN_SANITIZED") else 1.0)


class PairTest(SystemTest):
    def setUp(self):
        super().setUp()
        self.members = {}
        ports = {n: (free_port(), free_port()) for n in ("primary", "backup")}
        self.bus = {n: f"tcp://127.0.0.1:{b}" for n, (b, _) in ports.items()}
        self.replay = {n: f"tcp://127.0.0.1:{r}" for n, (_, r) in ports.items()}
        # The way to each member from the other: its bus and its replay socket, cuttable.
        self.proxies = {n: (CutProxy(b), CutProxy(r)) for n, (b, r) in ports.items()}
        for pair in self.proxies.values():
            for p in pair:
                self.addCleanup(p.close)
        self.ports = ports
        self.reader = PairReader(self.bus)
        self.addCleanup(self.reader.close)

    def start(self, name, extra=()):
        """Starts a member. Its replay port was free when chosen, but a test running beside
        this one may take it before the member binds it (a CI run met that): then it is
        started again on another, which its proxy and self.replay follow."""
        other = "backup" if name == "primary" else "primary"
        bus_proxy, replay_proxy = self.proxies[other]
        for _ in range(3):
            args = ["--bind", self.bus[name], "--replay-bind", self.replay[name],
                    "--interval-ms", "50", "--heartbeat-ms", str(HEARTBEAT_MS),
                    "--failover-ms", str(FAILOVER_MS), "--mirror-wait-ms", str(MIRROR_WAIT_MS),
                    "--role", name, "--peer", f"tcp://127.0.0.1:{bus_proxy.port}",
                    "--peer-replay-connect", f"tcp://127.0.0.1:{replay_proxy.port}", *extra]
            p = self.spawn(name, "generator", args)
            p.wait_log(r'msg="started"|msg="cannot start"')
            if "cannot bind replay" not in p.text():
                break
            port = free_port()
            self.replay[name] = f"tcp://127.0.0.1:{port}"
            self.proxies[name][1].target = ("127.0.0.1", port)
        p.wait_log(r'msg="started"')
        self.members[name] = p
        return p

    def kill(self, name):
        p = self.members.pop(name)
        p.proc.send_signal(signal.SIGKILL)
        p.proc.wait(10)
        return time.monotonic()

    def state(self, name):
        return self.reader.heartbeat(name).get("state")

    def wait_state(self, name, state, timeout=10):
        wait_until(lambda: self.state(name) == state and
                   time.monotonic() - self.reader.heartbeat(name)["at"] < 1, timeout,
                   what=f"{name} in state {state}")

    def wait_synced(self, active, passive, timeout=10):
        """The passive has every event the active published, and the active knows it."""
        def synced():
            a, p = self.reader.heartbeat(active), self.reader.heartbeat(passive)
            return (a.get("standby_synced") and p.get("state") == PASSIVE and
                    p.get("epoch") == a.get("epoch") and
                    p.get("mirrored_seq", 0) >= a.get("last_seq", 1))
        wait_until(synced, timeout, what=f"{passive} synced with {active}")

    def vote_until_live(self, name, killed_at, bound=LIVE_BOUND):
        """Votes for name as a subscriber that lost the active would; returns once events
        come from it. Asserts it was within bound seconds of killed_at."""
        deadline = killed_at + bound + 5
        while time.monotonic() < deadline:
            epoch, seq = self.reader.last()
            request(self.replay[name], epoch, seq + 1, seq + 1, vote=True, timeout=0.2)
            if self.reader.count_from(name, since=killed_at):
                break
            time.sleep(0.1)
        first = next(t for t, s, _, _ in self.reader.arrivals if s == name and t >= killed_at)
        self.assertLess(first - killed_at, bound, f"{name} live again within the bound")

    def assert_one_stream(self, epoch):
        """Every seq of epoch from the first seen to the last, each with one value."""
        seqs = self.reader.seqs(epoch)
        self.assertEqual(seqs, list(range(seqs[0], seqs[-1] + 1)), "no gap")
        self.assertEqual(self.reader.conflicts, [], "no (epoch, seq) with two values")

    def start_pair(self):
        self.start("primary")
        self.start("backup")
        self.wait_state("primary", ACTIVE)
        self.wait_state("backup", PASSIVE)
        wait_until(lambda: self.reader.last()[1] >= 10, 10, what="events")
        self.wait_synced("primary", "backup")
        return self.reader.last()[0]

    def test_both_start_primary_active_backup_mirrors_and_answers_replay(self):
        epoch = self.start_pair()
        self.assertEqual(self.reader.heartbeat("backup")["epoch"], epoch)
        self.assertEqual(self.reader.count_from("backup"), 0, "the passive publishes no events")
        last = self.reader.last()[1]
        active = request(self.replay["primary"], epoch, 1, last)
        mirror = request(self.replay["backup"], epoch, 1, last)
        self.assertEqual(active[3], mirror[3], "replay from the mirror answers as the active")
        self.assertEqual(len(mirror[3]), last)
        self.assert_one_stream(epoch)

    def test_kill_active_takeover_same_epoch_back_and_forth_then_both_killed(self):
        epoch = self.start_pair()
        # Without a vote, no takeover: the passive cannot tell a dead active from a cut link.
        killed = self.kill("primary")
        time.sleep(FAILOVER_MS / 1000 + 1.0)
        self.assertEqual(self.state("backup"), PASSIVE)
        self.assertEqual(self.reader.count_from("backup"), 0)
        self.vote_until_live("backup", killed, bound=FAILOVER_MS / 1000 + 1.0 + LIVE_BOUND)
        self.assertEqual(self.reader.heartbeat("backup")["takeovers"], 1)
        active, passive = "backup", "primary"
        for _ in range(3):
            # The old active comes back: passive, catches up, publishes nothing.
            back = time.monotonic()
            self.start(passive)
            self.wait_state(passive, PASSIVE)
            self.wait_synced(active, passive)
            self.assertEqual(self.reader.count_from(passive, since=back), 0)
            killed = self.kill(active)
            self.vote_until_live(passive, killed)
            active, passive = passive, active
            self.assertEqual(self.reader.last()[0], epoch, "the same epoch")
        wait_until(lambda: self.reader.last()[1] > 0, 5)
        self.assert_one_stream(epoch)
        # Both killed, one back with a vote: a new epoch.
        self.kill(active)
        self.assertNotIn(passive, self.members)
        back = time.monotonic()
        self.start("backup")
        self.vote_until_live("backup", back, bound=FAILOVER_MS / 1000 + 1.0 + LIVE_BOUND)
        new_epoch = self.reader.last()[0]
        self.assertGreater(new_epoch, epoch, "a new epoch")
        self.assert_one_stream(epoch)
        self.assertEqual(self.reader.conflicts, [])

    def test_peer_link_cut_no_takeover_active_alone_then_catch_up(self):
        epoch = self.start_pair()
        for pair in self.proxies.values():
            for p in pair:
                p.cut()
        wait_until(lambda: self.reader.heartbeat("primary").get("standby_synced") is False, 5,
                   what="the active marks the standby not synced")
        time.sleep(FAILOVER_MS / 1000 + 1.0)
        self.assertEqual(self.state("backup"), PASSIVE, "no takeover without a vote")
        self.assertEqual(self.state("primary"), ACTIVE)
        self.assertFalse(self.reader.heartbeat("backup")["peer_seen"])
        self.assertEqual(self.reader.count_from("backup"), 0, "nothing published twice")
        before = self.reader.last()[1]
        wait_until(lambda: self.reader.last()[1] > before + 5, 5, what="the active goes on")
        for pair in self.proxies.values():
            for p in pair:
                p.heal()
        self.wait_synced("primary", "backup", timeout=15)
        self.assertEqual(self.reader.count_from("backup"), 0)
        self.assert_one_stream(epoch)
        last = self.reader.last()[1]
        self.assertEqual(request(self.replay["backup"], epoch, 1, last)[3],
                         request(self.replay["primary"], epoch, 1, last)[3])

    def test_starting_member_waits_for_a_vote_alone(self):
        self.start("backup")
        time.sleep(FAILOVER_MS / 1000 + 0.5)
        self.assertEqual(self.state("backup"), STARTING, "alone and no vote: no stream")
        started = time.monotonic()
        self.vote_until_live("backup", started)


class PairFlagsTest(unittest.TestCase):
    def run_generator(self, *args):
        return subprocess.run([os.path.join(BIN, "generator"), *args], capture_output=True,
                              text=True, timeout=10)

    def test_bad_flag_combinations_exit_2_with_a_reason(self):
        cases = [(["--role", "primary"], "--role needs --peer"),
                 (["--peer", "tcp://127.0.0.1:1"], "--peer needs --role"),
                 (["--role", "leader", "--peer", "tcp://127.0.0.1:1"], "not primary or backup"),
                 (["--role", "backup", "--peer", "tcp://127.0.0.1:1", "--replay-bind", "off"],
                  "needs the replay socket"),
                 (["--failover-ms", "500", "--heartbeat-ms", "1000", "--role", "backup",
                   "--peer", "tcp://127.0.0.1:1"], "must exceed --heartbeat-ms")]
        for args, reason in cases:
            r = self.run_generator(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(reason, r.stderr, args)


if __name__ == "__main__":
    unittest.main()
