#!/usr/bin/env python3
"""Summarise bench/run.sh measurements: medians, ratios, Markdown.

usage: report.py RESULTS_TSV HEADER_MD FOOTER_MD OUT_MD
RESULTS_TSV columns: rep size sessions messages setup status rate delivered accept_s done_s
  busy_before cpu_ms (Postern's CPU time over the run, both nodes' for 'cluster'; empty for
  other setups) stores_cpu_ms (the PostgreSQL and Redis server processes' CPU time over the
  run; Postern setups only)
Prints the summary tables to stdout and writes HEADER + tables + per-run data + FOOTER
to OUT_MD.
"""

import statistics
import sys
from collections import defaultdict

OK = ("delivered", "accept-only")


def fmt(x):
    return "—" if x is None else f"{x:,.0f}"


def ratio(a, b):
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def cpu_text(r):
    return "" if r["cpu_ms"] is None else f"{r['cpu_ms']:.0f}"


def stores_cpu_text(r):
    return "" if r["stores_cpu_ms"] is None else f"{r['stores_cpu_ms']:.0f}"


def size_name(n):
    if n % 1024 == 0:
        return f"{n // 1024} KB"
    return f"{n} B"


def main():
    tsv, header, footer, out = sys.argv[1:5]
    rows = []
    with open(tsv) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) < 10 or p[0] == "rep":
                continue
            rows.append(
                dict(rep=int(p[0]), size=int(p[1]), sessions=int(p[2]), messages=int(p[3]),
                     setup=p[4], status=p[5], rate=float(p[6]), delivered=int(p[7]),
                     accept_s=float(p[8]), done_s=float(p[9]),
                     busy=p[10] if len(p) > 10 else "",
                     cpu_ms=float(p[11]) if len(p) > 11 and p[11] else None,
                     stores_cpu_ms=float(p[12]) if len(p) > 12 and p[12] else None)
            )
    cases = []
    by = defaultdict(list)
    for r in rows:
        key = (r["size"], r["sessions"], r["messages"])
        if key not in cases:
            cases.append(key)
        by[key + (r["setup"],)].append(r)

    def e2e(key, setup):
        """Median end-to-end rate, the mode ('delivered'/'accept-only'/...), failures."""
        runs = by.get(key + (setup,), [])
        good = [r for r in runs if r["status"] in OK]
        failed = len(runs) - len(good)
        if not good:
            return None, None, failed
        modes = {r["status"] for r in good}
        mode = modes.pop() if len(modes) == 1 else "mixed"
        return statistics.median(r["rate"] for r in good), mode, failed

    def accept(key, setup):
        runs = [r for r in by.get(key + (setup,), []) if r["status"] in OK and r["accept_s"] > 0]
        if not runs:
            return None
        return statistics.median(r["messages"] / r["accept_s"] for r in runs)

    def cpu(key, setup, field="cpu_ms"):
        """Median CPU µs per message of the runs that measured it."""
        runs = [r for r in by.get(key + (setup,), []) if r["status"] in OK and r[field] is not None]
        if not runs:
            return None
        return statistics.median(r[field] * 1000 / r["messages"] for r in runs)

    md = []
    md.append("## Results: end to end (messages/s until the sink has every message)\n")
    md.append("Medians over the repetitions; ratios are ratios of those medians.\n")
    md.append("| size | sessions | messages | ceiling | Postern | Postfix | Postern/Postfix | "
              "Postern/ceiling | Postfix/ceiling |")
    md.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    any_accept_only = False
    notes = []
    for key in cases:
        size, sessions, messages = key
        c, _, cf = e2e(key, "ceiling")
        p, pmode, pf = e2e(key, "postern")
        x, _, xf = e2e(key, "postfix")
        mark = ""
        if pmode == "accept-only":
            mark = " ᵃ"
            any_accept_only = True
        elif pmode == "mixed":
            mark = " ᵐ"
        for name, n in (("ceiling", cf), ("Postern", pf), ("Postfix", xf)):
            if n:
                notes.append(f"{size_name(size)}, {sessions} sessions: {name} failed {n} run(s)")
        md.append(
            f"| {size_name(size)} | {sessions} | {messages:,} | {fmt(c)} | {fmt(p)}{mark} | "
            f"{fmt(x)} | {ratio(p, x)}{mark} | {ratio(p, c)}{mark} | {ratio(x, c)} |"
        )
    md.append("")
    if any_accept_only:
        md.append(
            "ᵃ **Acceptance only (fallback):** nothing reached the sink within the grace "
            "period, i.e. this Postern build accepts and spools but does not deliver. The "
            "figure is messages / time until smtp-source had its last `250`; ratios marked ᵃ "
            "set that against the others' *end-to-end* rates and are not like-for-like — "
            "compare with the acceptance table below.\n"
        )
    if any(line for line in md if " ᵐ" in line):
        md.append("ᵐ Some repetitions delivered end to end, others only accepted; see the "
                  "per-run table.\n")
    for n in notes:
        md.append(f"- **failure:** {n}")
    if notes:
        md.append("")

    md.append("## Acceptance rate (messages/s until smtp-source had the last `250`)\n")
    md.append("| size | sessions | ceiling | Postern | Postfix | Postern/Postfix |")
    md.append("|---|---:|---:|---:|---:|---:|")
    for key in cases:
        size, sessions, _ = key
        c, p, x = accept(key, "ceiling"), accept(key, "postern"), accept(key, "postfix")
        md.append(f"| {size_name(size)} | {sessions} | {fmt(c)} | {fmt(p)} | {fmt(x)} | "
                  f"{ratio(p, x)} |")
    md.append("")
    md.append("Postfix's acceptance is held back towards its delivery rate by `in_flow_delay` "
              "(default 1 s), so for Postfix this is not a pure acceptance figure.\n")

    if any(r["setup"] == "baseline" for r in rows):
        md.append("## Postern against the baseline binary (`BASELINE_BIN`), interleaved\n")
        md.append("| size | sessions | Postern | baseline | Postern/baseline | Postern/Postfix | "
                  "baseline/Postfix |")
        md.append("|---|---:|---:|---:|---:|---:|---:|")
        for key in cases:
            size, sessions, _ = key
            p, _, _ = e2e(key, "postern")
            b, _, _ = e2e(key, "baseline")
            x, _, _ = e2e(key, "postfix")
            md.append(f"| {size_name(size)} | {sessions} | {fmt(p)} | {fmt(b)} | {ratio(p, b)} | "
                      f"{ratio(p, x)} | {ratio(b, x)} |")
        md.append("")
        md.append("CPU time per message (the instance's user + system time over the run, start-up and "
                  "the event batches after the last delivery included, divided by the run's messages; "
                  "medians): unlike the rates, other work on the machine does not inflate it.\n")
        md.append("| size | sessions | Postern µs/msg | baseline µs/msg | Postern/baseline |")
        md.append("|---|---:|---:|---:|---:|")
        for key in cases:
            size, sessions, _ = key
            p, b = cpu(key, "postern"), cpu(key, "baseline")
            md.append(f"| {size_name(size)} | {sessions} | {fmt(p)} | {fmt(b)} | {ratio(p, b)} |")
        md.append("")

    if any(r["setup"] == "cluster" for r in rows):
        md.append("## Two Postern nodes on PostgreSQL and Redis (setup 'cluster'), interleaved\n")
        md.append("The load split in halves over the two nodes (one smtp-source each, half the sessions "
                  "each); both relay to the same sink. On one machine the nodes, PostgreSQL and Redis "
                  "share the same cores: this shows what the cluster costs, not how it scales.\n")
        md.append("| size | sessions | 1 node (SQLite) | 2 nodes (PostgreSQL + Redis) | Postfix | "
                  "2 nodes/1 node | 2 nodes/Postfix |")
        md.append("|---|---:|---:|---:|---:|---:|---:|")
        for key in cases:
            size, sessions, _ = key
            p, _, _ = e2e(key, "postern")
            k, _, _ = e2e(key, "cluster")
            x, _, _ = e2e(key, "postfix")
            md.append(f"| {size_name(size)} | {sessions} | {fmt(p)} | {fmt(k)} | {fmt(x)} | "
                      f"{ratio(k, p)} | {ratio(k, x)} |")
        md.append("")
        md.append("CPU time per message (user + system over the run divided by its messages, medians): "
                  "Postern's process (both nodes' for 2 nodes), and the PostgreSQL and Redis server "
                  "processes (shared servers: other work on them counts too).\n")
        md.append("| size | sessions | 1 node µs/msg | its PostgreSQL + Redis µs/msg | 2 nodes µs/msg | "
                  "their PostgreSQL + Redis µs/msg |")
        md.append("|---|---:|---:|---:|---:|---:|")
        for key in cases:
            size, sessions, _ = key
            md.append(f"| {size_name(size)} | {sessions} | {fmt(cpu(key, 'postern'))} | "
                      f"{fmt(cpu(key, 'postern', 'stores_cpu_ms'))} | {fmt(cpu(key, 'cluster'))} | "
                      f"{fmt(cpu(key, 'cluster', 'stores_cpu_ms'))} |")
        md.append("")

    summary = "\n".join(md)
    print(summary)

    per_run = ["## Every run\n",
               "| rep | size | sessions | messages | setup | status | msg/s | delivered | "
               "accept s | done s | CPU busy before % | Postern CPU ms | PostgreSQL + Redis CPU ms |",
               "|---:|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        per_run.append(
            f"| {r['rep']} | {size_name(r['size'])} | {r['sessions']} | {r['messages']:,} | "
            f"{r['setup']} | {r['status']} | {r['rate']:,.0f} | {r['delivered']:,} | "
            f"{r['accept_s']:.3f} | {r['done_s']:.3f} | {r['busy']} | "
            f"{cpu_text(r)} | {stores_cpu_text(r)} |"
        )
    with open(header) as f:
        head = f.read()
    with open(footer) as f:
        foot = f.read()
    with open(out, "w") as f:
        f.write(head.rstrip() + "\n\n" + summary + "\n" + "\n".join(per_run) + "\n\n"
                + foot.rstrip() + "\n")


if __name__ == "__main__":
    main()
