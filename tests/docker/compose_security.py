"""compose_security.py -- the compose stack against hostile clients and stolen keys: the
checks test_compose.py runs on its stack (issue 21, items 3, 9 and 11).

  - only the public routes pass the balancer; its stats page is not reachable from outside;
  - per-source limits: connections (count and rate), requests, HTTP/2 streams, each
    refused by the balancer while another source still gets 200;
  - HTTPS and HTTP/2 with a certificate the test makes, the page live in Chromium over it,
    HSTS and the redirect to HTTPS only when asked for;
  - every role holds only its own secret key, and revoking one role's key cuts that role
    alone.
"""

import http.client
import json
import os
import select
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from test_compose import (HERE, LB_UID, TAG, TLS_FILE, Failure, check, log, playwright_core,
                          run, wait_until)

INTERNAL = ("/metrics", "/readyz", "/healthz", "/stats", "/%6detrics", "//metrics",
            "/static/../metrics", "/static/..%2fmetrics", "/fragments/number/../../metrics",
            "http://127.0.0.1/metrics", "/nonexistent")
PUBLIC = ("/", "/fragments/number", "/static/app.css", "/static/shared-stream.js")


def get(port, path, host="127.0.0.1", headers=None):
    """(status, headers as a lower-case dict, body) of a GET of path, sent as written."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read(4096)
    finally:
        conn.close()


def check_public_routes_only(stack):
    """The balancer answers the gateways' internal routes (whatever their spelling) itself
    with 404, and passes the public ones; without TLS settings it neither redirects nor
    sends HSTS."""
    denied = {}
    for path in INTERNAL:
        status, headers, _ = get(stack.port, path)
        if status != 404 or "x-rn-server" in headers:
            denied[path] = (status, headers.get("x-rn-server"))
    check(not denied, "internal routes through the balancer: 404 from the balancer itself"
          + (f" -- not so: {denied}" if denied else ""))
    passed = {}
    for path in PUBLIC:
        status, headers, _ = get(stack.port, path)
        passed[path] = (status, headers.get("x-rn-server"), headers.get("strict-transport-security"))
    check(all(s == 200 and srv and not hsts for s, srv, hsts in passed.values()),
          f"public routes pass to a gateway, no redirect and no HSTS unless asked: {passed}")


def check_stats_private(stack):
    """HAProxy's stats page (and its own metrics) listen on the lb container's loopback:
    not published, not reachable on the container's address, readable inside it."""
    lb = stack.lb()
    ports = json.loads(stack.inspect(lb, "{{json .NetworkSettings.Ports}}"))
    published = sorted(k for k, v in ports.items() if v)
    check(published == ["8080/tcp"], f"the balancer publishes only 8080: {ports}")
    try:
        with socket.create_connection((stack.ip(lb), 8404), timeout=5):
            reached = True
    except OSError:
        reached = False
    check(not reached, "the stats port is closed on the balancer's address (loopback only)")
    check(any(r["pxname"] == "gateways" for r in stack.lb_stats()),
          "the stats page answers inside the balancer's container")


def open_idle(port, count):
    """count TCP connections to the balancer, nothing sent; then, after 2 s, which of them
    the balancer closed: (open sockets, number closed)."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
    closed = set()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        readable, _, _ = select.select([s for s in socks if s not in closed], [], [], 0.2)
        for s in readable:
            try:
                if s.recv(1) == b"":
                    closed.add(s)
            except OSError:
                closed.add(s)
    for s in closed:
        s.close()
    return [s for s in socks if s not in closed], len(closed)


def status_on_new_connection(port, path="/fragments/number"):
    """The status of one request on a connection of its own, or None when the balancer
    closed the connection without an answer."""
    try:
        return get(port, path, headers={"Connection": "close"})[0]
    except (OSError, http.client.HTTPException):
        return None


def check_source_limits(stack):
    """Per-source limits, tight for the test: the balancer is recreated with them."""
    conns, conn_rate, req_rate = 8, 30, 40
    stack.env.update(RN_LB_SOURCE_CONNS=str(conns), RN_LB_SOURCE_CONN_RATE=str(conn_rate),
                     RN_LB_SOURCE_REQ_RATE=str(req_rate), RN_LB_SOURCE_STREAMS="100")
    stack.recreate_lb()
    port = stack.port
    refused0 = stack.frontend("dcon")

    # Concurrent connections: one over the limit is closed at once, before any answer.
    held, closed = open_idle(port, conns + 3)
    try:
        check(len(held) == conns and closed == 3,
              f"{conns + 3} connections from one source: {len(held)} held, {closed} closed "
              f"(limit {conns})")
        held[0].sendall(b"GET /fragments/number HTTP/1.1\r\nHost: x\r\n\r\n")
        first = held[0].recv(64).decode(errors="replace")
        check(first.startswith("HTTP/1.1 200"), f"a held connection is served: {first[:20]!r}")
        refused = stack.frontend("dcon") - refused0
        check(refused >= 3, f"the balancer counts the refused connections (dcon +{refused})")
        other = stack.other_source_get("/events")
        check(other.startswith("HTTP/1.1 200"), f"meanwhile a stream from another source: {other!r}")
    finally:
        for s in held:
            s.close()
    # Until the balancer has seen them close, they still count against the next one.
    wait_until(lambda: stack.frontend("scur") == 0, 15, "the held connections to close")

    # Requests in 10 s, on one connection: 429 with Retry-After, from the balancer.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    statuses = []
    try:
        for _ in range(3 * req_rate):
            conn.request("GET", "/fragments/number")
            r = conn.getresponse()
            r.read()
            statuses.append(r.status)
            if r.status != 200:
                break
    finally:
        conn.close()
    ok = statuses.count(200)
    check(statuses[-1] == 429 and 1 <= ok <= req_rate and r.getheader("Retry-After")
          and not r.getheader("X-RN-Server"),
          f"requests from one source: {ok} served, then 429 with Retry-After from the balancer "
          f"(limit {req_rate} in 10 s)")
    other = stack.other_source_get("/fragments/number")
    check(other.startswith("HTTP/1.1 200"), f"meanwhile another source is served: {other!r}")

    # New connections in 10 s, one request each, none held: once over the rate they are
    # closed unanswered (an answer, even the 429 of the request rate, means accepted).
    answered, before = 0, stack.frontend("dcon")
    for _ in range(2 * conn_rate):
        if status_on_new_connection(port) is None:
            break
        answered += 1
    else:
        raise Failure(f"{2 * conn_rate} new connections in a row were all accepted")
    check(answered <= conn_rate and stack.frontend("dcon") > before,
          f"new connections from one source: refused by the balancer after {answered} "
          f"(limit {conn_rate} in 10 s)")
    other = stack.other_source_get("/events")
    check(other.startswith("HTTP/1.1 200"), f"meanwhile a stream from another source: {other!r}")
    for k in ("RN_LB_SOURCE_CONNS", "RN_LB_SOURCE_CONN_RATE", "RN_LB_SOURCE_REQ_RATE",
              "RN_LB_SOURCE_STREAMS"):
        stack.env.pop(k)


def make_certificate(directory):
    """A self-signed certificate for 127.0.0.1 and its key in one PEM file, readable by the
    balancer's user only."""
    crt, key, pem = (directory / n for n in ("site.crt", "site.key", "site.pem"))
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"], timeout=60)
    pem.write_text(crt.read_text() + key.read_text())
    os.chown(pem, LB_UID, LB_UID)
    os.chmod(pem, 0o400)
    return pem


def curl_https(url):
    """(HTTP version, status, headers) of a GET over HTTPS, HTTP/2 offered (curl)."""
    p = run(["curl", "-sS", "-k", "--http2", "--max-time", "10", "-D", "-", "-o", "/dev/null",
             "-w", "%{http_version}", url], timeout=30)
    lines = p.stdout.replace("\r", "").split("\n")
    status = int(lines[0].split()[1])
    headers = dict((k.lower(), v.strip()) for k, _, v in (l.partition(":") for l in lines[1:-1]) if v)
    return lines[-1], status, headers


def h2_streams(url, count):
    """Opens count SSE streams on one HTTP/2 connection (h2_streams.cjs); returns the
    process, its first line (the answers, JSON) read. Close it with close_h2()."""
    proc = subprocess.Popen(["node", str(HERE / "h2_streams.cjs"), url, str(count)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    timer = threading.Timer(60, proc.kill)  # bounds the readline below
    timer.start()
    line = proc.stdout.readline()
    timer.cancel()
    try:
        return proc, json.loads(line)
    except ValueError:
        proc.kill()
        raise Failure(f"h2_streams.cjs: {line!r} {proc.stderr.read()[-1000:]}")


def close_h2(proc):
    try:
        proc.communicate("done\n", timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def check_tls(stack):
    """HTTPS and HTTP/2 at the balancer (compose.tls.yaml) with a certificate made here:
    curl speaks HTTP/2, the page is live in Chromium over it, HSTS is sent because it is
    asked for, and streams over one HTTP/2 connection are limited per source. Then the
    redirect of plain HTTP, asked for too."""
    work = Path(tempfile.mkdtemp(prefix="rn-tls-"))
    streams = 3
    try:
        stack.overrides = [TLS_FILE]
        stack.env.update(RN_TLS_PEM=str(make_certificate(work)), RN_HTTPS_ADDR="127.0.0.1",
                         RN_HTTPS_PORT=str(stack.https_port), RN_TLS_HSTS="max-age=600",
                         RN_LB_SOURCE_STREAMS=str(streams))
        stack.recreate_lb()
        base = f"https://127.0.0.1:{stack.https_port}"
        version, status, headers = curl_https(base + "/")
        check(version == "2" and status == 200, f"HTTPS answers over HTTP/2 ({version}, {status})")
        check(headers.get("strict-transport-security") == "max-age=600",
              f"HSTS on HTTPS, as asked: {headers.get('strict-transport-security')!r}")
        status, headers, _ = get(stack.port, "/")
        check(status == 200 and "strict-transport-security" not in headers,
              f"plain HTTP still served, without HSTS ({status})")

        mod = playwright_core()
        p = run(["node", str(HERE / "browser_check.cjs"), base + "/", "--insecure"], check=False,
                timeout=120, env=dict(os.environ, RN_PLAYWRIGHT_CORE=str(mod)))
        result = json.loads(p.stdout.strip().splitlines()[-1]) if p.stdout.strip() else {}
        check(p.returncode == 0 and result.get("protocol") == "h2",
              f"the page is live in Chromium over HTTPS, HTTP/2: {p.stdout.strip()[-600:]}"
              + (p.stderr[-1500:] if p.returncode else ""))

        # The browser's stream, and those of the other source, are over: every gateway
        # has seen them end, so the balancer has too.
        wait_until(lambda: sum(stack.distribution().values()) == 0, 30, "no stream left")
        proc, answers = h2_streams(base + "/events", streams + 2)
        try:
            ok = [a for a in answers if a["status"] == 200 and a.get("server")]
            refused = [a for a in answers if a["status"] == 429 and a.get("retryAfter")
                       and not a.get("server")]
            check(len(ok) == streams and len(refused) == 2,
                  f"{streams + 2} streams on one HTTP/2 connection: {streams} served, 2 refused "
                  f"with 429 by the balancer: {answers}")
            other = stack.other_source_get("/events")
            check(other.startswith("HTTP/1.1 200"),
                  f"meanwhile a stream from another source: {other!r}")
        finally:
            close_h2(proc)

        stack.env["RN_TLS_REDIRECT_PORT"] = str(stack.https_port)
        stack.recreate_lb()
        status, headers, _ = get(stack.port, "/fragments/number?x=1")
        want = f"{base}/fragments/number?x=1"
        check(status == 308 and headers.get("location") == want,
              f"plain HTTP redirected to HTTPS, as asked: {status} {headers.get('location')}")
        version, status, _ = curl_https(base + "/fragments/number")
        check(status == 200, f"HTTPS itself is not redirected ({status})")
    finally:
        stack.overrides = []
        for k in ("RN_TLS_PEM", "RN_HTTPS_ADDR", "RN_HTTPS_PORT", "RN_TLS_HSTS",
                  "RN_LB_SOURCE_STREAMS", "RN_TLS_REDIRECT_PORT"):
            stack.env.pop(k, None)
        shutil.rmtree(work, ignore_errors=True)


def secret_keys_in(stack, container):
    """The names of the secret key files (*.key) anywhere in a container's file tree."""
    p = run([stack.docker, "exec", container, "find", "/", "(", "-path", "/proc", "-o", "-path",
             "/sys", ")", "-prune", "-o", "-name", "*.key", "-print"], check=False, quiet=True)
    return sorted(Path(l).name for l in p.stdout.split())


def check_keys_per_role(stack):
    """Each role's container holds its own secret key and no other; the two generators,
    the gateways and the monitor have distinct pairs; each generator admits the gateways,
    the monitor and the other generator, and the subscribers hold both generators' public
    keys."""
    roles = ("generator", "generator-backup", "gateway", "monitor")
    found = {}
    for role in roles:
        for name in stack.containers(role):
            found[name] = (secret_keys_in(stack, name), [f"{role}.key"])
    wrong = {name: have for name, (have, want) in found.items() if have != want}
    check(len(found) >= 4 and not wrong, "each container holds its own role's secret key only"
          + (f" -- not so: {wrong}" if wrong else f": {sorted(found)}"))
    one = {role: sorted(stack.containers(role))[0] for role in roles}
    cat = lambda c, f: run([stack.docker, "exec", c, "cat", f], quiet=True).stdout.strip()
    pub = {role: cat(one[role], f"/keys/{role}.pub") for role in roles}
    check(len(set(pub.values())) == 4, "the two generators, the gateways and the monitor have "
          "a key pair each")
    for gen, peer in (("generator", "generator-backup"), ("generator-backup", "generator")):
        allowed = sorted(cat(one[gen], "/keys/clients").split())
        check(allowed == sorted([pub["gateway"], pub["monitor"], pub[peer]]),
              f"{gen} admits the gateways, the monitor and {peer}")
        check(cat(one[gen], f"/keys/{peer}.pub") == pub[peer], f"{gen} holds {peer}'s public key")
    held = {(role, gen): cat(one[role], f"/keys/{gen}.pub") == pub[gen]
            for role in ("gateway", "monitor") for gen in ("generator", "generator-backup")}
    check(all(held.values()), f"gateways and monitor hold both generators' public keys: {held}")


def volume_of(stack, container, target):
    mounts = json.loads(stack.inspect(container, "{{json .Mounts}}"))
    (name,) = [m["Name"] for m in mounts if m["Destination"] == target]
    return name


def check_revocation(stack):
    """The gateways' key taken off both generators' allow-lists (in their volumes), both
    generators restarted: the monitor receives the new epoch, the gateways are refused.
    Leaves the gateways cut off: run last on this stack."""
    generators = [n for g in ("generator", "generator-backup") for n in stack.containers(g)]
    (monitor,) = stack.containers("monitor")
    gateway = sorted(stack.containers("gateway"))[0]
    gateway_pub = run([stack.docker, "exec", gateway, "cat", "/keys/gateway.pub"],
                      quiet=True).stdout.strip()
    for generator in generators:
        volume = volume_of(stack, generator, "/keys")

        def in_volume(script, *args):
            return run([stack.docker, "run", "--rm", "--network", "none", "-v", f"{volume}:/k",
                        "--entrypoint", "sh", f"rn-generator:{TAG}", "-c", script, "-", *args],
                       quiet=True, timeout=60).stdout.split("\n")
        before = in_volume("cat /k/clients")
        # -e: a Z85 key may begin with '-' (1 run in 85), which grep took for options and
        # emptied the whole list; the test then waited for a monitor that was cut off too.
        in_volume('grep -vxF -e "$1" /k/clients >/k/clients.new; mv /k/clients.new /k/clients',
                  gateway_pub)
        after = in_volume("cat /k/clients")
        check(sorted(after) == sorted(l for l in before if l != gateway_pub),
              f"{generator}: the gateways' key alone left its allow-list "
              f"({len(before)} lines before, {len(after)} after)")
    run([stack.docker, "restart", "-t", "5", *generators], timeout=60)
    started = min(stack.inspect(g, "{{.State.StartedAt}}") for g in generators)

    def logs(container):
        p = run([stack.docker, "logs", "--since", started, container], quiet=True)
        return p.stdout + p.stderr

    def monitor_events():
        events = [json.loads(l) for l in logs(monitor).splitlines() if l.startswith("{")]
        events = [e for e in events if e.get("topic") == "number"]
        return events if len(events) >= 3 else None
    events = wait_until(monitor_events, 30, "the monitor to receive the restarted generators' events")
    log(f"the monitor receives epoch {events[-1]['epoch']} (seq {events[-1]['seq']})")
    for generator in generators:
        wait_until(lambda: "bus client refused" in logs(generator) and gateway_pub in logs(generator),
                   30, f"{generator} to refuse the gateways' key")
    time.sleep(3)  # the gateways would have had the new generator's heartbeat by now
    states = {}
    for name in stack.containers("gateway"):
        status, _, body = get(8080, "/readyz", host=stack.ip(name))
        states[name] = (status, body.decode().strip())
    check(all(s == 503 and b == "generator down" for s, b in states.values()),
          f"revoked: both generators refuse the gateways' key, every gateway is cut off "
          f"({states}), while the monitor receives")
