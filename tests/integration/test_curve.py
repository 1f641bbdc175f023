"""CURVE on the bus: an authorised gateway relays; a subscriber with a wrong key, a key
not on the allow-list, or no key at all receives nothing; one with a key that subscribes
to a prefix of neither topic is closed. A generator pair whose members each have their own
key pair: the gateway and the monitor take one server key file per --connect endpoint,
and the gateway relays, votes and replays through both members' keys across a takeover."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import zmq

from harness import BIN, SSEClient, SystemTest, free_port, metrics, parse_id, wait_until

SUBSCRIBER = os.path.join(os.path.dirname(__file__), "../../tools/python/rn_subscriber.py")
PROTO_PY = os.path.join(os.environ.get("RN_BUILD_DIR", "build"), "python")


def keygen(directory, name):
    subprocess.run([os.path.join(BIN, "keygen"), os.path.join(directory, name)], check=True)
    with open(os.path.join(directory, name + ".pub")) as f:
        public = f.read().strip()
    with open(os.path.join(directory, name + ".key")) as f:
        secret = f.read().strip()
    return public, secret


def subscriber(endpoint, server_public=None, secret=None):
    sock = zmq.Context.instance().socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    if server_public:
        sock.curve_serverkey = server_public.encode()
        sock.curve_secretkey = secret.encode()
        sock.curve_publickey = zmq.curve_public(secret.encode())
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.connect(endpoint)
    return sock


def received_anything(sock, seconds):
    got = sock.poll(int(seconds * 1000))
    sock.close()
    return bool(got)


class CurveTest(SystemTest):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.TemporaryDirectory()
        d = self.dir.name
        self.server = keygen(d, "generator")
        self.gateway_keys = keygen(d, "gateway")
        self.rogue = keygen(d, "rogue")
        self.allowed = os.path.join(d, "clients")
        with open(self.allowed, "w") as f:
            f.write(f"# the gateways\n{self.gateway_keys[0]}\n")
        self.key_file = lambda name, ext: os.path.join(d, f"{name}.{ext}")

    def tearDown(self):
        super().tearDown()
        self.dir.cleanup()

    def start(self, allow_list):
        extra = ["--curve-secret-key-file", self.key_file("generator", "key")]
        if allow_list:
            extra += ["--curve-clients-file", self.allowed]
        _, endpoint = self.generator(interval_ms=100, extra=extra)
        _, url = self.gateway(endpoint, ["--curve-server-key-file", self.key_file("generator", "pub"),
                                         "--curve-secret-key-file", self.key_file("gateway", "key")])
        return endpoint, url

    def test_authorised_gateway_relays_and_others_get_nothing(self):
        endpoint, url = self.start(allow_list=True)
        events = SSEClient(url).events(3)
        self.assertEqual(len({parse_id(e["id"]) for e in events}), 3)
        self.assertFalse(received_anything(subscriber(endpoint), 2.0), "plain text: nothing")
        self.assertFalse(received_anything(subscriber(endpoint, self.rogue[0], self.rogue[1]), 2.0),
                         "a wrong server key: nothing")
        self.assertFalse(received_anything(subscriber(endpoint, self.server[0], self.rogue[1]), 2.0),
                         "a key not on the allow-list: nothing")
        self.assertTrue(received_anything(
            subscriber(endpoint, self.server[0], self.gateway_keys[1]), 5.0), "an allowed key")
        self.assertEqual(metrics(url)["rn_gateway_generator_up"], 1)
        self.assertEqual(metrics(url)["rn_gateway_history_warm"], 1,
                         "the replay socket answers an allowed key through CURVE")
        self.assertEqual(metrics(url)["rn_gateway_replay_failures_total"], 0)
        monitor = subprocess.run(
            [os.path.join(BIN, "monitor"), "--connect", endpoint, "--count", "2",
             "--curve-server-key-file", self.key_file("generator", "pub"),
             "--curve-secret-key-file", self.key_file("gateway", "key")],
            capture_output=True, text=True, timeout=15)
        self.assertEqual(monitor.returncode, 0, monitor.stderr)
        self.assertEqual(monitor.stdout.count("topic=number"), 2, "an authorised monitor")

    def test_without_an_allow_list_the_server_key_is_the_secret(self):
        endpoint, url = self.start(allow_list=False)
        SSEClient(url).events(2)
        self.assertTrue(received_anything(subscriber(endpoint, self.server[0], self.rogue[1]), 5.0))
        self.assertFalse(received_anything(subscriber(endpoint), 2.0))
        self.assertFalse(received_anything(subscriber(endpoint, self.rogue[0], self.rogue[1]), 2.0))

    def test_a_key_holder_subscribing_to_neither_topic_is_closed(self):
        endpoint, url = self.start(allow_list=True)
        SSEClient(url).events(2)
        gen = self.procs[0]
        sock = subscriber(endpoint, self.server[0], self.gateway_keys[1])
        self.addCleanup(sock.close)
        monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self.addCleanup(monitor.close)
        self.assertTrue(sock.poll(5000), "an allowed key receives")
        sock.setsockopt(zmq.SUBSCRIBE, b"other")
        self.assertTrue(monitor.poll(5000), "the generator closes its connection")
        gen.wait_log(r'msg="subscription refused" .*connection=closed refused_total=1\b')
        self.assertEqual(len(SSEClient(url).events(3)), 3, "the gateway relays on")

    def start_pair(self):
        """primary and backup, each with its own pair and an allow-list of the gateway's
        key and its peer's; returns their bus endpoints."""
        d = self.dir.name
        keys = {n: keygen(d, n) for n in ("primary", "backup")}
        bus = {n: f"tcp://127.0.0.1:{free_port()}" for n in keys}
        members = {}
        for name, peer in (("primary", "backup"), ("backup", "primary")):
            allowed = os.path.join(d, f"{name}.clients")
            with open(allowed, "w") as f:
                f.write(f"{self.gateway_keys[0]}\n{keys[peer][0]}\n")
            p = self.spawn(name, "generator", [
                "--bind", bus[name], "--interval-ms", "100", "--heartbeat-ms", "200",
                "--role", name, "--peer", bus[peer], "--failover-ms", "1000",
                "--curve-secret-key-file", self.key_file(name, "key"),
                "--curve-clients-file", allowed,
                "--curve-peer-key-file", self.key_file(peer, "pub")])
            p.wait_log(r'msg="started"')
            members[name] = p
        for name, state in (("primary", "active"), ("backup", "passive")):
            members[name].wait_log(rf'msg="pair state" from=starting to={state}')
        return members, bus

    def test_a_pair_with_a_key_per_member(self):
        members, bus = self.start_pair()
        keys = f"{self.key_file('primary', 'pub')},{self.key_file('backup', 'pub')}"
        _, url = self.gateway(f"{bus['primary']},{bus['backup']}",
                              ["--curve-server-key-file", keys,
                               "--curve-secret-key-file", self.key_file("gateway", "key")])
        client = SSEClient(url)
        first = client.events(3)
        epoch = parse_id(first[0]["id"])[0]
        m = metrics(url)
        self.assertEqual(m[f'rn_gateway_generator_state{{source="{bus["backup"]}"}}'], 2,
                         "the passive heard through its own key")
        monitor = subprocess.run(
            [os.path.join(BIN, "monitor"), "--connect", f"{bus['primary']},{bus['backup']}",
             "--count", "2", "--curve-server-key-file", keys,
             "--curve-secret-key-file", self.key_file("gateway", "key")],
            capture_output=True, text=True, timeout=15)
        self.assertEqual(monitor.returncode, 0, monitor.stderr)
        self.assertEqual(monitor.stdout.count("topic=number"), 2, "a monitor with a key per member")
        python = subprocess.run(
            [sys.executable, SUBSCRIBER, "--connect", f"{bus['primary']},{bus['backup']}",
             "--count", "2", "--proto-path", PROTO_PY, "--replay-from", f"{epoch}-1",
             "--curve-server-key-file", keys,
             "--curve-secret-key-file", self.key_file("gateway", "key")],
            capture_output=True, text=True, timeout=15)
        self.assertEqual(python.returncode, 0, python.stderr)
        self.assertEqual([json.loads(line)["seq"] for line in python.stdout.splitlines()], [2, 3],
                         "the Python subscriber, a key per member, replay included")
        # The active killed: the gateway's vote reaches the backup through the backup's key,
        # the backup takes over in the same epoch and the stream goes on without a gap.
        members["primary"].proc.send_signal(signal.SIGKILL)
        members["primary"].proc.wait(10)
        killed = time.monotonic()
        later = client.events(10, timeout=15)
        ids = [parse_id(e["id"]) for e in first + later]
        self.assertEqual({e for e, _ in ids}, {epoch}, "the same epoch")
        self.assertEqual([s for _, s in ids], list(range(ids[0][1], ids[-1][1] + 1)), "no gap")
        members["backup"].wait_log(r'msg="takeover"')
        wait_until(lambda: metrics(url)[f'rn_gateway_generator_active{{source="{bus["backup"]}"}}'] == 1,
                   10, what="the gateway relaying from the backup")
        self.assertLess(time.monotonic() - killed, 30)
        self.assertEqual(metrics(url)["rn_gateway_replay_failures_total"], 0)

    def test_server_key_lists_of_another_length_are_refused(self):
        pub = self.key_file("generator", "pub")
        for program, prefix in (("gateway", "--"), ("monitor", "--")):
            r = subprocess.run(
                [os.path.join(BIN, program), "--connect", "tcp://127.0.0.1:1,tcp://127.0.0.1:2",
                 "--curve-server-key-file", f"{pub},{pub},{pub}",
                 "--curve-secret-key-file", self.key_file("gateway", "key")],
                capture_output=True, text=True, timeout=10)
            self.assertNotEqual(r.returncode, 0, program)
            self.assertIn("3 files for 2 --connect endpoints", r.stderr, program)

    def test_bad_key_files_are_clear_errors(self):
        bad = os.path.join(self.dir.name, "bad.key")
        with open(bad, "w") as f:
            f.write("not a key\n")
        for program, args in (
                ("generator", ["--curve-secret-key-file", bad]),
                ("generator", ["--curve-secret-key-file", "/nonexistent"]),
                ("gateway", ["--curve-server-key-file", bad, "--curve-secret-key-file", bad]),
                ("gateway", ["--curve-server-key-file", self.key_file("generator", "pub")])):
            r = subprocess.run([os.path.join(BIN, program), *args], capture_output=True, text=True,
                               timeout=10)
            self.assertNotEqual(r.returncode, 0, (program, args))
            self.assertRegex(r.stderr, r"key|CURVE", (program, args, r.stderr))


if __name__ == "__main__":
    unittest.main()
