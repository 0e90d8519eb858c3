"""Durability under a crash (SPEC §6): `250` is answered only once the message is on disk,
so `kill -9` at any moment loses no acknowledged message, and nothing refused is ever
spooled.

Several client threads send many small messages over persistent, pipelining connections.
Each message carries a unique token in its Subject. Every token ends in one of three
buckets: acknowledged (250 with a queue id), refused (an explicit 4xx/5xx reply; some are
refused on purpose: bare LF, oversize, too many hops) or lost (the connection died before
the final reply: either outcome is allowed). The server is killed with SIGKILL under load,
restarted on the same data directory, and the spool is checked token by token. Two rounds,
so the second restart also proves that the first round's messages survived.
"""

from __future__ import annotations

import re
import signal
import threading
import time
from dataclasses import dataclass, field

from conftest import CRASH_FIGURES, Closed, RawSMTP, queued_id, split_added_headers

WORKERS = 8
LOAD_SECONDS = 1.0
CONFIG = """
[limits]
max_message_size = 4096
max_hops = 3
"""
TOKEN_RE = re.compile(rb"^Subject: (tok-\d+-\d+-\d+)\r$", re.M)


@dataclass
class Ledger:
    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: dict[str, str] = field(default_factory=dict)  # token -> queue id
    sent: dict[str, bytes] = field(default_factory=dict)  # token -> message bytes (acked only)
    refused: dict[str, str] = field(default_factory=dict)  # token -> reply
    refused_on_purpose: int = 0
    lost: set[str] = field(default_factory=set)
    connections: int = 0
    errors: list[str] = field(default_factory=list)


def message_for(token: str, kind: str) -> bytes:
    head = f"Subject: {token}\r\nFrom: load@sender.example\r\n".encode()
    if kind == "bare-lf":
        return head + b"\r\nthis line ends in a bare\nLF\r\n"
    if kind == "oversize":
        return head + b"\r\n" + (b"z" * 98 + b"\r\n") * 60
    if kind == "hops":
        return b"Received: a\r\nReceived: b\r\nReceived: c\r\n" + head + b"\r\nlooping\r\n"
    return head + b"\r\n" + f"body of {token}\r\n".encode() * 3


def worker(port: int, round_no: int, wid: int, ledger: Ledger, stop: threading.Event) -> None:
    i = 0
    client: RawSMTP | None = None
    while not stop.is_set():
        if client is None:
            try:
                client = RawSMTP(port, timeout=10)
                assert client.reply_line().startswith("220 ")
                client.ehlo("load.test.example")
                with ledger.lock:
                    ledger.connections += 1
            except (OSError, Closed):
                return  # the server is gone
        i += 1
        token = f"tok-{round_no}-{wid}-{i}"
        kind = {3: "oversize", 5: "hops", 7: "bare-lf"}.get(i % 10, "normal")
        msg = message_for(token, kind)
        state = "sending"
        try:
            client.send(
                b"MAIL FROM:<load@sender.example>\r\n"
                + f"RCPT TO:<rcpt{i % 3}@rcpt.example>\r\n".encode()
                + b"DATA\r\n"
            )
            replies = [client.reply_line() for _ in range(3)]
            if replies != ["250 2.1.0 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>"]:
                # An explicit refusal before the data: the token was never sent.
                with ledger.lock:
                    ledger.refused[token] = " | ".join(replies)
                client.close()
                client = None
                continue
            client.send(msg + b".\r\n")
            state = "data sent"
            reply = client.reply_line()
        except (OSError, Closed):
            with ledger.lock:
                ledger.lost.add(token)
            client.close()
            client = None
            continue
        except AssertionError as e:  # a malformed reply: a real finding
            with ledger.lock:
                ledger.errors.append(f"{token} ({state}): {e}")
            client.close()
            client = None
            continue
        m = re.fullmatch(r"250 2\.0\.0 Ok: queued as ([0-9A-F]{20})", reply)
        with ledger.lock:
            if m:
                ledger.acked[token] = m.group(1)
                ledger.sent[token] = msg
                if kind != "normal":
                    ledger.errors.append(f"{token}: {kind} message was accepted: {reply}")
            elif reply[0] in "45":
                ledger.refused[token] = reply
                if kind != "normal":
                    ledger.refused_on_purpose += 1
                else:
                    ledger.errors.append(f"{token}: normal message refused: {reply}")
            else:
                ledger.errors.append(f"{token}: unexpected reply {reply!r}")
        if kind == "bare-lf":
            client.close()  # the server closes after 550 5.5.2
            client = None


def load_then_kill(server, round_no: int) -> Ledger:
    ledger = Ledger()
    stop = threading.Event()
    threads = [
        threading.Thread(target=worker, args=(server.ports["smtp"], round_no, w, ledger, stop), daemon=True)
        for w in range(WORKERS)
    ]
    for t in threads:
        t.start()
    time.sleep(LOAD_SECONDS)
    server.signal(signal.SIGKILL)  # kill -9, mid-load
    rc = server.wait(timeout=10)
    assert rc == -signal.SIGKILL
    stop.set()
    for t in threads:
        t.join(timeout=15)
        assert not t.is_alive(), "a client thread hung after the server died"
    return ledger


def tokens_in_spool(server) -> dict[str, str]:
    """token -> queue id, over every (verified) queued message; each holds exactly one token."""
    out: dict[str, str] = {}
    for qid, f in server.spool().items():
        tokens = TOKEN_RE.findall(f.message)
        assert len(tokens) == 1, f"{qid}: {tokens}"
        token = tokens[0].decode()
        assert token not in out, f"token {token} spooled twice: {out[token]} and {qid}"
        out[token] = qid
    return out


def check_round(server, ledger: Ledger, round_no: int, earlier: dict[str, str]) -> dict[str, str]:
    assert ledger.errors == [], ledger.errors
    assert len(ledger.acked) > 50, f"too little load to mean anything: {len(ledger.acked)} acknowledged"
    assert ledger.refused_on_purpose > 5

    # What the crash left behind, before recovery touches it.
    left_torn = len(server.spool_names("torn"))
    left_queued = len(server.spool_names("queue"))

    server.restart()
    waiting, incomplete, corrupt = server.spool_line
    assert incomplete == left_torn, (incomplete, left_torn)
    assert waiting == left_queued, (waiting, left_queued)
    assert corrupt == 0, "\n".join(server.stdout)
    assert server.spool_names("torn") == [], "torn tails not removed by recovery"
    assert server.spool_names("corrupt") == []
    spooled = tokens_in_spool(server)
    assert waiting == len(spooled), f"spool line says {waiting}, queue/ holds {len(spooled)}"

    # Every acknowledged token is there, under the queue id we were told, byte-exact.
    missing = sorted(set(ledger.acked) - set(spooled))
    assert missing == [], f"{len(missing)} acknowledged messages lost: {missing[:10]}"
    files = server.spool()
    for token, qid in ledger.acked.items():
        assert spooled[token] == qid, f"{token}: acknowledged as {qid}, spooled as {spooled[token]}"
        split_added_headers(files[qid].message, ledger.sent[token])
    # No explicitly refused token is there.
    refused_found = sorted(set(ledger.refused) & set(spooled))
    assert refused_found == [], f"refused messages in the spool: {refused_found}"
    # Everything in the spool was sent by us: this round (acked or lost) or an earlier one.
    this_round = {t: q for t, q in spooled.items() if t.startswith(f"tok-{round_no}-")}
    unknown = sorted(set(this_round) - set(ledger.acked) - ledger.lost)
    assert unknown == [], unknown
    # Earlier rounds' messages survived this crash too.
    for token, qid in earlier.items():
        assert spooled.get(token) == qid, f"{token} from an earlier round is gone"

    lost_found = len(ledger.lost & set(spooled))
    # Not a durability promise, only a figure: how many acknowledged messages have their
    # `queued` event in the store after the crash (events are written in batches).
    queued_events = {e["queue_id"] for e in server.events(kind="queued")}
    with_event = sum(1 for qid in ledger.acked.values() if qid in queued_events)
    figures = (
        f"round {round_no}: {len(ledger.acked)} acknowledged (all {len(ledger.acked)} found in spool), "
        f"{len(ledger.refused)} refused with a reply ({ledger.refused_on_purpose} on purpose; none spooled), "
        f"{len(ledger.lost)} lost with the connection ({lost_found} of them spooled anyway), "
        f"{ledger.connections} connections; restart: {waiting} waiting, {incomplete} incomplete removed, "
        f"{corrupt} corrupt; {with_event}/{len(ledger.acked)} acknowledged have a `queued` event in the store"
    )
    CRASH_FIGURES.append(figures)
    print(figures)
    return {t: q for t, q in spooled.items() if t in ledger.acked or t in earlier}


def test_kill_9_under_load_loses_no_acknowledged_message(postern):
    server = postern(config=CONFIG)
    kept: dict[str, str] = {}
    for round_no in (1, 2):
        ledger = load_then_kill(server, round_no)
        kept = check_round(server, ledger, round_no, kept)
    server.stop()


def test_spool_write_failure_is_not_acknowledged(server):
    """When the spool cannot take the message, the client hears 451 4.3.0 (never 250) and
    nothing is left behind; once the spool is back, mail flows again. (A fresh server has
    no journal segment open yet: the first write must create one, and cannot while the
    journal directory is away.)"""
    journal = server.data_dir / "spool" / "journal"
    msg = b"Subject: spool broken\r\n\r\nbody\r\n"
    journal.rename(journal.with_name("journal.away"))
    try:
        with RawSMTP(server.ports["smtp"]) as c:
            c.reply()
            c.ehlo("client.test.example")
            c.send(b"MAIL FROM:<a@sender.example>\r\nRCPT TO:<b@rcpt.example>\r\nDATA\r\n")
            assert [c.reply_line()[:3] for _ in range(3)] == ["250", "250", "354"]
            c.send(msg + b".\r\n")
            assert c.reply_line() == "451 4.3.0 Error: queue file write error"
            assert c.cmd("NOOP") == "250 2.0.0 Ok"
    finally:
        journal.with_name("journal.away").rename(journal)
    assert server.spool_names("torn") == []
    assert server.spool() == {}
    refused = server.wait_events(lambda ev: len(ev) == 1, kind="refused")
    assert refused[0]["data"]["stage"] == "queue"
    assert server.events(kind="queued") == []
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        c.ehlo("client.test.example")
        c.send(b"MAIL FROM:<a@sender.example>\r\nRCPT TO:<b@rcpt.example>\r\nDATA\r\n")
        assert [c.reply_line()[:3] for _ in range(3)] == ["250", "250", "354"]
        c.send(msg + b".\r\n")
        queued_id(c.reply_line())


def test_recovery_moves_corrupt_records_aside_and_removes_torn_tails(postern):
    server = postern()
    ids = []
    for n in range(3):
        with RawSMTP(server.ports["smtp"]) as c:
            c.reply()
            c.ehlo("client.test.example")
            c.send(b"MAIL FROM:<a@sender.example>\r\nRCPT TO:<b@rcpt.example>\r\nDATA\r\n")
            assert [c.reply_line()[:3] for _ in range(3)] == ["250", "250", "354"]
            c.send(f"Subject: recovery {n}\r\n\r\nbody {n}\r\n.\r\n".encode())
            ids.append(queued_id(c.reply_line()))
    server.stop()
    spool = server.data_dir / "spool"
    flipped, intact, cut = ids
    records = server.spool()
    assert sorted(records) == sorted(ids)
    segment = records[cut].path
    assert records[flipped].path == segment and records[intact].path == segment
    data = bytearray(segment.read_bytes())
    # A flipped bit in the first message: checksum mismatch, a corrupt record between
    # valid ones (the second follows it).
    data[records[flipped].offset + records[flipped].length - 3] ^= 0x01
    # The last record cut in its middle, zeros after it: what a crash before its fdatasync
    # leaves (it was never acknowledged): a torn tail.
    tail = records[cut].offset + records[cut].length // 2
    data[tail:] = bytes(len(data) - tail)
    segment.write_bytes(bytes(data))
    # A segment whose header is no journal's, and a segment a crash left half-prepared.
    (spool / "journal" / "7fffffffffffffff.seg").write_text("a file that is not a journal segment, whatever its name\n")
    (spool / "journal" / "7ffffffffffffff0.new").write_bytes(b"")
    # corrupt/ already holds a file of that name from an earlier start: nothing is overwritten.
    (spool / "corrupt" / flipped).write_bytes(b"older\n")

    server.restart()
    assert server.spool_line == (1, 1, 2)
    assert list(server.spool()) == [intact]
    assert server.spool_names("torn") == []
    assert server.spool_names("corrupt") == sorted([flipped, flipped + ".1", "7fffffffffffffff.seg"])
    assert (spool / "corrupt" / flipped).read_bytes() == b"older\n"
    assert len((spool / "corrupt" / (flipped + ".1")).read_bytes()) == records[flipped].length
    assert not (spool / "journal" / "7ffffffffffffff0.new").exists()
    log = "\n".join(server.stdout)
    for reason in ("checksum mismatch", "not a journal segment", "torn tail"):
        assert reason in log, reason
    # And it still takes mail; a second start finds nothing more to repair.
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        c.ehlo("client.test.example")
        c.send(b"MAIL FROM:<a@sender.example>\r\nRCPT TO:<b@rcpt.example>\r\nDATA\r\n")
        assert [c.reply_line()[:3] for _ in range(3)] == ["250", "250", "354"]
        c.send(b"Subject: after recovery\r\n\r\nok\r\n.\r\n")
        queued_id(c.reply_line())
    assert len(server.spool()) == 2
    server.stop()
    server.restart()
    assert server.spool_line == (2, 0, 0)
