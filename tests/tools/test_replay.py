"""--replay-from: the monitor and the Python subscriber print the events the generator's
replay socket still holds, then the live ones, in seq order with no gap and no
duplicate; a bad position is a usage error."""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import zmq

from harness import BIN, SystemTest

SUBSCRIBER = os.path.join(os.path.dirname(__file__), "../../tools/python/rn_subscriber.py")
PROTO_PY = os.path.join(os.environ.get("RN_BUILD_DIR", "build"), "python")
MONITOR = os.path.join(BIN, "monitor")


def read_key(path):
    with open(path) as f:
        return f.read().strip().encode()


def wait_published(endpoint, last_seq, curve=None, timeout=20):
    """Subscribes to every topic, which makes the generator publish, until a heartbeat
    says it has published last_seq events; returns that Heartbeat. curve: the files of
    the generator's public key and our secret key."""
    sys.path.insert(0, PROTO_PY)
    import rn_pb2
    with zmq.Context.instance().socket(zmq.SUB) as sub:
        sub.setsockopt(zmq.LINGER, 0)
        if curve:
            sub.curve_serverkey = read_key(curve[0])
            sub.curve_secretkey = read_key(curve[1])
            sub.curve_publickey = zmq.curve_public(read_key(curve[1]))
        sub.setsockopt(zmq.RCVTIMEO, 500)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(endpoint)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                frames = sub.recv_multipart()
            except zmq.Again:
                continue
            if len(frames) == 2 and frames[0] == b"_heartbeat":
                hb = rn_pb2.Heartbeat.FromString(frames[1])
                if hb.last_seq >= last_seq:
                    return hb
    raise AssertionError(f"no heartbeat with last_seq >= {last_seq} within {timeout}s")


def seqs_of(stdout, epoch):
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert all(e["epoch"] == epoch for e in events), "events of another epoch"
    return [e["seq"] for e in events]


class FakeGenerator(threading.Thread):
    """A generator on the contract alone, with what a real one does only by chance: its
    live stream skips seq 24..26 (as ZeroMQ drops under load) and its replay socket
    answers at most 3 events at a time. It holds 10 events before anyone subscribes."""
    EPOCH = 1000
    SKIPPED = range(24, 27)

    def __init__(self):
        super().__init__(daemon=True)
        sys.path.insert(0, PROTO_PY)
        import rn_pb2
        self.rn = rn_pb2
        ctx = zmq.Context.instance()
        self.pub, self.router = ctx.socket(zmq.XPUB), ctx.socket(zmq.ROUTER)
        self.endpoint = f"tcp://127.0.0.1:{self.pub.bind_to_random_port('tcp://127.0.0.1')}"
        self.replay_port = self.router.bind_to_random_port("tcp://127.0.0.1")
        self.published, self.asked, self.done = 10, [], threading.Event()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.join(5)
        self.pub.close(0)
        self.router.close(0)

    def event(self, seq):
        return self.rn.NumberEvent(epoch=self.EPOCH, seq=seq, published_ns=seq, value=seq % 100)

    def answer(self):
        *envelope, body = self.router.recv_multipart()
        req = self.rn.ReplayRequest.FromString(body)
        self.asked.append((req.from_seq, req.to_seq))
        last = min(req.to_seq, self.published, req.from_seq + 2)
        reply = self.rn.ReplayReply(epoch=self.EPOCH, first_seq=1, last_seq=self.published,
                                    events=[self.event(s) for s in range(req.from_seq, last + 1)])
        self.router.send_multipart(envelope + [reply.SerializeToString()])

    def tick(self):
        hb = self.rn.Heartbeat(epoch=self.EPOCH, last_seq=self.published, interval_ms=20,
                               topic="number", publishing=True, replay_port=self.replay_port)
        self.pub.send_multipart([b"_heartbeat", hb.SerializeToString()])
        self.published += 1
        if self.published not in self.SKIPPED:
            self.pub.send_multipart([b"number", self.event(self.published).SerializeToString()])

    def run(self):
        poller, wanted = zmq.Poller(), set()
        poller.register(self.pub, zmq.POLLIN)
        poller.register(self.router, zmq.POLLIN)
        while not self.done.is_set():
            ready = dict(poller.poll(20))
            if self.pub in ready:
                wanted.add(self.pub.recv()[1:])  # b"\x01number": subscribed to "number"
            if self.router in ready:
                self.answer()
            if {b"number", b"_heartbeat"} <= wanted and self.published < 60:
                self.tick()


class ReplayTest(SystemTest):
    def run_subscriber(self, argv, timeout=30):
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def assertSeqs(self, seqs, first, count, stderr):
        """seqs is first, first + 1, ... (count of them), or a short message says where not."""
        wrong = next((i for i, s in enumerate(seqs) if s != first + i), None)
        where = f"at [{wrong}]: {seqs[max(wrong - 3, 0):wrong + 3]}" if wrong is not None else ""
        self.assertEqual((len(seqs), wrong), (count, None),
                         f"want {first}..{first + count - 1}, got {len(seqs)} events {where}; "
                         f"stderr: {stderr[-1000:]}")

    def test_monitor_prints_held_events_then_live_ones(self):
        _, endpoint = self.generator(interval_ms=100)
        epoch = wait_published(endpoint, 20).epoch
        r = self.run_subscriber([MONITOR, "--connect", endpoint, "--json",
                                 "--replay-from", f"{epoch}-5", "--count", "40"])
        self.assertSeqs(seqs_of(r.stdout, epoch), 6, 40, r.stderr)

    def test_python_prints_held_events_then_live_ones(self):
        _, endpoint = self.generator(interval_ms=100)
        epoch = wait_published(endpoint, 20).epoch
        r = self.run_subscriber([sys.executable, SUBSCRIBER, "--proto-path", PROTO_PY,
                                 "--connect", endpoint, "--replay-from", f"{epoch}-5",
                                 "--count", "40"])
        self.assertSeqs(seqs_of(r.stdout, epoch), 6, 40, r.stderr)

    def test_monitor_with_replay_connect_starts_at_seq_1(self):
        _, endpoint = self.generator(interval_ms=100)
        hb = wait_published(endpoint, 5)
        epoch, replay = hb.epoch, f"tcp://127.0.0.1:{hb.replay_port}"
        r = self.run_subscriber([MONITOR, "--connect", endpoint, "--json", "--replay-from",
                                 f"{epoch}-0", "--replay-connect", replay, "--count", "10"])
        self.assertSeqs(seqs_of(r.stdout, epoch), 1, 10, r.stderr)

    def test_monitor_asks_again_past_1000_events(self):
        _, endpoint = self.generator(interval_ms=1, extra=(
            "--interval-us", "200", "--heartbeat-ms", "100", "--replay-history", "100000"))
        epoch = wait_published(endpoint, 2500).epoch  # held: more than two answers' worth
        r = self.run_subscriber([MONITOR, "--connect", endpoint, "--json", "--replay-from",
                                 f"{epoch}-0", "--count", "4000"])
        self.assertSeqs(seqs_of(r.stdout, epoch), 1, 4000, r.stderr)

    def test_both_fill_a_gap_in_the_live_stream(self):
        for name, argv in (("monitor", [MONITOR, "--json"]),
                           ("python", [sys.executable, SUBSCRIBER, "--proto-path", PROTO_PY])):
            with self.subTest(name), FakeGenerator() as fake:
                r = self.run_subscriber(argv + ["--connect", fake.endpoint, "--replay-from",
                                                f"{fake.EPOCH}-5", "--count", "35"])
                self.assertSeqs(seqs_of(r.stdout, fake.EPOCH), 6, 35, r.stderr)
                self.assertIn((24, 26), fake.asked, "the gap was asked for")

    def test_curve_keys_apply_to_the_replay_socket(self):
        with tempfile.TemporaryDirectory() as d:
            for name in ("generator", "client"):
                subprocess.run([os.path.join(BIN, "keygen"), os.path.join(d, name)], check=True)
            keys = [f"{d}/generator.pub", f"{d}/client.key"]
            _, endpoint = self.generator(interval_ms=100, extra=(
                "--curve-secret-key-file", f"{d}/generator.key"))
            epoch = wait_published(endpoint, 20, curve=keys).epoch
            flags = ["--curve-server-key-file", keys[0], "--curve-secret-key-file", keys[1],
                     "--connect", endpoint, "--replay-from", f"{epoch}-5", "--count", "30"]
            for name, argv in (("monitor", [MONITOR, "--json"]), ("python", [
                    sys.executable, SUBSCRIBER, "--proto-path", PROTO_PY])):
                r = self.run_subscriber(argv + flags, timeout=60)
                self.assertSeqs(seqs_of(r.stdout, epoch), 6, 30, f"{name}: {r.stderr}")

    def test_monitor_reports_a_gone_epoch_and_goes_on_live(self):
        _, endpoint = self.generator(interval_ms=100)
        epoch = wait_published(endpoint, 1).epoch
        r = self.run_subscriber([MONITOR, "--connect", endpoint, "--json", "--replay-from",
                                 "1-0", "--count", "3"])
        self.assertIn(f"replay: epoch 1 is gone (generator is at epoch {epoch})", r.stderr)
        seqs = seqs_of(r.stdout, epoch)
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + 3)))

    def test_bad_replay_from_is_a_usage_error(self):
        for argv in ([MONITOR], [sys.executable, SUBSCRIBER, "--proto-path", PROTO_PY]):
            for bad in ("junk", "5", "5-", "-5", "0-5", "1-2-3"):
                r = subprocess.run(argv + ["--replay-from", bad], capture_output=True,
                                   text=True, timeout=10)
                self.assertEqual(r.returncode, 2, f"{argv[-1]} {bad}: {r.stderr}")
                self.assertIn("--replay-from", r.stderr)
        r = subprocess.run([MONITOR], env=dict(os.environ, MONITOR_REPLAY_FROM="junk"),
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2, r.stderr)


if __name__ == "__main__":
    unittest.main()
