#!/usr/bin/python3
"""test_swarm.py -- the Swarm deployment (deploy/swarm) on a real three-node swarm.

Prepares Docker as test_compose.py does and builds the project's images. Then it builds a
swarm of its own out of three containers, each running its own Docker engine
(swarm-node.Dockerfile: Debian's docker.io, /var/lib/docker on a volume), on a bridge
network the test creates: one manager and two workers, the images loaded into each with
`docker save | docker load`. The host's engine never joins a swarm and nothing listens on
the host's interfaces: the balancer's port is published (mode host) on the node that runs
it, a container of this test. Through the balancer, on that node's address:

  1. SSE events flow, and the page shows a live number in Chromium; the 3 gateways run on
     at least 2 different nodes, so the bus (CURVE) and the streams cross the overlay
     network between nodes;
  2. scaling 3 -> 5 -> 3 (`docker service scale`): HAProxy sees every task come and go;
  3. a rolling update of the gateway service (`docker service update --force`: every task
     replaced, one at a time, start-first) while 12 SSE clients stream: every client's ids
     stay consecutive across its reconnections (0 events lost, none duplicated), no client
     sees an error;
  4. `docker kill` of a gateway task on a worker: Swarm starts a replacement, HAProxy uses
     it, the clients lose nothing;
  5. the generator pair runs on the two nodes labelled for it; `docker kill` of the active
     one's task: the passive takes over in the same epoch (the clients' ids stay
     consecutive), Swarm restarts the killed one and it joins as the passive.

Besides: make-secrets.sh makes the keys in a directory only its caller can enter (0700, no
sticky bit), as the caller's uid (seen through a `docker` wrapper that records what it is
handed); each service gets only its own role's secrets (each generator its own pair,
allow-list and its peer's public key); the stack's balancer (the compose
image's configuration) keeps the gateways' internal routes to itself.

Always torn down (the node containers, their volumes, the network). Exit 0 on success,
1 on failure, 77 when Docker cannot run here.

Why explicit capabilities instead of --privileged: where the host's capability bounding
set lacks one (here CAP_SYS_RESOURCE), runc refuses a privileged container ("unable to
apply caps"); the nodes get every capability the host has instead.
"""

import os
import re
import secrets
import subprocess
import tempfile
import time

from compose_security import get
from test_compose import (BASE_IMAGE, HERE, ROOT, TAG, Failure, Stack, check, check_continuity,
                          check_no_errors, log, newest_seq, playwright_core,
                          prepare_docker, run, run_main, run_torn_down, start_clients, stop_clients,
                          wait_all_receive_after, wait_until)

SWARM_DIR = ROOT / "deploy" / "swarm"
IMAGES = tuple(f"rn-{name}:{TAG}" for name in ("generator", "gateway", "lb", "monitor"))
NODE_IMAGE = f"rn-swarm-node:{TAG}"
# make-secrets.sh's `docker`, in front of the real one on the manager: records the mode and
# owner of the directory it mounts at /keys and the user it runs as, then runs docker.
DOCKER_WRAPPER = r"""#!/bin/sh
if [ "$1" = run ]; then
  prev=
  for a in "$@"; do
    case $prev in
    -v) echo "keys-dir $(stat -c '%a %u' "${a%%:*}")" >>/tmp/make-secrets.log ;;
    -u) echo "user $a" >>/tmp/make-secrets.log ;;
    esac
    prev=$a
  done
fi
exec /usr/bin/docker "$@"
"""
CAPS = ("CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
        "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER "
        "SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE "
        "SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP "
        "MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ").split()
# bit 0 upwards, to the last one Docker 20.10 knows (the newer ones it refuses by name)


def host_caps():
    """The capabilities in this process's bounding set, by name."""
    with open("/proc/self/status") as f:
        bnd = int(next(l for l in f if l.startswith("CapBnd:")).split()[1], 16)
    return [name for bit, name in enumerate(CAPS) if bnd >> bit & 1]


class Swarm:
    """Three Docker engines in containers, one manager and two workers."""

    def __init__(self, docker):
        self.docker = docker
        self.tag = f"rnsw{os.getpid()}{secrets.token_hex(2)}"
        self.net = f"{self.tag}-net"
        self.nodes = [f"{self.tag}-{n}" for n in ("mgr", "w1", "w2")]
        self.stack = "rn"

    def on(self, node, *args, timeout=300, check=True, quiet=False, input=None):
        """Runs `docker ARGS` on a node's own engine."""
        return run([self.docker, "exec", "-i", node, "docker", *args], timeout=timeout,
                   check=check, quiet=quiet, input=input)

    def mgr(self, *args, **kw):
        return self.on(self.nodes[0], *args, **kw)

    def ip(self, node):
        return run([self.docker, "inspect", "-f",
                    "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", node],
                   quiet=True).stdout.strip()

    def start(self):
        run([self.docker, "build", "-q", "-t", NODE_IMAGE, "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
             "-f", str(HERE / "swarm-node.Dockerfile"), str(HERE)], timeout=900,
            env=dict(os.environ, DOCKER_BUILDKIT="0"))
        run([self.docker, "network", "create", self.net])
        caps = [a for c in host_caps() for a in ("--cap-add", c)]
        for node in self.nodes:
            run([self.docker, "run", "-d", *caps, "--security-opt", "seccomp=unconfined",
                 "--security-opt", "apparmor=unconfined", "--security-opt", "systempaths=unconfined",
                 "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                 "-v", f"{node}-data:/var/lib/docker", "--tmpfs", "/run", "--tmpfs", "/var/run",
                 "--network", self.net, "--name", node, "--hostname", node, NODE_IMAGE])
        for node in self.nodes:
            wait_until(lambda: self.on(node, "info", check=False, quiet=True).returncode == 0,
                       60, f"the engine of {node}", interval=1)
        mgr_ip = self.ip(self.nodes[0])
        self.mgr("swarm", "init", "--advertise-addr", mgr_ip)
        token = self.mgr("swarm", "join-token", "-q", "worker", quiet=True).stdout.strip()
        for node in self.nodes[1:]:
            self.on(node, "swarm", "join", "--token", token, f"{mgr_ip}:2377")
        for node in self.nodes:
            self.load_images(node)

    def load_images(self, node):
        """docker save | docker load, through a file: the tar is binary."""
        with tempfile.TemporaryFile() as tar:
            p = subprocess.run([self.docker, "save", *IMAGES], stdout=tar, timeout=300)
            if p.returncode != 0:
                raise Failure("docker save failed")
            tar.seek(0)
            p = subprocess.run([self.docker, "exec", "-i", node, "docker", "load"],
                               stdin=tar, capture_output=True, timeout=300)
            if p.returncode != 0:
                raise Failure(f"docker load on {node}: {p.stderr[-500:]!r}")
        log(f"images loaded on {node}")

    def make_secrets(self):
        """Runs make-secrets.sh on the manager, its `docker` wrapped; returns what the
        wrapper recorded (the key directory's mode and owner, the user of the keys)."""
        mgr = self.nodes[0]
        run([self.docker, "exec", "-i", mgr, "sh", "-c",
             "mkdir -p /wrap && cat > /wrap/docker && chmod 755 /wrap/docker"], input=DOCKER_WRAPPER)
        run([self.docker, "exec", "-e", "PATH=/wrap:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             mgr, "bash", "/stack/make-secrets.sh", f"rn-generator:{TAG}"], timeout=120)
        seen = run([self.docker, "exec", mgr, "cat", "/tmp/make-secrets.log"], quiet=True).stdout
        return seen.split("\n"), run([self.docker, "exec", mgr, "id", "-u"], quiet=True).stdout.strip()

    def deploy(self):
        run([self.docker, "cp", str(SWARM_DIR), f"{self.nodes[0]}:/stack"])
        seen, uid = self.make_secrets()
        check(f"keys-dir 700 {uid}" in seen and any(l.startswith(f"user {uid}:") for l in seen),
              f"make-secrets.sh: keys made in a 0700 directory of the caller (uid {uid}), as "
              f"the caller: {[l for l in seen if l]}")
        # The pair's two members on two different nodes, both workers.
        self.mgr("node", "update", "--label-add", "rn.generator=primary", self.nodes[1])
        self.mgr("node", "update", "--label-add", "rn.generator=backup", self.nodes[2])
        run([self.docker, "exec", "-e", f"RN_TAG={TAG}", "-e", "RN_GATEWAYS=3", "-e", "RN_DRAIN_MS=2000",
             self.nodes[0], "docker", "stack", "deploy", "--resolve-image", "never",
             "-c", "/stack/stack.yaml", "-c", "/stack/stack.publish.yaml", self.stack], timeout=300)
        want = {"generator": ["rn_generator_backup_pub", "rn_generator_clients", "rn_generator_key"],
                "generator-backup": ["rn_generator_backup_clients", "rn_generator_backup_key",
                                     "rn_generator_pub"],
                "gateway": ["rn_gateway_key", "rn_generator_backup_pub", "rn_generator_pub"],
                "monitor": ["rn_generator_backup_pub", "rn_generator_pub", "rn_monitor_key"],
                "lb": []}
        have = {svc: sorted(self.mgr("service", "inspect", f"{self.stack}_{svc}", "--format",
                                     "{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}"
                                     "{{.SecretName}} {{end}}", quiet=True).stdout.split())
                for svc in want}
        check(have == want, f"each service gets its own role's secrets only: {have}")

    def tasks(self, svc):
        """[(task name, node, container id)] of a service's running tasks."""
        p = self.mgr("service", "ps", f"{self.stack}_{svc}", "--filter", "desired-state=running",
                     "--format", "{{.Name}}.{{.ID}} {{.Node}} {{.CurrentState}}", quiet=True)
        out = []
        for line in p.stdout.splitlines():
            name, node, state = line.split(" ", 2)
            if state.startswith("Running"):
                out.append((name, node))
        return out

    def container_of(self, task, node):
        p = self.on(node, "ps", "-q", "--filter", f"name={task}", quiet=True)
        return p.stdout.strip()

    def lb_node_ip(self):
        def find():
            t = self.tasks("lb")
            return self.ip(t[0][1]) if t else None
        return wait_until(find, 90, "the balancer's task", interval=1)

    def lb_up(self):
        """The gateway addresses HAProxy has UP, from its stats page, read inside the lb
        task's container (it listens on the loopback only)."""
        tasks = self.tasks("lb")
        container = self.container_of(*tasks[0]) if tasks else ""
        if not container:
            raise OSError("no running balancer task")
        p = self.on(tasks[0][1], "exec", container, "rn-healthcheck", "get", "8404", "/stats;csv",
                    quiet=True, check=False, timeout=30)
        if p.returncode != 0:
            raise OSError(f"stats unreadable: {p.stdout[-200:]} {p.stderr[-200:]}")
        lines = p.stdout.splitlines()
        header = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(header, l.split(","))) for l in lines[1:] if l]
        return sorted(r["addr"].split(":")[0] for r in rows
                      if r["pxname"] == "gateways" and r["svname"] not in ("BACKEND", "FRONTEND")
                      and r["status"] == "UP" and r.get("check_status") == "L7OK")

    def wait_lb_sees(self, count, timeout=120):
        def ok():
            try:
                up = self.lb_up()
            except OSError:
                return None
            return up if len(up) == count and len(self.tasks("gateway")) == count else None
        return wait_until(ok, timeout, f"HAProxy to have {count} gateways UP", interval=1)

    def update_done(self):
        p = self.mgr("service", "inspect", f"{self.stack}_gateway", "--format",
                     "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}", quiet=True)
        return p.stdout.strip() in ("completed", "")

    def dump_logs(self):
        # A generator's restarts and pair states need more lines than a gateway's.
        for svc, tail in (("generator", 150), ("generator-backup", 150), ("gateway", 40),
                          ("lb", 40)):
            p = self.mgr("service", "logs", "--tail", str(tail), f"{self.stack}_{svc}",
                         check=False, timeout=60, quiet=True)
            print(p.stdout[-tail * 200:], p.stderr[-2000:], flush=True)
        try:
            print(f"the first gateway's view of the pair: {self.generator_view()}", flush=True)
        except (Failure, OSError, IndexError) as e:
            print(f"no gateway's view of the pair: {e}", flush=True)

    def generator_view(self):
        """{service: (state, active)} of each generator as a gateway's per-source metrics say
        (state 0 active, 2 passive), read inside a gateway task's container."""
        name, node = sorted(self.tasks("gateway"))[0]
        p = self.on(node, "exec", self.container_of(name, node), "rn-healthcheck", "get", "8080",
                    "/metrics", quiet=True, check=False, timeout=30)
        view = {}
        for kind, host, value in re.findall(
                r'^rn_gateway_generator_(state|active)\{source="tcp://([^:"]+):\d+"\} (\d+)$',
                p.stdout, re.M):
            state, active = view.get(host, (None, None))
            view[host] = (int(value), active) if kind == "state" else (state, int(value))
        return view

    def pair_active(self):
        """The active member's service when a gateway sees one active and one passive."""
        view = self.generator_view()
        active = [h for h, (st, act) in view.items() if st == 0 and act == 1]
        passive = [h for h, (st, _) in view.items() if st == 2]
        return active[0] if len(view) == 2 and len(active) == 1 and len(passive) == 1 else None

    def down(self):
        run([self.docker, "rm", "-f", *self.nodes], check=False, timeout=180)
        run([self.docker, "volume", "rm", *[f"{n}-data" for n in self.nodes]], check=False)
        run([self.docker, "network", "rm", self.net], check=False)


def scenario(swarm, compose):
    compose.compose("build", timeout=3000)
    swarm.start()
    swarm.deploy()
    ip = swarm.lb_node_ip()
    swarm.wait_lb_sees(3)
    log(f"balancer at {ip}:8080 (a node of the test's swarm)")
    nodes = {node for _, node in swarm.tasks("gateway")}
    check(len(nodes) >= 2, f"the 3 gateways run on {len(nodes)} different nodes: {sorted(nodes)}")
    placed = {svc: [n for _, n in swarm.tasks(svc)] for svc in ("generator", "generator-backup")}
    check(placed == {"generator": [swarm.nodes[1]], "generator-backup": [swarm.nodes[2]]},
          f"the generator pair runs on two different nodes, as labelled: {placed}")
    active = wait_until(swarm.pair_active, 60, "an active and a passive generator")
    log(f"the gateways relay from {active}: {swarm.generator_view()}")

    # 1. Events and the page through HAProxy.
    first = start_clients("first", 1, 8080, host=ip)
    wait_until(lambda: len(first[0].snapshot()[0]) >= 3, 30, "3 events through the balancer")
    stop_clients(first)
    mod = playwright_core()
    p = run(["node", str(HERE / "browser_check.cjs"), f"http://{ip}:8080/"], check=False,
            timeout=120, env=dict(os.environ, RN_PLAYWRIGHT_CORE=str(mod)))
    check(p.returncode == 0, f"the page shows a live number in Chromium: {p.stdout.strip()[-600:]}"
          + (p.stderr[-1500:] if p.returncode else ""))
    internal = {path: get(8080, path, host=ip)[0] for path in ("/metrics", "/readyz", "/healthz")}
    check(set(internal.values()) == {404}, f"the balancer keeps the internal routes: {internal}")

    # 2. Scale 3 -> 5 -> 3.
    swarm.mgr("service", "scale", "-d", f"{swarm.stack}_gateway=5")
    check(len(swarm.wait_lb_sees(5)) == 5, "scaled to 5: HAProxy has 5 gateways UP")
    swarm.mgr("service", "scale", "-d", f"{swarm.stack}_gateway=3")
    check(len(swarm.wait_lb_sees(3)) == 3, "scaled back to 3: HAProxy has 3 gateways UP")

    # 3. Rolling update with clients connected: nothing lost.
    clients = start_clients("c", 12, 8080, host=ip)
    wait_until(lambda: all(c.snapshot()[0] for c in clients), 30, "12 clients receiving")
    before = {name for name, _ in swarm.tasks("gateway")}
    t0 = time.monotonic()
    swarm.mgr("service", "update", "-d", "--force", f"{swarm.stack}_gateway")
    wait_until(lambda: swarm.update_done() and len(swarm.tasks("gateway")) == 3
               and not ({name for name, _ in swarm.tasks("gateway")} & before),
               300, "the rolling update to finish", interval=1)
    log(f"rolling update took {time.monotonic() - t0:.0f} s")
    swarm.wait_lb_sees(3)
    wait_all_receive_after(clients, newest_seq(clients), 30, "after the rolling update")
    moved = sum(1 for c in clients if c.snapshot()[1] > 1)
    check(moved == 12, f"rolling update: every client was moved at least once ({moved} of 12)")
    check_no_errors(clients, "rolling update")
    check_continuity(clients, "rolling update")

    # 4. A killed task on a worker is replaced by Swarm.
    victim, node = next((t, n) for t, n in sorted(swarm.tasks("gateway")) if n != swarm.nodes[0])
    swarm.on(node, "kill", swarm.container_of(victim, node))
    wait_until(lambda: len(swarm.tasks("gateway")) == 3
               and victim not in {name for name, _ in swarm.tasks("gateway")},
               90, "Swarm to replace the killed task", interval=1)
    check(True, f"Swarm replaced the killed task {victim} (on {node})")
    swarm.wait_lb_sees(3)
    wait_all_receive_after(clients, newest_seq(clients), 30, "after the kill")
    check_no_errors(clients, "kill")
    check_continuity(clients, "kill")

    # 5. The active generator's task killed on its node: the passive takes over in the same
    # epoch (no gap, no reset), Swarm restarts the killed one, which joins as the passive.
    active = wait_until(swarm.pair_active, 60, "an active and a passive generator")
    ((task, node),) = swarm.tasks(active)
    epoch = clients[0].snapshot()[0][-1][0]
    swarm.on(node, "kill", swarm.container_of(task, node))
    other = "generator-backup" if active == "generator" else "generator"
    wait_until(lambda: swarm.pair_active() == other, 90,
               f"{other} active and the restarted {active} passive", interval=1)
    check(True, f"{other} took over, Swarm restarted {active}, which is the passive now")
    wait_all_receive_after(clients, newest_seq(clients), 30, "after the generator's kill")
    stop_clients(clients)
    check(all(e[0] == epoch for c in clients for e in c.snapshot()[0][-3:]),
          f"the same epoch across the takeover ({epoch})")
    check_no_errors(clients, "generator kill")
    check_continuity(clients, "generator kill")


def main():
    docker = prepare_docker()
    compose = Stack(docker)  # for building the images only
    swarm = Swarm(docker)
    log(f"swarm {swarm.tag}")

    def dump_logs():
        try:
            swarm.dump_logs()
        except Failure:
            pass  # the swarm may not have come up
    ok = run_torn_down(f"swarm {swarm.tag}", lambda: scenario(swarm, compose), dump_logs,
                       swarm.down)
    log("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    run_main(main)
