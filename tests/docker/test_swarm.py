#!/usr/bin/python3
"""test_swarm.py -- the Swarm deployment (deploy/swarm) on this machine's Docker engine.

Prepares Docker as test_compose.py does, builds the images (compose build), starts a
single-node swarm of its own (`docker swarm init --advertise-addr 127.0.0.1`) unless one
runs already, makes the CURVE secrets with deploy/swarm/make-secrets.sh, deploys
stack.yaml under a stack name of its own with 2 gateways, and then, talking to the load
balancer on its address on the host's docker_gwbridge (the stack publishes no port here,
so nothing listens on the host's interfaces):

  1. SSE events flow through HAProxy, and the page shows a live number in Chromium;
  2. scaling 2 -> 4 -> 2 (`docker service scale`): HAProxy sees every task come and go;
  3. a rolling update of the gateway service (`docker service update --force`: every
     task replaced, one at a time, start-first) while 12 SSE clients stream: every client's
     ids stay consecutive across its reconnections (0 events lost, none duplicated) and
     no client sees an error;
  4. `docker kill` of a gateway task: Swarm starts a replacement, HAProxy uses it, and the
     clients lose nothing.

Always torn down: the stack, its secrets if this test made them, and the swarm if this
test started it. Exit 0 on success, 1 on failure, 77 when Docker cannot run here.
"""

import json
import os
import secrets
import signal
import sys
import time
import urllib.request

from test_compose import (HERE, ROOT, Failure, Stack, check, check_continuity, check_no_errors,
                          docker_cli, ensure_base_image, ensure_daemon, ensure_packages, log,
                          newest_seq, on_signal, playwright_core, run, start_clients,
                          stop_clients, wait_all_receive_after, wait_until)

SWARM_DIR = ROOT / "deploy" / "swarm"
SECRETS = ("rn_generator_key", "rn_generator_pub", "rn_subscriber_key", "rn_clients")


class SwarmStack:
    def __init__(self, docker):
        self.docker = docker
        self.name = f"rnst{os.getpid()}{secrets.token_hex(2)}"
        self.env = dict(os.environ, RN_TAG="ctest", RN_GATEWAYS="2", RN_DRAIN_MS="2000")
        self.started_swarm = False
        self.made_secrets = False

    def service(self, svc):
        return f"{self.name}_{svc}"

    def tasks(self, svc):
        """{container name: container id} of a service's running containers."""
        p = run([self.docker, "ps", "--filter", f"label=com.docker.swarm.service.name={self.service(svc)}",
                 "--format", "{{.Names}} {{.ID}}"], quiet=True)
        return dict(l.split() for l in p.stdout.splitlines() if l.strip())

    def gwbridge_ip(self, container):
        """The container's address on docker_gwbridge, which the host routes to."""
        p = run([self.docker, "network", "inspect", "docker_gwbridge"], quiet=True)
        for cid, c in json.loads(p.stdout)[0]["Containers"].items():
            if container.startswith(cid[:12]) or cid.startswith(container):
                return c["IPv4Address"].split("/")[0]
        return None

    def lb_address(self):
        def find():
            for _, cid in self.tasks("lb").items():
                ip = self.gwbridge_ip(cid)
                if ip:
                    return ip
            return None
        return wait_until(find, 60, "the balancer's task on docker_gwbridge", interval=1)

    def lb_up(self, ip):
        """Addresses of the gateway slots HAProxy has UP (checked), from its stats CSV."""
        with urllib.request.urlopen(f"http://{ip}:8404/stats;csv", timeout=5) as r:
            lines = r.read().decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(header, l.split(","))) for l in lines[1:] if l]
        return sorted(r["addr"].split(":")[0] for r in rows
                      if r["pxname"] == "gateways" and r["svname"] not in ("BACKEND", "FRONTEND")
                      and r["status"] == "UP" and r.get("check_status") == "L7OK")

    def wait_lb_sees(self, ip, count, timeout=90):
        def ok():
            try:
                up = self.lb_up(ip)
            except OSError:
                return None
            return up if len(up) == count and len(self.tasks("gateway")) == count else None
        return wait_until(ok, timeout, f"HAProxy to have {count} gateways UP", interval=1)

    def deploy(self):
        info = run([self.docker, "info", "--format", "{{.Swarm.LocalNodeState}}"], quiet=True)
        if info.stdout.strip() != "active":
            run([self.docker, "swarm", "init", "--advertise-addr", "127.0.0.1"], timeout=120)
            self.started_swarm = True
        have = [s for s in SECRETS
                if run([self.docker, "secret", "inspect", s], check=False, quiet=True).returncode == 0]
        if not have:
            self.made_secrets = True
        run(["bash", str(SWARM_DIR / "make-secrets.sh"), "rn-generator:ctest"], timeout=120)
        run([self.docker, "stack", "deploy", "--resolve-image", "never",
             "-c", str(SWARM_DIR / "stack.yaml"), self.name], env=self.env, timeout=300)

    def update_done(self, svc):
        p = run([self.docker, "service", "inspect", self.service(svc), "--format",
                 "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}"], quiet=True)
        return p.stdout.strip() in ("completed", "")

    def dump_logs(self):
        for svc in ("generator", "gateway", "lb"):
            p = run([self.docker, "service", "logs", "--tail", "40", self.service(svc)],
                    check=False, timeout=60, quiet=True)
            print(p.stdout[-6000:], p.stderr[-2000:], flush=True)

    def down(self):
        run([self.docker, "stack", "rm", self.name], check=False, timeout=120)
        wait_until(lambda: not run([self.docker, "ps", "-aq", "--filter",
                                    f"label=com.docker.stack.namespace={self.name}"],
                                   quiet=True).stdout.split(), 60,
                   "the stack's containers to go", interval=1)
        nets = run([self.docker, "network", "ls", "-q", "--filter",
                    f"label=com.docker.stack.namespace={self.name}"], check=False, quiet=True)
        for net in nets.stdout.split():
            wait_until(lambda: run([self.docker, "network", "rm", net], check=False,
                                   quiet=True).returncode == 0, 30, "the network to go", interval=1)
        if self.made_secrets:
            run([self.docker, "secret", "rm", *SECRETS], check=False)
        if self.started_swarm:
            run([self.docker, "swarm", "leave", "--force"], check=False, timeout=120)


def scenario(stack, compose):
    compose.compose("build", timeout=3000)
    stack.deploy()
    ip = stack.lb_address()
    stack.wait_lb_sees(ip, 2)
    log(f"balancer at {ip}:8080 (docker_gwbridge)")

    # 1. Events and the page through HAProxy.
    first = start_clients("first", 1, 8080, host=ip)
    wait_until(lambda: len(first[0].snapshot()[0]) >= 3, 30, "3 events through the balancer")
    stop_clients(first)
    mod = playwright_core()
    p = run(["node", str(HERE / "browser_check.cjs"), f"http://{ip}:8080/"], check=False,
            timeout=120, env=dict(os.environ, RN_PLAYWRIGHT_CORE=str(mod)))
    check(p.returncode == 0, f"the page shows a live number in Chromium: {p.stdout.strip()[-600:]}"
          + (p.stderr[-1500:] if p.returncode else ""))

    # 2. Scale 2 -> 4 -> 2.
    run([stack.docker, "service", "scale", "-d", f"{stack.service('gateway')}=4"], timeout=120)
    check(len(stack.wait_lb_sees(ip, 4)) == 4, "scaled to 4: HAProxy has 4 gateways UP")
    run([stack.docker, "service", "scale", "-d", f"{stack.service('gateway')}=2"], timeout=120)
    check(len(stack.wait_lb_sees(ip, 2)) == 2, "scaled back to 2: HAProxy has 2 gateways UP")

    # 3. Rolling update with clients connected: nothing lost.
    clients = start_clients("c", 12, 8080, host=ip)
    wait_until(lambda: all(c.snapshot()[0] for c in clients), 30, "12 clients receiving")
    before = set(stack.tasks("gateway"))
    t0 = time.monotonic()
    run([stack.docker, "service", "update", "-d", "--force", stack.service("gateway")], timeout=60)
    wait_until(lambda: stack.update_done("gateway") and not (set(stack.tasks("gateway")) & before)
               and len(stack.tasks("gateway")) == 2, 240, "the rolling update to finish", interval=1)
    log(f"rolling update took {time.monotonic() - t0:.0f} s")
    stack.wait_lb_sees(ip, 2)
    wait_all_receive_after(clients, newest_seq(clients), 30, "after the rolling update")
    moved = sum(1 for c in clients if c.snapshot()[1] > 1)
    check(moved == 12, f"rolling update: every client was moved at least once ({moved} of 12)")
    check_no_errors(clients, "rolling update")
    check_continuity(clients, "rolling update")

    # 4. A killed task is replaced by Swarm.
    victim, victim_id = sorted(stack.tasks("gateway").items())[0]
    run([stack.docker, "kill", victim_id], timeout=60)
    wait_until(lambda: len(stack.tasks("gateway")) == 2 and victim not in stack.tasks("gateway"),
               60, "Swarm to replace the killed task", interval=1)
    check(True, f"Swarm replaced the killed task {victim}")
    stack.wait_lb_sees(ip, 2)
    wait_all_receive_after(clients, newest_seq(clients), 30, "after the kill")
    stop_clients(clients)
    check_no_errors(clients, "kill")
    check_continuity(clients, "kill")


def main():
    ensure_packages()
    docker = docker_cli()
    if not docker:
        raise Failure("no docker client after installing docker.io")
    ensure_daemon(docker)
    ensure_base_image(docker)
    compose = Stack(docker)  # for building the images only
    stack = SwarmStack(docker)
    log(f"stack {stack.name}")
    ok = False
    try:
        scenario(stack, compose)
        ok = True
    except Failure as e:
        log(f"FAILED: {e}")
    except Exception as e:  # a bug in the test itself: still tear down, still report
        log(f"FAILED (unexpected): {type(e).__name__}: {e}")
        import traceback
        traceback.print_exc()
    finally:
        if not ok:
            stack.dump_logs()
        if os.environ.get("RN_TEST_KEEP") == "1":
            log(f"RN_TEST_KEEP=1: leaving stack {stack.name} up")
        else:
            stack.down()
    log("PASSED" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_signal)
    try:
        sys.exit(main())
    except Failure as e:
        log(f"FAILED: {e}")
        sys.exit(1)
