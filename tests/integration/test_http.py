"""HTTP edges and start-up errors: 404, 405, HEAD, the client limit, bad flags and
environment values, endpoints that cannot be bound, a missing web root."""
import os
import signal
import socket
import subprocess
import time
import unittest

from harness import (BIN, SSEClient, SystemTest, free_port, http_get, metrics,
                     open_file_limit, wait_until)


def run(program, args, env=None, timeout=10, nofile=None):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([os.path.join(BIN, program), *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, preexec_fn=open_file_limit(nofile))


def half_sent_requests(url, count, silent_every=0):
    """count connections holding a request head without its blank line; with silent_every
    k, every k-th sends nothing at all. Returns the sockets."""
    port = int(url.rsplit(":", 1)[1])
    held = []
    for i in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if not silent_every or i % silent_every:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the rest
        held.append(sock)
    return held


class HttpTest(SystemTest):
    def test_requests_that_arrive_during_start_are_answered_at_once(self):
        """Found measuring start to ready: about one start in ten took 1 or 2 s. A request
        the gate queued while civetweb's master was still in its first poll() of the
        listening sockets (started before the gate ran, with civetweb's timeout of a
        second) waited out that poll: the gate had taken the connection, so the socket
        never became readable for it. Probes /readyz every few ms from each start until it
        says ready; each probe whose connection was accepted must be answered long before
        that second."""
        _, endpoint = self.generator()
        slowest = 0.0
        for _ in range(30):
            port = free_port()
            gw = self.spawn("gateway", "gateway", ["--listen", f"127.0.0.1:{port}", "--connect",
                                                   endpoint, "--drain-ms", "0"])
            deadline = time.monotonic() + 10
            answered = False
            while not answered and time.monotonic() < deadline:
                try:
                    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                except OSError:
                    time.sleep(0.002)
                    continue
                with sock:
                    connected = time.monotonic()
                    sock.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
                    answered = sock.recv(64).startswith(b"HTTP/1.1 200")
                    slowest = max(slowest, time.monotonic() - connected)
            self.assertTrue(answered)
            gw.stop()
        print(f"slowest answer during start: {slowest * 1000:.0f} ms")
        self.assertLess(slowest, 0.9)

    def test_unknown_paths_and_wrong_methods(self):
        _, endpoint = self.generator()
        _, url = self.gateway(endpoint)
        self.assertEqual(http_get(url + "/nope")[0], 404)
        self.assertEqual(http_get(url + "/static/../../etc/passwd")[0], 404)
        status, headers, _ = http_get(url + "/", method="POST")
        self.assertEqual(status, 405)
        self.assertEqual(headers["allow"], "GET, HEAD")
        status, headers, _ = http_get(url + "/events", method="DELETE")
        self.assertEqual((status, headers["allow"]), (405, "GET"))
        status, headers, body = http_get(url + "/", method="HEAD")
        self.assertEqual((status, body), (200, b""))
        self.assertGreater(int(headers["content-length"]), 100)

    def test_oversized_request_is_refused_and_the_gateway_serves_on(self):
        _, endpoint = self.generator()
        _, url = self.gateway(endpoint)
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
            try:
                reply = s.recv(100)
            except ConnectionResetError:
                reply = b""
            self.assertFalse(reply.startswith(b"HTTP/1.1 200"), reply)
        self.assertEqual(http_get(url + "/healthz")[0], 200)

    def test_client_limit_answers_503_with_retry_after(self):
        _, endpoint = self.generator()
        _, url = self.gateway(endpoint, ["--max-clients", "2"])
        clients = [SSEClient(url), SSEClient(url)]
        self.assertEqual([c.status for c in clients], [200, 200])
        refused = SSEClient(url)
        self.assertEqual(refused.status, 503)
        self.assertEqual(refused.headers["retry-after"], "1")
        self.assertEqual(http_get(url + "/")[0], 200, "the page still loads at the limit")
        self.assertEqual(http_get(url + "/readyz")[0], 503, "not ready at the limit")

    def test_the_client_limit_fits_the_open_file_limit(self):
        """Past the open-file limit accept() would fail and a client would hang unanswered:
        the default limit leaves room to answer 503, and a larger one is refused."""
        r = run("gateway", ["--max-clients", "200"], nofile=200)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("ulimit -n", r.stderr)
        _, endpoint = self.generator()
        _, url = self.gateway(endpoint, [], nofile=150)
        limit = int(metrics(url)["rn_gateway_sse_clients_max"])
        self.assertLess(limit, 150 - 8)
        clients = [SSEClient(url) for _ in range(limit)]
        self.assertEqual({c.status for c in clients}, {200})
        refused = SSEClient(url)
        self.assertEqual(refused.status, 503)
        self.assertEqual(http_get(url + "/healthz")[0], 200)
        for c in clients:
            c.close()

    def test_cors_is_same_origin_unless_configured(self):
        _, endpoint = self.generator()
        _, same = self.gateway(endpoint)
        _, cors = self.gateway(endpoint, ["--cors-origins", "https://a.example,https://b.example"])
        origin = {"Origin": "https://a.example"}
        _, headers, _ = http_get(same + "/fragments/number", headers=origin)
        self.assertNotIn("access-control-allow-origin", headers, "same-origin by default")
        status, headers, _ = http_get(same + "/events", method="OPTIONS", headers={
            **origin, "Access-Control-Request-Method": "GET"})
        self.assertEqual(status, 405, "no preflight answered by default")
        self.assertNotIn("access-control-allow-origin", headers)
        _, headers, _ = http_get(cors + "/fragments/number", headers=origin)
        self.assertEqual(headers["access-control-allow-origin"], "https://a.example")
        self.assertEqual(headers["vary"], "Origin")
        _, headers, _ = http_get(cors + "/fragments/number", headers={"Origin": "https://c.example"})
        self.assertNotIn("access-control-allow-origin", headers)
        status, headers, _ = http_get(cors + "/events", method="OPTIONS", headers={
            **origin, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "last-event-id"})
        self.assertEqual(status, 204)
        self.assertEqual(headers["access-control-allow-headers"], "last-event-id")
        sse = SSEClient(cors, headers=origin)
        self.assertEqual(sse.headers["access-control-allow-origin"], "https://a.example")

    def test_a_half_sent_request_is_closed_after_the_header_timeout(self):
        _, endpoint = self.generator(interval_ms=100)
        _, url = self.gateway(endpoint, ["--threads", "12", "--header-timeout-ms", "1000"])
        held = half_sent_requests(url, 4)
        self.assertEqual(http_get(url + "/healthz")[0], 200, "other workers answer")
        started = time.monotonic()
        for sock in held:
            answer = b""
            try:
                while chunk := sock.recv(4096):
                    answer += chunk
            except OSError:
                pass
            sock.close()
            self.assertTrue(answer.startswith(b"HTTP/1.1 408"), answer[:80])
        self.assertLess(time.monotonic() - started, 6,
                        "closed after the header timeout, not the write timeout (10 s)")

    def test_half_sent_requests_hold_no_worker(self):
        """Three times --threads connections hold a half-sent request (and some send
        nothing at all): the page, the fragment, the health checks and a stream are still
        served at once, and a held request that completes later is answered too."""
        _, endpoint = self.generator(interval_ms=100)
        _, url = self.gateway(endpoint, ["--threads", "12", "--header-timeout-ms", "20000"])
        held = half_sent_requests(url, 48, silent_every=4)
        try:
            wait_until(lambda: metrics(url)["rn_gateway_http_heads_waiting"] == 48, 5,
                       what="every held connection waiting at the gate")
            for path in ("/healthz", "/readyz", "/", "/fragments/number", "/static/app.css"):
                started = time.monotonic()
                # Far below the header timeout: served by a free worker, not after one.
                status = http_get(url + path, timeout=3)[0]
                print(f"{path}: {status} in {(time.monotonic() - started) * 1000:.1f} ms "
                      "beside 48 half-sent requests")
                self.assertEqual(status, 200, path)
            stream = SSEClient(url, timeout=3)
            self.assertEqual(stream.status, 200)
            self.assertEqual(stream.next_event(timeout=3).get("event"), "number")
            stream.close()
            held[1].sendall(b"\r\n")
            response = held[1].recv(4096)
            self.assertTrue(response.startswith(b"HTTP/1.1 200"), response[:80])
        finally:
            for sock in held:
                sock.close()
        wait_until(lambda: metrics(url)["rn_gateway_http_heads_waiting"] == 0, 5,
                   what="closed connections leave the gate")
        self.assertEqual(metrics(url)["rn_gateway_http_head_timeouts_total"], 0)

    def test_every_program_prints_its_version(self):
        for program in ("generator", "gateway", "monitor", "keygen"):
            p = run(program, ["--version"])
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertRegex(p.stdout, rf"^{program} \d+\.\d+\.\d+( \(\S+\))?\n$")

    def test_nothing_after_a_stream_is_read_as_a_request(self):
        """A stream's body ends with its connection: bytes a client pipelines after it are
        never parsed as another request."""
        _, endpoint = self.generator(interval_ms=100)
        gw, url = self.gateway(endpoint, ["--drain-ms", "1000"])
        port = int(url.rsplit(":", 1)[1])
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        self.assertIn(b"Connection: close", data.split(b"\r\n\r\n")[0])
        gw.proc.send_signal(signal.SIGTERM)  # draining closes the stream
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        sock.close()
        self.assertEqual(data.count(b"HTTP/1.1 "), 1, data[-300:])

    def test_security_headers(self):
        _, endpoint = self.generator()
        _, url = self.gateway(endpoint)
        _, headers, _ = http_get(url + "/")
        csp = headers["content-security-policy"]
        for directive in ("default-src 'none'", "script-src 'self'", "connect-src 'self'",
                          "frame-ancestors 'none'"):
            self.assertIn(directive, csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertNotIn("unsafe-eval", csp)
        for path in ("/", "/fragments/number", "/static/htmx.min.js", "/nope"):
            self.assertEqual(http_get(url + path)[1]["x-content-type-options"], "nosniff", path)

    def test_bad_flags_and_environment_are_clear_errors(self):
        cases = [
            ("generator", ["--interval-ms", "0"], {}, "--interval-ms"),
            ("generator", ["--bogus"], {}, "--bogus"),
            ("generator", ["--min", "10", "--max", "1"], {}, "--min"),
            ("generator", ["--topic", "_x"], {}, "reserved"),
            ("generator", [], {"GENERATOR_INTERVAL_MS": "fast"}, "GENERATOR_INTERVAL_MS"),
            ("gateway", ["--threads", "abc"], {}, "--threads"),
            ("gateway", ["--on-demand=maybe"], {}, "--on-demand"),
            ("gateway", ["--threads", "1"], {}, "--threads"),
            ("gateway", ["--writers", "65"], {}, "--writers"),
            ("gateway", [], {"GATEWAY_HISTORY": "-1"}, "GATEWAY_HISTORY"),
            ("monitor", ["--count", "x"], {}, "--count"),
        ]
        for program, args, env, mention in cases:
            r = run(program, args, env)
            self.assertEqual(r.returncode, 2, (program, args, env, r.stderr))
            self.assertIn(mention, r.stderr, (program, args, env))
        for program in ("generator", "gateway", "monitor"):
            r = run(program, ["--help"])
            self.assertEqual(r.returncode, 0)
            self.assertIn("--", r.stdout)

    def test_endpoints_that_cannot_be_used(self):
        port = free_port()
        self.generator(port=port)
        r = run("generator", ["--bind", f"tcp://127.0.0.1:{port}"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot bind", r.stderr)
        r = run("generator", ["--bind", "nonsense"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot bind", r.stderr)
        r = run("gateway", ["--connect", "nonsense://x", "--listen", f"127.0.0.1:{free_port()}"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot connect", r.stderr)
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            taken = busy.getsockname()[1]
            r = run("gateway", ["--listen", f"127.0.0.1:{taken}", "--threads", "16"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot listen", r.stderr)
        r = run("gateway", ["--web-root", "/nonexistent", "--listen", f"127.0.0.1:{free_port()}"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent", r.stderr)


if __name__ == "__main__":
    unittest.main()
