"""What a hostile client may cost the server: memory for messages in flight (a budget,
`452 4.3.1` beyond it), time inside DATA and BDAT (a deadline for the whole transfer),
lines the next hop would refuse (`550 5.6.0`), and connections (a limit per listener, so
one port's idle clients never lock out another's). Real binary, loopback only."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

from conftest import HOSTNAME, RawSMTP, queued_id

CLIENT_NAME = "client.test.example"
SENDER = "alice@sender.example"
RCPT = "bob@rcpt.example"
MIB = 1 << 20

# The default of limits.max_data_in_flight, and the documented RSS ceiling above the
# idle server (docs/CONFIG.md): the budget plus per-session buffers and runtime slack.
DEFAULT_BUDGET = 256 * MIB
CEILING_SLACK = 64 * MIB


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def big_message(size: int) -> bytes:
    line = b"x" * 998 + b"\r\n"
    return b"Subject: big\r\n\r\n" + line * (size // len(line))


def open_transaction(port: int) -> RawSMTP:
    c = RawSMTP(port, timeout=60)
    c.reply()
    c.ehlo(CLIENT_NAME)
    c.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{RCPT}>\r\n")
    assert [c.reply_line() for _ in range(2)] == ["250 2.1.0 Ok", "250 2.1.5 Ok"]
    return c


def settle(pid: int) -> None:
    """Waits until the server has read what was sent: its RSS stops changing."""
    last, steady, deadline = -1, 0, time.monotonic() + 10
    while steady < 3 and time.monotonic() < deadline:
        rss = status_kib(pid, "VmRSS")
        steady = steady + 1 if abs(rss - last) < 1024 else 0
        last = rss
        time.sleep(0.1)


def flood(server, sessions: int, size: int, bdat: bool) -> tuple[list[str], int, int, int]:
    """`sessions` clients stream `size` octets at once, all without ending the message;
    then all end it. Returns the final replies, the RSS before, the peak RSS while the
    messages were being received, and the peak at the end (KiB)."""
    pid = server.proc.pid
    rss_before = status_kib(pid, "VmRSS")
    payload = big_message(size)
    sent = threading.Barrier(sessions + 1, timeout=60)
    finish = threading.Event()
    replies: list[str] = []
    errors: list[BaseException] = []

    def client():
        try:
            c = open_transaction(server.ports["smtp"])
            if bdat:
                c.send(f"BDAT {len(payload)} LAST\r\n".encode())
            else:
                c.send("DATA\r\n")
                assert c.reply_line().startswith("354 ")
            c.send(payload)
            sent.wait()
            finish.wait(60)
            if not bdat:
                c.send(".\r\n")
            replies.append(c.reply_line())
            c.close()
        except BaseException as e:  # reported by the main thread
            errors.append(e)
            sent.abort()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(sessions)]
    for t in threads:
        t.start()
    sent.wait()
    settle(pid)
    receiving = status_kib(pid, "VmHWM")
    finish.set()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    return replies, rss_before, receiving, status_kib(pid, "VmHWM")


def check_flood(server, replies: list[str], rss_before: int, receiving: int, peak: int) -> None:
    ceiling = rss_before + (DEFAULT_BUDGET + CEILING_SLACK) // 1024
    print(f"RSS before {rss_before} KiB, peak while receiving {receiving} KiB, peak at the end {peak} KiB, "
          f"ceiling {ceiling} KiB, {sum(r.startswith('250 ') for r in replies)} queued")
    assert receiving < ceiling, f"peak RSS {receiving} KiB over the ceiling {ceiling} KiB"
    # Then the end of data and the spool; delivery (one attempt at a time here) reads one
    # message back into memory.
    assert peak < ceiling + 32 * MIB // 1024, f"peak RSS {peak} KiB at the end"
    full = "452 4.3.1 Error: insufficient system storage, try again later"
    queued = [queued_id(r) for r in replies if r.startswith("250 ")]
    assert all(r == full for r in replies if not r.startswith("250 ")), set(replies)
    assert len(replies) == 100
    assert queued, "some messages must fit the budget"
    assert sorted(server.spool_names("queue")) == sorted(queued)
    # Up to a gigabyte of spooled messages: not left behind for pytest to keep.
    server.kill()
    shutil.rmtree(server.data_dir, ignore_errors=True)


# The default memory budget; delivery one message at a time, because each delivery
# attempt holds its message in memory (delivery.concurrency x message size: docs/CONFIG.md).
FLOOD_CONFIG = "[delivery]\nconcurrency = 1\n"
# Delivery to a closed port: messages wait in the queue.
HOLD = ["--relay-host", "127.0.0.1:1"]


def test_100_concurrent_24mb_data_stay_under_the_memory_ceiling(postern):
    server = postern(config=FLOOD_CONFIG, extra=HOLD)
    t0 = time.monotonic()
    replies, before, receiving, peak = flood(server, 100, 24_000_000, bdat=False)
    check_flood(server, replies, before, receiving, peak)
    print(f"100 x 24 MB DATA in {time.monotonic() - t0:.1f} s")


def test_100_concurrent_24mb_bdat_stay_under_the_memory_ceiling(postern):
    server = postern(config=FLOOD_CONFIG, extra=HOLD)
    t0 = time.monotonic()
    replies, before, receiving, peak = flood(server, 100, 24_000_000, bdat=True)
    check_flood(server, replies, before, receiving, peak)
    print(f"100 x 24 MB BDAT in {time.monotonic() - t0:.1f} s")


def test_a_dripping_client_is_cut_off_at_the_data_deadline(postern):
    server = postern(config="[limits]\ndata_timeout = 5\nmax_data_time = 2\n")
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        c.ehlo(CLIENT_NAME)
        c.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{RCPT}>\r\nDATA\r\n")
        assert [c.reply_line()[:3] for _ in range(3)] == ["250", "250", "354"]
        t0 = time.monotonic()
        c.sock.settimeout(0.3)
        reply = None
        while time.monotonic() - t0 < 10:
            try:
                c.send(b"x")
                c._fill()
                reply = c.reply_line()
                break
            except (TimeoutError, socket.timeout):
                continue
        elapsed = time.monotonic() - t0
        assert reply == f"421 4.4.2 {HOSTNAME} Error: timeout exceeded", reply
        assert 1.8 < elapsed < 3.5, elapsed
    assert server.spool() == {}
    refused = server.wait_events(lambda ev: len(ev) == 1, kind="refused")
    assert refused[0]["data"]["stage"] == "data"


def test_lines_over_998_octets_are_refused_in_data_and_bdat(server):
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        c.ehlo(CLIENT_NAME)
        ok = b"Subject: ok\r\n\r\n" + b"a" * 998 + b"\r\n"
        c.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{RCPT}>\r\nDATA\r\n".encode())
        assert [c.reply_line()[:3] for _ in range(3)] == ["250", "250", "354"]
        c.send(ok + b".\r\n")
        qid = queued_id(c.reply_line())
        long = b"Subject: long\r\n\r\n" + b"a" * 999 + b"\r\n"
        c.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{RCPT}>\r\nDATA\r\n".encode())
        assert [c.reply_line()[:3] for _ in range(3)] == ["250", "250", "354"]
        c.send(long + b".\r\n")
        want = "550 5.6.0 Error: message has a line of 999 octets; lines may have at most 998 (RFC 5321)"
        assert c.reply_line() == want
        c.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{RCPT}>\r\nBDAT {len(long)} LAST\r\n".encode() + long)
        assert [c.reply_line() for _ in range(3)] == ["250 2.1.0 Ok", "250 2.1.5 Ok", want]
        assert c.cmd("NOOP") == "250 2.0.0 Ok"
    assert list(server.spool()) == [qid]


def test_idle_relay_connections_do_not_lock_out_submission(postern):
    server = postern(config="[listeners.smtp]\nmax_connections = 5\n")
    idle = [RawSMTP(server.ports["smtp"]) for _ in range(5)]
    try:
        for c in idle:
            assert c.reply_line().startswith("220 ")
        with RawSMTP(server.ports["smtp"]) as c:
            assert c.reply_line() == f"421 4.3.2 {HOSTNAME} Too many connections, try again later"
        with RawSMTP(server.ports["submission"]) as c:
            assert c.reply_line().startswith("220 ")
        with RawSMTP(server.ports["smtps"], tls=server.tls_context()) as c:
            assert c.reply_line().startswith("220 ")
    finally:
        for c in idle:
            c.close()
