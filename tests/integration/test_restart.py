"""The gateway outlives its generator: it reports the generator down, then relays the new
epoch once a generator is back on the same endpoint, without the client reconnecting."""
import os
import signal
import subprocess
import tempfile
import time
import unittest

from harness import (BIN, Process, SSEClient, SystemTest, free_port, http_get, metrics, parse_id,
                     wait_until)

# An address on a link that takes packets and answers none: what a container's old address
# is on an overlay network once the container is gone.
SWALLOWING_ADDRESS = "10.99.0.2"


def make_swallowing_address():
    """A veth pair whose far end drops what it gets (it is not addressed to it), with a
    fixed neighbour entry, so a SYN to SWALLOWING_ADDRESS is sent and never answered: no
    refusal, no 'no route', only silence, as from a container that left."""
    for cmd in (["ip", "link", "add", "rn-v0", "type", "veth", "peer", "name", "rn-v1"],
                ["ip", "addr", "add", "10.99.0.1/24", "dev", "rn-v0"],
                ["ip", "link", "set", "rn-v0", "up"], ["ip", "link", "set", "rn-v1", "up"],
                ["ip", "neigh", "add", SWALLOWING_ADDRESS, "lladdr", "02:00:00:00:00:02", "dev",
                 "rn-v0", "nud", "permanent"]):
        subprocess.run(cmd, check=True)


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

    @unittest.skipUnless(os.environ.get("RN_NETNS"), "changes the network: run by netns.sh")
    def test_a_generator_at_a_new_address_is_found_though_its_old_one_swallows_packets(self):
        """Swarm or Kubernetes replace a killed generator with a task at a new address, while
        the name may still give the old one for a moment: a connect then goes to an address
        that answers nothing. The gateway must give that connect up, resolve the name again
        and find the generator, not wait for the kernel's SYN retries (about 2 minutes)."""
        make_swallowing_address()
        hosts = tempfile.NamedTemporaryFile("w", prefix="rn-hosts-", delete=False)
        self.addCleanup(os.unlink, hosts.name)
        hosts.write(f"{SWALLOWING_ADDRESS} rn-generator\n")
        hosts.close()
        port = free_port()
        self.generator(port=port, interval_ms=200)
        # The gateway alone sees this hosts file, which the test rewrites in place.
        http_port = free_port()
        gw = Process("gateway", [
            "unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', hosts.name,
            os.path.join(BIN, "gateway"), "--listen", f"127.0.0.1:{http_port}", "--connect",
            f"tcp://rn-generator:{port}", "--drain-ms", "0", "--bus-timeout-ms", "1000"])
        self.procs.append(gw)
        url = f"http://127.0.0.1:{http_port}"
        gw.wait_log(r'msg="started"')
        time.sleep(2)  # its connect is on its way to the old address
        self.assertEqual(http_get(url + "/readyz")[0], 503, "it heard from nowhere")
        with open(hosts.name, "w") as f:
            f.write("127.0.0.1 rn-generator\n")
        moved = time.monotonic()
        wait_until(lambda: http_get(url + "/readyz")[0] == 200, 30,
                   what="the gateway to find the generator at its new address")
        print(f"found {time.monotonic() - moved:.1f} s after the name moved")
        sse = SSEClient(url)
        self.addCleanup(sse.close)
        self.assertEqual(len(sse.events(3)), 3)


if __name__ == "__main__":
    unittest.main()
