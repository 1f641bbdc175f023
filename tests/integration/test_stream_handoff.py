"""A stream leaves its civetweb worker once its response head is out: a writer's loop
owns it from then on. Many more streams than workers all stream while the page still
answers; what a client sends after its request (pipelining, keep-alive) cannot reach the
stream; the gateway holds its threads constant; TLS on the gateway is refused."""
import socket
import subprocess
import os
import unittest

from harness import (BIN, SSEClient, SystemTest, free_port, http_get, metrics, parse_id,
                     wait_until)


class StreamHandoffTest(SystemTest):
    def test_streams_outnumber_workers_and_survive_their_workers_return(self):
        _, endpoint = self.generator(interval_ms=50)
        _, url = self.gateway(endpoint, ["--threads", "2"])
        threads_idle = metrics(url)["rn_gateway_threads"]
        clients = [SSEClient(url) for _ in range(60)]
        try:
            self.assertEqual({c.status for c in clients}, {200})
            # Every stream goes on well after its worker returned to the pool.
            for c in clients:
                ids = [parse_id(e["id"]) for e in c.events(4, timeout=10)]
                self.assertEqual([s for _, s in ids], list(range(ids[0][1], ids[0][1] + 4)))
            self.assertEqual(http_get(url + "/healthz")[0], 200)
            self.assertEqual(http_get(url + "/")[0], 200)
            m = metrics(url)
            self.assertEqual(m["rn_gateway_sse_clients"], 60)
            self.assertEqual(m["rn_gateway_workers_busy"], 1, "only this /metrics request")
            self.assertEqual(m["rn_gateway_threads"], threads_idle, "no thread per client")
        finally:
            for c in clients:
                c.close()
        wait_until(lambda: metrics(url)["rn_gateway_sse_clients"] == 0, 5, what="clients gone")

    def raw_stream(self, url, request):
        host, port = url[len("http://"):].split(":")
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(request)
        return s

    def read_for(self, sock, want, limit=65536):
        data = b""
        while want not in data and len(data) < limit:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data

    def test_a_pipelined_request_never_reaches_the_stream(self):
        _, endpoint = self.generator(interval_ms=50)
        _, url = self.gateway(endpoint, ["--threads", "2"])
        s = self.raw_stream(url, b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n"
                                 b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                                 b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = self.read_for(s, b"\nid: ", 1 << 20)
            data += self.read_for(s, b"\n\nid: ")
            head, _, body = data.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
            self.assertIn(b"Connection: close", head)
            self.assertEqual(data.count(b"HTTP/1.1"), 1, "nothing answered the pipelined requests")
            self.assertNotIn(b"ok\n", body)
            self.assertIn(b"event: number", body)
        finally:
            s.close()
        self.assertEqual(http_get(url + "/healthz")[0], 200)

    def test_keep_alive_is_not_kept(self):
        _, endpoint = self.generator(interval_ms=50)
        gw, url = self.gateway(endpoint, ["--threads", "2"])
        s = self.raw_stream(url, b"GET /events HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
        try:
            head = self.read_for(s, b"\r\n\r\n")
            self.assertIn(b"Connection: close", head)
            self.assertIn(b"event: number", self.read_for(s, b"event: number"))
        finally:
            s.close()
        # A plain request with keep-alive asked for is answered and closed too: no worker
        # waits on an idle connection for its next request.
        s = self.raw_stream(url, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
        try:
            s.settimeout(5)
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            self.assertTrue(data.startswith(b"HTTP/1.1 200"), data)
        finally:
            s.close()

    def test_a_stream_that_arrives_while_warming_is_held_not_refused(self):
        """A browser's EventSource takes any non-200 as final: a stream that comes while
        the gateway still waits for its history gets 200 and its events once warm."""
        port = free_port()
        endpoint = f"tcp://127.0.0.1:{port}"
        _, url = self.gateway(endpoint, ["--warm-timeout-ms", "20000"], ready=False)
        self.assertEqual(http_get(url + "/readyz")[2], b"generator down\n")
        early = SSEClient(url)
        self.assertEqual(early.status, 200)
        self.assertIsNone(early.next_event(timeout=0.5), "nothing before the history")
        self.generator(port=port, interval_ms=50)
        first = early.events(3, timeout=15)
        ids = [parse_id(e["id"]) for e in first]
        self.assertEqual([s for _, s in ids], list(range(ids[0][1], ids[0][1] + 3)))
        self.assertNotIn("reset", [e.get("event") for e in first])
        early.close()

    def test_tls_on_the_gateway_is_refused_with_a_clear_error(self):
        r = subprocess.run([os.path.join(BIN, "gateway"), "--listen", "127.0.0.1:8443s",
                            "--connect", "tcp://127.0.0.1:1"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("TLS", r.stderr)


if __name__ == "__main__":
    unittest.main()
