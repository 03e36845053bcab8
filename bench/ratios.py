"""Median-time ratios from a pytest-benchmark JSON file, as a markdown table.

    python bench/ratios.py results.json [more.json ...] [--ours audiorep] [--stat median|min|mean]

Each benchmark names its implementation and thread count in extra_info
(``impl``, ``threads``); without them the test id's last parameter is taken as
the implementation, with one thread. For every group the table shows
reference time / our time (median by default) for each reference
implementation, ours taken at the same thread count (or at one thread when we were not run at that
count). A ratio above 1 means ours is faster.

Given several files (the same benchmarks run again, at other times), every
ratio is computed within one file, where both times were taken minutes apart,
and the table shows the median of those ratios over the files (and the median
of our times): load that comes and goes on a shared machine then moves a ratio
only when it hits most runs.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from statistics import median


def describe(bench: dict) -> tuple[str, int]:
    info = bench.get("extra_info") or {}
    impl = info.get("impl")
    threads = int(info.get("threads", 1))
    if impl is None:
        match = re.search(r"\[(.*)\]$", bench.get("name", ""))
        impl = match.group(1).split("-")[-1] if match else bench.get("name", "?")
    return str(impl), threads


def _times(data: dict, stat: str) -> dict[str, dict[tuple[str, int], float]]:
    groups: dict[str, dict[tuple[str, int], float]] = defaultdict(dict)
    for bench in data.get("benchmarks", []):
        impl, threads = describe(bench)
        groups[bench.get("group") or "(none)"][(impl, threads)] = float(bench["stats"][stat])
    return groups


def ratio_table(data: dict | list[dict], ours: str = "audiorep", stat: str = "median") -> str:
    """The table for one benchmark file, or the median ratios over several runs of the same benchmarks."""
    runs = [_times(d, stat) for d in (data if isinstance(data, list) else [data])]
    names = {name for run in runs for name in run}
    columns = sorted({key for run in runs for g in run.values() for key in g if key[0] != ours},
                     key=lambda k: (k[1], k[0]))
    header = ["group", f"{ours} {stat} (ms, 1t)"] + [f"{impl} {threads}t" for impl, threads in columns]
    if len(runs) > 1:
        header[1] = f"{ours} {stat} (ms, 1t, median of {len(runs)} runs)"
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in sorted(names, key=natural_key):
        bases = [run[name][(ours, 1)] for run in runs if (ours, 1) in run.get(name, {})]
        row = [name, f"{median(bases) * 1e3:.2f}" if bases else "-"]
        for impl, threads in columns:
            ratios = []
            for run in runs:
                times = run.get(name, {})
                mine = times.get((ours, threads), times.get((ours, 1)))
                ref = times.get((impl, threads))
                if ref and mine:
                    ratios.append(ref / mine)
            row.append(f"{median(ratios):.2f}" if ratios else "-")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def memory_table(data: dict) -> str:
    """Peak memory (MB) per group and implementation, for benchmarks that record ``peak_mb``."""
    groups: dict[str, dict[str, float]] = defaultdict(dict)
    for bench in data.get("benchmarks", []):
        info = bench.get("extra_info") or {}
        if "peak_mb" in info:
            groups[bench.get("group") or "(none)"][describe(bench)[0]] = float(info["peak_mb"])
    if not groups:
        return ""
    impls = sorted({impl for g in groups.values() for impl in g})
    lines = ["| group (peak MB) | " + " | ".join(impls) + " |", "|" + "---|" * (len(impls) + 1)]
    for name in sorted(groups, key=natural_key):
        lines.append("| " + name + " | " + " | ".join(f"{groups[name].get(i, float('nan')):.0f}" for i in impls) + " |")
    return "\n".join(lines)


def natural_key(text: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", nargs="+", help="files written by pytest --benchmark-json (runs of the same benchmarks)")
    parser.add_argument("--ours", default="audiorep", help="implementation the others are compared with")
    parser.add_argument("--stat", default="median", choices=["median", "min", "mean"], help="timing statistic")
    args = parser.parse_args(argv)
    runs = []
    for path in args.json:
        with open(path) as f:
            runs.append(json.load(f))
    print(ratio_table(runs, args.ours, args.stat))
    memory = memory_table(runs[-1])
    if memory:
        print()
        print(memory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
