"""systemd's notify protocol (common/notify.c), with this test as the service manager: a
datagram socket in $NOTIFY_SOCKET and a watchdog in $WATCHDOG_USEC. The gateway says
READY=1 only once /readyz would say 200 (not while the generator is missing), WATCHDOG=1
from its bus loop meanwhile, STOPPING=1 when SIGTERM starts the drain; the generator says
READY=1 once bound, WATCHDOG=1 from its loop and STOPPING=1 on SIGTERM. Skipped when the
build has no libsystemd (RN_SYSTEMD off: the calls are no-ops by design)."""
import os
import re
import socket
import tempfile
import time
import unittest

from harness import SystemTest, free_port, http_get, wait_until

BUILD = os.environ.get("RN_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
WATCHDOG_USEC = 400000  # so WATCHDOG=1 comes every 200 ms


def built_with_systemd():
    try:
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            return re.search(r"^RN_SYSTEMD:BOOL=(ON|1|TRUE)$", f.read(), re.M) is not None
    except OSError:
        return False


class Manager:
    """The service manager's end: every datagram received, with its arrival time."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="rn-notify-")
        self.path = os.path.join(self.dir.name, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setblocking(False)
        self.messages = []

    def env(self):
        return {"NOTIFY_SOCKET": self.path, "WATCHDOG_USEC": str(WATCHDOG_USEC)}

    def read(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return self.messages
            self.messages.append(data.decode())

    def said(self, word):
        return [m for m in self.read() if word in m.split("\n")]

    def wait(self, word, timeout=10):
        return wait_until(lambda: self.said(word), timeout, what=f"{word} from the program")

    def close(self):
        self.sock.close()
        self.dir.cleanup()


@unittest.skipUnless(built_with_systemd(), "built without libsystemd (RN_SYSTEMD off)")
class NotifyTest(SystemTest):
    def setUp(self):
        super().setUp()
        self.manager = Manager()
        self.addCleanup(self.manager.close)

    def test_gateway_is_ready_when_warm_alive_meanwhile_and_stopping_on_drain(self):
        bus, http = free_port(), free_port()
        url = f"http://127.0.0.1:{http}"
        gw = self.spawn("gateway", "gateway",
                        ["--listen", f"127.0.0.1:{http}", "--connect", f"tcp://127.0.0.1:{bus}",
                         "--drain-ms", "1000"], env=self.manager.env())
        gw.wait_log(r'msg="started"')
        # No generator yet: listening is not ready, but the bus loop turns and says so.
        self.manager.wait("WATCHDOG=1")
        time.sleep(1.5)
        self.assertEqual(http_get(url + "/readyz")[0], 503)
        self.assertEqual(self.manager.said("READY=1"), [])
        self.assertGreaterEqual(len(self.manager.said("WATCHDOG=1")), 3)

        self.generator(port=bus)
        ready = self.manager.wait("READY=1")
        self.assertEqual(http_get(url + "/readyz")[0], 200)
        self.assertEqual(len(ready), 1)
        self.assertIn("STATUS=ready", ready[0])

        self.assertEqual(self.manager.said("STOPPING=1"), [])
        self.assertEqual(gw.stop(), 0)
        self.assertEqual(len(self.manager.said("STOPPING=1")), 1)
        self.assertEqual(len(self.manager.said("READY=1")), 1)

    def test_generator_is_ready_once_bound_alive_and_stopping_on_sigterm(self):
        port = free_port()
        gen = self.spawn("generator", "generator",
                         ["--bind", f"tcp://127.0.0.1:{port}", "--interval-ms", "100"],
                         env=self.manager.env())
        ready = self.manager.wait("READY=1")
        self.assertIn(f"bind=tcp://127.0.0.1:{port}", ready[0])
        self.assertIn('msg="started"', gen.text())
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # bound before it said so
        wait_until(lambda: len(self.manager.said("WATCHDOG=1")) >= 3, 10, what="3 WATCHDOG=1")
        self.assertEqual(gen.stop(), 0)
        self.assertEqual(len(self.manager.said("STOPPING=1")), 1)


if __name__ == "__main__":
    unittest.main()
