#!/usr/bin/env python3
"""Summary of bench/compare.sh: medians of its rounds and the ratios.

Usage: compare_summary.py OUT_DIR EVENTS

Reads OUT_DIR/pg.tsv (round variant test metric value, from the PostgreSQL
script), OUT_DIR/tongban.tsv (round suite mode metric value, from
tongban_sync_bench --tsv) and OUT_DIR/load.tsv, and prints Markdown tables:
each figure as the median of the rounds (min-max), and each Tongban median
divided by the PostgreSQL median of the same run. The aims of issue #19 are
ratios against PostgreSQL's subscription default (synchronous_commit off):
catch-up at least 1.0, peak memory and latency at most 1.0.
"""
import csv
import statistics
import sys


def read(path, key_fields):
    """{key tuple: [values]} from a tab-separated file without a header."""
    out = {}
    with open(path, newline="") as f:
        for row in csv.reader(f, delimiter="\t"):
            if not row:
                continue
            if len(row) != key_fields + 2:
                sys.exit(f"{path}: expected {key_fields + 2} fields, got {row!r}")
            key = tuple(row[1:1 + key_fields])
            out.setdefault(key, []).append(float(row[-1]))
    return out


def fmt(x):
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.2f}"


def cell(values):
    if not values:
        return "–"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt(med)
    return f"{fmt(med)} ({fmt(min(values))}–{fmt(max(values))})"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    out, events = sys.argv[1], int(sys.argv[2])
    pg = read(f"{out}/pg.tsv", 3)          # (variant, test, metric)
    tb = read(f"{out}/tongban.tsv", 3)     # (suite, mode, metric)
    variants = sorted({k[0] for k in pg}, key=lambda v: (v != "off", v))
    receivers = sorted({(k[0], k[1]) for k in tb},
                       key=lambda r: (r[0] != "intl", r[1] != "national"))
    rounds = 0
    with open(f"{out}/load.tsv", newline="") as f:
        load = list(csv.DictReader(f, delimiter="\t"))
        rounds = len({row["round"] for row in load})

    # (title, PostgreSQL (test, metric), Tongban metric, aim direction)
    measures = [
        (f"catch-up of {events:,} (rows or events per second)", ("b", "catchup_rows_per_s"),
         "catchup_events_per_s", ">="),
        ("receiver peak memory (MiB)", ("b", "sub_peak_dedup_mib"), "receiver_peak_mib", "<="),
        ("delivery at 100 per second, p50 (ms)", ("c", "lat_p50_ms"), "lat_p50_ms", "<="),
        ("delivery at 100 per second, p99 (ms)", ("c", "lat_p99_ms"), "lat_p99_ms", "<="),
    ]
    print(f"# PostgreSQL 15 logical replication and Tongban peer sync, {rounds} rounds "
          "interleaved\n")
    print("Medians of the rounds (min–max). Ratio: Tongban's median / PostgreSQL's "
          "median of this run,\nagainst the subscription's default (synchronous_commit "
          "off) and, after the slash, against on.\n")
    for title, (test, metric), tb_metric, aim in measures:
        print(f"## {title}; aim: ratio {aim} 1.0\n")
        print("| | median (min–max) | ratio |")
        print("|---|---|---|")
        refs = {}
        for v in variants:
            values = pg.get((v, test, metric), [])
            refs[v] = statistics.median(values) if values else None
            print(f"| PostgreSQL, subscription synchronous_commit={v} | {cell(values)} | |")
        for suite, mode in receivers:
            values = tb.get((suite, mode, tb_metric), [])
            ratios = []
            if values:
                med = statistics.median(values)
                for v in variants:
                    ratios.append(f"{med / refs[v]:.2f}" if refs[v] else "–")
            name = {"national": "national (whole log)", "routed": "county (routed)"}[mode]
            print(f"| Tongban {suite}, {name} | {cell(values)} | {' / '.join(ratios)} |")
        print()
    verify = [(s, tb.get((s, m, "verify_per_s"), [])) for s, m in receivers if m == "national"]
    if verify:
        print("Per-event signature verification, one thread (what Tongban checks and "
              "PostgreSQL does not): " +
              "; ".join(f"{s} {cell(v)}/s" for s, v in verify) + "\n")
    print("## Load average (1, 5, 15 min) before and after each step\n")
    print("| round | step | before | after | seconds |")
    print("|---|---|---|---|---|")
    for row in load:
        print(f"| {row['round']} | {row['step']} | {row['load_before']} | "
              f"{row['load_after']} | {row['seconds']} |")


if __name__ == "__main__":
    main()
