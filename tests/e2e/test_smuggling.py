"""SMTP smuggling (SPEC §4): a bare CR or LF inside DATA is refused with 550 5.5.2 and the
connection is closed, so no sequence other than <CR><LF>.<CR><LF> can end a message and
nothing after it is ever read as commands. Neither the outer message nor a smuggled one
may reach the spool."""

from __future__ import annotations

import socket
import time

import pytest

from conftest import HOSTNAME, RawSMTP, queued_id

SMUGGLED = b"MAIL FROM:<evil@x.example>\r\nRCPT TO:<v@y.example>\r\nDATA\r\nsmuggled\r\n.\r\n"

# (fake end of data, the bare character the server must name)
CASES = [
    (b"\n.\n", "<LF>"),
    (b"\r.\r", "<CR>"),
    (b"\n.\r\n", "<LF>"),
    (b"\r\n.\n", "<LF>"),
    (b"\r.\r\n", "<CR>"),
    # a few more of the family
    (b"\r\n.\r", "<CR>"),
    (b"\r\n\n.\n", "<LF>"),
    (b"\n.\n\r\n", "<LF>"),
    (b"\r\r\n.\r\n", "<CR>"),
]
IDS = [repr(c[0])[2:-1].replace("\\", "") for c in CASES]


def open_data(server) -> RawSMTP:
    c = RawSMTP(server.ports["smtp"])
    assert c.reply_line() == f"220 {HOSTNAME} ESMTP Postern"
    c.ehlo("client.test.example")
    c.send(b"MAIL FROM:<alice@sender.example>\r\nRCPT TO:<bob@rcpt.example>\r\nDATA\r\n")
    assert [c.reply_line() for _ in range(3)] == ["250 2.1.0 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>"]
    return c


def assert_nothing_spooled(server):
    assert server.spool() == {}
    assert server.spool_names("torn") == []
    assert server.spool_names("corrupt") == []


@pytest.mark.parametrize("fake_end,what", CASES, ids=IDS)
def test_smuggling_sequence_is_refused(server, fake_end, what):
    payload = b"Subject: outer\r\n\r\nouter body" + fake_end + SMUGGLED + b"\r\n.\r\n"
    with open_data(server) as c:
        c.send(payload)
        assert c.reply_line() == f"550 5.5.2 Error: bare {what} received"
        c.expect_closed()
    assert_nothing_spooled(server)
    refused = server.wait_events(lambda ev: len(ev) == 1, kind="refused")
    assert refused[0]["data"]["stage"] == "data"
    assert refused[0]["data"]["reply"] == f"550 5.5.2 Error: bare {what} received"
    assert "smuggling" in refused[0]["data"]["reason"]
    # Exactly one session and no second transaction ever started.
    server.wait_events(lambda ev: len(ev) == 1, kind="disconnect")
    assert server.events(kind="queued") == []
    assert {e["session"] for e in server.events()} == {1}


@pytest.mark.parametrize("fake_end,what", CASES[:5], ids=IDS[:5])
def test_smuggling_sequence_split_across_segments(server, fake_end, what):
    """The same, with every octet of the sequence in its own TCP segment, so that the
    decoder sees the bare character at a read boundary."""
    with open_data(server) as c:
        c.send(b"Subject: outer\r\n\r\nouter body")
        time.sleep(0.02)
        for b in fake_end + SMUGGLED[:10]:
            try:
                c.sock.sendall(bytes([b]))
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.005)
        try:
            c.sock.sendall(SMUGGLED[10:] + b"\r\n.\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert c.reply_line() == f"550 5.5.2 Error: bare {what} received"
        c.expect_closed()
    assert_nothing_spooled(server)


def test_after_refusal_a_new_connection_works_and_old_bytes_are_not_commands(server):
    with open_data(server) as c:
        c.send(b"Subject: outer\r\n\r\nx\n.\n" + SMUGGLED)
        assert c.reply_line() == "550 5.5.2 Error: bare <LF> received"
        # Whatever we still send is read and thrown away, never answered.
        try:
            c.send(b"MAIL FROM:<evil@x.example>\r\nRCPT TO:<v@y.example>\r\nDATA\r\nsmuggled\r\n.\r\n")
        except OSError:
            pass
        c.expect_closed()
    with open_data(server) as c:
        c.send(b"Subject: clean\r\n\r\nclean\r\n.\r\n")
        qid = queued_id(c.reply_line())
    files = server.spool()
    assert list(files) == [qid]
    assert b"smuggled" not in files[qid].message and b"evil" not in files[qid].message


def test_legal_crlf_dot_variants_are_not_end_of_data(server):
    """Lines like `.x`, `..` and ` .` are content, and CRLF inside a line is fine."""
    with open_data(server) as c:
        c.send(b"Subject: ok\r\n\r\n.x\r\n..\r\n .\r\n\r\n\r\n.\r\n")
        qid = queued_id(c.reply_line())
    f = server.spool()[qid]
    assert f.message.endswith(b"Subject: ok\r\n\r\nx\r\n.\r\n .\r\n\r\n\r\n")


def test_client_that_half_closes_after_smuggling_gets_its_reply(server):
    """The 550 is delivered even when the client stops sending right away (linger close)."""
    c = open_data(server)
    try:
        c.send(b"Subject: outer\r\n\r\nx\r.\r" + SMUGGLED)
        c.sock.shutdown(socket.SHUT_WR)
        assert c.reply_line() == "550 5.5.2 Error: bare <CR> received"
        c.expect_closed()
    finally:
        c.close()
    assert_nothing_spooled(server)


def test_bdat_chunk_is_consumed_even_when_refused(server):
    """A BDAT chunk is always read as data, never as commands, even when BDAT itself is
    refused (no MAIL yet): otherwise its content would be a second, smuggled transaction."""
    inner = SMUGGLED
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        c.ehlo("client.test.example")
        c.send(f"BDAT {len(inner)} LAST\r\n".encode() + inner)
        assert c.reply_line() == "503 5.5.1 Error: need MAIL command"
        assert c.cmd("NOOP") == "250 2.0.0 Ok"
    assert_nothing_spooled(server)
    assert server.events(kind="queued") == []


def test_client_closing_in_data_spools_nothing(server):
    with open_data(server) as c:
        c.send(b"Subject: half\r\n\r\nhalf a mes")
    server.wait_events(lambda ev: len(ev) == 1, kind="disconnect")
    assert server.events(kind="disconnect")[0]["data"]["reason"] == "lost connection in DATA"
    assert_nothing_spooled(server)
