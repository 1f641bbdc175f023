#!/usr/bin/env python3
"""plot.py DIR [--out OUTDIR] -- draws a benchmark's raw results (CSV) as PNGs with gnuplot.

What DIR holds decides what is drawn (bench/run.sh and bench/fault.sh write it):
  cdf-SLUG-ours.csv + cdf-SLUG-nchan.csv  -> latency.png: a latency CDF panel per scenario
    [+ cdf-SLUG-floor.csv, cdf-SLUG-nchan-auto.csv: their curves too]
  ramp.csv                                 -> growth.png: CPU per million deliveries, RSS and
                                              p99 latency against connected clients (ours,
                                              nchan, and floor and nchan-auto if there)
  timeline.csv + marks.csv [+ gateways.csv] -> fault.png: streams per gateway, reconnects/s
                                              and events lost over time, operations marked
The data goes into the gnuplot script itself, so a picture is made from nothing but DIR.
Exit 2 with one line on stderr when DIR holds nothing to draw or a file lacks a column."""
import argparse
import csv
import math
import os
import re
import subprocess
import sys

OURS, NCHAN = "#1f5fa8", "#e07b00"
# Servers that runs since the floor was added also measured: (file name, gnuplot name, title,
# line style). Results without them are drawn as before.
EXTRA = [("floor", "floor", "floor", "lw 2 dt 2 lc rgb '#444444'"),
         ("nchan-auto", "nchanauto", "nchan auto", "lw 2 dt 3 lc rgb '#b8001f'")]
SCENARIO_ORDER = ["1000x100", "10000x1", "100x5000", "max", "multi", "storm-quiet",
                  "storm-during"]
# The storm table's title, as bench/run.sh prints it, gives the storm panels theirs.
STORM_TABLE = re.compile(r"storm: ([\d,]+) new clients at .* beside ([\d,]+) connected")


class PlotError(Exception):
    pass


def read_csv(path, columns, numeric=(), optional=()):
    """The rows of path as dicts. Every name in columns must be a column; those in numeric
    become finite floats, those in optional floats or None (empty or nan: not measured)."""
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise PlotError(f"{path}: no column {', '.join(missing)}")
            rows = list(reader)
    except OSError as e:
        raise PlotError(f"{path}: {e.strerror}") from None
    for n, row in enumerate(rows, start=2):
        for c in list(numeric) + list(optional):
            text = (row[c] or "").strip()
            if c in optional and text.lower() in ("", "nan"):
                row[c] = None
                continue
            try:
                row[c] = float(text)
            except ValueError:
                row[c] = math.nan
            if not math.isfinite(row[c]):
                raise PlotError(f"{path}:{n}: {c} is not a number: {text[:40]!r}")
    return rows


def datablock(name, rows):
    """Numbers only (None: a gap), so nothing from a file is read as a gnuplot command."""
    number = lambda v: "NaN" if v is None else repr(float(v))
    lines = [f"${name} << EOD"] + [" ".join(number(v) for v in r) for r in rows] + ["EOD"]
    return "\n".join(lines) + "\n"


def quoted(text):
    """A gnuplot string in single quotes, where nothing is substituted (in double quotes,
    backquotes run a shell command); one line."""
    return "'" + re.sub(r"[\x00-\x1f]", " ", text).replace("'", "''") + "'"


def header(width, height, rows, cols, title):
    return (f"set terminal pngcairo noenhanced size {width},{height} font 'DejaVu Sans,10'\n"
            "set grid lc rgb '#dddddd'\nset key top left\n"
            f"set multiplot layout {rows},{cols} title {quoted(title)}\n")


def scenario_titles(directory):
    path = os.path.join(directory, "tables.csv")
    if not os.path.exists(path):
        return {}
    return {r["scenario"]: r["title"] for r in read_csv(path, ["scenario", "title"])}


def latency_script(directory):
    found = {}
    for name in os.listdir(directory):
        m = re.fullmatch(r"cdf-(.+)-(ours|nchan|floor|nchan-auto)\.csv", name)
        if m:
            found.setdefault(m.group(1), set()).add(m.group(2))
    # The ramp's points are in growth.png.
    slugs = [s for s, servers in found.items()
             if {"ours", "nchan"} <= servers and not s.startswith("ramp-")]
    if not slugs:
        return None
    slugs.sort(key=lambda s: (SCENARIO_ORDER.index(s) if s in SCENARIO_ORDER else 99, s))
    titles = scenario_titles(directory)
    storm = STORM_TABLE.match(titles.get("storm", "")) or STORM_TABLE.match(
        "storm: 15,000 new clients at 3,000/s beside 1,000 connected")
    titles["storm-quiet"] = f"storm bench: {storm.group(2)} steady clients, quiet"
    titles["storm-during"] = f"... while {storm.group(1)} new clients connect"
    cols = min(3, len(slugs))
    rows = (len(slugs) + cols - 1) // cols
    extra = any(server in found[s] for s in slugs for server, *_ in EXTRA)
    script = header(420 * cols, 330 * rows + 40, rows, cols,
                    "Latency, publish to client: ours, the floor and nchan (CDF)" if extra
                    else "Latency, publish to client: ours vs nchan (CDF)")
    script += ("set logscale x\nset xlabel 'latency ms (log)'\nset ylabel 'fraction of events'\n"
               "set yrange [0:1]\nset key bottom right\n")
    for i, slug in enumerate(slugs):
        extras = [e for e in EXTRA if e[0] in found[slug]]
        for server, name in [("ours", "ours"), ("nchan", "nchan")] + [e[:2] for e in extras]:
            cdf = read_csv(os.path.join(directory, f"cdf-{slug}-{server}.csv"),
                           ["latency_ms", "fraction"], ["latency_ms", "fraction"])
            # A floor for the log axis: a bucket of 0 ms would vanish.
            points = [(max(r["latency_ms"], 0.001), r["fraction"]) for r in cdf] or [(1, 0)]
            script += datablock(f"d{i}{name}", points)
        more = "".join(f", $d{i}{name} using 1:2 with steps {style} title {quoted(title)}"
                       for _, name, title, style in extras)
        script += (f"set title {quoted(titles.get(slug, slug))}\n"
                   f"plot $d{i}ours using 1:2 with steps lw 2 lc rgb '{OURS}' title 'ours', "
                   f"$d{i}nchan using 1:2 with steps lw 2 lc rgb '{NCHAN}' title "
                   f"'{'nchan 1 worker' if extra else 'nchan'}'{more}\n")
    return script + "unset multiplot\n"


def growth_script(directory):
    path = os.path.join(directory, "ramp.csv")
    if not os.path.exists(path):
        return None
    cols = ["connected", "deliveries_per_s", "cpu_per_million", "rss_total_mb", "p99_ms"]
    rows = []
    for r in read_csv(path, ["server"] + cols, cols[:2] + ["rss_total_mb"],
                      ["cpu_per_million", "p99_ms"]):
        if r["deliveries_per_s"] > 0:
            rows.append(r)
        else:  # no latency and no CPU per delivery to show
            print(f"plot: {path}: {r['server']} delivered nothing at {r['connected']:.0f} "
                  "clients; left out", file=sys.stderr)
    extras = [e for e in EXTRA if any(r["server"] == e[0] for r in rows)]
    script = header(1500, 460, 1, 3, "Growth: 2 events/s to more and more clients, ours, the "
                    "floor and nchan" if extras else
                    "Growth: 2 events/s to more and more clients, ours vs nchan")
    for server, name in [("ours", "ours"), ("nchan", "nchan")] + [e[:2] for e in extras]:
        points = sorted((r["connected"], r["cpu_per_million"], r["rss_total_mb"], r["p99_ms"])
                        for r in rows if r["server"] == server)
        if not points:
            raise PlotError(f"{path}: no rows for {server}")
        script += datablock(name, points)
    script += "set xlabel 'connected clients, thousands'\nset xrange [0:*]\n"
    # p99 spans milliseconds to seconds when a server is overloaded: a log axis.
    for col, label, yaxis in ((2, "server CPU s per million deliveries", "set yrange [0:*]"),
                              (3, "server RSS MiB", "set yrange [0:*]"),
                              (4, "latency p99 ms (log)", "set logscale y\nset yrange [*:*]")):
        script += (f"set title {quoted(label)}\nset ylabel {quoted(label)}\n{yaxis}\n"
                   f"plot $ours using ($1/1000):{col} with linespoints lw 2 pt 7 "
                   f"lc rgb '{OURS}' title 'ours', $nchan using ($1/1000):{col} "
                   f"with linespoints lw 2 pt 5 lc rgb '{NCHAN}' title "
                   f"'{'nchan 1 worker' if extras else 'nchan'}'"
                   + "".join(f", ${name} using ($1/1000):{col} with linespoints {style} pt 4 "
                             f"title {quoted(title)}" for _, name, title, style in extras)
                   + "\n")
    return script + "unset multiplot\n"


def gateway_series(directory, offset):
    """Streams per gateway as (gateway label, [(t, streams)]), t on the timeline's clock;
    None (a gap in the line) where its /metrics did not answer or it was not running."""
    path = os.path.join(directory, "gateways.csv")
    if not os.path.exists(path):
        return []
    series = {}
    for r in read_csv(path, ["wall", "gateway", "streams"], ["wall"], ["streams"]):
        label = re.sub(r"^.*?gateway[-_](\d+)$", r"gateway \1", r["gateway"])
        points = series.setdefault(label, [])
        t = r["wall"] - offset
        if points and t - points[-1][0] > 2.5:  # missing from `docker ps`: killed or removed
            points.append((points[-1][0] + 1, None))
        points.append((t, r["streams"]))
    return sorted(series.items(), key=lambda kv: int(re.sub(r"\D", "", kv[0]) or 0))


def per_second(a, b, key):
    return (b[key] - a[key]) / (b["t"] - a["t"])


def fault_script(directory):
    timeline_path = os.path.join(directory, "timeline.csv")
    marks_path = os.path.join(directory, "marks.csv")
    if not (os.path.exists(timeline_path) and os.path.exists(marks_path)):
        return None
    columns = ["t", "wall", "connected_now", "stalled", "reconnects", "resets", "lost"]
    ticks = read_csv(timeline_path, columns, columns)
    marks = read_csv(marks_path, ["operation", "wall"], ["wall"])
    if len(ticks) < 2:
        raise PlotError(f"{timeline_path}: fewer than two ticks")
    offset = ticks[0]["wall"] - ticks[0]["t"]
    rates = [(b["t"], per_second(a, b, "reconnects"), per_second(a, b, "resets"), b["lost"])
             for a, b in zip(ticks, ticks[1:]) if b["t"] > a["t"]]
    clients = int(max(t["connected_now"] for t in ticks))
    script = header(1200, 760, 2, 1, f"Faults on the compose stack: {clients} clients through "
                    f"HAProxy, {int(ticks[-1]['lost'])} events lost")
    script += datablock("clients", [(t["t"], t["connected_now"], t["stalled"]) for t in ticks])
    script += datablock("rates", rates)
    gateways = gateway_series(directory, offset)
    for i, (_, points) in enumerate(gateways):
        script += datablock(f"g{i}", points)
    end = ticks[-1]["t"]
    for n, m in enumerate(marks, start=1):
        t = round(m["wall"] - offset, 3)
        script += f"set arrow {n} from {t}, graph 0 to {t}, graph 1 nohead dt 2 lc rgb '#555555'\n"
        if m["operation"] != "end":  # staggered: operations can follow each other closely
            script += (f"set label {n} {quoted(m['operation'])} at {t}, graph "
                       f"{0.95 - 0.07 * (n % 2)} left offset 0.4,0 front\n")
        else:
            end = t
    script += (f"set xrange [0:{end + 5}]\nset yrange [0:{clients * 1.25}]\n"
               "set lmargin 10\nset rmargin 24\nset key outside right top\n"
               "set ylabel 'streams'\nset title 'streams per gateway (its /metrics) and "
               "in all (the load client)'\n")
    plots = [f"$clients using 1:2 with lines lw 2 lc rgb '#222222' title 'streaming (client)'",
             "$clients using 1:3 with lines lw 2 dt 3 lc rgb '#c00000' "
             "title 'stalled 20 s (client)'"]
    plots += [f"$g{i} using 1:2 with lines lw 1.5 title {quoted(name)}"
              for i, (name, _) in enumerate(gateways)]
    script += "plot " + ", ".join(plots) + "\n"
    script += ("unset label\nset yrange [0:*]\n"
               "set title 'reconnects and resets per second, events lost (cumulative)'\n"
               "set xlabel 'seconds since the load started'\nset ylabel 'per second / events'\n"
               f"plot $rates using 1:2 with impulses lw 2 lc rgb '{OURS}' title 'reconnects/s', "
               f"$rates using ($1+0.4):3 with impulses lw 2 lc rgb '{NCHAN}' title 'resets/s', "
               "$rates using 1:4 with lines lw 2 lc rgb '#c00000' title 'events lost'\n")
    return script + "unset multiplot\n"


def draw(script, png):
    gnuplot = subprocess.run(["gnuplot"], input=f"set output {quoted(png)}\n" + script,
                             text=True, capture_output=True, timeout=120)
    if gnuplot.returncode != 0 or not os.path.exists(png):
        raise PlotError(f"gnuplot failed on {png}: {gnuplot.stderr.strip()[-500:]}")
    # Cairo's warnings about fonts are the only thing gnuplot prints on success.
    if gnuplot.stderr.strip():
        print(f"plot: gnuplot: {gnuplot.stderr.strip()}", file=sys.stderr)


def main(argv):
    parser = argparse.ArgumentParser(prog="plot.py", description="Draws a benchmark's CSV.")
    parser.add_argument("directory")
    parser.add_argument("--out", help="where the PNGs go (default: DIR)")
    args = parser.parse_args(argv[1:])  # a usage error exits 2
    directory = args.directory
    out = args.out or directory
    try:
        if not os.path.isdir(directory):
            raise PlotError(f"{directory}: not a directory")
        drawn = 0
        for name, make in (("latency.png", latency_script), ("growth.png", growth_script),
                           ("fault.png", fault_script)):
            script = make(directory)
            if script is None:
                continue
            os.makedirs(out, exist_ok=True)
            draw(script, os.path.join(out, name))
            print(os.path.join(out, name))
            drawn += 1
        if not drawn:
            raise PlotError(f"{directory}: no results to draw (cdf-*.csv, ramp.csv, timeline.csv)")
    except PlotError as e:
        print(f"plot: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
