#!/usr/bin/env python3
"""tables.py KIND RESULTS ... -- the tables bench/run.sh prints, made from what its
measurements wrote into RESULTS: markdown on stdout and appended to RESULTS/tables.md; the
rows appended to RESULTS/tables.csv (the ramp's to RESULTS/ramp.csv, the footprint's to
RESULTS/footprint.csv).

  scenario RESULTS SLUG TITLE          from SLUG-SERVER.json
  storm RESULTS TITLE WINDOW_S NEW     from SERVER.steady.jsonl, SERVER.storm.json, SERVER.cpu.json
  ramp RESULTS COUNT...                from ramp-COUNT-SERVER.json
  footprint RESULTS                    from footprint.json (bench/footprint.py)

SERVER is each of SERVERS; one that was not measured (RN_BENCH_SERVERS left it out) shows
"-". Ratios are ours over each other server."""
import csv
import json
import os
import statistics
import sys

SERVERS = [("ours", "ours"), ("floor", "floor"), ("nchan", "nchan 1 worker"),
           ("nchan-auto", "nchan auto")]
CSV_HEADER = ["scenario", "title", "metric", "ours", "floor", "nchan", "nchan_auto",
              "ours_per_floor", "ours_per_nchan", "ours_per_nchan_auto"]


def load_json(path):
    return json.load(open(path)) if os.path.exists(path) else None


def ratio(x, y):
    try:
        fx, fy = float(x), float(y)
    except (TypeError, ValueError):
        return ""
    return f"{fx / fy:.2f}" if fy else ("-" if fx == 0 else "inf")


def out(results, text):
    print(text)
    with open(os.path.join(results, "tables.md"), "a") as f:
        f.write(text + "\n")


def emit(results, slug, title, rows):
    """rows: (label, {server: text}) with text None where not measured."""
    path = os.path.join(results, "tables.csv")
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(CSV_HEADER)
        names = [label for _, label in SERVERS] + [f"ours/{label.replace(' 1 worker', '')}"
                                                   for _, label in SERVERS[1:]]
        lines = [f"\n### {title}\n", "| | " + " | ".join(names) + " |",
                 "|---" * (len(names) + 1) + "|"]
        for label, values in rows:
            texts = [values.get(s) for s, _ in SERVERS]
            ratios = [ratio(texts[0], t) if texts[0] is not None and t is not None else ""
                      for t in texts[1:]]
            cells = ["-" if t is None else t for t in texts] + ratios
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
            writer.writerow([slug, title, label] + ["" if t is None else t for t in texts]
                            + ratios)
    out(results, "\n".join(lines))


def scenario(results, slug, title):
    runs = {s: load_json(os.path.join(results, f"{slug}-{s}.json")) for s, _ in SERVERS}
    specs = [("clients connected", "connected", "{:.0f}"), ("events/s", "events_per_s", "{:.0f}"),
             ("deliveries/s", "deliveries_per_s", "{:.0f}"),
             ("server CPU s per million deliveries", "cpu_per_million", "{:.2f}"),
             ("latency p50 ms", "p50_ms", "{:.3f}"), ("latency p99 ms", "p99_ms", "{:.3f}"),
             ("latency p999 ms", "p999_ms", "{:.3f}"), ("latency max ms", "max_ms", "{:.3f}"),
             ("server RSS per client KiB", "rss_per_client_kb", "{:.1f}"),
             ("server RSS in all MiB", "rss_total_mb", "{:.0f}"),
             ("server threads", "threads", "{:.0f}"),
             ("missed events", "missed", "{:.0f}"), ("duplicated events", "duplicated", "{:.0f}")]
    rows = [(label, {s: fmt.format(r[key]) if r else None for s, r in runs.items()})
            for label, key, fmt in specs]
    # Ours and the floor run twice (run.sh says why): the CPU row is their mean.
    rows.insert(4, ("  its two runs (ours, floor)",
                    {s: " / ".join(f"{c:.2f}" for c in r["cpu_per_million_runs"])
                     if r and "cpu_per_million_runs" in r else None for s, r in runs.items()}))
    rows.append(("refused / failed / errors",
                 {s: f"{r['refused']} / {r['failed']} / {r['errors']}" if r else None
                  for s, r in runs.items()}))
    emit(results, slug, title, rows)


def storm_run(results, server):
    path = os.path.join(results, f"{server}.steady.jsonl")
    if not os.path.exists(path):
        return None
    lines = [json.loads(line) for line in open(path) if line.strip()]
    marks = [line for line in lines if "mark" in line]
    final = [line for line in lines if "clients" in line][-1]
    storm = json.load(open(os.path.join(results, f"{server}.storm.json")))
    cpu = json.load(open(os.path.join(results, f"{server}.cpu.json")))["cpu_s"]
    return {"quiet": marks[1], "during": marks[2], "final": final, "new": storm, "cpu": cpu}


def storm(results, title, window_s, new):
    runs = {s: storm_run(results, s) for s, _ in SERVERS}
    specs = [("steady p50 ms, no storm", lambda r: r["quiet"]["mark_latency_p50_ms"], "{:.1f}"),
             ("steady p99 ms, no storm", lambda r: r["quiet"]["mark_latency_p99_ms"], "{:.1f}"),
             ("steady p50 ms, during the storm", lambda r: r["during"]["mark_latency_p50_ms"],
              "{:.1f}"),
             ("steady p99 ms, during the storm", lambda r: r["during"]["mark_latency_p99_ms"],
              "{:.1f}"),
             ("steady max ms, during the storm", lambda r: r["during"]["mark_latency_max_ms"],
              "{:.1f}"),
             ("steady events lost", lambda r: r["final"]["missed"], "{:.0f}"),
             (f"new clients answered 200 (of {int(new):,})",
              lambda r: r["new"]["first_answer_samples"], "{:.0f}"),
             ("new clients with an event", lambda r: r["new"]["first_event_samples"], "{:.0f}"),
             ("new: connect to 200, p50 ms", lambda r: r["new"]["first_answer_p50_ms"], "{:.1f}"),
             ("new: connect to 200, p99 ms", lambda r: r["new"]["first_answer_p99_ms"], "{:.1f}"),
             ("new: connect to first event, p50 ms", lambda r: r["new"]["first_event_p50_ms"],
              "{:.1f}"),
             ("new: connect to first event, p99 ms", lambda r: r["new"]["first_event_p99_ms"],
              "{:.1f}"),
             ("new: refused / failed", lambda r: r["new"]["refused"] + r["new"]["failed"],
              "{:.0f}"),
             (f"server CPU s in the storm window ({window_s} s)", lambda r: r["cpu"], "{:.2f}")]
    rows = [(label, {s: fmt.format(get(r)) if r else None for s, r in runs.items()})
            for label, get, fmt in specs]
    emit(results, "storm", title, rows)


RAMP_KEYS = ["deliveries_per_s", "cpu_per_million", "rss_total_mb", "rss_per_client_kb",
             "p50_ms", "p99_ms"]


def ramp(results, counts):
    """ramp.csv (a row per count and server) and the ramp's table (a row per count)."""
    by = {}
    with open(os.path.join(results, "ramp.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["server", "clients", "connected"] + RAMP_KEYS + ["missed", "threads"])
        for n in counts:
            for server, _ in SERVERS:
                r = load_json(os.path.join(results, f"ramp-{n}-{server}.json"))
                if r is None:
                    continue
                by.setdefault(int(n), {})[server] = r
                writer.writerow([server, n, r["connected"]] + [f"{r[k]:.3f}" for k in RAMP_KEYS]
                                + [r["missed"], r.get("threads", "")])
    present = [(s, label) for s, label in SERVERS if any(s in v for v in by.values())]
    who = " / ".join(label for _, label in present)
    lines = [f"\n### ramp: clients x 2 events/s ({who})\n",
             "| clients | connected | CPU s per 10^6 deliveries | CPU ours/others | RSS in all "
             "MiB | RSS per client KiB | threads | p50 ms | p99 ms | missed |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for n, v in sorted(by.items()):
        def cell(key, fmt):
            return " / ".join(fmt.format(v[s][key]) if s in v else "-" for s, _ in present)
        ours = v.get("ours", {}).get("cpu_per_million")
        ratios = " / ".join(f"{ours / v[s]['cpu_per_million']:.2f}x"
                            if ours and s in v and v[s]["cpu_per_million"] > 0 else "-"
                            for s, _ in present if s != "ours")
        lines.append(f"| {n:,} | {cell('connected', '{:.0f}')} | "
                     f"{cell('cpu_per_million', '{:.2f}')} | {ratios} | "
                     f"{cell('rss_total_mb', '{:.0f}')} | {cell('rss_per_client_kb', '{:.1f}')} "
                     f"| {cell('threads', '{:.0f}')} | {cell('p50_ms', '{:.1f}')} | "
                     f"{cell('p99_ms', '{:.1f}')} | {cell('missed', '{:.0f}')} |")
    out(results, "\n".join(lines))


def footprint(results):
    r = json.load(open(os.path.join(results, "footprint.json")))
    mib = lambda kb: "-" if kb is None else f"{kb / 1024:.1f}"
    num = lambda x, fmt="{:.0f}": "-" if x is None else fmt.format(x)
    median = lambda xs: None if not xs or None in xs else statistics.median(xs)
    spread = lambda xs: "-" if median(xs) is None else f"{median(xs):.0f} / {max(xs):.0f}"
    default = [s for s in r["starts"] if not s["args"]]
    small = [s for s in r["starts"] if s["args"]]
    limit = num(default[0].get("max_clients"), "{:,.0f}") if default else "-"
    n, loaded, idle = r["clients"], r.get("loaded", {}), r.get("idle", {})
    at10k = r.get("at_10000", {})
    growth = None
    if loaded.get("rss_kb") and idle.get("rss_kb") and loaded.get("clients"):
        growth = (loaded["rss_kb"] - idle["rss_kb"]) / loaded["clients"]
    threads = lambda s: f"{num(s.get('threads'))} ({num(s.get('threads_metric'))})" if s else "-"
    rows = [
        (f"start to ready ms (generator heartbeat every {r['heartbeat_ms']} ms), median / max "
         f"of {len(r['starts'])}",
         spread([s["ready_ms"] for s in r["starts"]])),
        (f"idle RSS MiB, default --max-clients ({limit}), median of {len(default)}",
         mib(median([s.get("rss_kb") for s in default]))),
        (f"idle RSS MiB, --max-clients 100, median of {len(small)}",
         mib(median([s.get("rss_kb") for s in small]))),
        ("threads idle (rn_gateway_threads)", threads(default[0] if default else None)),
        ("stop ms, SIGTERM with --drain-ms 0, idle, median / max",
         spread([s["stop_ms"] for s in r["starts"]])),
        (f"streams connected (of {n:,})", num(loaded.get("clients"))),
        ("RSS MiB at 10,000 streams", mib(at10k.get("rss_kb"))),
        (f"RSS MiB at {n:,} streams", mib(loaded.get("rss_kb"))),
        ("RSS growth per stream KiB, idle to all", num(growth, "{:.2f}")),
        ("threads at 10,000 streams (rn_gateway_threads)", threads(at10k)),
        (f"threads at {n:,} streams (rn_gateway_threads)", threads(loaded)),
        (f"stop ms, SIGTERM with --drain-ms 0, {n:,} streams", num(r.get("stop_ms"))),
    ]
    with open(os.path.join(results, "footprint.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["metric", "gateway"])
        writer.writerows(rows)
    lines = ["\n### footprint: one gateway, its generator at 1 event/s\n", "| | gateway |",
             "|---|---|"] + [f"| {label} | {value} |" for label, value in rows]
    out(results, "\n".join(lines))


def main(argv):
    kinds = {"scenario": (scenario, 3), "storm": (storm, 4), "footprint": (footprint, 1)}
    if len(argv) >= 3 and argv[1] == "ramp":
        ramp(argv[2], argv[3:])
        return 0
    if len(argv) < 2 or argv[1] not in kinds or len(argv) != 2 + kinds[argv[1]][1]:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    kinds[argv[1]][0](*argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
