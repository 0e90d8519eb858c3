"""Connection and protocol policy end to end (issue 5 item 4, SPEC.md §4): the real binary,
clients from distinct loopback addresses (127.0.0.2 ...), DNS from a local dnslib server.
One test per check with the exact reply: concurrent connections and connections per
minute per IP (421 4.7.0), messages per minute (450 4.7.1), forward-confirmed reverse DNS
(450 4.7.25, for loopback clients, which resolvers name "localhost" themselves; the PTR
answers of a DNS server are covered in-process by crates/postern-smtp/tests/session_protection.rs,
since test traffic may only go to loopback), HELO FQDN (504 5.5.2) and resolving (450 4.7.1), sender FQDN (504 5.5.2)
and domain (450 4.1.8, null MX 550 5.7.27), DNS trouble (450 4.4.3), unauthorized
pipelining (503 5.5.0), junk commands and the soft error limit, the daily block after
refused recipients and after failed AUTHs, monitor mode, and a bad key in the file.

127.0.0.0/8 is a trusted network by default, hence also exempt from the per-client limits
(event_limit_exceptions defaults to trusted_networks): limit tests set
`event_limit_exceptions = []`. The message-rate window (60 s) is not waited out here; the
in-process tests (crates/postern-smtp/tests/session_protection.rs) do it on paused time."""

from __future__ import annotations

import smtplib
import socket
import subprocess
import time

import pytest

from conftest import HOLD_ROUTE, HOSTNAME, RawSMTP, postern_bin, queued_id
from dnsserver import DnsServer

NO_EXCEPTIONS = "event_limit_exceptions = []\n"


class Client(RawSMTP):
    """A raw SMTP client from a chosen loopback address; reads the greeting unless told not to."""

    def __init__(self, server, source: str, greeting: bool = True, port: str = "smtp"):
        sock = socket.create_connection(("127.0.0.1", server.ports[port]), timeout=15, source_address=(source, 0))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.buf = b""
        if greeting:
            assert self.reply_line() == f"220 {HOSTNAME} ESMTP Postern"


def listener(keys: str, dns: DnsServer | None = None, more: str = "") -> str:
    text = "[listeners.smtp]\n" + keys + "\n" + more
    if dns is not None:
        text += f'\n[delivery]\ndns_servers = ["{dns.address}"]\n'
    return text


@pytest.fixture
def dns():
    server = DnsServer({
        "client.test": {"A": ["127.0.0.20"]},
        "mail.test": {"MX": [(10, "mx.mail.test")]},
        "nullmx.test": {"MX": [(0, ".")]},
        "broken.test": {"SERVFAIL": True},
    }).start()
    yield server
    server.stop()


def start(postern, config: str, extra: list[str] | None = None):
    # A [delivery] table keeps the fixture from adding the hold route: add it here.
    return postern(config=config, extra=list(HOLD_ROUTE) + (extra or []))


def refused_events(server, count: int) -> list[dict]:
    events = server.wait_events(lambda ev: len(ev) >= count, kind="refused")
    return [e["data"] for e in events]


def test_concurrent_connections_per_ip(postern):
    server = start(postern, listener("max_connections_per_ip = 2\n" + NO_EXCEPTIONS))
    first = Client(server, "127.0.0.2")
    second = Client(server, "127.0.0.2")
    third = Client(server, "127.0.0.2", greeting=False)
    assert third.reply_line() == f"421 4.7.0 {HOSTNAME} Error: too many connections from 127.0.0.2"
    third.expect_closed()
    Client(server, "127.0.0.3").close()
    assert first.cmd("QUIT") == "221 2.0.0 Bye"
    first.expect_closed()
    deadline = time.monotonic() + 5
    while True:  # the server counts the connection closed once its session has ended
        again = Client(server, "127.0.0.2", greeting=False)
        line = again.reply_line()
        if line.startswith("220") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert line == f"220 {HOSTNAME} ESMTP Postern"
    second.close()
    reasons = [e["reason"] for e in refused_events(server, 1)]
    assert "3 concurrent connections from 127.0.0.2, limit 2" in reasons[0]


def test_connections_per_minute_per_ip(postern):
    server = start(postern, listener("max_connections_per_ip = 0\nconnections_per_minute_per_ip = 2\n" + NO_EXCEPTIONS))
    for _ in range(2):
        with Client(server, "127.0.0.4") as c:
            assert c.cmd("QUIT") == "221 2.0.0 Bye"
    for _ in range(2):  # refused attempts count too: still refused
        with Client(server, "127.0.0.4", greeting=False) as c:
            assert c.reply_line() == f"421 4.7.0 {HOSTNAME} Error: too many connections from 127.0.0.4"
            c.expect_closed()
    Client(server, "127.0.0.3").close()


def test_messages_per_minute_per_ip(postern):
    server = start(postern, listener("messages_per_minute_per_ip = 2\n" + NO_EXCEPTIONS))
    with Client(server, "127.0.0.5") as c:
        c.ehlo()
        for _ in range(2):
            assert c.cmd("MAIL FROM:<a@example.com>") == "250 2.1.0 Ok"
            assert c.cmd("RSET") == "250 2.0.0 Ok"
        assert c.cmd("MAIL FROM:<a@example.com>") == "450 4.7.1 Error: too many messages from 127.0.0.5"
    with Client(server, "127.0.0.5") as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<>") == "450 4.7.1 Error: too many messages from 127.0.0.5"
    with Client(server, "127.0.0.3") as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@example.com>") == "250 2.1.0 Ok"


def rcpt_reply(server, source: str) -> str:
    with Client(server, source) as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@example.com>") == "250 2.1.0 Ok"
        return c.cmd("RCPT TO:<b@example.net>")


def test_forward_confirmed_reverse_dns_on_loopback(postern, dns):
    # RFC 6761: every 127.0.0.0/8 address is named "localhost", which is 127.0.0.1 only.
    server = start(postern, listener("require_fcrdns = true", dns))
    assert rcpt_reply(server, "127.0.0.1") == "250 2.1.5 Ok"
    assert rcpt_reply(server, "127.0.0.7") == "450 4.7.25 Client host rejected: cannot find your hostname, [127.0.0.7]"
    assert not [q for q in dns.queries if q[1] == "PTR"]


def test_helo_must_be_fqdn(postern):
    server = start(postern, listener("helo_must_be_fqdn = true"))
    with Client(server, "127.0.0.2") as c:
        assert c.cmd("EHLO localhost") == "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname"
        assert c.cmd("HELO 127.0.0.2") == "504 5.5.2 <127.0.0.2>: Helo command rejected: need fully-qualified hostname"
        assert c.cmd("MAIL FROM:<a@example.com>") == "503 5.5.1 Error: send HELO/EHLO first"
        assert c.cmd("HELO [127.0.0.2]") == f"250 {HOSTNAME}"
        c.ehlo("client.test.example")
        assert c.cmd("MAIL FROM:<a@example.com>") == "250 2.1.0 Ok"


def test_helo_must_resolve(postern, dns):
    server = start(postern, listener("helo_must_resolve = true", dns))
    with Client(server, "127.0.0.2") as c:
        assert c.cmd("EHLO nowhere.test") == "450 4.7.1 <nowhere.test>: Helo command rejected: Host not found"
        assert c.cmd("EHLO broken.test") == \
            "450 4.4.3 <broken.test>: Helo command rejected: DNS lookup failed; try again later"
        c.ehlo("client.test")
        c.ehlo("mail.test")
        c.ehlo("[127.0.0.2]")


def test_sender_must_be_fqdn(postern):
    server = start(postern, listener("sender_must_be_fqdn = true"))
    with Client(server, "127.0.0.2") as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@localhost>") == \
            "504 5.5.2 <a@localhost>: Sender address rejected: need fully-qualified address"
        assert c.cmd("MAIL FROM:<>") == "250 2.1.0 Ok"


def test_sender_domain_must_resolve(postern, dns):
    server = start(postern, listener("sender_domain_must_resolve = true", dns))
    with Client(server, "127.0.0.2") as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@nowhere.test>") == \
            "450 4.1.8 <a@nowhere.test>: Sender address rejected: Domain not found"
        assert c.cmd("MAIL FROM:<a@nullmx.test>") == \
            "550 5.7.27 <a@nullmx.test>: Sender address rejected: Domain nullmx.test does not accept mail (nullMX)"
        assert c.cmd("MAIL FROM:<a@broken.test>") == \
            "450 4.4.3 <a@broken.test>: Sender address rejected: DNS lookup failed; try again later"
        for sender in ["a@mail.test", "a@client.test", ""]:
            assert c.cmd(f"MAIL FROM:<{sender}>") == "250 2.1.0 Ok"
            assert c.cmd("RSET") == "250 2.0.0 Ok"


def test_unauthorized_pipelining(postern):
    server = start(postern, listener("reject_unauth_pipelining = true"))
    with Client(server, "127.0.0.2") as c:
        assert c.cmd("HELO client.test.example") == f"250 {HOSTNAME}"
        # Without EHLO, no command may be sent before the reply to the one before.
        c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        assert c.reply_line() == "250 2.1.0 Ok"
        assert c.reply_line() == "250 2.1.5 Ok"
        assert c.reply_line() == "503 5.5.0 <DATA>: Data command rejected: Improper use of SMTP command pipelining"
    # A client that said EHLO may pipeline MAIL, RCPT and DATA.
    with Client(server, "127.0.0.3") as c:
        c.ehlo()
        c.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        assert [c.reply_line() for _ in range(3)] == \
            ["250 2.1.0 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>"]
        c.send("Subject: pipelined\r\n\r\nbody\r\n.\r\n")
        queued_id(c.reply_line())
    assert len(server.spool()) == 1
    reason = refused_events(server, 1)[0]["reason"]
    assert reason.startswith("improper command pipelining after MAIL: RCPT TO:<b@example.net>"), reason


def test_junk_commands(postern):
    server = start(postern, listener("junk_command_limit = 3\nsoft_error_limit = 0", more="[limits]\nhard_error_limit = 2\n"))
    with Client(server, "127.0.0.2") as c:
        for command in ["NOOP", "RSET", "VRFY postmaster", "NOOP"]:
            assert c.cmd(command).startswith("25")
        c.send("ETRN example.com\r\n")  # the fifth junk command: the second error
        assert c.reply_line() == "502 5.5.1 Error: command not implemented"
        assert c.reply_line() == f"421 4.7.0 {HOSTNAME} Error: too many errors"
        c.expect_closed()
    # Each tenth junk command costs a second.
    server = start(postern, listener(""))
    with Client(server, "127.0.0.2") as c:
        for _ in range(9):
            assert c.cmd("NOOP") == "250 2.0.0 Ok"
        started = time.monotonic()
        assert c.cmd("NOOP") == "250 2.0.0 Ok"
        assert time.monotonic() - started >= 0.9


def test_soft_error_limit(postern):
    server = start(postern, listener("soft_error_limit = 2\nerror_sleep = 1"))
    with Client(server, "127.0.0.2") as c:
        started = time.monotonic()
        for _ in range(2):
            assert c.cmd("XYZZY") == "500 5.5.2 Error: command not recognized"
        assert time.monotonic() - started < 0.9
        started = time.monotonic()
        assert c.cmd("NOOP") == "250 2.0.0 Ok"
        assert time.monotonic() - started >= 0.9


def test_daily_block_after_refused_recipients(postern):
    # 127.0.0.0/8 is not trusted here: every recipient is refused (554 5.7.1).
    server = start(postern, listener("refused_recipients_limit = 2"), extra=["--trusted-network", "192.0.2.0/24"])
    with Client(server, "127.0.0.10") as c:
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@example.com>") == "250 2.1.0 Ok"
        for rcpt in ["x", "y", "z"]:
            assert c.cmd(f"RCPT TO:<{rcpt}@example.net>") == f"554 5.7.1 <{rcpt}@example.net>: Relay access denied"
    with Client(server, "127.0.0.10", greeting=False) as c:
        assert c.reply_line() == f"421 4.7.0 {HOSTNAME} Error: too many errors from 127.0.0.10; try again tomorrow"
        c.expect_closed()
    Client(server, "127.0.0.11").close()
    reasons = [e["reason"] for e in refused_events(server, 4) if e["stage"] == "connect"]
    assert reasons == ["blocked for the rest of the day: 3 recipients refused today, limit 2"]


def test_daily_block_after_failed_authentications(postern):
    server = start(postern, listener("auth_failures_limit = 1", more="[auth]\nfailure_delay = 0\n"),
                   extra=["--trusted-network", "192.0.2.0/24"])
    ctx = server.tls_context()
    for _ in range(2):
        with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=20, source_address=("127.0.0.12", 0)) as c:
            c.starttls(context=ctx)
            c.ehlo()
            c.user, c.password = "nobody@example.com", "wrong"
            with pytest.raises(smtplib.SMTPAuthenticationError):
                c.auth("PLAIN", c.auth_plain)  # one attempt (login() would try every mechanism)
    with Client(server, "127.0.0.12", greeting=False) as c:
        assert c.reply_line() == f"421 4.7.0 {HOSTNAME} Error: too many errors from 127.0.0.12; try again tomorrow"


def test_monitor_mode_refuses_nothing_and_logs(postern, dns):
    server = start(postern, listener(
        'require_fcrdns = true\nhelo_must_be_fqdn = true\nmonitor = ["require_fcrdns", "helo_must_be_fqdn"]', dns))
    with Client(server, "127.0.0.8") as c:  # named localhost, which is not 127.0.0.8 (RFC 6761)
        c.ehlo("localhost")
        assert c.cmd("MAIL FROM:<a@example.com>") == "250 2.1.0 Ok"
        assert c.cmd("RCPT TO:<b@example.net>") == "250 2.1.5 Ok"
        assert c.cmd("DATA") == "354 End data with <CR><LF>.<CR><LF>"
        c.send("Subject: monitored\r\n\r\nbody\r\n.\r\n")
        queued_id(c.reply_line())
    events = refused_events(server, 2)
    assert [(e["stage"], e["reply"]) for e in events] == [
        ("helo", "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname"),
        ("rcpt", "450 4.7.25 Client host rejected: cannot find your hostname, [127.0.0.8]"),
    ]
    assert all(e["reason"].startswith("would refuse (monitor): ") for e in events)


def test_trusted_networks_are_exempt_from_limits_by_default(postern):
    server = start(postern, listener("max_connections_per_ip = 1"))
    clients = [Client(server, "127.0.0.13") for _ in range(3)]
    for c in clients:
        c.close()


def test_bad_policy_key_names_the_key(tmp_path):
    path = tmp_path / "postern.toml"
    path.write_text('[listeners.smtp]\nmonitor = ["fcrdns"]\n')
    proc = subprocess.run([str(postern_bin()), "serve", "--data-dir", str(tmp_path / "data"), "--config", str(path)],
                          capture_output=True, text=True, timeout=10)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"postern: config error: {path}:2: listeners.smtp.monitor[0]: \"fcrdns\" is not one of ")
