#!/usr/bin/python3
"""test_packages.py -- the Debian packages (debian/) built from this tree, installed with apt
in a clean bookworm container and run by systemd.

  1. dpkg-buildpackage builds rn-common, rn-generator, rn-gateway and rn-monitor from a copy
     of the tree; their version is the project's (CMakeLists.txt); lintian reports no error;
  2. a "previous build" (the same packages repacked as version VERSION~prev) is installed with
     `apt-get install ./rn-*.deb` in a container of debian:bookworm-slim plus systemd, with
     systemd as PID 1: the user rn exists, the CURVE keys are made with their owners and
     modes, rn-generator.service is enabled and running, `systemd-analyze verify` accepts
     both units;
  3. `systemctl start rn-gateway@8080` returns once the gateway is ready (Type=notify: /readyz
     answers 200 at once), and the page and an SSE stream (through the generator, over
     CURVE) reach the host through the container's published port;
  4. the current build installed over it (an upgrade) keeps every key file (contents, modes,
     owners, times), restarts the generator and the running gateway instance, which serve
     again;
  5. `systemctl stop rn-gateway@8080` drains: the open stream ends, the journal shows the
     drain, the unit's result is success (no SIGKILL);
  6. `apt-get purge` of the four packages removes the user, the keys, /etc/rn, the settings
     and the units.

systemd runs as PID 1 in a container here with CAP_SYS_ADMIN (not --privileged: this
machine's Docker lacks CAP_SYS_RESOURCE to grant) and the host's cgroups mounted read-only.
Where it cannot (or with RN_PACKAGES_NO_SYSTEMD=1), steps 3-5 run the units' ExecStart lines
as their User= with their Environment= and EnvironmentFile= settings instead, and SIGTERM
stands in for `systemctl stop`.

In the container, LimitNOFILE is capped by a drop-in (made before the installation) at the
container's own hard limit, which systemd cannot raise here.

Docker and the base image are prepared as test_compose.py does (the same functions). The
container, the image with systemd and the build copy are always removed; only the cached
base image stays. Exit status 0 on success, 1 on failure, 77 when not root.
"""

import glob
import http.client
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import test_compose
from test_compose import BASE_IMAGE, ROOT, Failure, check, log, prepare_docker, run, wait_until

SKIP = 77
PACKAGES = ("rn-common", "rn-generator", "rn-gateway", "rn-monitor")
KEYS = "/etc/rn/keys"
GATEWAY_PORT = 8080  # inside the container: the instance rn-gateway@8080
SYSTEMD_PACKAGES = "systemd systemd-sysv dbus"


def project_version():
    text = (ROOT / "CMakeLists.txt").read_text()
    return re.search(r"^project\(rn VERSION ([0-9.]+)", text, re.M).group(1)


# --- building ---------------------------------------------------------------------------------

def build_packages(work):
    """Builds the packages from a copy of the tree (dpkg-buildpackage writes beside the
    source and cleans it); returns the directory holding the .deb files."""
    src = work / "rn"
    ignore = shutil.ignore_patterns("build*", "node_modules", ".git", "__pycache__", "obj-*")
    shutil.copytree(ROOT, src, ignore=ignore, symlinks=True)
    env = dict(os.environ, DEB_BUILD_OPTIONS="parallel=2")
    started = time.monotonic()
    log("$ dpkg-buildpackage -b -us -uc")
    p = subprocess.run(["dpkg-buildpackage", "-b", "-us", "-uc"], cwd=src, env=env,
                       capture_output=True, text=True, timeout=1200)
    if p.returncode != 0:
        raise Failure(f"dpkg-buildpackage exit {p.returncode}:\n{p.stdout[-4000:]}\n"
                      f"{p.stderr[-2000:]}")
    log(f"built in {time.monotonic() - started:.0f} s")
    return work


def deb_field(deb, field):
    return run(["dpkg-deb", "-f", str(deb), field], quiet=True).stdout.strip()


def check_built(out, version):
    debs = {}
    for pkg in PACKAGES:
        found = glob.glob(str(out / f"{pkg}_*.deb"))
        check(len(found) == 1, f"{pkg} built")
        debs[pkg] = Path(found[0])
        check(deb_field(debs[pkg], "Version") == version,
              f"{pkg}'s version is the project's ({version})")
    depends = deb_field(debs["rn-gateway"], "Depends")
    check("libzmq5" in depends and "libcivetweb1" in depends,
          f"rn-gateway's dependencies computed by dpkg-shlibdeps ({depends})")
    changes = glob.glob(str(out / "*.changes"))
    p = run(["lintian", "--fail-on", "error", "--display-level", ">=warning", *changes],
            check=False, timeout=600)
    errors = [line for line in p.stdout.splitlines() if line.startswith("E:")]
    for line in p.stdout.splitlines():
        log(f"  lintian: {line}")
    check(p.returncode == 0 and not errors, "lintian reports no error")
    return debs


def repack_previous(debs, version, out):
    """The same packages as version VERSION~prev, which sorts before VERSION: the build an
    upgrade starts from."""
    prev = f"{version}~prev"
    out.mkdir()
    for pkg, deb in debs.items():
        tree = out / pkg
        run(["dpkg-deb", "-R", str(deb), str(tree)], quiet=True)
        control = tree / "DEBIAN" / "control"
        text = control.read_text().replace(f"Version: {version}\n", f"Version: {prev}\n")
        control.write_text(text.replace(f"(= {version})", f"(= {prev})"))
        run(["dpkg-deb", "--root-owner-group", "-b", str(tree), str(out / f"{pkg}_{prev}.deb")],
            quiet=True)
        shutil.rmtree(tree)
    return prev


# --- the container ----------------------------------------------------------------------------

class Box:
    """A bookworm container with the packages' directory at /debs; systemd as PID 1 when it
    can run here."""

    def __init__(self, docker, debs_dir):
        self.docker = docker
        self.name = f"rn-packages-{os.getpid()}"
        self.image = f"rn-packages-test:{os.getpid()}"
        self.debs_dir = debs_dir
        self.systemd = False
        self.port = None

    def sh(self, script, timeout=300, check=True):
        return run([self.docker, "exec", self.name, "bash", "-ec", script], timeout=timeout,
                   check=check, quiet=True)

    def start(self):
        dockerfile = (f"FROM {BASE_IMAGE}\nRUN apt-get update && DEBIAN_FRONTEND=noninteractive "
                      f"apt-get install -y --no-install-recommends {SYSTEMD_PACKAGES}\n")
        run([self.docker, "build", "-q", "-t", self.image, "-"], input=dockerfile, timeout=900)
        common = ["-v", f"{self.debs_dir}:/debs:ro", "-p", f"127.0.0.1::{GATEWAY_PORT}"]
        if os.environ.get("RN_PACKAGES_NO_SYSTEMD") != "1":
            self.systemd = self._start_systemd(common)
        if not self.systemd:
            log("systemd cannot run as PID 1 here: the units' ExecStart lines stand in")
            run([self.docker, "run", "-d", "--name", self.name, *common, self.image,
                 "sleep", "infinity"])
        self.port = int(run([self.docker, "port", self.name, str(GATEWAY_PORT)],
                            quiet=True).stdout.strip().splitlines()[0].rsplit(":", 1)[1])

    def _start_systemd(self, common):
        p = run([self.docker, "run", "-d", "--name", self.name, "--cap-add", "SYS_ADMIN",
                 "--tmpfs", "/run", "--tmpfs", "/run/lock", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro",
                 *common, self.image, "/lib/systemd/systemd"], check=False)
        if p.returncode == 0:
            try:
                wait_until(lambda: self.sh("systemctl is-system-running || true",
                                           check=False).stdout.strip() in ("running", "degraded"),
                           60, "systemd to boot", interval=1)
                return True
            except Failure as e:
                log(f"systemd did not boot: {e}")
        run([self.docker, "rm", "-f", self.name], check=False, quiet=True)
        return False

    def logs(self):
        if self.systemd:
            return self.sh("journalctl --no-pager -n 200 -u 'rn-*' || true", check=False).stdout
        return self.sh("tail -n 100 /run/rn-*.log 2>/dev/null || true", check=False).stdout

    def remove(self):
        run([self.docker, "rm", "-f", self.name], check=False, quiet=True)
        run([self.docker, "rmi", "-f", self.image], check=False, quiet=True)


# --- running the services ---------------------------------------------------------------------

class Units:
    """Starts and stops the services: systemctl, or the units' ExecStart lines."""

    def __init__(self, box):
        self.box = box

    def start(self, unit):
        if self.box.systemd:
            self.box.sh(f"systemctl start {unit}", timeout=120)
        else:
            self._exec_start(unit)

    def stop(self, unit):
        if self.box.systemd:
            self.box.sh(f"systemctl stop {unit}", timeout=120)
        else:
            self.box.sh(f"kill -TERM $(cat /run/{unit}.pid); "
                        f"for i in $(seq 100); do kill -0 $(cat /run/{unit}.pid) 2>/dev/null || "
                        f"exit 0; sleep 0.2; done; exit 1", timeout=60)

    def main_pid(self, unit):
        if self.box.systemd:
            return self.box.sh(f"systemctl show -p MainPID --value {unit}").stdout.strip()
        return self.box.sh(f"cat /run/{unit}.pid").stdout.strip()

    def _exec_start(self, unit):
        """The unit's Environment=, EnvironmentFile= and ExecStart= as its User=, as systemd
        would read them (with %i the instance), in the background."""
        template, _, instance = unit.partition("@")
        path = f"/lib/systemd/system/{template}@.service" if instance else \
            f"/lib/systemd/system/{unit}.service"
        text = self.box.sh(f"cat {path}").stdout.replace("%i", instance)
        env, user, command = [], "root", None
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key == "Environment":
                env.append(f"export {value}")
            elif key == "EnvironmentFile":
                optional = value.startswith("-")
                f = value.lstrip("-")
                env.append(f"[ -e {f} ] && {{ set -a; . {f}; set +a; }}" if optional else
                           f"set -a; . {f}; set +a")
            elif key == "User":
                user = value
            elif key == "ExecStart":
                command = value
        script = "; ".join(env) + (f"; echo $$ > /run/{unit}.pid; exec setpriv --reuid={user} "
                                   f"--regid={user} --init-groups {command} >/run/{unit}.log 2>&1")
        run([self.box.docker, "exec", "-d", self.box.name, "bash", "-c", script])
        wait_until(lambda: self.box.sh(f"grep -q 'msg=\"started\"' /run/{unit}.log",
                                       check=False).returncode == 0, 30, f"{unit} to start")


# --- checks -----------------------------------------------------------------------------------

def http_get(port, path, timeout=5):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def ready(port):
    try:
        return http_get(port, "/readyz")[0] == 200
    except OSError:
        return False


class Stream:
    """An SSE stream on a raw socket: enough to count events and see its end."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        self.buf = b""

    def events(self, n, timeout=20):
        deadline = time.monotonic() + timeout
        while self.buf.count(b"\nid:") + self.buf.startswith(b"id:") < n:
            if time.monotonic() > deadline:
                raise Failure(f"fewer than {n} events in {timeout}s: {self.buf[-300:]!r}")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Failure(f"stream ended early: {self.buf[-300:]!r}")
            self.buf += chunk
        return self.buf

    def ends_within(self, timeout):
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(65536):
                pass
            return True
        except socket.timeout:
            return False
        except OSError:
            return True

    def close(self):
        self.sock.close()


def check_serves(box, what):
    status, body = http_get(box.port, "/")
    check(status == 200 and b"hx-sse:connect" in body, f"{what}: the page is served")
    stream = Stream(box.port)
    try:
        stream.events(3)
        check(True, f"{what}: the stream delivers the generator's events")
    finally:
        stream.close()


def key_state(box):
    """Every file and directory under the keys with its mode, owner, time and checksum."""
    return box.sh(f"cd {KEYS} && find . -printf '%p %m %u %g %T@\\n' | sort && "
                  f"find . -type f -exec sha256sum {{}} + | sort").stdout


def check_install(box, units, prev):
    if box.systemd:
        # The container cannot raise its hard open-file limit (no CAP_SYS_RESOURCE), which
        # the units' LimitNOFILE asks for and a real host grants: capped here beforehand.
        hard = box.sh("ulimit -Hn").stdout.strip()
        box.sh("for u in rn-generator.service rn-gateway@.service; do "
               "mkdir -p /etc/systemd/system/$u.d; "
               f"printf '[Service]\\nLimitNOFILE={hard}\\n' >/etc/systemd/system/$u.d/limit.conf; "
               "done")
    box.sh("apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
           f"--no-install-recommends {' '.join(f'/debs/prev/{p}_{prev}.deb' for p in PACKAGES)}"
           " >/tmp/apt.log 2>&1 || { tail -n 40 /tmp/apt.log; exit 1; }", timeout=900)
    check(box.sh("id -u rn && id -g rn", check=False).returncode == 0, "the user rn exists")
    modes = box.sh(f"stat -c '%n %a %U:%G' {KEYS} {KEYS}/gateway {KEYS}/generator "
                   f"{KEYS}/gateway/gateway.key {KEYS}/generator/generator.key "
                   f"{KEYS}/generator/clients").stdout.split("\n")
    want = [f"{KEYS} 750 root:rn", f"{KEYS}/gateway 700 rn:rn", f"{KEYS}/generator 700 rn:rn",
            f"{KEYS}/gateway/gateway.key 600 rn:rn", f"{KEYS}/generator/generator.key 600 rn:rn",
            f"{KEYS}/generator/clients 600 rn:rn"]
    check(modes[:len(want)] == want, f"keys made with their owners and modes: {modes[:len(want)]}")
    gateway_pub = box.sh(f"cat {KEYS}/gateway/gateway.pub").stdout.strip()
    check(gateway_pub in box.sh(f"cat {KEYS}/generator/clients").stdout,
          "the gateway's key is on the generator's allow-list")
    if box.systemd:
        check(box.sh("systemctl is-enabled rn-generator").stdout.strip() == "enabled",
              "rn-generator.service is enabled by the package")
        check(box.sh("systemctl is-active rn-generator", check=False).stdout.strip() == "active",
              "rn-generator.service runs (ready: Type=notify)")
        verify = box.sh("cd /lib/systemd/system && ln -sf rn-gateway@.service /tmp/rn-gateway@8080.service"
                        " && systemd-analyze verify rn-generator.service /tmp/rn-gateway@8080.service"
                        " 2>&1", check=False)
        check(verify.returncode == 0 and not verify.stdout.strip(),
              f"systemd-analyze verify passes both units {verify.stdout.strip()!r}")
        exposure = box.sh("systemd-analyze security rn-generator.service rn-gateway@8080.service "
                          "2>&1 | tail -n 2", check=False).stdout.strip()
        log(f"  systemd-analyze security: {exposure}")
    else:
        units.start("rn-generator")


def check_gateway_start(box, units):
    units.start(f"rn-gateway@{GATEWAY_PORT}")
    if box.systemd:
        # Type=notify: start returned once READY=1 came, which the gateway says when warm.
        check(ready(box.port), "systemctl start returned with the gateway ready (/readyz 200)")
    else:
        wait_until(lambda: ready(box.port), 30, "the gateway to be ready")
    check_serves(box, "installed")
    log_text = box.sh("journalctl --no-pager -u rn-generator" if box.systemd else
                      "cat /run/rn-generator.log").stdout
    check("curve=allow-list" in log_text, "the bus runs over CURVE with the allow-list")


def check_upgrade(box, units, version):
    before = key_state(box)
    pids = {u: units.main_pid(u) for u in ("rn-generator", f"rn-gateway@{GATEWAY_PORT}")}
    box.sh("DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
           f"{' '.join(f'/debs/{p}_{version}_amd64.deb' for p in PACKAGES)}"
           " >/tmp/apt.log 2>&1 || { tail -n 40 /tmp/apt.log; exit 1; }", timeout=600)
    installed = box.sh("dpkg-query -W -f '${Version}' rn-gateway").stdout.strip()
    check(installed == version, f"upgraded to {version}")
    check(key_state(box) == before, "the upgrade kept every key (contents, modes, owners, times)")
    if box.systemd:
        for unit, pid in pids.items():
            wait_until(lambda: units.main_pid(unit) not in ("0", pid), 60, f"{unit} to restart")
            check(True, f"{unit} restarted into the new program")
    else:
        for unit in reversed(list(pids)):
            units.stop(unit)
        for unit in pids:
            units.start(unit)
    wait_until(lambda: ready(box.port), 60, "the gateway to be ready after the upgrade")
    check_serves(box, "upgraded")


def check_drain(box, units):
    stream = Stream(box.port)
    stream.events(1)
    started = time.monotonic()
    units.stop(f"rn-gateway@{GATEWAY_PORT}")
    check(stream.ends_within(10), f"the stop ended the open stream "
                                  f"({time.monotonic() - started:.1f} s)")
    stream.close()
    if box.systemd:
        journal = box.sh(f"journalctl --no-pager -u rn-gateway@{GATEWAY_PORT}").stdout
        check('msg="draining"' in journal and 'msg="stopped"' in journal,
              "systemctl stop drained the gateway (journal: draining, stopped)")
        result = box.sh(f"systemctl show -p Result --value rn-gateway@{GATEWAY_PORT}").stdout
        check(result.strip() == "success", "the gateway stopped by itself (Result=success)")
    else:
        log_text = box.sh(f"cat /run/rn-gateway@{GATEWAY_PORT}.log").stdout
        check('msg="draining"' in log_text, "SIGTERM drained the gateway")


def check_purge(box, units):
    if not box.systemd:
        units.stop("rn-generator")
    box.sh(f"DEBIAN_FRONTEND=noninteractive apt-get purge -y -q {' '.join(PACKAGES)} "
           ">/tmp/apt.log 2>&1 || { tail -n 40 /tmp/apt.log; exit 1; }", timeout=600)
    check(box.sh("getent passwd rn || getent group rn", check=False).returncode != 0,
          "purge removed the user and group rn")
    left = box.sh("ls -d /etc/rn /etc/default/rn-* /usr/share/rn /usr/lib/rn "
                  "/lib/systemd/system/rn-* /usr/bin/rn-* 2>/dev/null || true",
                  check=False).stdout.strip()
    check(left == "", f"purge removed the keys, settings, programs and units {left!r}")
    if box.systemd:
        units_left = box.sh("systemctl list-units --all --no-legend 'rn-*' | grep -v not-found "
                            "|| true", check=False).stdout.strip()
        check(units_left == "", f"no rn unit is left loaded {units_left!r}")


# --- main -------------------------------------------------------------------------------------

def main():
    if os.geteuid() != 0:
        log("not root: cannot install packages or run Docker")
        return SKIP
    docker = prepare_docker()
    version = project_version()
    work = Path(tempfile.mkdtemp(prefix="rn-packages-"))
    box = None
    ok = False
    try:
        out = build_packages(work)
        debs = check_built(out, version)
        prev = repack_previous(debs, version, out / "prev")
        box = Box(docker, out)
        box.start()
        units = Units(box)
        log(f"container {box.name}: systemd as PID 1: {box.systemd}; gateway on {box.port}")
        check_install(box, units, prev)
        check_gateway_start(box, units)
        check_upgrade(box, units, version)
        check_drain(box, units)
        check_purge(box, units)
        ok = True
    except Failure as e:
        log(f"FAILED: {e}")
        if box:
            print(box.logs())
    finally:
        if box:
            box.remove()
        shutil.rmtree(work, ignore_errors=True)
    log("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    test_compose.run_main(main)
