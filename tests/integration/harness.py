"""harness.py -- real generator and gateway processes on loopback ports chosen at random,
an SSE client on a raw socket, and helpers to read /metrics. Every wait is bounded.

The programs come from RN_BIN_DIR, so the same tests run against the normal and the
sanitizer build; a process that prints a sanitizer report or exits badly fails the test.
"""
import http.client
import os
import re
import resource
import signal
import socket
import subprocess
import tempfile
import time
import unittest

BIN = os.environ.get("RN_BIN_DIR", os.path.join(os.path.dirname(__file__), "../../build/bin"))
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, step=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def open_file_limit(nofile):
    """A preexec_fn that sets a child's open-file limit (soft and hard), or None."""
    if not nofile:
        return None
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))


class Process:
    """A program of ours, its stderr kept in a file for wait_log and sanitizer checks."""

    def __init__(self, name, argv, env=None, nofile=None):
        self.name = name
        self.log = tempfile.NamedTemporaryFile(prefix=f"rn-{name}-", suffix=".log", delete=False)
        full_env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
                        UBSAN_OPTIONS="print_stacktrace=1")
        full_env.update(env or {})
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=full_env, preexec_fn=open_file_limit(nofile))

    def text(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def wait_log(self, pattern, timeout=10):
        return wait_until(lambda: re.search(pattern, self.text()), timeout,
                          what=f"{self.name} to log {pattern!r}")

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Signals the process and waits; returns its exit code."""
        if self.alive():
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(f"{self.name} did not exit within {timeout}s of {sig!r}")

    def sanitizer_report(self):
        text = self.text()
        return next((m for m in SANITIZER_MARKS if m in text), None)


class SystemTest(unittest.TestCase):
    """Starts processes through self.generator/self.gateway and stops them all at the end,
    failing the test if any of them crashed, hung or reported a sanitizer error."""

    def setUp(self):
        self.procs = []

    def tearDown(self):
        problems = []
        for p in reversed(self.procs):
            was_alive = p.alive()
            code = p.stop() if was_alive else p.proc.returncode
            if was_alive and code != 0:
                problems.append(f"{p.name} exited {code} on SIGTERM")
            report = p.sanitizer_report()
            if report:
                problems.append(f"{p.name}: {report}")
            if problems:
                print(f"---- {p.name} log ----\n{p.text()[-4000:]}")
        if problems and not self._outcome_failed():
            self.fail("; ".join(problems))

    def _outcome_failed(self):
        result = getattr(self._outcome, "result", None)
        return bool(result and (result.failures or result.errors))

    def spawn(self, name, program, args, env=None, nofile=None):
        p = Process(name, [os.path.join(BIN, program)] + args, env, nofile)
        self.procs.append(p)
        return p

    def generator(self, port=None, interval_ms=200, extra=()):
        port = port or free_port()
        endpoint = f"tcp://127.0.0.1:{port}"
        args = ["--bind", endpoint, "--interval-ms", str(interval_ms), *extra]
        p = self.spawn("generator", "generator", args)
        p.wait_log(r'msg="started"')
        return p, endpoint

    def gateway(self, connect, extra=(), ready=True, nofile=None):
        """nofile: the open-file limit (soft and hard) the gateway runs under."""
        port = free_port()
        args = ["--listen", f"127.0.0.1:{port}", "--connect", connect, "--threads", "64",
                "--drain-ms", "0", *extra]
        p = self.spawn("gateway", "gateway", args, nofile=nofile)
        url = f"http://127.0.0.1:{port}"
        p.wait_log(r'msg="started"')
        if ready:
            wait_until(lambda: http_get(url + "/readyz")[0] == 200, 10, what="gateway ready")
        return p, url


def http_get(url, method="GET", headers=None, timeout=5):
    """Returns (status, headers as a lower-cased dict, body bytes)."""
    m = re.match(r"http://([^/:]+):(\d+)(.*)", url)
    conn = http.client.HTTPConnection(m.group(1), int(m.group(2)), timeout=timeout)
    try:
        conn.request(method, m.group(3) or "/", headers=headers or {})
        r = conn.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        conn.close()


def metrics(url):
    """Parses /metrics into {'name{labels}': value}."""
    status, _, body = http_get(url + "/metrics")
    assert status == 200, status
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


class SSEClient:
    """An SSE client on a raw socket: it sees exactly the bytes the gateway sends."""

    def __init__(self, url, path="/events", headers=None, timeout=10):
        m = re.match(r"http://([^/:]+):(\d+)", url)
        self.sock = socket.create_connection((m.group(1), int(m.group(2))), timeout=timeout)
        lines = [f"GET {path} HTTP/1.1", f"Host: {m.group(1)}", "Accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        self.comments = []
        self.retry = None
        self.closed = False
        head = self._read_until(b"\r\n\r\n", timeout)
        status_line, *header_lines = head.decode().split("\r\n")
        self.status = int(status_line.split()[1])
        self.headers = {}
        for h in header_lines:
            k, _, v = h.partition(":")
            self.headers[k.strip().lower()] = v.strip()

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except OSError:
            chunk = b""
        if not chunk:
            self.closed = True
            return False
        self.buf += chunk
        return True

    def _read_until(self, sep, timeout):
        deadline = time.monotonic() + timeout
        while sep not in self.buf:
            if not self._fill(deadline):
                raise AssertionError(f"no {sep!r} within {timeout}s (closed={self.closed})")
        head, self.buf = self.buf.split(sep, 1)
        return head

    def next_event(self, timeout=5):
        """Returns the next event as a dict (id, event, data), or None on timeout/close."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\n\n" not in self.buf:
                if not self._fill(deadline):
                    return None
            block, self.buf = self.buf.split(b"\n\n", 1)
            event = {}
            for line in block.decode().split("\n"):
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "" and value.startswith("t="):
                    event["published_ns"] = int(value[2:])
                elif field == "":
                    self.comments.append(value)
                elif field == "retry":
                    self.retry = int(value)
                elif field == "data":
                    event["data"] = event["data"] + "\n" + value if "data" in event else value
                else:
                    event[field] = value
            if "data" in event or "event" in event:
                return event

    def events(self, count, timeout=10):
        deadline = time.monotonic() + timeout
        out = []
        while len(out) < count:
            ev = self.next_event(max(0.0, deadline - time.monotonic()))
            if ev is None:
                raise AssertionError(f"got {len(out)} of {count} events in {timeout}s")
            out.append(ev)
        return out

    def close(self):
        self.sock.close()


def parse_id(event_id):
    epoch, seq = event_id.split("-")
    return int(epoch), int(seq)
