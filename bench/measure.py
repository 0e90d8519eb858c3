#!/usr/bin/env python3
"""One measurement for bench/run.sh: run smtp-source, wait until the sink has it all.

The sink is `smtp-sink -c`, whose stdout (a file) receives a running counter line
"sess=N quit=N mesg=N" followed by a carriage return each time a session ends, a QUIT is
executed or a message's final "." is received. We read only the bytes appended since the
last poll and take the last complete mesg= value. We poll every --poll seconds
(default 1 ms) once the count is within 2% of the target, five times less often before,
so the end is timed to ~1 ms without the poller costing the machine much CPU.

Timeline (monotonic clock):
  t0      just before smtp-source is started (its first connection follows within ~1 ms)
  accept  smtp-source exited: every message got its 250 from the server under test
  done    the sink's message counter reached baseline + N

Before t0 it waits (at most --quiet-wait s) until at most --max-busy of the CPUs are busy,
so that other work on a shared machine does not land in the measurement; busy_before
reports the share it last saw (percent).

Prints one line of key=value pairs:
  status=delivered   all N messages reached the sink; rate = N / (done - t0)
  status=accept-only smtp-source finished but nothing reached the sink within --grace
                     seconds (the server accepts and spools but does not deliver);
                     rate is the acceptance rate N / (accept - t0)
  status=incomplete  some but not all arrived, and no progress for --stall seconds
  status=timeout     --timeout seconds passed
  status=source-failed  smtp-source exited non-zero (its stderr is in --source-log)
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time

MESG = re.compile(rb"mesg=(\d+)")


class Counter:
    def __init__(self, path):
        self.fd = os.open(path, os.O_RDONLY)
        size = os.fstat(self.fd).st_size
        # Baseline: the last complete counter record already in the file.
        start = max(0, size - 4096)
        tail = os.pread(self.fd, size - start, start)
        self.offset = size
        self.pending = b""
        self.value = self._last(tail.rsplit(b"\r", 1)[0] if b"\r" in tail else b"")

    @staticmethod
    def _last(data):
        found = MESG.findall(data)
        return int(found[-1]) if found else None

    def poll(self):
        data = os.pread(self.fd, 1 << 20, self.offset)
        if data:
            self.offset += len(data)
            data = self.pending + data
            cut = data.rfind(b"\r")
            if cut >= 0:
                value = self._last(data[:cut])
                if value is not None:
                    self.value = value
                self.pending = data[cut + 1 :]
            else:
                self.pending = data
        return self.value or 0


def cpu_busy(interval):
    """Share of all CPUs busy (not idle, not iowait) over `interval` seconds, from /proc/stat."""

    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]

    t1, i1 = sample()
    time.sleep(interval)
    t2, i2 = sample()
    return 1.0 - (i2 - i1) / max(1, t2 - t1)


def wait_quiet(max_busy, max_wait):
    """Wait (at most max_wait s) until other work leaves the CPUs idle; return last busy share."""
    deadline = time.monotonic() + max_wait
    while True:
        busy = cpu_busy(0.5)
        if busy <= max_busy or time.monotonic() >= deadline:
            return busy


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count-file", required=True)
    ap.add_argument("--messages", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--grace", type=float, default=3)
    ap.add_argument("--stall", type=float, default=15)
    ap.add_argument("--poll", type=float, default=0.001)
    ap.add_argument("--source-log", required=True)
    ap.add_argument("--max-busy", type=float, default=0.15,
                    help="before starting, wait until at most this share of the CPUs is busy")
    ap.add_argument("--quiet-wait", type=float, default=30,
                    help="... but no longer than this many seconds (0: do not wait)")
    ap.add_argument("source", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.source[1:] if a.source and a.source[0] == "--" else a.source

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    busy = wait_quiet(a.max_busy, a.quiet_wait) if a.quiet_wait > 0 else -0.01
    counter = Counter(a.count_file)
    baseline = counter.poll()
    target = baseline + a.messages
    log = open(a.source_log, "ab")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    exited = []  # [(time, returncode)], set by the waiter thread the moment smtp-source exits

    def waiter():
        code = proc.wait()
        exited.append((time.monotonic(), code))

    threading.Thread(target=waiter, daemon=True).start()
    try:
        return measure(a, proc, exited, counter, baseline, target, t0, busy)
    finally:
        if not exited:  # interrupted: do not leave smtp-source behind
            proc.kill()
            proc.wait()


def measure(a, proc, exited, counter, baseline, target, t0, busy):
    near = max(20, a.messages // 50)  # poll every --poll only for the last 2%
    accept = None
    rc = None
    last_value, last_change = baseline, t0
    status = None
    while True:
        value = counter.poll()
        now = time.monotonic()
        if value != last_value:
            last_value, last_change = value, now
        if value >= target:
            status = "delivered"
            break
        if rc is None and exited:
            accept, rc = exited[0]
        if rc is not None:
            if rc != 0:
                # Whatever the server accepted may still arrive; give it the stall time.
                if now - last_change > min(a.stall, a.grace):
                    status = "source-failed"
                    break
            elif value == baseline and now - accept > a.grace:
                status = "accept-only"
                break
            elif now - last_change > a.stall and now - accept > a.stall:
                status = "incomplete"
                break
        if now - t0 > a.timeout:
            status = "timeout"
            break
        time.sleep(a.poll if target - value <= near else 5 * a.poll)
    done = time.monotonic() if status == "delivered" else None
    if status == "delivered" and rc is None:
        # The sink counts a message at its final "."; the client's 250 and QUIT follow.
        deadline = time.monotonic() + a.stall
        while not exited and time.monotonic() < deadline:
            time.sleep(a.poll)
        if exited:
            accept, rc = exited[0]
    if not exited:
        proc.kill()
        proc.wait()
        rc = proc.returncode
    delivered = last_value - baseline
    if status == "delivered":
        rate = a.messages / (done - t0)
    elif status == "accept-only":
        rate = a.messages / (accept - t0)
    else:
        rate = 0.0
    print(
        f"status={status} rate={rate:.1f} delivered={delivered} baseline={baseline} "
        f"source_rc={rc} "
        f"accept_s={(accept - t0) if accept is not None else -1:.4f} "
        f"done_s={(done - t0) if done is not None else -1:.4f} "
        f"busy_before={busy * 100:.0f}"
    )
    return 0 if status in ("delivered", "accept-only") else 1


if __name__ == "__main__":
    sys.exit(main())
