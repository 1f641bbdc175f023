#!/usr/bin/env python3
"""combine.py OUT PREFIX... -- adds up the results of load clients that ran side by side
(each `sse_load --json --cdf PREFIX > PREFIX.json`) as if one had held all their streams:
OUT.json and OUT.csv, in sse_load's own formats, for bench/run.sh.

Counts and rates are summed; the percentiles come from the merged latency distribution
(each CDF row is a histogram bucket: its upper bound, or the client's maximum for its last
row, and the events at or below it), with sse_load's rule: the least latency that at least
that fraction of the events had; the other percentiles (time to the first answer and
event, reconnects) are the worst client's. One PREFIX is copied as it is (a missing CDF is
reported and left missing). Exit 2 with one line on stderr when an input is missing or
malformed."""
import csv
import json
import math
import shutil
import sys

SUMMED = ["clients", "connected", "refused", "failed", "errors", "deliveries",
          "deliveries_per_s", "missed", "duplicated", "conns_with_loss", "conns_with_dup",
          "first_answer_samples", "first_event_samples", "events"]


class CombineError(Exception):
    pass


def buckets(path):
    """(latency_ms, events in the bucket) per row of one CDF."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        out, seen = [], 0
        for r in rows:
            total = int(r["events"])
            out.append((float(r["latency_ms"]), total - seen))
            seen = total
        return out
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise CombineError(f"{path}: {e}") from None


def percentile(merged, total, p):
    want = max(1, math.ceil(p * total - 1e-9))
    seen = 0
    for ms, n in merged:
        seen += n
        if seen >= want:
            return ms
    return merged[-1][0] if merged else 0.0


def combine(out, prefixes):
    try:
        runs = [json.load(open(f"{p}.json")) for p in prefixes]
    except (OSError, ValueError) as e:
        raise CombineError(str(e)) from None
    merged = {}
    for p in prefixes:
        for ms, n in buckets(f"{p}.csv"):
            merged[ms] = merged.get(ms, 0) + n
    merged = sorted((ms, n) for ms, n in merged.items() if n > 0)
    total = sum(n for _, n in merged)
    result = dict(runs[0])
    for key in result:
        if key.endswith(("_p50_ms", "_p99_ms", "_max_ms")):
            result[key] = max(r[key] for r in runs)
    for key in SUMMED:
        result[key] = sum(r.get(key, 0) for r in runs)
    result["seconds"] = max(r["seconds"] for r in runs)
    for key, p in (("p50_ms", 0.5), ("p99_ms", 0.99), ("p999_ms", 0.999)):
        result[key] = percentile(merged, total, p)
    result["max_ms"] = max(r["max_ms"] for r in runs)
    result["load_clients"] = len(runs)
    with open(f"{out}.json", "w") as f:
        json.dump(result, f)
    with open(f"{out}.csv", "w", newline="") as f:
        f.write("latency_ms,fraction,events\n")
        seen = 0
        for ms, n in merged:
            seen += n
            f.write(f"{ms:.3f},{seen / total:.9f},{seen}\n")


def main(argv):
    if len(argv) < 3:
        print("usage: combine.py OUT PREFIX...", file=sys.stderr)
        return 2
    out, prefixes = argv[1], argv[2:]
    try:
        if len(prefixes) == 1:
            shutil.copyfile(f"{prefixes[0]}.json", f"{out}.json")
            try:
                shutil.copyfile(f"{prefixes[0]}.csv", f"{out}.csv")
            except OSError as e:
                print(f"combine: no latency CDF: {e}", file=sys.stderr)
        else:
            combine(out, prefixes)
    except (CombineError, OSError) as e:
        print(f"combine: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
