"""Events the store cannot take are retried within a bound and counted, never lost silently:
the real database is locked by another writer (as a full disk or a stuck backup would make
it refuse writes) while mail flows; the events wait, are stored once it frees up, and
`postern status` shows them as stored after a retry, none dropped."""

from __future__ import annotations

import re
import smtplib
import sqlite3
import subprocess
import time

from conftest import postern_bin, wait_for


def status(server) -> str:
    proc = subprocess.run([str(postern_bin()), "status", "--data-dir", str(server.data_dir)], capture_output=True,
                          text=True, timeout=20)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_events_refused_by_a_locked_store_are_retried_and_counted(server):
    blocker = sqlite3.connect(server.data_dir / "postern.db", timeout=1, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock: every append fails after its busy wait
    try:
        with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=10) as c:
            assert c.sendmail("a@example.com", ["b@example.net"], b"Subject: x\r\n\r\ny\r\n") == {}
        # Two busy waits of 5 s each come first (the identities' sightings, then the events),
        # and a busy machine stretches them: give the failure time to show.
        wait_for(lambda: any("cannot store events; kept for a retry" in line for line in server.stdout),
                 "the failed write", timeout=40)
        line = next(line for line in server.stdout if "cannot store events; kept for a retry" in line)
        assert "dropped_total=0" in line and "waiting=" in line, line
    finally:
        time.sleep(0.5)
        blocker.execute("ROLLBACK")
        blocker.close()
    wait_for(lambda: any("events stored after a retry" in line for line in server.stdout), "the retry", timeout=20)
    queued = server.wait_events(lambda ev: len(ev) == 1, kind="queued")
    assert queued[0]["data"]["recipients"] == ["b@example.net"]
    text = status(server)
    m = re.search(r"^events   (\d+) stored \((\d+) after a retry\), (\d+) dropped, (\d+) waiting", text, re.M)
    assert m, text
    stored, retried, dropped, waiting = map(int, m.groups())
    assert retried >= 3 and stored >= retried, text  # connect, queued, disconnect at least
    assert (dropped, waiting) == (0, 0), text
    server.stop()
