"""Accepting mail: the three listeners, TLS, the exact bytes spooled, envelopes, events,
relay refusal, limits. Each test talks to a real `postern serve` over loopback."""

from __future__ import annotations

import re
import shutil
import smtplib
import ssl
import subprocess
import time

import pytest

from conftest import (
    HOSTNAME,
    RawSMTP,
    parse_added_headers,
    queued_id,
    rustls_cipher_name,
    split_added_headers,
)

CLIENT_NAME = "client.test.example"
SENDER = "alice@sender.example"
RCPT = "bob@rcpt.example"
PLAIN_MESSAGE = (
    b"From: Alice <alice@sender.example>\r\n"
    b"To: Bob <bob@rcpt.example>\r\n"
    b"Subject: plain relay\r\n"
    b"\r\n"
    b"Hello Bob.\r\n"
    b"Second line.\r\n"
)


def send(client: smtplib.SMTP, message: bytes, sender=SENDER, rcpts=(RCPT,), mail_options=()) -> str:
    """One transaction with smtplib's low-level calls; returns the queue id from the 250."""
    client.ehlo_or_helo_if_needed()
    code, text = client.mail(sender, list(mail_options))
    assert code == 250, (code, text)
    for r in rcpts:
        code, text = client.rcpt(r)
        assert code == 250, (r, code, text)
    code, text = client.data(message)
    return queued_id(f"{code} {text.decode('utf-8')}")


def only_message(server):
    files = server.spool()
    assert len(files) == 1, list(files)
    return next(iter(files.values()))


def received_of(head: bytes) -> str:
    fields = parse_added_headers(head)
    assert fields[0][0] == "Received", fields
    return fields[0][1]


def check_received(value: str, queue_id: str, proto: str, rcpt: str | None, tls: tuple[str, str] | None):
    """Our Received header, unfolded: from HELO ([ip]) [(using V with cipher C)] by host
    (Postern) with PROTO id QID [for <rcpt>]; date."""
    using = rf"\(using {re.escape(tls[0])} with cipher {re.escape(tls[1])}\) " if tls else ""
    for_clause = rf" for <{re.escape(rcpt)}>" if rcpt else ""
    pattern = (
        rf"from {re.escape(CLIENT_NAME)} \(\[127\.0\.0\.1\]\) {using}"
        rf"by {re.escape(HOSTNAME)} \(Postern\) with {proto} id {queue_id}{for_clause}; "
        r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}"
    )
    assert re.fullmatch(pattern, value), f"Received: {value!r} does not match {pattern!r}"


# --------------------------------------------------------------------------------------
# Plain relay port


def test_plain_relay_spools_exact_bytes_and_envelope(server):
    c = smtplib.SMTP(local_hostname=CLIENT_NAME, timeout=10)
    assert c.connect("127.0.0.1", server.ports["smtp"]) == (220, f"{HOSTNAME} ESMTP Postern".encode())
    with c:
        code, ehlo = c.ehlo()
        assert code == 250
        ext = ehlo.decode().split("\n")
        assert ext[0] == HOSTNAME
        for want in ("PIPELINING", "SIZE 26214400", "STARTTLS", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"):
            assert want in ext, ext
        local_port = c.sock.getsockname()[1]
        qid = send(c, PLAIN_MESSAGE)

    f = only_message(server)
    assert f.queue_id == qid
    head = split_added_headers(f.message, PLAIN_MESSAGE)
    fields = parse_added_headers(head)
    # The relay port adds the trace header only: no Date, no Message-ID.
    assert [n for n, _ in fields] == ["Received"], fields
    check_received(fields[0][1], qid, "ESMTP", RCPT, None)

    env = f.envelope
    assert env["sender"] == {"local_part": "alice", "domain": "sender.example"}
    assert env["recipients"] == [{"address": {"local_part": "bob", "domain": "rcpt.example"}}]
    assert env["body"] == "7BIT"
    assert env["smtputf8"] is False
    assert env["client"] == {"ip": "127.0.0.1", "port": local_port, "listener": "smtp", "helo": CLIENT_NAME}
    assert env["size"] == len(f.message)
    assert abs(env["received_at_ms"] - time.time() * 1000) < 60_000


def test_helo_gives_smtp_protocol_in_received(server):
    with RawSMTP(server.ports["smtp"]) as c:
        assert c.reply_line() == f"220 {HOSTNAME} ESMTP Postern"
        assert c.cmd(f"HELO {CLIENT_NAME}") == f"250 {HOSTNAME}"
        # ESMTP parameters are not allowed after HELO.
        assert c.cmd(f"MAIL FROM:<{SENDER}> BODY=8BITMIME").startswith("555 5.5.4 ")
        assert c.cmd(f"MAIL FROM:<{SENDER}>") == "250 2.1.0 Ok"
        assert c.cmd(f"RCPT TO:<{RCPT}>") == "250 2.1.5 Ok"
        assert c.cmd("DATA") == "354 End data with <CR><LF>.<CR><LF>"
        c.send(PLAIN_MESSAGE + b".\r\n")
        qid = queued_id(c.reply_line())
        assert c.cmd("QUIT") == "221 2.0.0 Bye"
    head = split_added_headers(only_message(server).message, PLAIN_MESSAGE)
    check_received(received_of(head), qid, "SMTP", RCPT, None)


def test_mail_before_helo_and_rcpt_before_mail_are_refused(server):
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        assert c.cmd(f"MAIL FROM:<{SENDER}>") == "503 5.5.1 Error: send HELO/EHLO first"
        c.ehlo()
        assert c.cmd(f"RCPT TO:<{RCPT}>") == "503 5.5.1 Error: need MAIL command"
        assert c.cmd("DATA") == "503 5.5.1 Error: need MAIL command"
        assert c.cmd(f"MAIL FROM:<{SENDER}>") == "250 2.1.0 Ok"
        assert c.cmd(f"MAIL FROM:<{SENDER}>") == "503 5.5.1 Error: nested MAIL command"
        assert c.cmd("DATA") == "503 5.5.1 Error: need RCPT command"
        assert c.cmd("RSET") == "250 2.0.0 Ok"
        assert c.cmd(f"RCPT TO:<{RCPT}>") == "503 5.5.1 Error: need MAIL command"
    assert server.spool() == {}


def test_null_sender_and_pipelining(server):
    """A pipelined transaction (RFC 2920) with the null reverse path."""
    msg = b"Subject: bounce\r\n\r\nnull sender\r\n"
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        c.ehlo(CLIENT_NAME)
        c.send(f"MAIL FROM:<>\r\nRCPT TO:<{RCPT}>\r\nRCPT TO:<carol@rcpt.example>\r\nDATA\r\n")
        assert [c.reply_line() for _ in range(4)] == [
            "250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>",
        ]
        c.send(msg + b".\r\nQUIT\r\n")
        qid = queued_id(c.reply_line())
        assert c.reply_line() == "221 2.0.0 Bye"
    f = only_message(server)
    assert f.queue_id == qid
    assert f.envelope["sender"] is None
    split_added_headers(f.message, msg)
    queued = server.wait_events(lambda ev: len(ev) == 1, kind="queued")
    assert queued[0]["data"]["sender"] == ""


# --------------------------------------------------------------------------------------
# TLS


@pytest.mark.parametrize("listener", ["smtp", "submission"])
@pytest.mark.parametrize("tls_version", ["TLSv1.3", "TLSv1.2"])
def test_starttls(server, listener, tls_version):
    ctx = server.tls_context()  # verifies the chain against DIR/tls/cert.pem
    if tls_version == "TLSv1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    msg = b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <tls@client.example>\r\nSubject: tls\r\n\r\nover TLS\r\n"
    with smtplib.SMTP("127.0.0.1", server.ports[listener], local_hostname=CLIENT_NAME, timeout=10) as c:
        c.ehlo()
        assert c.has_extn("starttls")
        code, _ = c.starttls(context=ctx)
        assert code == 220
        assert c.sock.version() == tls_version
        cipher = rustls_cipher_name(c.sock)
        c.ehlo()
        assert not c.has_extn("starttls"), "STARTTLS offered again inside TLS"
        qid = send(c, msg)
        local_port = c.sock.getsockname()[1]
    f = only_message(server)
    head = split_added_headers(f.message, msg)
    fields = parse_added_headers(head)
    assert [n for n, _ in fields] == ["Received"]  # Date and Message-ID were present
    check_received(fields[0][1], qid, "ESMTPS", RCPT, (tls_version, cipher))
    assert f.envelope["client"] == {
        "ip": "127.0.0.1", "port": local_port, "listener": listener, "helo": CLIENT_NAME,
        "tls": {"version": tls_version, "cipher": cipher},
    }
    events = server.wait_events(lambda ev: any(e["kind"] == "disconnect" for e in ev))
    session_kinds = [e["kind"] for e in events if e["kind"] not in ("delivery", "dsn")]
    assert session_kinds == ["connect", "tls", "checked", "queued", "disconnect"]
    assert events[1]["data"]["version"] == tls_version and events[1]["data"]["cipher"] == cipher
    assert events[3]["data"]["tls"] == f"{tls_version} with cipher {cipher}"


def test_implicit_tls_smtps(server):
    ctx = server.tls_context()
    msg = b"Subject: smtps\r\n\r\nimplicit TLS\r\n"
    with RawSMTP(server.ports["smtps"], tls=ctx) as raw:
        assert raw.reply_line() == f"220 {HOSTNAME} ESMTP Postern"
    with smtplib.SMTP_SSL("127.0.0.1", server.ports["smtps"], local_hostname=CLIENT_NAME, context=ctx, timeout=10) as c:
        c.ehlo()
        assert not c.has_extn("starttls")
        version, cipher = c.sock.version(), rustls_cipher_name(c.sock)
        qid = send(c, msg)
    f = only_message(server)
    head = split_added_headers(f.message, msg)
    fields = parse_added_headers(head)
    assert [n for n, _ in fields] == ["Received", "Date", "Message-ID"]
    check_received(fields[0][1], qid, "ESMTPS", RCPT, (version, cipher))
    assert fields[2][1] == f"<{qid}@{HOSTNAME}>"
    assert f.envelope["client"]["listener"] == "smtps"
    assert f.envelope["client"]["tls"] == {"version": version, "cipher": cipher}


def test_starttls_resets_session_and_discards_pipelined_plaintext(server):
    """RFC 3207 §4.2: after TLS the client must EHLO again; commands pipelined after
    STARTTLS in plaintext must never be executed (CVE-2011-0411 class)."""
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        c.ehlo(CLIENT_NAME)
        assert c.cmd(f"MAIL FROM:<{SENDER}>") == "250 2.1.0 Ok"
        # Injected plaintext in the same segment as STARTTLS.
        c.send("STARTTLS\r\nRSET\r\n")
        assert c.reply_line() == "220 2.0.0 Ready to start TLS"
        c.sock = server.tls_context().wrap_socket(c.sock)
        # Had RSET been executed, its 250 would arrive before this reply.
        assert c.cmd("NOOP") == "250 2.0.0 Ok"
        assert c.cmd(f"MAIL FROM:<{SENDER}>") == "503 5.5.1 Error: send HELO/EHLO first"
        lines = c.ehlo(CLIENT_NAME)
        assert "STARTTLS" not in lines
        assert c.cmd("STARTTLS") == "554 5.5.1 Error: TLS already active"
        # The transaction begun before TLS was forgotten: a new MAIL is not "nested".
        assert c.cmd(f"MAIL FROM:<{SENDER}>") == "250 2.1.0 Ok"
    assert server.spool() == {}


# --------------------------------------------------------------------------------------
# Added headers (submission and smtps add Date and Message-ID when missing)


@pytest.mark.parametrize("listener", ["submission", "smtps"])
@pytest.mark.parametrize(
    "has_date,has_mid",
    [(False, False), (True, True), (True, False), (False, True)],
    ids=["neither", "both", "date-only", "mid-only"],
)
def test_submission_adds_missing_date_and_message_id(server, listener, has_date, has_mid):
    msg = b""
    if has_date:
        msg += b"Date: Tue, 01 Jan 2030 00:00:00 +0000\r\n"
    if has_mid:
        msg += b"Message-ID: <mine@client.example>\r\n"
    msg += b"Subject: submission\r\n\r\nbody\r\n"
    ctx = server.tls_context()
    if listener == "smtps":
        client = smtplib.SMTP_SSL("127.0.0.1", server.ports["smtps"], local_hostname=CLIENT_NAME, context=ctx, timeout=10)
    else:
        client = smtplib.SMTP("127.0.0.1", server.ports["submission"], local_hostname=CLIENT_NAME, timeout=10)
        client.starttls(context=ctx)
    with client as c:
        c.ehlo()
        qid = send(c, msg)
    f = only_message(server)
    fields = parse_added_headers(split_added_headers(f.message, msg))
    want = ["Received"] + ([] if has_date else ["Date"]) + ([] if has_mid else ["Message-ID"])
    assert [n for n, _ in fields] == want
    values = dict(fields)
    if not has_date:
        assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}", values["Date"]), values["Date"]
    expected_mid = "<mine@client.example>" if has_mid else f"<{qid}@{HOSTNAME}>"
    if not has_mid:
        assert values["Message-ID"] == expected_mid
    queued = server.wait_events(lambda ev: len(ev) == 1, kind="queued")
    assert queued[0]["data"]["message_id"] == expected_mid


def test_relay_port_never_adds_date_or_message_id(server):
    msg = b"Subject: no date, no id\r\n\r\nbody\r\n"
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], local_hostname=CLIENT_NAME, timeout=10) as c:
        c.starttls(context=server.tls_context())
        c.ehlo()
        send(c, msg)
    fields = parse_added_headers(split_added_headers(only_message(server).message, msg))
    assert [n for n, _ in fields] == ["Received"]
    queued = server.wait_events(lambda ev: len(ev) == 1, kind="queued")
    assert "message_id" not in queued[0]["data"]


def test_add_missing_headers_is_configurable_per_listener(postern):
    server = postern(config="[listeners.smtp]\nadd_missing_headers = true\n[listeners.submission]\nadd_missing_headers = false\n")
    msg = b"Subject: x\r\n\r\nbody\r\n"
    for listener in ("smtp", "submission"):
        with smtplib.SMTP("127.0.0.1", server.ports[listener], local_hostname=CLIENT_NAME, timeout=10) as c:
            qid = send(c, msg)
        fields = parse_added_headers(split_added_headers(server.spool()[qid].message, msg))
        want = ["Received", "Date", "Message-ID"] if listener == "smtp" else ["Received"]
        assert [n for n, _ in fields] == want, listener


# --------------------------------------------------------------------------------------
# 8-bit, SMTPUTF8, dot-stuffing, recipients


def test_8bitmime_body_is_kept_byte_exact(server):
    msg = (
        b"Subject: 8bit\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        b"Gr\xc3\xbc\xc3\x9fe aus M\xc3\xbcnchen \xe2\x82\xac\r\n"
        b"latin-1 \xe9\xe8 and every high octet: " + bytes(range(0x80, 0x100)) + b"\r\n"
        b"\x00nul and \x7fdel and \ttab\r\n"
    )
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], local_hostname=CLIENT_NAME, timeout=10) as c:
        c.ehlo()
        assert c.has_extn("8bitmime")
        qid = send(c, msg, mail_options=["BODY=8BITMIME"])
    f = only_message(server)
    assert f.queue_id == qid
    split_added_headers(f.message, msg)
    assert f.envelope["body"] == "8BITMIME"


def test_smtputf8_addresses(server):
    sender, rcpt = "jörg@bücher.example", "ñoño@exämple.org"
    msg = "From: Jörg <jörg@bücher.example>\r\nSubject: Grüße\r\n\r\nÜmläüte\r\n".encode("utf-8")
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], local_hostname=CLIENT_NAME, timeout=10) as c:
        c.ehlo()
        assert c.has_extn("smtputf8")
        qid = send(c, msg, sender=sender, rcpts=[rcpt], mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    f = only_message(server)
    env = f.envelope
    assert env["sender"] == {"local_part": "jörg", "domain": "bücher.example"}
    assert env["recipients"] == [{"address": {"local_part": "ñoño", "domain": "exämple.org"}}]
    assert env["smtputf8"] is True
    assert env["body"] == "8BITMIME"
    head = split_added_headers(f.message, msg)
    check_received(received_of(head), qid, "UTF8SMTP", rcpt, None)
    queued = server.wait_events(lambda ev: len(ev) == 1, kind="queued")
    assert queued[0]["data"]["sender"] == sender
    assert queued[0]["data"]["recipients"] == [rcpt]


def test_non_ascii_address_requires_smtputf8(server):
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        c.ehlo()
        assert c.cmd("MAIL FROM:<jörg@bücher.example>") == "553 5.6.7 Error: SMTPUTF8 is required for a non-ASCII address"
        assert c.cmd(f"MAIL FROM:<{SENDER}>") == "250 2.1.0 Ok"
        assert c.cmd("RCPT TO:<ñoño@exämple.org>") == "553 5.6.7 Error: SMTPUTF8 is required for a non-ASCII address"
    assert server.spool() == {}


def test_dot_stuffing_round_trip(server):
    msg = (
        b"Subject: dots\r\n\r\n"
        b".\r\n"
        b"..\r\n"
        b".leading dot\r\n"
        b"...three\r\n"
        b"middle . dot\r\n"
        b". \r\n"
        b".\r\n"
    )
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], local_hostname=CLIENT_NAME, timeout=10) as c:
        qid = send(c, msg)
    f = only_message(server)
    assert f.queue_id == qid
    split_added_headers(f.message, msg)


def test_dot_unstuffing_on_the_wire(server):
    """RFC 5321 §4.5.2: the first dot of a line that starts with one is removed."""
    wire = b"Subject: raw\r\n\r\n..stuffed\r\n.unstuffed\r\n...\r\n.\r\n"
    want = b"Subject: raw\r\n\r\n.stuffed\r\nunstuffed\r\n..\r\n"
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        c.ehlo(CLIENT_NAME)
        c.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{RCPT}>\r\nDATA\r\n")
        assert [c.reply_line()[:3] for _ in range(3)] == ["250", "250", "354"]
        c.send(wire)
        queued_id(c.reply_line())
    split_added_headers(only_message(server).message, want)


def test_empty_message(server):
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        c.ehlo(CLIENT_NAME)
        c.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{RCPT}>\r\nDATA\r\n")
        assert [c.reply_line()[:3] for _ in range(3)] == ["250", "250", "354"]
        c.send(b".\r\n")
        qid = queued_id(c.reply_line())
    f = only_message(server)
    fields = parse_added_headers(split_added_headers(f.message, b""))
    assert [n for n, _ in fields] == ["Received"]
    check_received(fields[0][1], qid, "ESMTP", RCPT, None)


def test_multiple_recipients(server):
    rcpts = ["one@a.example", "two@b.example", "three@c.example", "one@A.EXAMPLE"]
    msg = b"Subject: many\r\n\r\nto several\r\n"
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], local_hostname=CLIENT_NAME, timeout=10) as c:
        qid = send(c, msg, rcpts=rcpts)
    f = only_message(server)
    # The duplicate (domain differs in case only) is stored once; order is kept.
    assert [r["address"] for r in f.envelope["recipients"]] == [
        {"local_part": "one", "domain": "a.example"},
        {"local_part": "two", "domain": "b.example"},
        {"local_part": "three", "domain": "c.example"},
    ]
    head = split_added_headers(f.message, msg)
    # With several recipients the Received header names none of them.
    check_received(received_of(head), qid, "ESMTP", None, None)
    queued = server.wait_events(lambda ev: len(ev) == 1, kind="queued")
    assert queued[0]["data"]["recipients"] == ["one@a.example", "two@b.example", "three@c.example"]


def test_dsn_parameters_in_envelope(server):
    msg = b"Subject: dsn\r\n\r\nbody\r\n"
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        c.ehlo(CLIENT_NAME)
        assert c.cmd(f"MAIL FROM:<{SENDER}> RET=HDRS ENVID=QQ314159") == "250 2.1.0 Ok"
        assert c.cmd(f"RCPT TO:<{RCPT}> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;bob+40rcpt.example") == "250 2.1.5 Ok"
        assert c.cmd("RCPT TO:<x@rcpt.example> NOTIFY=NEVER,SUCCESS") == "501 5.5.4 Bad NOTIFY parameter syntax"
        assert c.cmd("DATA")[:3] == "354"
        c.send(msg + b".\r\n")
        queued_id(c.reply_line())
    env = only_message(server).envelope
    assert env["ret"] == "HDRS"
    assert env["envid"] == "QQ314159"
    assert env["recipients"] == [{
        "address": {"local_part": "bob", "domain": "rcpt.example"},
        "notify": {"never": False, "success": True, "failure": False, "delay": True},
        "orcpt": "rfc822;bob+40rcpt.example",
    }]


# --------------------------------------------------------------------------------------
# Relay refusal and events


def test_untrusted_client_is_refused_at_rcpt(postern):
    server = postern(extra=["--trusted-network", "192.0.2.0/24"])
    assert "trusted networks (may relay without authentication): 192.0.2.0/24" in server.stdout
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        c.ehlo(CLIENT_NAME)
        assert c.cmd(f"MAIL FROM:<{SENDER}>") == "250 2.1.0 Ok"
        for rcpt in (RCPT, "user%other.example@rcpt.example", '"quoted@x"@rcpt.example', "u@[192.0.2.1]"):
            assert c.cmd(f"RCPT TO:<{rcpt}>") == f"554 5.7.1 <{rcpt}>: Relay access denied"
        assert c.cmd("DATA") == "503 5.5.1 Error: need RCPT command"
        assert c.cmd("QUIT") == "221 2.0.0 Bye"
    assert server.spool() == {}
    refused = server.wait_events(lambda ev: len(ev) == 4, kind="refused")
    first = refused[0]
    assert first["client_ip"] == "127.0.0.1"
    # Never queued, so no queue id: searching a queue id finds only queued messages.
    assert all(e["queue_id"] is None and "queue_id" not in e["data"] for e in refused), refused
    data = first["data"]
    assert data["stage"] == "rcpt"
    assert data["reply"] == f"554 5.7.1 <{RCPT}>: Relay access denied"
    assert data["recipient"] == RCPT
    assert data["sender"] == SENDER
    assert "trusted" in data["reason"]


def test_events_for_a_queued_message(server):
    msg = b"Message-ID: <ev@client.example>\r\nSubject: events\r\n\r\nbody\r\n"
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], local_hostname=CLIENT_NAME, timeout=10) as c:
        local_port = c.sock.getsockname()[1]
        qid = send(c, msg)
    events = server.wait_events(lambda ev: any(e["kind"] == "disconnect" for e in ev))
    # Delivery attempts (session 0) are the queue manager's, not this session's.
    events = [e for e in events if e["kind"] not in ("delivery", "dsn")]
    assert [e["kind"] for e in events] == ["connect", "checked", "queued", "disconnect"]
    assert len({e["session"] for e in events}) == 1
    assert all(e["client_ip"] == "127.0.0.1" for e in events)
    assert [e["at_ms"] for e in events] == sorted(e["at_ms"] for e in events)
    connect, checked, queued, disconnect = (e["data"] for e in events)
    assert connect["listener"] == "smtp" and connect["client_port"] == local_port
    assert events[0]["queue_id"] is None and events[3]["queue_id"] is None
    assert events[2]["queue_id"] == qid and queued["queue_id"] == qid
    # The message's verdict trace: every check of the pipeline, then the disposition.
    assert events[1]["queue_id"] == qid and checked["disposition"] == "deliver"
    assert [(c["stage"], c["engine"], c["result"]) for c in checked["checks"]] == [
        ("content", "gtube", "pass"),
        ("content", "scorer", "pass"),
        ("content", "attachments", "off"),
        ("content", "domain_age", "off"),
    ]
    assert isinstance(checked["checks"][1]["score"], float)
    # A trusted network has no account: the attachment checks' defaults (both off) apply.
    assert checked["checks"][2]["rule"] == "checks.block_macros and checks.block_dangerous_attachments off"
    assert queued["size"] == len(server.spool()[qid].message)
    assert queued["sender"] == SENDER and queued["recipients"] == [RCPT]
    assert queued["message_id"] == "<ev@client.example>"
    assert "tls" not in queued
    assert disconnect["messages"] == 1 and disconnect["reason"] == "quit"


# --------------------------------------------------------------------------------------
# Limits


LIMITS = """
[limits]
max_message_size = 2048
max_recipients = 2
max_hops = 3
hard_error_limit = 4
"""


def body_of(size: int) -> bytes:
    """A message of exactly `size` octets, CRLF lines, no line starting with a dot."""
    head = b"Subject: size\r\n\r\n"
    line = b"x" * 78 + b"\r\n"
    rest = size - len(head)
    out = head + line * (rest // len(line))
    tail = rest - len(line) * (rest // len(line))
    if tail:
        assert tail >= 2
        out += b"y" * (tail - 2) + b"\r\n"
    assert len(out) == size
    return out


def test_message_size_limit(postern):
    server = postern(config=LIMITS)
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        assert "SIZE 2048" in c.ehlo(CLIENT_NAME)
        assert c.cmd(f"MAIL FROM:<{SENDER}> SIZE=2049") == "552 5.3.4 Message size exceeds fixed limit"
        assert c.cmd(f"MAIL FROM:<{SENDER}> SIZE=2048") == "250 2.1.0 Ok"
        assert c.cmd("RSET") == "250 2.0.0 Ok"
        # Declared small, actually too large: refused after the data, session goes on.
        for size, ok in ((2049, False), (50_000, False), (2048, True)):
            c.send(f"MAIL FROM:<{SENDER}> SIZE=100\r\nRCPT TO:<{RCPT}>\r\nDATA\r\n")
            assert [c.reply_line()[:3] for _ in range(3)] == ["250", "250", "354"]
            msg = body_of(size)
            c.send(msg + b".\r\n")
            reply = c.reply_line()
            if ok:
                qid = queued_id(reply)
            else:
                assert reply == "552 5.3.4 Error: message file too big", size
        assert c.cmd("NOOP") == "250 2.0.0 Ok"
    files = server.spool()
    assert list(files) == [qid]
    split_added_headers(files[qid].message, body_of(2048))
    refused = server.wait_events(lambda ev: len(ev) == 3, kind="refused")
    assert [e["data"]["stage"] for e in refused] == ["mail", "data", "data"]


def test_size_limit_with_smtplib_sendmail(postern):
    server = postern(config=LIMITS)
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], local_hostname=CLIENT_NAME, timeout=10) as c:
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            c.sendmail(SENDER, [RCPT], body_of(4096))  # smtplib declares SIZE=4096
        assert e.value.smtp_code == 552
    assert server.spool() == {}


def test_recipient_limit(postern):
    server = postern(config=LIMITS)
    msg = b"Subject: r\r\n\r\nb\r\n"
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        c.ehlo(CLIENT_NAME)
        assert c.cmd(f"MAIL FROM:<{SENDER}>") == "250 2.1.0 Ok"
        assert c.cmd("RCPT TO:<r1@x.example>") == "250 2.1.5 Ok"
        assert c.cmd("RCPT TO:<r2@x.example>") == "250 2.1.5 Ok"
        assert c.cmd("RCPT TO:<r3@x.example>") == "452 4.5.3 Error: too many recipients"
        assert c.cmd("DATA")[:3] == "354"
        c.send(msg + b".\r\n")
        qid = queued_id(c.reply_line())
    env = server.spool()[qid].envelope
    assert [r["address"]["local_part"] for r in env["recipients"]] == ["r1", "r2"]


def test_hop_limit(postern):
    server = postern(config=LIMITS)
    ok_msg = b"Received: from a by b; x\r\nReceived: from c\r\n\tby d; y\r\nSubject: 2 hops\r\n\r\nb\r\n"
    loop_msg = b"Received: a\r\nReceived: b\r\nreceived : c\r\nSubject: 3 hops\r\n\r\nb\r\n"
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        c.ehlo(CLIENT_NAME)
        replies = []
        for msg in (ok_msg, loop_msg):
            c.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{RCPT}>\r\nDATA\r\n")
            assert [c.reply_line()[:3] for _ in range(3)] == ["250", "250", "354"]
            c.send(msg + b".\r\n")
            replies.append(c.reply_line())
    qid = queued_id(replies[0])
    assert replies[1] == "554 5.4.6 Error: too many hops"
    assert list(server.spool()) == [qid]


def test_hard_error_limit_disconnects(postern):
    server = postern(config=LIMITS)
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        c.ehlo(CLIENT_NAME)
        assert c.cmd("XYZZY") == "500 5.5.2 Error: command not recognized"
        assert c.cmd("NOOP") == "250 2.0.0 Ok"
        c.send("NOOP\n")  # bare LF in a command line
        assert c.reply_line() == "500 5.5.2 Error: bare <LF> received"
        assert c.cmd("EXPN list") == "502 5.5.1 Error: command not implemented"
        c.send("FOO\r\n")
        assert c.reply_line() == "500 5.5.2 Error: command not recognized"
        assert c.reply_line() == f"421 4.7.0 {HOSTNAME} Error: too many errors"
        c.expect_closed()


def test_command_timeout(postern):
    server = postern(config="[limits]\ncommand_timeout = 1\n")
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        c.ehlo(CLIENT_NAME)
        t0 = time.monotonic()
        assert c.reply_line() == f"421 4.4.2 {HOSTNAME} Error: timeout exceeded"
        assert 0.8 < time.monotonic() - t0 < 5
        c.expect_closed()
    events = server.wait_events(lambda ev: len(ev) == 1, kind="disconnect")
    assert events[0]["data"]["reason"] == "timeout"


# --------------------------------------------------------------------------------------
# BDAT (CHUNKING)


def test_bdat_chunks(server):
    part1 = b"Subject: chunks\r\n\r\nfirst chunk\r\n"
    part2 = b".a line with a dot is not stuffed in BDAT\r\n"
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        c.ehlo(CLIENT_NAME)
        c.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{RCPT}>\r\n")
        assert [c.reply_line() for _ in range(2)] == ["250 2.1.0 Ok", "250 2.1.5 Ok"]
        c.send(f"BDAT {len(part1)}\r\n".encode() + part1)
        assert c.reply_line() == f"250 2.0.0 Ok: {len(part1)} octets received"
        c.send(f"BDAT {len(part2)} LAST\r\n".encode() + part2)
        qid = queued_id(c.reply_line())
        # A bare LF inside a BDAT message is refused, and the session continues.
        bad = b"Subject: bad\r\n\r\nbare\nlf\r\n"
        c.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{RCPT}>\r\nBDAT {len(bad)} LAST\r\n".encode() + bad)
        assert [c.reply_line() for _ in range(3)] == ["250 2.1.0 Ok", "250 2.1.5 Ok", "550 5.6.0 Error: bare <LF> received"]
        assert c.cmd("NOOP") == "250 2.0.0 Ok"
    files = server.spool()
    assert list(files) == [qid]
    split_added_headers(files[qid].message, part1 + part2)


# --------------------------------------------------------------------------------------
# Listener switches and third-party client


def test_empty_address_turns_a_listener_off(postern):
    server = postern(args=["--smtp", "", "--submission", "127.0.0.1:0", "--smtps", "127.0.0.1:0"])
    assert set(server.ports) == {"submission", "smtps"}
    assert not any(line.startswith("listening: smtp ") for line in server.stdout)
    assert not any(line.startswith("try it: swaks") for line in server.stdout)


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed")
def test_swaks(server):
    token = "swaks-token-7f3a"
    out = subprocess.run(
        ["swaks", "--server", "127.0.0.1", "--port", str(server.ports["smtp"]), "--helo", CLIENT_NAME,
         "--from", SENDER, "--to", RCPT, "--header", f"Subject: {token}", "--body", "hello from swaks",
         "--timeout", "10"],
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    m = re.search(r"<-  250 2\.0\.0 Ok: queued as ([0-9A-F]{20})", out.stdout)
    assert m, out.stdout
    f = server.spool()[m.group(1)]
    assert f"Subject: {token}".encode() in f.message
    assert f.message.startswith(b"Received: from " + CLIENT_NAME.encode())


# --------------------------------------------------------------------------------------
# More limits and corners


def test_ipv6_loopback_is_trusted_by_default(postern):
    server = postern(args=["--smtp", "[::1]:0", "--submission", "", "--smtps", ""])
    assert server.hosts["smtp"] == "::1"
    msg = b"Subject: v6\r\n\r\nbody\r\n"
    with RawSMTP(server.ports["smtp"], host="::1") as c:
        c.reply()
        c.ehlo(CLIENT_NAME)
        c.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{RCPT}>\r\nDATA\r\n")
        assert [c.reply_line()[:3] for _ in range(3)] == ["250", "250", "354"]
        c.send(msg + b".\r\n")
        qid = queued_id(c.reply_line())
    f = only_message(server)
    assert f.queue_id == qid
    assert f.envelope["client"]["ip"] == "::1"
    assert received_of(split_added_headers(f.message, msg)).startswith(f"from {CLIENT_NAME} ([IPv6:::1]) by ")


def test_ipv6_client_refused_when_only_ipv4_is_trusted(postern):
    server = postern(args=["--smtp", "[::1]:0", "--submission", "", "--smtps", "", "--trusted-network", "127.0.0.0/8"])
    with RawSMTP(server.ports["smtp"], host="::1") as c:
        c.reply()
        c.ehlo(CLIENT_NAME)
        assert c.cmd(f"MAIL FROM:<{SENDER}>") == "250 2.1.0 Ok"
        assert c.cmd(f"RCPT TO:<{RCPT}>") == f"554 5.7.1 <{RCPT}>: Relay access denied"
    refused = server.wait_events(lambda ev: len(ev) == 1, kind="refused")
    assert refused[0]["client_ip"] == "::1"


def test_connection_limit(postern):
    server = postern(config="[limits]\nmax_connections = 2\n")
    a, b = RawSMTP(server.ports["smtp"]), RawSMTP(server.ports["submission"])
    try:
        assert a.reply_line().startswith("220 ") and b.reply_line().startswith("220 ")
        with RawSMTP(server.ports["smtp"]) as c:
            assert c.reply_line() == f"421 4.3.2 {HOSTNAME} Too many connections, try again later"
            c.expect_closed()
    finally:
        a.close()
        b.close()
    # Slots are given back when sessions end.
    deadline = time.monotonic() + 5
    while True:
        with RawSMTP(server.ports["smtp"]) as c:
            line = c.reply_line()
        if line.startswith("220 ") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert line.startswith("220 "), line


def test_data_timeout(postern):
    server = postern(config="[limits]\ndata_timeout = 1\n")
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        c.ehlo(CLIENT_NAME)
        c.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{RCPT}>\r\nDATA\r\n")
        assert [c.reply_line()[:3] for _ in range(3)] == ["250", "250", "354"]
        c.send(b"Subject: slow\r\n\r\nhalf")
        t0 = time.monotonic()
        assert c.reply_line() == f"421 4.4.2 {HOSTNAME} Error: timeout exceeded"
        assert 0.8 < time.monotonic() - t0 < 5
        c.expect_closed()
    assert server.spool() == {}
    refused = server.wait_events(lambda ev: len(ev) == 1, kind="refused")
    assert refused[0]["data"]["stage"] == "data"


def test_command_line_length_limit(postern):
    server = postern(config="[limits]\nmax_line_length = 512\n")
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        c.ehlo(CLIENT_NAME)
        assert c.cmd("NOOP " + "x" * 507) == "250 2.0.0 Ok"  # 512 octets
        assert c.cmd("NOOP " + "x" * 508) == "500 5.5.2 Error: line too long"
        c.send("NOOP " + "y" * 100_000 + "\r\n")
        assert c.reply_line() == "500 5.5.2 Error: line too long"
        assert c.cmd("NOOP") == "250 2.0.0 Ok"


def test_starttls_on_smtps_is_refused(server):
    with RawSMTP(server.ports["smtps"], tls=server.tls_context()) as c:
        c.reply()
        c.ehlo(CLIENT_NAME)
        assert c.cmd("STARTTLS") == "554 5.5.1 Error: TLS already active"
        assert c.cmd("NOOP") == "250 2.0.0 Ok"


def test_message_id_in_body_does_not_count(server):
    """Only the header section is looked at: a Message-ID line in the body is content."""
    msg = b"Subject: x\r\n\r\nMessage-ID: <in-body@x>\r\nDate: in body\r\n"
    with smtplib.SMTP("127.0.0.1", server.ports["submission"], local_hostname=CLIENT_NAME, timeout=10) as c:
        qid = send(c, msg)
    fields = parse_added_headers(split_added_headers(only_message(server).message, msg))
    assert fields[1:] == [("Date", fields[1][1]), ("Message-ID", f"<{qid}@{HOSTNAME}>")]


def test_plain_client_on_smtps_port_gets_nothing_spooled(server):
    """A plaintext SMTP client on the implicit-TLS port fails the handshake; the server
    survives and serves the next (TLS) client."""
    with RawSMTP(server.ports["smtps"]) as c:
        c.send(f"EHLO {CLIENT_NAME}\r\nMAIL FROM:<{SENDER}>\r\nRCPT TO:<{RCPT}>\r\nDATA\r\nx\r\n.\r\n")
        c.sock.settimeout(5)
        try:
            data = c.sock.recv(4096)
        except (ConnectionResetError, OSError):
            data = b""
        assert not data.startswith(b"2"), data
    with RawSMTP(server.ports["smtps"], tls=server.tls_context()) as c:
        assert c.reply_line().startswith("220 ")
    assert server.spool() == {}
    disconnects = server.wait_events(lambda ev: len(ev) == 2, kind="disconnect")
    reasons = [e["data"]["reason"] for e in disconnects]
    assert sum(r.startswith("TLS handshake failed") for r in reasons) == 1, reasons


def test_two_transactions_pipelined_in_one_write(server):
    msgs = [b"Subject: first\r\n\r\n1\r\n", b"Subject: second\r\n\r\n2\r\n"]
    wire = b"".join(
        f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{RCPT}>\r\nDATA\r\n".encode() + m + b".\r\n" for m in msgs
    )
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        c.ehlo(CLIENT_NAME)
        c.send(wire + b"QUIT\r\n")
        replies = [c.reply_line() for _ in range(9)]
    assert replies[:3] == replies[4:7] == ["250 2.1.0 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>"]
    assert replies[8] == "221 2.0.0 Bye"
    ids = [queued_id(replies[3]), queued_id(replies[7])]
    files = server.spool()
    assert sorted(files) == sorted(ids)
    for qid, m in zip(ids, msgs):
        split_added_headers(files[qid].message, m)


def test_folded_message_id_is_kept_as_sent_and_not_duplicated(server):
    msg = b"Message-ID:\r\n <folded.and.rather.long.identifier@client.example>\r\nSubject: folded\r\n\r\nbody\r\n"
    with smtplib.SMTP("127.0.0.1", server.ports["submission"], local_hostname=CLIENT_NAME, timeout=10) as c:
        send(c, msg)
    fields = parse_added_headers(split_added_headers(only_message(server).message, msg))
    assert [n for n, _ in fields] == ["Received", "Date"]  # the client's Message-ID counts


def test_folded_message_id_in_queued_event(server):
    msg = b"Message-ID:\r\n <folded.and.rather.long.identifier@client.example>\r\nSubject: folded\r\n\r\nbody\r\n"
    with smtplib.SMTP("127.0.0.1", server.ports["submission"], local_hostname=CLIENT_NAME, timeout=10) as c:
        send(c, msg)
    queued = server.wait_events(lambda ev: len(ev) == 1, kind="queued")
    assert queued[0]["data"].get("message_id") == "<folded.and.rather.long.identifier@client.example>"


def test_bdat_size_limit(postern):
    server = postern(config=LIMITS)
    big, small = body_of(2049), body_of(2048)
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        c.ehlo(CLIENT_NAME)
        c.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{RCPT}>\r\nBDAT 1000\r\n".encode() + big[:1000])
        assert [c.reply_line() for _ in range(3)] == ["250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.0.0 Ok: 1000 octets received"]
        # The chunk that crosses the limit is read (the session stays in step) and refused.
        c.send(f"BDAT {len(big) - 1000} LAST\r\n".encode() + big[1000:])
        assert c.reply_line() == "552 5.3.4 Error: message file too big"
        assert c.cmd("NOOP") == "250 2.0.0 Ok"
        c.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{RCPT}>\r\nBDAT {len(small)} LAST\r\n".encode() + small)
        replies = [c.reply_line() for _ in range(3)]
    qid = queued_id(replies[2])
    assert list(server.spool()) == [qid]
    split_added_headers(server.spool()[qid].message, small)
