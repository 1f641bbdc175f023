#!/usr/bin/python3
"""test_compose.py -- the compose deployment (deploy/compose) on a real Docker engine.

Prepares the machine if needed (packages docker.io, docker-compose and debootstrap; a running
dockerd; the base image debian:bookworm-slim built by debootstrap when no registry can provide
it), builds the project's images, brings the stack up with 3 gateways under a project name of
its own, and then, talking to the load balancer only (its published port on 127.0.0.1):

  1. SSE events flow, with increasing ids and one by one (nothing buffers them), and the page
     shows a live number in Chromium (playwright-core);
  2. 12 SSE clients are spread over all 3 gateways (each gateway's own rn_gateway_sse_clients,
     read from its container IP);
  3. `docker stop` of a gateway (SIGTERM, drain): its clients reconnect through the balancer to
     the others, resume where they were (Last-Event-ID) and keep receiving, and none of them
     sees an error response;
  4. `docker kill` of a gateway (no drain): the same;
  5. scaling to 4 gateways (`up -d --scale gateway=4 --no-recreate`): new clients reach the new
     gateway, the balancer was not restarted;
  6. a rolling restart of the 4 gateways (`docker restart`, one at a time) while Chromium shows
     the page and the 24 clients stream: the number keeps changing, no client sees an error;
  7. the monitor service (profile `monitor`) printed the same events (ids and values) as the
     SSE clients received;
  8. the generator pair (generator and generator-backup, every gateway connected to both):
     `docker kill` of the active one while the clients stream: the passive takes over in the
     same epoch, so no client reconnects, sees a reset or misses an event, and events come
     again within the failover time + 1 s (+ the period); started again, the killed one is
     passive in every gateway's per-source metrics and the clients notice nothing; then the
     same with `docker stop` of the new active, so that the member started again takes over;
  9. both generators down: the page still loads and streams still open (no gateway is
     ready, the balancer falls back to the live ones), and all clients get the new epoch's
     events when they are back.

Against hostile clients and for the keys (compose_security.py): every container holds only
its own role's secret key; only the public routes pass the balancer (Prometheus still
scrapes the gateways) and its stats page is unreachable from outside; with the balancer
recreated with tight per-source limits, connections over the count or rate are closed and
requests over the rate get 429, while another source (a container of the test) gets 200;
HTTPS with a certificate the test makes (compose.tls.yaml): HTTP/2 in curl and in Chromium
with the page live, streams over one HTTP/2 connection limited, HSTS and the redirect only
as asked; the gateways' key revoked, they are cut off while the monitor receives. Then the
same stack with keys of the test's own (compose.curve.yaml).

The stack is always torn down (`down -v --remove-orphans`), also on failure. Exit status 0 on
success, 1 on failure, 77 when Docker cannot be made to run here (not root).

Environment: RN_COMPOSE (compose command, default `docker-compose`, else `docker compose`),
RN_TEST_KEEP=1 (leave the stack up for inspection), RN_EXTRA_CA_CERTS (PEM text for the image
build, default: /usr/local/share/ca-certificates/*.crt), RN_TEST_TAG (tag of the images built,
default ctest: set another where two trees are tested on one engine at once).
"""

import glob
import http.client
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
COMPOSE_DIR = ROOT / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
CURVE_FILE = COMPOSE_DIR / "compose.curve.yaml"
TLS_FILE = COMPOSE_DIR / "compose.tls.yaml"
BASE_IMAGE = "debian:bookworm-slim"
# The tag of the images this test builds: sessions that test different trees side by side
# on one engine each set their own, so that none runs the other's images.
TAG = os.environ.get("RN_TEST_TAG", "ctest")
LB_UID = 10002  # the balancer image's user, who must be able to read the TLS key
START = time.monotonic()
SKIP = 77


class Failure(Exception):
    pass


def log(msg):
    print(f"[{time.monotonic() - START:7.1f}s] {msg}", flush=True)


def check(cond, msg):
    if not cond:
        raise Failure(msg)
    log(f"ok: {msg}")


def run(cmd, timeout=600, check=True, env=None, quiet=False, input=None):
    """Runs a command (list), returns CompletedProcess with text output."""
    if not quiet:
        log("$ " + " ".join(shlex.quote(c) for c in cmd))
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                           input=input)
    except subprocess.TimeoutExpired as e:
        raise Failure(f"timed out after {timeout}s: {' '.join(cmd)}") from e
    if check and p.returncode != 0:
        raise Failure(f"exit {p.returncode}: {' '.join(cmd)}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def wait_until(pred, timeout, what, interval=0.25):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise Failure(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- machine preparation ----------------------------------------------------------------------

SBIN_PATH = os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/local/sbin:/usr/sbin:/sbin"


def which(prog):
    return shutil.which(prog, path=SBIN_PATH)


def ensure_packages():
    need = [pkg for pkg, prog in (("docker.io", "dockerd"), ("docker-compose", "docker-compose"),
                                  ("debootstrap", "debootstrap")) if not which(prog)]
    if not need:
        return
    if os.geteuid() != 0:
        log(f"missing {need} and not root: cannot install")
        sys.exit(SKIP)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y",
           "--no-install-recommends", *need]
    if run(cmd, env=env, check=False, timeout=900).returncode != 0:
        run(["apt-get", "-o", "DPkg::Lock::Timeout=300", "update"], env=env, timeout=600)
        run(cmd, env=env, timeout=900)


def docker_cli():
    # The engine's own client when it is installed; any `docker` on PATH otherwise.
    return "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else which("docker")


def ensure_daemon(docker):
    if run([docker, "info"], check=False, quiet=True, timeout=60).returncode == 0:
        return
    if os.geteuid() != 0:
        log("dockerd is not running and we are not root")
        sys.exit(SKIP)
    log("starting dockerd (log: /tmp/rn-dockerd.log)")
    with open("/tmp/rn-dockerd.log", "ab") as out:
        subprocess.Popen([which("dockerd") or "/usr/sbin/dockerd"],
                         stdout=out, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    wait_until(lambda: run([docker, "info"], check=False, quiet=True, timeout=30).returncode == 0,
               90, "dockerd to answer", interval=1)


def ensure_base_image(docker):
    if run([docker, "image", "inspect", BASE_IMAGE], check=False, quiet=True).returncode == 0:
        return
    log(f"{BASE_IMAGE} missing: building it with debootstrap")
    run(["bash", str(HERE / "make-base-image.sh"), BASE_IMAGE], timeout=1200,
        env=dict(os.environ, PATH=SBIN_PATH))


def playwright_core():
    """The directory of the playwright-core module: tests/browser's, else our own copy."""
    for d in (ROOT / "tests" / "browser", HERE):
        mod = d / "node_modules" / "playwright-core"
        if mod.is_dir():
            return mod
        if (d / "package-lock.json").exists():
            run(["npm", "ci", "--prefix", str(d), "--no-audit", "--no-fund", "--loglevel=error"],
                timeout=600)
            if mod.is_dir():
                return mod
    raise Failure("playwright-core not found and npm ci did not provide it")


# --- the stack --------------------------------------------------------------------------------

class Stack:
    def __init__(self, docker):
        self.docker = docker
        self.project = f"rnctest{os.getpid()}{secrets.token_hex(2)}"
        self.port = free_port()
        self.prometheus_port = free_port()
        self.https_port = free_port()
        compose = os.environ.get("RN_COMPOSE")
        if compose:
            self.compose_cmd = shlex.split(compose)
        elif which("docker-compose"):
            self.compose_cmd = ["docker-compose"]
        else:
            self.compose_cmd = [docker, "compose"]
        # The stack's settings are ours: none of the caller's RN_* variables but the CA.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("RN_") or k == "RN_EXTRA_CA_CERTS"}
        self.env = dict(env, RN_TAG=TAG, RN_HTTP_ADDR="127.0.0.1",
                        RN_HTTP_PORT=str(self.port), RN_MONITOR_JSON="1",
                        RN_PROMETHEUS_ADDR="127.0.0.1", RN_PROMETHEUS_PORT=str(self.prometheus_port),
                        COMPOSE_DOCKER_CLI_BUILD="0", DOCKER_BUILDKIT="0")
        if "RN_EXTRA_CA_CERTS" not in self.env:
            pems = [Path(p).read_text() for p in sorted(glob.glob("/usr/local/share/ca-certificates/*.crt"))]
            if pems:
                self.env["RN_EXTRA_CA_CERTS"] = "\n".join(pems)
        self.base = f"http://127.0.0.1:{self.port}"
        self.overrides = []  # further compose files, e.g. compose.curve.yaml

    def compose(self, *args, timeout=600, check=True):
        files = [a for f in [COMPOSE_FILE, *self.overrides] for a in ("-f", str(f))]
        cmd = [*self.compose_cmd, *files, "-p", self.project, "--profile", "monitor",
               "--profile", "observability", *args]
        return run(cmd, env=self.env, timeout=timeout, check=check)

    def containers(self, service, all_=False):
        """{container name: container number} of a service."""
        p = run([self.docker, "ps", *(["-a"] if all_ else []),
                 "--filter", f"label=com.docker.compose.project={self.project}",
                 "--filter", f"label=com.docker.compose.service={service}",
                 "--format", '{{.Names}} {{.Label "com.docker.compose.container-number"}}'],
                quiet=True)
        return dict((n, int(num)) for n, num in (l.split() for l in p.stdout.split("\n") if l.strip()))

    def inspect(self, name, fmt):
        return run([self.docker, "inspect", "-f", fmt, name], quiet=True).stdout.strip()

    def ip(self, name):
        return self.inspect(name, "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}").split()[0]

    def lb(self):
        (name,) = self.containers("lb")
        return name

    def lb_stats(self):
        """HAProxy's stats as rows of {column: value}, read inside the lb container: the
        stats page listens on its loopback only."""
        p = run([self.docker, "exec", self.lb(), "rn-healthcheck", "get", "8404", "/stats;csv"],
                quiet=True, timeout=30)
        lines = p.stdout.splitlines()
        header = lines[0].lstrip("# ").split(",")
        return [dict(zip(header, l.split(","))) for l in lines[1:] if l]

    def lb_servers(self):
        """{slot: (status, address)} from HAProxy's stats. A slot counts as UP only once a
        health check passed on it: HAProxy marks a slot UP as soon as DNS fills it, before
        its first check."""
        rows = self.lb_stats()
        return {r["svname"]: ("UP" if r["status"] == "UP" and r.get("check_status") == "L7OK"
                              else r["status"], r.get("addr", "")) for r in rows
                if r["pxname"] == "gateways" and r["svname"] not in ("BACKEND", "FRONTEND")}

    def servers_up(self):
        return sorted(a.split(":")[0] for s, a in self.lb_servers().values() if s == "UP")

    def gateway_clients(self, name):
        url = f"http://{self.ip(name)}:8080/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        m = re.search(r"^rn_gateway_sse_clients (\d+)$", text, re.M)
        if not m:
            raise Failure(f"no rn_gateway_sse_clients in {name}'s metrics")
        return int(m.group(1))

    def distribution(self):
        return {n: self.gateway_clients(n) for n in sorted(self.containers("gateway"))}

    def frontend(self, column):
        """A counter of the public frontend, e.g. dcon: connections its `tcp-request
        connection` rules closed; scur: connections open now."""
        (row,) = [r for r in self.lb_stats() if r["pxname"] == "http" and r["svname"] == "FRONTEND"]
        return int(row[column] or 0)

    def recreate_lb(self):
        """Recreates the balancer alone with the current settings (self.env, self.overrides),
        then waits until it has every running gateway UP."""
        self.compose("up", "-d", "--no-deps", "lb", timeout=300)
        self.wait_lb_sees(len(self.containers("gateway")))

    def network(self):
        """The compose network (the lb container's only one)."""
        return self.inspect(self.lb(), "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}")

    def other_source_get(self, path):
        """The status line a GET of path through the balancer gets from another address
        than the test's: a container of its own on the compose network. Only the status
        line is read, so a stream ends there."""
        script = ('exec 3<>/dev/tcp/lb/8080 || exit 1; printf "GET %s HTTP/1.1\\r\\nHost: lb\\r\\n'
                  'Accept: text/event-stream\\r\\nConnection: close\\r\\n\\r\\n" "$1" >&3; '
                  'IFS= read -r -t 10 status <&3; echo "${status%$\'\\r\'}"')
        p = run([self.docker, "run", "--rm", "--network", self.network(), "--entrypoint", "bash",
                 f"rn-lb:{TAG}", "-c", script, "-", path], timeout=60, check=False, quiet=True)
        return p.stdout.strip()

    def wait_lb_sees(self, count, timeout=60):
        """Waits until the balancer has exactly the running gateways' IPs UP."""
        def ok():
            want = sorted(self.ip(n) for n in self.containers("gateway"))
            up = self.servers_up()
            return len(want) == count and up == want and up
        return wait_until(ok, timeout, f"the balancer to see {count} gateways UP", interval=0.5)

    def dump_logs(self):
        p = self.compose("logs", "--no-color", "--tail", "60", check=False, timeout=120)
        print(p.stdout[-20000:], p.stderr[-2000:], flush=True)

    def down(self):
        self.compose("down", "-v", "--remove-orphans", "-t", "5", check=False, timeout=300)
        left = run([self.docker, "ps", "-aq", "--filter",
                    f"label=com.docker.compose.project={self.project}"], check=False, quiet=True)
        ids = left.stdout.split()
        if ids:
            run([self.docker, "rm", "-f", *ids], check=False)
        nets = run([self.docker, "network", "ls", "-q", "--filter",
                    f"label=com.docker.compose.project={self.project}"], check=False, quiet=True)
        if nets.stdout.split():
            run([self.docker, "network", "rm", *nets.stdout.split()], check=False)


# --- an SSE client that reconnects like a browser ---------------------------------------------

class SseClient(threading.Thread):
    """Reads /events through the balancer; on a closed stream it reconnects after the advised
    retry delay, sending Last-Event-ID. Bounded: at most max_connects attempts."""

    def __init__(self, name, port, max_connects=30, host="127.0.0.1"):
        super().__init__(name=name, daemon=True)
        self.host = host
        self.port = port
        self.max_connects = max_connects
        self.events = []          # (epoch, seq, value, monotonic time, connection number)
        self.connections = 0      # streams opened (200 responses)
        self.bad_statuses = []    # (status, body) of non-200 answers
        self.errors = []          # connection-level failures
        self.retry_s = 1.0
        self.last_id = None
        self.slot = None          # X-RN-Server of the current stream
        self.lock = threading.Lock()
        self._halt = threading.Event()
        self._sock = None

    def run(self):
        attempts = 0
        while not self._halt.is_set() and attempts < self.max_connects:
            attempts += 1
            try:
                self._one_stream()
            except (OSError, http.client.HTTPException) as e:
                if not self._halt.is_set():
                    with self.lock:
                        self.errors.append(f"{type(e).__name__}: {e}")
            self._halt.wait(self.retry_s)

    def _one_stream(self):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=25)
        try:
            headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
            if self.last_id:
                headers["Last-Event-ID"] = self.last_id
            conn.request("GET", "/events", headers=headers)
            self._sock = conn.sock
            resp = conn.getresponse()
            if resp.status != 200:
                body = resp.read(200).decode(errors="replace")
                with self.lock:
                    self.bad_statuses.append((resp.status, body.strip()))
                return
            with self.lock:
                self.connections += 1
                self.slot = resp.getheader("X-RN-Server")
            number = self.connections
            ev_id = ev_type = None
            data = []
            while not self._halt.is_set():
                line = resp.readline()
                if not line:
                    return  # stream closed: reconnect
                line = line.decode().rstrip("\r\n")
                if line == "":
                    if ev_type == "number" and ev_id and data:
                        epoch, seq = (int(x) for x in ev_id.split("-"))
                        with self.lock:
                            self.events.append((epoch, seq, int(data[0]), time.monotonic(), number))
                    ev_type, data = None, []
                    ev_id = None
                elif line.startswith(":"):
                    continue
                else:
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "id":
                        ev_id = value
                        self.last_id = value
                    elif field == "event":
                        ev_type = value
                    elif field == "data":
                        data.append(value)
                    elif field == "retry" and value.isdigit():
                        self.retry_s = int(value) / 1000
        finally:
            self._sock = None
            conn.close()

    def stop(self):
        self._halt.set()
        s = self._sock
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def snapshot(self):
        with self.lock:
            return list(self.events), self.connections

    def last_seq(self):
        with self.lock:
            return self.events[-1][1] if self.events else None


def start_clients(prefix, n, port, host="127.0.0.1"):
    clients = [SseClient(f"{prefix}{i}", port, host=host) for i in range(n)]
    for c in clients:
        c.start()
        time.sleep(0.05)
    return clients


def stop_clients(clients):
    for c in clients:
        c.stop()
    for c in clients:
        c.join(timeout=10)


def newest_seq(clients):
    return max((c.last_seq() or 0) for c in clients)


def wait_all_receive_after(clients, seq, timeout, what):
    """Waits until every client received an event with a sequence number above seq."""
    wait_until(lambda: all((c.last_seq() or 0) > seq + 1 for c in clients), timeout,
               f"all clients to receive events after seq {seq} ({what})", interval=0.5)


def check_continuity(clients, what):
    """Every client saw one epoch and consecutive sequence numbers: no gap, no duplicate."""
    problems = []
    for c in clients:
        events, _ = c.snapshot()
        for a, b in zip(events, events[1:]):
            if a[0] != b[0] or b[1] != a[1] + 1:
                problems.append(f"{c.name}: {a[0]}-{a[1]} then {b[0]}-{b[1]}")
    check(not problems, f"{what}: every client's ids are consecutive across reconnections"
          + (f" -- {problems[:5]}" if problems else ""))


def check_no_errors(clients, what):
    bad = {c.name: (c.bad_statuses, c.errors) for c in clients if c.bad_statuses or c.errors}
    check(not bad, f"{what}: no client saw an error response or a failed connection"
          + (f" -- {bad}" if bad else ""))


# --- the scenario -----------------------------------------------------------------------------

def remove_gateway(stack, clients, dist, how, timeout):
    """`docker stop` (drain) or `docker kill` the busiest gateway: its clients reconnect
    through the balancer to the others, with no error and no gap. Returns the new
    distribution of the 12 clients."""
    victim = max(dist, key=dist.get)
    moved, left = dist[victim], len(dist) - 1
    before = {c.name: c.snapshot()[1] for c in clients}
    t0 = time.monotonic()
    run([stack.docker, how, victim], timeout=60)
    log(f"docker {how} {victim} took {time.monotonic() - t0:.1f} s")
    seq = newest_seq(clients)
    wait_all_receive_after(clients, seq, timeout, f"after docker {how}")
    reconnected = [c.name for c in clients if c.snapshot()[1] > before[c.name]]
    check(len(reconnected) == moved,
          f"docker {how}: the {moved} clients of {victim} reconnected ({reconnected})")
    dist = wait_until(lambda: (lambda d: d if sum(d.values()) == 12 else None)(stack.distribution()),
                      15, "the remaining gateways to count 12 clients")
    check(victim not in dist and len(dist) == left,
          f"docker {how}: all 12 clients on the {left} others: {dist}")
    check_no_errors(clients, f"docker {how}")
    check_continuity(clients, f"docker {how}")
    stack.wait_lb_sees(left)
    return dist


def prometheus_api(stack, path):
    url = f"http://127.0.0.1:{stack.prometheus_port}/api/v1/{path}"
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read().decode())["data"]


def check_prometheus(stack, gateways):
    """The observability profile's Prometheus scrapes every gateway replica and the bus
    exporter (found through Docker's DNS), has the alert rules loaded, and answers a query
    over the gateways' delivery counters."""
    def all_up():
        try:
            targets = prometheus_api(stack, "targets")["activeTargets"]
        except (OSError, KeyError, ValueError):
            return None
        jobs = sorted(t["labels"]["job"] for t in targets if t["health"] == "up")
        return jobs if jobs == ["bus"] + ["gateway"] * gateways else None
    jobs = wait_until(all_up, 60, "Prometheus to scrape every target", interval=1)
    check(True, f"Prometheus scrapes {gateways} gateways and the bus exporter, all up: {jobs}")
    rules = [r["name"] for g in prometheus_api(stack, "rules")["groups"] for r in g["rules"]]
    check(len(rules) == 9 and {"RnGeneratorDown", "RnNoStandby"} <= set(rules), f"the alert rules are loaded: {rules}")

    def delivered():
        q = urllib.parse.quote("sum(rn_gateway_events_delivered_total)")
        result = prometheus_api(stack, f"query?query={q}")["result"]
        return result and float(result[0]["value"][1]) > 0 and result
    got = wait_until(delivered, 30, "a query over rn_gateway_events_delivered_total", interval=1)
    check(True, f"sum(rn_gateway_events_delivered_total) = {got[0]['value'][1]}")


def scenario(stack, timings):
    import compose_security as sec  # here: it imports this module
    t = time.monotonic()
    stack.compose("build", "--force-rm", timeout=3000)
    timings["build"] = time.monotonic() - t
    sizes = {}
    for img in ("rn-generator", "rn-gateway", "rn-monitor", "rn-lb", "rn-prometheus"):
        info = json.loads(run([stack.docker, "image", "inspect", f"{img}:{TAG}"],
                              quiet=True).stdout)[0]
        sizes[img] = f"{info['Size'] / 1e6:.1f} MB"
        user = info["Config"].get("User") or "root"
        check(user not in ("root", "0"), f"{img} runs as a non-root user ({user})")
        if img != "rn-monitor":
            check(info["Config"].get("Healthcheck"), f"{img} has a HEALTHCHECK")
    log(f"image sizes: {sizes}")

    stack.compose("up", "-d", "--scale", "gateway=3", timeout=300)
    stack.wait_lb_sees(3)
    gateways = stack.containers("gateway")
    check(len(gateways) == 3, f"3 gateways running: {sorted(gateways)}")
    port = stack.port

    # 0. The default bus is encrypted and allow-listed: a subscriber without the keys made
    # by the `keys` service, on the same network, receives nothing; each role holds its
    # own secret key only.
    check_keyless_gets_nothing(stack, sorted(stack.containers("gateway"))[0])
    sec.check_keys_per_role(stack)

    # 1. Events flow through the balancer, increasing, one at a time.
    first = SseClient("first", port)
    first.start()
    wait_until(lambda: len(first.snapshot()[0]) >= 4, 20, "4 events on one stream")
    stop_clients([first])
    events, _ = first.snapshot()
    seqs = [e[1] for e in events]
    check(all(b > a for a, b in zip(seqs, seqs[1:])) and len({e[0] for e in events}) == 1,
          f"SSE ids increase through the balancer: {[f'{e[0]}-{e[1]}' for e in events]}")
    gaps = [b[3] - a[3] for a, b in zip(events, events[1:])]
    check(all(0.3 < g < 2.5 for g in gaps),
          f"events arrive one by one, unbuffered (gaps {[round(g, 2) for g in gaps]} s)")

    mod = playwright_core()
    p = run(["node", str(HERE / "browser_check.cjs"), stack.base + "/"], check=False, timeout=120,
            env=dict(os.environ, RN_PLAYWRIGHT_CORE=str(mod)))
    check(p.returncode == 0, f"the page shows a live number in Chromium: {p.stdout.strip()[-800:]}"
          + (p.stderr[-1500:] if p.returncode else ""))

    # Only the public routes pass the balancer, its stats stay inside; Prometheus scrapes
    # the gateways' /metrics directly all the same.
    sec.check_public_routes_only(stack)
    sec.check_stats_private(stack)
    check_prometheus(stack, 3)

    # The images' HEALTHCHECKs work: Docker reports every program healthy.
    def health():
        names = [n for svc in (*GENERATORS, "gateway", "lb") for n in stack.containers(svc)]
        states = {n: stack.inspect(n, "{{.State.Health.Status}}") for n in names}
        return states if all(v == "healthy" for v in states.values()) else None
    check(wait_until(health, 40, "Docker to report every container healthy", interval=1),
          "Docker reports both generators, gateways and balancer healthy")

    # 2. Twelve streams spread over the three gateways.
    clients = start_clients("c", 12, port)
    wait_until(lambda: all(c.snapshot()[0] for c in clients), 30, "12 clients receiving")
    dist = wait_until(lambda: (lambda d: d if sum(d.values()) == 12 else None)(stack.distribution()),
                      15, "the gateways to count 12 clients")
    check(all(n > 0 for n in dist.values()), f"SSE clients spread over all 3 gateways: {dist}")

    # 3. docker stop (SIGTERM, drain): its clients move to the others without an error.
    dist = remove_gateway(stack, clients, dist, "stop", 30)
    # 4. docker kill (no drain): the same.
    dist = remove_gateway(stack, clients, dist, "kill", 40)

    # 5. Scale to 4: the stopped and killed gateways start again, a fourth one is created, and
    # new clients reach it without the balancer being restarted.
    lb = stack.lb()
    lb_state = stack.inspect(lb, "{{.Id}} {{.State.StartedAt}} {{.RestartCount}}")
    stack.compose("up", "-d", "--scale", "gateway=4", "--no-recreate", timeout=300)
    new = [n for n in stack.containers("gateway") if n not in gateways]
    check(len(new) == 1 and len(stack.containers("gateway")) == 4,
          f"4 gateways after scaling, new: {new}")
    stack.wait_lb_sees(4)
    more = start_clients("n", 12, port)
    clients += more
    wait_until(lambda: all(c.snapshot()[0] for c in more), 30, "12 more clients receiving")
    dist = wait_until(lambda: (lambda d: d if sum(d.values()) == 24 else None)(stack.distribution()),
                      15, "the gateways to count 24 clients")
    check(dist[new[0]] > 0, f"new clients reach the new gateway {new[0]}: {dist}")
    check(stack.inspect(lb, "{{.Id}} {{.State.StartedAt}} {{.RestartCount}}") == lb_state,
          "the balancer was neither restarted nor recreated")
    check_no_errors(clients, "scaling")

    # 6. A rolling restart of every gateway (docker restart: SIGTERM, drain, start again), one
    # at a time, while a browser shows the page and the 24 clients stream: no error anywhere.
    watcher = subprocess.Popen(
        ["node", str(HERE / "browser_check.cjs"), stack.base + "/", "--watch"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, RN_PLAYWRIGHT_CORE=str(mod)))
    try:
        timer = threading.Timer(120, watcher.kill)  # bounds the readline below
        timer.start()
        ready = watcher.stdout.readline().strip()
        timer.cancel()
        check(ready == "ready", f"the browser shows a live number before the rolling restart ({ready!r})")
        for name in sorted(stack.containers("gateway")):
            t0 = time.monotonic()
            run([stack.docker, "restart", name], timeout=60)
            stack.wait_lb_sees(4)
            log(f"{name} restarted and back in the balancer in {time.monotonic() - t0:.1f} s")
        watcher.stdin.write("done\n")
        watcher.stdin.flush()
        out, err = watcher.communicate(timeout=60)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    check(watcher.returncode == 0,
          f"rolling restart: the browser's number kept changing, no error: {out.strip()[-1500:]}"
          + (err[-1500:] if watcher.returncode else ""))
    wait_all_receive_after(clients, newest_seq(clients), 30, "after the rolling restart")
    dist = wait_until(lambda: (lambda d: d if sum(d.values()) == 24 else None)(stack.distribution()),
                      15, "the gateways to count 24 clients")
    log(f"clients after the rolling restart: {dist}")
    check_no_errors(clients, "rolling restart")
    check_continuity(clients, "rolling restart")

    # 7. The monitor printed the same events as the SSE clients received.
    (monitor,) = stack.containers("monitor")
    seen = {}
    for c in clients:
        for epoch, seq, value, _, _ in c.snapshot()[0]:
            seen[(epoch, seq)] = value
    printed = {}
    for line in run([stack.docker, "logs", monitor], quiet=True).stdout.splitlines():
        if line.startswith("{"):
            ev = json.loads(line)
            if ev.get("topic") == "number":
                printed[(ev["epoch"], ev["seq"])] = ev["value"]
    common = sorted(set(seen) & set(printed))
    differ = [(k, seen[k], printed[k]) for k in common if seen[k] != printed[k]]
    check(len(common) >= 10 and not differ,
          f"the monitor printed the same events as the SSE clients: {len(common)} in common, "
          f"{len(differ)} differ {differ[:3]}")

    # 8. The generator pair: the active killed while the clients stream, the passive takes
    # over in the same epoch; the killed one back, it is the passive and nobody notices.
    check_pair_takeover(stack, clients, "kill")
    check_pair_takeover(stack, clients, "stop")

    # 9. Both generators down: no gateway is ready, but the balancer still serves the page
    # and holds streams (through the live-only backend); when they are back, every client
    # receives the new epoch's events without having seen an error.
    old_epoch = clients[0].snapshot()[0][-1][0]
    generators = [n for g in GENERATORS for n in stack.containers(g)]
    check(len(generators) == 2, f"both generators run: {generators}")
    run([stack.docker, "stop", "-t", "5", *generators], timeout=60)
    wait_until(lambda: not stack.servers_up(), 30, "no gateway ready without the generators")
    with urllib.request.urlopen(stack.base + "/", timeout=10) as r:
        check(r.status == 200, f"generators down: the page still loads through the balancer ({r.status})")
    late = start_clients("g", 2, port)
    clients += late
    wait_until(lambda: all(c.snapshot()[1] == 1 for c in late), 15, "streams opened during the outage")
    run([stack.docker, "start", *generators], timeout=60)
    wait_until(lambda: all(c.snapshot()[0] and c.snapshot()[0][-1][0] != old_epoch for c in clients),
               30, "every client to receive the new generators' events", interval=0.5)
    check_no_errors(clients, "generator outage")
    wait_until(lambda: pair_formed(stack), 30, "an active and a passive generator again")
    stop_clients(clients)


GENERATORS = ("generator", "generator-backup")
FAILOVER_S = 2.0  # compose.yaml's RN_FAILOVER_MS default
PERIOD_S = 1.0    # its RN_INTERVAL_MS default


def generator_view(stack, gateway=None):
    """{service: (state, active)} of each --connect source, as a gateway's per-source metrics
    say (state 0 active, 1 starting, 2 passive, 3 not heard; active 1 for the source it
    relays and replays from). A source's host is its compose service."""
    gateway = gateway or sorted(stack.containers("gateway"))[0]
    with urllib.request.urlopen(f"http://{stack.ip(gateway)}:8080/metrics", timeout=5) as r:
        text = r.read().decode()
    view = {}
    for name, host, value in re.findall(
            r'^rn_gateway_generator_(state|active)\{source="tcp://([^:"]+):\d+"\} (\d+)$', text, re.M):
        state, active = view.get(host, (None, None))
        view[host] = (int(value), active) if name == "state" else (state, int(value))
    return view


def pair_formed(stack):
    """The active member's service when every gateway sees one member active and the other
    passive, else None."""
    views = [generator_view(stack, g) for g in sorted(stack.containers("gateway"))]
    active = {h for v in views for h, (st, act) in v.items() if st == 0 and act == 1}
    passive = {h for v in views for h, (st, _) in v.items() if st == 2}
    ok = all(len(v) == 2 for v in views) and len(active) == 1 and len(passive) == 1 \
        and active.isdisjoint(passive)
    return next(iter(active)) if ok else None


def check_pair_takeover(stack, clients, how):
    """`docker kill` (or `stop`) of the active generator while the clients stream through
    the balancer: the passive takes over in the same epoch, so no client reconnects, sees a
    reset or misses an event, and events come again within the failover time and a second
    (and a period, for the event that was due). Then the stopped one is started again: the
    gateways see it passive, and the clients see nothing of it.

    Run with `kill` first and `stop` next, the second takeover is by a member that was
    itself stopped and started again. That found a stall of 7 s: a stopped container closes
    its connections, the others reconnect at once to its name, which no longer resolves
    (Docker's resolver asks one that does not answer), and libzmq resolves in the I/O
    thread, which then served no connection for seconds, the new active's included. Now
    each generator has an I/O thread of its own (common/bus_socket.h)."""
    active = wait_until(lambda: pair_formed(stack), 30, "an active and a passive generator")
    (victim,) = stack.containers(active)
    passive = [g for g in GENERATORS if g != active][0]
    before = {c.name: c.snapshot()[1] for c in clients}
    epoch = clients[0].snapshot()[0][-1][0]
    seq = newest_seq(clients)
    t0 = time.monotonic()
    run([stack.docker, how, victim], timeout=30)
    wait_all_receive_after(clients, seq, 30, f"after docker {how} of the active generator")
    firsts = []
    for c in clients:
        after = [e for e in c.snapshot()[0] if e[3] > t0]
        firsts.append(after[0][3] - t0)
    bound = FAILOVER_S + 1 + PERIOD_S
    log(f"first event after docker {how}: {min(firsts):.2f} s to {max(firsts):.2f} s")
    check(max(firsts) < bound,
          f"events again within the failover time + 1 s (+ a period): {max(firsts):.2f} s < {bound} s")
    check(wait_until(lambda: (generator_view(stack).get(passive, (None, None)) == (0, 1)), 15,
                     f"the gateways to relay from {passive}"), f"{passive} took over")
    check(all(e[0] == epoch for c in clients for e in c.snapshot()[0][-3:]),
          f"the same epoch after the takeover ({epoch}): no reset")
    check({c.name: c.snapshot()[1] for c in clients} == before,
          "no client reconnected across the takeover")
    check_no_errors(clients, "takeover")
    check_continuity(clients, "takeover")

    # The old active back: it joins as the passive, the clients notice nothing.
    run([stack.docker, "start", victim], timeout=60)
    wait_until(lambda: pair_formed(stack) == passive, 30,
               f"every gateway to see {active} passive and {passive} active")
    log(f"{active} is back as the passive: {generator_view(stack)}")
    wait_all_receive_after(clients, newest_seq(clients), 15, "after the old active came back")
    check(all(e[0] == epoch for c in clients for e in c.snapshot()[0][-3:]) and
          {c.name: c.snapshot()[1] for c in clients} == before,
          f"{active}'s return: the same epoch, no client reconnected")
    check_no_errors(clients, "return")
    check_continuity(clients, "return")


def check_keyless_gets_nothing(stack, neighbour):
    """A monitor with no keys, on the network of the container `neighbour`, gets no event."""
    network = stack.inspect(neighbour, "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}")
    plain = run([stack.docker, "run", "--rm", "--network", network, "--entrypoint", "timeout",
                 f"rn-monitor:{TAG}", "5", "monitor", "--connect", "tcp://generator:5556",
                 "--count", "1"], timeout=60, check=False, quiet=True)
    check(plain.returncode == 124 and "topic=number" not in plain.stdout,
          f"a subscriber without keys got nothing (exit {plain.returncode}: {plain.stdout[:200]})")


def security_scenario(stack, timings):
    """The balancer against hostile clients (per-source limits, TLS) and the revocation of
    one role's key; see compose_security.py. The revocation cuts the gateways off: last."""
    import compose_security as sec
    t = time.monotonic()
    sec.check_source_limits(stack)
    sec.check_tls(stack)
    sec.check_revocation(stack)
    timings["security"] = time.monotonic() - t


def curve_scenario(stack):
    """9. CURVE: the same stack with compose.curve.yaml and keys made by the image's own
    rn-keys, as its header says. Events flow through the balancer and to the keyed
    monitor; a subscriber without keys on the same network receives nothing."""
    keys = Path(tempfile.mkdtemp(prefix="rn-keys-"))  # 0700
    try:
        run([stack.docker, "run", "--rm", "--network", "none", "-u", f"{os.getuid()}:{os.getgid()}",
             "-v", f"{keys}:/keys", "--entrypoint", "rn-keys", f"rn-generator:{TAG}", "/keys"],
            timeout=60)
        for path in keys.rglob("*"):  # the containers' user
            os.chown(path, 10001, 10001)
        stack.overrides = [CURVE_FILE]
        stack.env["RN_KEYS_DIR"] = str(keys)
        stack.compose("up", "-d", "--scale", "gateway=1", timeout=300)
        wait_until(lambda: len(stack.servers_up()) == 1, 60, "the keyed gateway ready")
        clients = start_clients("k", 2, stack.port)
        wait_until(lambda: all(len(c.snapshot()[0]) >= 3 for c in clients), 30,
                   "events through an encrypted bus")
        check_no_errors(clients, "CURVE")
        check_continuity(clients, "CURVE")
        stop_clients(clients)
        (monitor,) = stack.containers("monitor")
        wait_until(lambda: '"topic":"number"' in run([stack.docker, "logs", monitor],
                                                     quiet=True).stdout,
                   30, "the keyed monitor to print events")
        check_keyless_gets_nothing(stack, monitor)
        log("CURVE: keyed gateway and monitor receive, a keyless subscriber gets nothing")
    finally:
        shutil.rmtree(keys, ignore_errors=True)


def prepare_docker():
    """Docker installed, its daemon running, the base image there; returns the client."""
    ensure_packages()
    docker = docker_cli()
    if not docker:
        raise Failure("no docker client after installing docker.io")
    ensure_daemon(docker)
    ensure_base_image(docker)
    return docker


def run_torn_down(name, scenario, dump_logs, down):
    """Runs scenario(); whatever happens, dumps the logs on failure and calls down() unless
    RN_TEST_KEEP=1. Returns True when the scenario passed."""
    ok = False
    try:
        scenario()
        ok = True
    except Failure as e:
        log(f"FAILED: {e}")
    except Exception as e:  # a bug in the test itself: still tear down, still report
        log(f"FAILED (unexpected): {type(e).__name__}: {e}")
        import traceback
        traceback.print_exc()
    finally:
        if not ok:
            dump_logs()
        if os.environ.get("RN_TEST_KEEP") == "1":
            log(f"RN_TEST_KEEP=1: leaving {name} up")
        else:
            down()
    return ok


def main():
    timings = {}
    docker = prepare_docker()
    timings["prepare"] = time.monotonic() - START
    stack = Stack(docker)
    log(f"project {stack.project}, balancer on {stack.base}, compose: {' '.join(stack.compose_cmd)}")

    def everything():
        scenario(stack, timings)
        security_scenario(stack, timings)
        curve_scenario(stack)
    ok = run_torn_down(f"project {stack.project}", everything, stack.dump_logs, stack.down)
    timings["total"] = time.monotonic() - START
    log("timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    log("PASS" if ok else "FAIL")
    return 0 if ok else 1


def on_signal(signum, frame):
    # ctest's timeout or ^C: unwind through main()'s finally, which tears the stack down.
    raise KeyboardInterrupt(f"signal {signum}")


def run_main(main):
    """Exits with main()'s status; SIGTERM unwinds through its tear-down."""
    signal.signal(signal.SIGTERM, on_signal)
    try:
        sys.exit(main())
    except Failure as e:
        log(f"FAILED: {e}")
        sys.exit(1)


if __name__ == "__main__":
    # Run as the module `test_compose`, the one compose_security imports, so that both see
    # one Failure class.
    import test_compose
    test_compose.run_main(test_compose.main)
