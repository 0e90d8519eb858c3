#!/usr/bin/env python3
"""Fold `perf script` output into stacks, draw them as an SVG flame graph, list self time.

A self-contained stand-in for Brendan Gregg's stackcollapse-perf.pl + flamegraph.pl (and
for inferno), so that bench/flamegraph.sh needs nothing but perf and Python 3.

    perf script -i perf.data --no-inline -F comm,tid,ip,sym,dso | flamegraph.py fold > x.folded
    flamegraph.py svg x.folded --title "..." > x.svg
    flamegraph.py top x.folded -n 10             # self time per function, in percent
    flamegraph.py top x.folded --inclusive 'postern_|fdatasync'   # callees included

Folded format: one line per distinct stack, `root;caller;...;leaf COUNT`. The root frame is
the thread's name (tokio's workers, the blocking pool, ...), as perf reports `comm`. The
SVG is static (no JavaScript): every frame has a <title> tooltip with its samples and
share; frames narrower than --min-width pixels are merged away to keep the file small.
"""

import argparse
import collections
import html
import re
import sys

# Rust symbols: drop the hash suffix (`::h0123456789abcdef`) and generic noise that makes
# one function appear under many names.
HASH = re.compile(r"::h[0-9a-f]{16}$")


def clean(sym, dso):
    if not sym or sym == "[unknown]":
        base = dso.rsplit("/", 1)[-1] if dso else "?"
        return f"[{base}]" if base and base != "[unknown]" else "[unknown]"
    sym = HASH.sub("", sym)
    sym = sym.replace(";", ":")
    # Kernel frames carry flamegraph.pl's `_[k]` suffix (and its orange).
    return sym + "_[k]" if "kernel.kallsyms" in dso else sym


def fold(args):
    counts = collections.Counter()
    comm = None
    frames = []

    def flush():
        if comm is not None and frames:
            # perf prints the leaf first.
            counts[";".join([comm] + frames[::-1])] += 1

    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line.strip():
            flush()
            comm, frames = None, []
            continue
        if not line.startswith((" ", "\t")):
            flush()
            frames = []
            # "comm tid [cpu] time: period event:" — the name may contain spaces; the tid
            # is the first all-digit field after it.
            parts = line.split()
            name = []
            for p in parts:
                if p.isdigit() or re.fullmatch(r"\d+/\d+", p):
                    break
                name.append(p)
            comm = "-".join(name) or "?"
            # tokio names every worker alike; keep the name, drop numbering noise.
            comm = re.sub(r"[-_]?\d+$", "", comm)
            continue
        # "    ffffffff8100 sym+0x1a (dso)"
        m = re.match(r"\s*([0-9a-f]+)\s+(.*?)\s*(?:\((.*)\))?$", line)
        if not m:
            continue
        if set(m.group(1)) == {"f"}:
            continue  # the end marker of an unwound stack, not a frame
        sym = m.group(2)
        sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
        frames.append(clean(sym, m.group(3) or ""))
    flush()
    for stack, n in sorted(counts.items()):
        print(f"{stack} {n}")


def read_folded(path):
    stacks = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            stack, _, n = line.rpartition(" ")
            stacks.append((stack.split(";"), int(n)))
    return stacks


def top(args):
    stacks = read_folded(args.folded)
    total = sum(n for _, n in stacks) or 1
    if args.inclusive:
        # Samples with the frame anywhere on the stack (once per stack), for frames
        # matching a regular expression: where a subsystem's time goes, callees included.
        pattern = re.compile(args.inclusive)
        incl = collections.Counter()
        for frames, n in stacks:
            for f in set(frames):
                if pattern.search(f):
                    incl[f] += n
        print(f"{total} samples; inclusive")
        for sym, n in incl.most_common(args.n):
            print(f"{100 * n / total:6.2f}%  {sym}")
        return
    self_time = collections.Counter()
    for frames, n in stacks:
        self_time[frames[-1]] += n
    print(f"{total} samples")
    for sym, n in self_time.most_common(args.n):
        print(f"{100 * n / total:6.2f}%  {sym}")


class Node:
    __slots__ = ("name", "value", "children")

    def __init__(self, name):
        self.name = name
        self.value = 0
        self.children = {}


def color(name):
    """Warm colours as flamegraph.pl; the kernel in orange, Rust code by crate hue."""
    h = 0
    for ch in name[:24]:
        h = (h * 31 + ord(ch)) & 0xFFFF
    v1, v2 = (h % 97) / 97, (h // 97 % 89) / 89
    if name.endswith("_[k]"):
        return f"rgb({200 + int(55 * v1)},{100 + int(60 * v2)},0)"
    return f"rgb({205 + int(50 * v1)},{int(230 * v2)},{int(55 * v1)})"


def svg(args):
    stacks = read_folded(args.folded)
    root = Node("all")
    for frames, n in stacks:
        root.value += n
        node = root
        for f in frames:
            node = node.children.setdefault(f, Node(f))
            node.value += n
    total = root.value or 1
    width, row = args.width, 16
    pad_top, pad_side = 40, 10
    per_sample = (width - 2 * pad_side) / total

    rects = []
    depth_max = 0

    def walk(node, x, depth):
        nonlocal depth_max
        w = node.value * per_sample
        if w < args.min_width:
            return
        depth_max = max(depth_max, depth)
        rects.append((node, x, depth, w))
        cx = x
        for child in sorted(node.children.values(), key=lambda c: c.name):
            walk(child, cx, depth + 1)
            cx += child.value * per_sample

    walk(root, pad_side, 0)
    height = pad_top + (depth_max + 1) * row + 20
    out = [
        '<?xml version="1.0" standalone="no"?>',
        f'<svg version="1.1" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        '<style>text { font-family: Verdana, sans-serif; font-size: 11px; } rect:hover { stroke: black; }</style>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="rgb(250,250,235)"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" style="font-size:15px">{html.escape(args.title)}</text>',
        f'<text x="{pad_side}" y="34" style="font-size:10px">{html.escape(args.subtitle)} '
        f'{total} samples; width = share of samples; the root row is the thread name; '
        f'hover a frame for its share</text>',
    ]
    for node, x, depth, w in rects:
        y = height - 20 - (depth + 1) * row
        pct = 100 * node.value / total
        name = html.escape(node.name)
        out.append(f'<g><title>{name} ({node.value} samples, {pct:.2f}%)</title>'
                   f'<rect x="{x:.1f}" y="{y}" width="{max(w - 0.5, 0.1):.1f}" height="{row - 1}" '
                   f'fill="{color(node.name)}"/>')
        chars = int(w / 7)
        if chars >= 3:
            label = node.name if len(node.name) <= chars else node.name[: chars - 2] + ".."
            out.append(f'<text x="{x + 3:.1f}" y="{y + row - 4}">{html.escape(label)}</text>')
        out.append("</g>")
    out.append("</svg>")
    print("\n".join(out))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("fold", help="perf script output on stdin -> folded stacks on stdout")
    s = sub.add_parser("svg", help="folded stacks -> SVG on stdout")
    s.add_argument("folded")
    s.add_argument("--title", default="Flame graph")
    s.add_argument("--subtitle", default="")
    s.add_argument("--width", type=int, default=1600)
    s.add_argument("--min-width", type=float, default=0.3, help="drop frames narrower than this (pixels)")
    s = sub.add_parser("top", help="self time per function (the leaf frames), in percent")
    s.add_argument("folded")
    s.add_argument("-n", type=int, default=10)
    s.add_argument("--inclusive", metavar="REGEX", help="inclusive time of the frames matching REGEX instead")
    a = p.parse_args()
    {"fold": fold, "svg": svg, "top": top}[a.cmd](a)


if __name__ == "__main__":
    main()
