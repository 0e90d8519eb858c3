#!/usr/bin/env python3
"""Resident memory of `postern serve` over rounds of many idle connections.

Each round opens N connections to the relay port (loopback), reads each greeting, keeps
them all open for a moment, closes them, and waits for the server to settle; VmRSS is
read from /proc after the connections are open (peak of the round) and after they are
closed. Memory that is never given back shows as an "after" that climbs round by round.

    python3 bench/idle_rss.py [--bin target/release/postern] [--connections 10000] [--rounds 8]

Needs `ulimit -n` above the connection count (the script raises its own soft limit to the
hard one). Loopback only; a fresh data directory in /tmp each run. Not a CI test: it takes
about a minute. Results: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def start(binary: str, data_dir: str, connections: int, env: dict, legacy: bool) -> tuple[subprocess.Popen, int]:
    config = Path(data_dir) / "idle.toml"
    listener_limit = "" if legacy else f"max_connections = {connections * 2}\n"
    config.write_text(
        f"[limits]\nmax_connections = {connections * 2}\n"
        f"[listeners.smtp]\n{listener_limit}"
        "max_connections_per_ip = 0\nconnections_per_minute_per_ip = 0\n"
    )
    cmd = [binary, "serve", "--data-dir", data_dir, "--config", str(config), "--smtp", "127.0.0.1:0",
           "--submission", "", "--smtps", "", "--admin", "", "--relay-host", "127.0.0.1:1",
           "--hostname", "idle.test.example"]
    # The log goes to a file: a pipe nobody reads would stall the server.
    log = open(Path(data_dir) / "stdout.log", "w+")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.DEVNULL, env={**os.environ, **env})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = Path(log.name).read_text()
        m = re.search(r"listening: smtp 127\.0\.0\.1:(\d+)", text)
        if m and "\nspool:" in text:
            return proc, int(m.group(1))
        time.sleep(0.1)
    raise RuntimeError("postern did not start")


def one_round(port: int, n: int, batch: int = 500) -> list[socket.socket]:
    """Opens n connections, in batches (the listen backlog is finite), each greeted."""
    socks: list[socket.socket] = []
    while len(socks) < n:
        fresh = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(min(batch, n - len(socks)))]
        for s in fresh:
            greeting = s.recv(512)
            assert greeting.startswith(b"220 "), greeting
        socks += fresh
    return socks


def settle(pid: int) -> int:
    last, steady = -1, 0
    deadline = time.monotonic() + 20
    while steady < 5 and time.monotonic() < deadline:
        rss = rss_kib(pid)
        steady = steady + 1 if abs(rss - last) < 256 else 0
        last = rss
        time.sleep(0.2)
    return last


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/postern")
    ap.add_argument("--connections", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--legacy", action="store_true",
                    help="a binary from before per-listener connection limits (no listeners.smtp.max_connections)")
    ap.add_argument("--pause", type=float, default=12.0,
                    help="seconds to wait after closing before reading RSS (the server trims every 5 s)")
    ap.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    ap.add_argument("--gdb-trim", action="store_true",
                    help="after each round, call glibc's malloc_trim(0) in the server through gdb "
                         "(a diagnosis: is the memory free but kept by the allocator?)")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.connections + 100:
        print(f"ulimit -n is {hard}: too low for {args.connections} connections", file=sys.stderr)
        return 2
    env = dict(e.split("=", 1) for e in args.env)
    with tempfile.TemporaryDirectory() as data_dir:
        proc, port = start(args.bin, data_dir, args.connections, env, args.legacy)
        try:
            print(f"start: {settle(proc.pid)} KiB")
            for r in range(1, args.rounds + 1):
                socks = one_round(port, args.connections)
                time.sleep(1)
                open_rss = rss_kib(proc.pid)
                for s in socks:
                    s.close()
                time.sleep(args.pause)
                after = settle(proc.pid)
                line = f"round {r}: {open_rss} KiB with {args.connections} open, {after} KiB after closing"
                if args.gdb_trim:
                    subprocess.run(["gdb", "-p", str(proc.pid), "-batch", "-ex", "call (int) malloc_trim(0)"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
                    line += f", {settle(proc.pid)} KiB after malloc_trim(0)"
                print(line)
        finally:
            proc.kill()
            proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
