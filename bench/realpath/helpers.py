#!/usr/bin/env python3
"""Helpers for bench/realpath.sh (the real-path benchmark, issue 17).

  postern-setup  domain, DKIM key (imported, made active) and user accounts in a running
                 Postern, through its CLI and admin API
  sample         CPU time and peak RSS of process trees over one run
  dns            a DNS responder on loopback that answers NXDOMAIN at once (Rspamd's
                 resolver: the benchmark has no network)
  report         medians, ratios and every run, as Markdown
"""

import argparse
import concurrent.futures
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

# ----------------------------------------------------------------------------- Postern


def api_call(base, token, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def postern_setup(a):
    base = open(os.path.join(a.data_dir, "admin.url")).read().strip() + "/api/v1"
    token = open(os.path.join(a.data_dir, "admin-token")).read().strip()
    status, answer = api_call(base, token, "POST", "/domains", {"name": a.domain, "filter_enabled": True})
    if not 200 <= status < 300:
        sys.exit(f"POST /domains: {status} {answer}")

    def cli(*args):
        cmd = [a.postern, *args, "--data-dir", a.data_dir]
        env = {k: v for k, v in os.environ.items() if k not in ("POSTERN_URL", "POSTERN_TOKEN")}
        p = subprocess.run(cmd, capture_output=True, text=True, env={**env, "NO_COLOR": "1"}, timeout=120)
        if p.returncode != 0:
            sys.exit(f"{' '.join(cmd)}: {p.stdout} {p.stderr}")

    cli("dkim", "import", a.domain, "--selector", a.selector, a.key)
    cli("dkim", "rotate", a.domain, a.selector, "--force")
    settings = json.loads(a.settings)
    users = [line.split("\t") for line in open(a.users).read().splitlines() if line.strip()]

    def add(i_user):
        i, (address, password) = i_user
        s = json.loads(json.dumps(settings))
        if a.archive_every and i % a.archive_every == 0:
            s["archive"] = {"enabled": True}
        status, answer = api_call(base, token, "POST", "/accounts",
                                  {"domain": a.domain, "kind": "user", "name": address,
                                   "password": password, "settings": s})
        if not 200 <= status < 300:
            raise RuntimeError(f"POST /accounts {address}: {status} {answer}")
        return bool(s.get("archive", {}).get("enabled"))

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        archived = sum(pool.map(add, enumerate(users)))
    print(f"{len(users)} user accounts of {a.domain}, {archived} with the archive on")


# ----------------------------------------------------------------------------- sampling

HZ = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def procs():
    """pid -> (ppid, own cpu ticks incl. reaped children, rss kB)."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(")") + 2:].split()
        # rest[0] is field 3 (state): ppid=4, utime=14, stime=15, cutime=16, cstime=17, rss=24
        ppid = int(rest[1])
        ticks = int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14])
        out[int(name)] = (ppid, ticks, int(rest[21]) * PAGE_KB)
    return out


def tree_totals(roots):
    """CPU ticks (the roots, their live descendants, and every reaped one) and RSS sum (kB)."""
    p = procs()
    children = {}
    for pid, (ppid, _, _) in p.items():
        children.setdefault(ppid, []).append(pid)
    ticks = rss = 0
    seen = set()
    stack = [r for r in roots if r in p]
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        ticks += p[pid][1]
        rss += p[pid][2]
        stack.extend(children.get(pid, []))
    return ticks, rss


def sample(a):
    roots = [int(x) for x in a.pids]
    start_ticks, peak = tree_totals(roots)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    while not stop:
        time.sleep(a.interval)
        _, rss = tree_totals(roots)
        peak = max(peak, rss)
    end_ticks, rss = tree_totals(roots)
    peak = max(peak, rss)
    print(f"cpu_ms={(end_ticks - start_ticks) * 1000 // HZ} peak_rss_kb={peak}")


# ----------------------------------------------------------------------------- DNS


def dns(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", a.port))
    while True:
        data, peer = s.recvfrom(4096)
        if len(data) < 12:
            continue
        # Same id and question; QR=1, RD copied, RA=1, RCODE=3 (NXDOMAIN); no answers.
        flags = 0x8000 | (int.from_bytes(data[2:4], "big") & 0x0100) | 0x0080 | 3
        qdcount = data[4:6]
        # The question section ends after the first name and its type/class.
        i = 12
        while i < len(data) and data[i] != 0:
            i += data[i] + 1
        question = data[12:i + 5]
        s.sendto(data[:2] + flags.to_bytes(2, "big") + qdcount + b"\0\0\0\0\0\0" + question, peer)


# ----------------------------------------------------------------------------- report

COLUMNS = ["rep", "size", "per_conn", "setup", "status", "rate", "accept_rate", "p50_ms", "p99_ms",
           "setup_p50_ms", "cpu_ms", "ok", "peak_rss_kb", "busy_before"]


def fmt(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def report(a):
    rows = []
    with open(a.results) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))
    # Open-loop runs (RATE_FRACTION) have their own table; the main tables are the peaks.
    open_rows = [r for r in rows if r.get("mode") == "open"]
    rows = [r for r in rows if r.get("mode", "peak") != "open"]
    cases = []
    for r in rows:
        key = (int(r["size"]), int(r["per_conn"]))
        if key not in cases:
            cases.append(key)

    def med(setup, key, field):
        vals = [float(r[field]) for r in rows if (int(r["size"]), int(r["per_conn"])) == key
                and r["setup"] == setup and r["status"] == "delivered" and r[field] not in ("", "None")]
        return statistics.median(vals) if vals else None

    def cpu_per_msg(setup, key):
        vals = [float(r["cpu_ms"]) * 1000 / float(r["ok"]) for r in rows
                if (int(r["size"]), int(r["per_conn"])) == key and r["setup"] == setup
                and r["status"] == "delivered" and r["cpu_ms"] and float(r["ok"]) > 0]
        return statistics.median(vals) if vals else None

    def ratio(x, y, digits=2):
        return f"{x / y:.{digits}f}" if x and y else "–"

    def size_name(size):
        return f"{size // 1024} KB" if size >= 1024 else f"{size} B"

    def conn_name(n):
        return "1 (new connection each)" if n == 1 else f"{n} per connection"

    out = [open(a.header).read(), ""]
    out.append("## Results (medians)\n")
    out.append("msg/s end to end (until the sink has every message); latency from the end of DATA "
               "(`.`) to the `250`; CPU per message = the setup's processes' user + system time over "
               "the run / messages; peak RSS = the largest sum of the setup's processes' RSS seen "
               "(sampled every 100 ms).\n")
    out.append("| size | messages per connection | Postern msg/s | Postfix stack msg/s | **Postern/Postfix** "
               "| Postern p50 / p99 ms | Postfix p50 / p99 ms | Postern CPU µs/msg | Postfix stack CPU µs/msg "
               "| **CPU ratio (Postfix/Postern)** | Postern peak RSS MB | Postfix stack peak RSS MB |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key in cases:
        pr, fr = med("postern", key, "rate"), med("postfix", key, "rate")
        pc, fc = cpu_per_msg("postern", key), cpu_per_msg("postfix", key)
        prss, frss = med("postern", key, "peak_rss_kb"), med("postfix", key, "peak_rss_kb")
        out.append(
            f"| {size_name(key[0])} | {conn_name(key[1])} | {fmt(pr)} | {fmt(fr)} | **{ratio(pr, fr)}** | "
            f"{fmt(med('postern', key, 'p50_ms'), 1)} / {fmt(med('postern', key, 'p99_ms'), 1)} | "
            f"{fmt(med('postfix', key, 'p50_ms'), 1)} / {fmt(med('postfix', key, 'p99_ms'), 1)} | "
            f"{fmt(pc)} | {fmt(fc)} | **{ratio(fc, pc)}** | "
            f"{fmt(prss / 1024 if prss else None)} | {fmt(frss / 1024 if frss else None)} |")
    out.append("")
    if open_rows:
        out.extend(latency_tables(open_rows, rows, size_name, conn_name))
        if a.postern_db:
            out.extend(check_times(a.postern_db, open_rows + rows, size_name))
    out.append("## Every run\n")
    out.append("| rep | size | per conn | setup | status | msg/s | accept msg/s | p50 ms | p99 ms | "
               "connect+TLS+AUTH p50 ms | CPU ms | messages | peak RSS MB | CPU busy before % |")
    out.append("|---:|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        rss = float(r["peak_rss_kb"]) / 1024 if r["peak_rss_kb"] else None
        out.append(f"| {r['rep']} | {size_name(int(r['size']))} | {r['per_conn']} | {r['setup']} | {r['status']} | "
                   f"{r['rate']} | {r['accept_rate']} | {r['p50_ms']} | {r['p99_ms']} | {r['setup_p50_ms']} | "
                   f"{r['cpu_ms']} | {r['ok']} | {fmt(rss)} | {r['busy_before']} |")
    out.append("")
    out.append(open(a.footer).read())
    text = "\n".join(out)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    print(text)


def latency_tables(open_rows, peak_rows, size_name, conn_name):
    """The open-loop runs: latency of the 250 after DATA at a fraction of each peak."""
    out = ["## Latency at a fraction of the peak (open loop, medians)\n",
           "Each open-loop run follows a closed-loop run of the same case and setup and offers a fixed "
           "fraction of that run's msg/s, evenly spread (`postern-loadgen --rate`). Latency: from the "
           "final `.` to the `250`. Lag: how late each message's MAIL went out against its due time "
           "(a server or client that cannot keep the schedule shows here instead of hiding it); "
           "due → 250: from the due time to the `250` (lag, MAIL, RCPT, DATA and the 250).\n",
           "| size | messages per connection | setup | peak msg/s | offered msg/s | achieved msg/s | "
           "p50 ms | p90 ms | p99 ms | max ms | lag p50 / p99 / max ms | due → 250 p99 ms |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    cases = []
    for r in open_rows:
        key = (int(r["size"]), int(r["per_conn"]), r["setup"])
        if key not in cases:
            cases.append(key)

    def med(rows, key, field):
        vals = [float(r[field]) for r in rows if (int(r["size"]), int(r["per_conn"]), r["setup"]) == key
                and r["status"] == "delivered" and r.get(field) not in (None, "", "None")]
        return statistics.median(vals) if vals else None

    for key in cases:
        out.append(
            f"| {size_name(key[0])} | {conn_name(key[1])} | {key[2]} | {fmt(med(peak_rows, key, 'rate'))} | "
            f"{fmt(med(open_rows, key, 'offered_rate'))} | {fmt(med(open_rows, key, 'rate'))} | "
            f"{fmt(med(open_rows, key, 'p50_ms'), 1)} | {fmt(med(open_rows, key, 'p90_ms'), 1)} | "
            f"**{fmt(med(open_rows, key, 'p99_ms'), 1)}** | {fmt(med(open_rows, key, 'max_ms'), 1)} | "
            f"{fmt(med(open_rows, key, 'lag_p50_ms'), 1)} / {fmt(med(open_rows, key, 'lag_p99_ms'), 1)} / "
            f"{fmt(med(open_rows, key, 'lag_max_ms'), 1)} | {fmt(med(open_rows, key, 'due_p99_ms'), 1)} |")
    out.append("")
    out.append("Every open-loop run:\n")
    out.append("| rep | size | per conn | setup | status | offered msg/s | msg/s | p50 | p90 | p99 | max ms | "
               "lag p50 / p99 / max ms | due → 250 p99 ms | CPU busy before % |")
    out.append("|---:|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in open_rows:
        out.append(f"| {r['rep']} | {size_name(int(r['size']))} | {r['per_conn']} | {r['setup']} | {r['status']} | "
                   f"{r['offered_rate']} | {r['rate']} | {r['p50_ms']} | {r['p90_ms']} | {r['p99_ms']} | "
                   f"{r['max_ms']} | {r['lag_p50_ms']} / {r['lag_p99_ms']} / {r['lag_max_ms']} | "
                   f"{r['due_p99_ms']} | {r['busy_before']} |")
    out.append("")
    return out


def check_times(db, rows, size_name):
    """Postern's own account of the time between `.` and `250`: the `micros` of every check
    in its `checked` events (DKIM's includes the signature), per run, from the run's window.
    What the checks do not cover (the archive, the spool's write and fdatasync, the events,
    waiting for a CPU) is the rest of the latency."""
    import sqlite3
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    except sqlite3.Error as e:
        return [f"(no check times: {e})", ""]
    out = ["## Where Postern's time goes between `.` and `250` (its `checked` events)\n",
           "Per Postern run: each check's time as Postern records it (`micros` in the `checked` event; archive: only the archived accounts' messages, its copy written and synced: "
           "from the check's start to its result, waiting for a thread of the blocking pool included), "
           "p50 / p99 in ms, and the sum over the checks of one message. The rest of the latency is "
           "the spool (journal write and the shared `fdatasync`), the events, the socket and waiting "
           "for a CPU.\n"]
    engines = ["identity", "gtube", "scorer", "attachments", "domain_age", "dkim", "archive"]
    out.append("| rep | size | mode | messages | " + " | ".join(engines) + " | all checks | 250 p50 / p99 (loadgen) |")
    out.append("|---:|---|---|---:|" + "---:|" * (len(engines) + 2))

    def pct(vals, p):
        if not vals:
            return None
        vals = sorted(vals)
        return vals[min(len(vals) - 1, max(0, int(-(-p / 100 * len(vals) // 1)) - 1))] / 1000

    for r in sorted((r for r in rows if r["setup"] == "postern" and r.get("start_ms")),
                    key=lambda r: int(r["start_ms"])):
        per_engine = {e: [] for e in engines}
        totals = []
        for (data,) in conn.execute("SELECT data FROM events WHERE kind = 'checked' AND at_ms BETWEEN ? AND ?",
                                    (int(r["start_ms"]), int(r["end_ms"]))):
            checks = json.loads(data).get("checks", [])
            totals.append(sum(c.get("micros", 0) for c in checks))
            for c in checks:
                if c.get("engine") in per_engine:
                    per_engine[c["engine"]].append(c.get("micros", 0))
        cells = [f"{fmt(pct(per_engine[e], 50), 2)} / {fmt(pct(per_engine[e], 99), 2)}" for e in engines]
        out.append(f"| {r['rep']} | {size_name(int(r['size']))} | {r.get('mode', 'peak')} | {len(totals)} | "
                   + " | ".join(cells) + f" | {fmt(pct(totals, 50), 2)} / {fmt(pct(totals, 99), 2)} | "
                   f"{r['p50_ms']} / {r['p99_ms']} |")
    out.append("")
    return out


def busy(a):
    """Wait (at most a.wait s) until at most a.max percent of the CPUs are busy; print it."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]
    deadline = time.monotonic() + a.wait
    while True:
        t1, i1 = snap()
        time.sleep(0.5)
        t2, i2 = snap()
        pct = 100.0 * (1 - (i2 - i1) / max(1, t2 - t1))
        if pct <= a.max or time.monotonic() > deadline:
            print(f"{pct:.0f}")
            return


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("postern-setup")
    s.add_argument("--postern", required=True)
    s.add_argument("--data-dir", required=True)
    s.add_argument("--users", required=True)
    s.add_argument("--domain", required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--selector", required=True)
    s.add_argument("--settings", required=True, help="account settings (JSON) for every user")
    s.add_argument("--archive-every", type=int, default=10, help="archive on for every Nth user (0: none)")
    s = sub.add_parser("sample")
    s.add_argument("pids", nargs="+")
    s.add_argument("--interval", type=float, default=0.1)
    s = sub.add_parser("dns")
    s.add_argument("--port", type=int, required=True)
    s = sub.add_parser("report")
    s.add_argument("--postern-db", help="Postern's SQLite database: the check times of its runs")
    for n in ("results", "header", "footer"):
        s.add_argument(n)
    s.add_argument("--out", default="")
    s = sub.add_parser("busy")
    s.add_argument("--max", type=float, default=15)
    s.add_argument("--wait", type=float, default=10)
    a = p.parse_args()
    {"postern-setup": postern_setup, "sample": sample, "dns": dns, "report": report, "busy": busy}[a.cmd](a)


if __name__ == "__main__":
    main()
