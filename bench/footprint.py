#!/usr/bin/env python3
"""footprint.py --bin DIR --bus ENDPOINT --heartbeat-ms MS --out FILE [--clients N] [--starts K]
-- the gateway's own footprint, for bench/run.sh, against the generator the caller runs at
ENDPOINT with heartbeats every MS:

  - start to ready: from starting the program to the first 200 on /readyz (the history
    fetched from the generator included), K times at the default --max-clients and K times
    at --max-clients 100. The gateway learns the generator's state from its first
    heartbeat, so each start waits a random part of a second first: starts at one phase of
    the heartbeat would all wait alike;
  - idle: RSS and threads 2 s after each start, with no client;
  - loaded: RSS and threads with 10,000 and with N streams connected by sse_load, RSS growth
    per stream from the idle gateway;
  - stop: SIGTERM to exit with --drain-ms 0, after each idle start and with the N streams.

Every wait is bounded; a gateway that does not stop in 10 s is killed and its stop time
recorded as null. Writes one JSON object to FILE."""
import argparse
import http.client
import json
import random
import signal
import socket
import subprocess
import sys
import time

STOP_LIMIT_S = 10.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid):
    """VmRSS in KiB and the thread count of a process; None for what it no longer has (it
    exited)."""
    fields = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields[key] = value.split()
    except OSError:
        pass
    number = lambda key: int(fields[key][0]) if fields.get(key) else None
    return number("VmRSS"), number("Threads")


def get(port, path):
    """(status, body) of a GET, or (None, "") if the gateway did not answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        return answer.status, answer.read().decode(errors="replace")
    except (OSError, http.client.HTTPException):
        return None, ""
    finally:
        conn.close()


def metric(port, name):
    """A gauge from /metrics, or None."""
    _, body = get(port, "/metrics")
    for line in body.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == name:
            return float(parts[1])
    return None


class Gateway:
    def __init__(self, binary, bus, extra):
        self.port = free_port()
        started = time.monotonic()
        self.proc = subprocess.Popen([f"{binary}/gateway", "--listen", f"127.0.0.1:{self.port}",
                                      "--connect", bus, "--drain-ms", "0", "--log-level",
                                      "warn"] + extra)
        self.ready_ms = None
        while time.monotonic() - started < 15 and self.proc.poll() is None:
            if get(self.port, "/readyz")[0] == 200:
                self.ready_ms = (time.monotonic() - started) * 1e3
                break
            time.sleep(0.002)

    def status(self):
        rss, threads = proc_status(self.proc.pid)
        return {"rss_kb": rss, "threads": threads,
                "threads_metric": metric(self.port, "rn_gateway_threads"),
                "clients": metric(self.port, "rn_gateway_sse_clients"),
                "max_clients": metric(self.port, "rn_gateway_sse_clients_max")}

    def stop(self):
        """Milliseconds from SIGTERM to exit, or None if it had to be killed."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_LIMIT_S)
            return (time.monotonic() - started) * 1e3
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


def idle_starts(binary, bus, starts):
    runs = []
    for extra in ([], ["--max-clients", "100"]):
        for _ in range(starts):
            time.sleep(random.random())
            gw = Gateway(binary, bus, extra)
            time.sleep(2)
            run = {"args": " ".join(extra), "ready_ms": gw.ready_ms}
            if gw.proc.poll() is None:
                run.update(gw.status())
            run["stop_ms"] = gw.stop()
            runs.append(run)
    return runs


def loaded(binary, bus, clients, load_out):
    """The gateway with CLIENTS streams: its status at 10,000 (if more are due) and at all
    of them, then its stop while they are connected."""
    gw = Gateway(binary, bus, [])
    time.sleep(2)
    result = {"ready_ms": gw.ready_ms, "idle": gw.status()}
    with open(load_out, "w") as out:
        load = subprocess.Popen([f"{binary}/sse_load", "--port", str(gw.port), "--clients",
                                 str(clients), "--ramp-per-s", "1000", "--duration-s", "3600",
                                 "--json"], stdout=out)
        deadline = time.monotonic() + clients / 1000 + 30
        while time.monotonic() < deadline and load.poll() is None:
            now = metric(gw.port, "rn_gateway_sse_clients") or 0
            if clients > 10000 and now >= 10000 and "at_10000" not in result:
                result["at_10000"] = gw.status()
            if now >= clients:
                break
            time.sleep(0.2)
        time.sleep(2)  # the last streams settle
        result["loaded"] = gw.status()
        result["stop_ms"] = gw.stop()
        load.send_signal(signal.SIGTERM)
        try:
            load.wait(30)
        except subprocess.TimeoutExpired:
            load.kill()
            load.wait()
    with open(load_out) as f:
        result["load"] = json.loads(f.read() or "{}")
    return result


def main(argv):
    parser = argparse.ArgumentParser(prog="footprint.py")
    parser.add_argument("--bin", required=True)
    parser.add_argument("--bus", required=True)
    parser.add_argument("--heartbeat-ms", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--clients", type=int, default=19880)
    parser.add_argument("--starts", type=int, default=5)
    args = parser.parse_args(argv[1:])
    if not 1 <= args.clients <= 100000 or not 1 <= args.starts <= 20:
        print("footprint: --clients 1..100000, --starts 1..20", file=sys.stderr)
        return 2
    result = {"clients": args.clients, "heartbeat_ms": args.heartbeat_ms,
              "starts": idle_starts(args.bin, args.bus, args.starts)}
    result.update(loaded(args.bin, args.bus, args.clients, args.out + ".load.json"))
    with open(args.out, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
