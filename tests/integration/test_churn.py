"""Churn: 10,000 SSE connects and disconnects against one gateway. Its thread count and RSS
come back to their baseline and it still serves."""
import os
import socket
import time
import unittest

from harness import SSEClient, SystemTest, http_get, metrics, wait_until

CYCLES = int(os.environ.get("RN_CHURN_CYCLES", "10000"))


def status_of(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["Threads"]), int(fields["VmRSS"].split()[0])


def churn(port, count):
    """Connects, reads the response head, and closes; half of the clients just vanish
    without reading at all."""
    for i in range(count):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
            if i % 2 == 0:
                s.recv(256)


class ChurnTest(SystemTest):
    def test_ten_thousand_connects_leave_no_trace(self):
        _, endpoint = self.generator(interval_ms=20)
        gw, url = self.gateway(endpoint, ["--heartbeat-ms", "200", "--threads", "512"])
        port = int(url.rsplit(":", 1)[1])
        pid = gw.proc.pid

        def settled(admitted):
            # No client left, and every connect admitted: the last one may still wait in
            # civetweb's queue when the count of connected clients first reads 0.
            m = metrics(url)
            return m["rn_gateway_sse_clients"] == 0 and \
                m["rn_gateway_sse_connections_total"] >= admitted

        churn(port, 1000)  # warm up allocator arenas and civetweb's buffers
        wait_until(lambda: settled(1000), 20, what="warm-up clients gone")
        threads0, rss0 = status_of(pid)
        started = time.monotonic()
        churn(port, CYCLES)
        wait_until(lambda: settled(CYCLES + 1000), 30, what="every churned client gone")
        threads1, rss1 = status_of(pid)
        print(f"{CYCLES} cycles in {time.monotonic() - started:.1f} s; threads {threads0} -> "
              f"{threads1}; RSS {rss0} -> {rss1} KiB")
        self.assertEqual(threads1, threads0)
        if os.environ.get("RN_SANITIZED"):
            print("ASan holds freed memory in quarantine: leaks are LeakSanitizer's to find")
        else:
            self.assertLess(rss1 - rss0, 4096, "RSS back to its baseline (within 4 MiB)")
        m = metrics(url)
        self.assertEqual(m["rn_gateway_sse_refused_total"], 0)
        self.assertEqual(m["rn_gateway_sse_connections_total"], CYCLES + 1000)
        sse = SSEClient(url)
        self.assertEqual(len(sse.events(3)), 3, "it still serves")
        self.assertEqual(http_get(url + "/")[0], 200)


if __name__ == "__main__":
    unittest.main()
