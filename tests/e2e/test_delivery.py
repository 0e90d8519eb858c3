"""Delivery, end to end: the real binary hands mail to real SMTP servers on loopback.

Receiving servers are aiosmtpd "sinks" (sinks.py) that record every line they are sent
(with the TLS state at that moment), every message, RCPT and AUTH; direct delivery asks a
DNS server started by the test (dnsserver.py). Retries are made fast with `retry_first`
and `retry_max` of a second or two, expiry with a `max_queue_lifetime` of a few seconds.
Every wait polls with a deadline; every server is stopped at teardown.

Covers: relay hosts with STARTTLS + AUTH (verified against a test CA), implicit TLS,
require_tls, a wrong password and an unverifiable certificate (deferred; nothing, and no
credentials, sent in plaintext or to the wrong server); connection reuse and QUIT on idle;
recipient rules over sender rules over the default route; MX preference, fallback to the
next MX, implicit MX, mx_overrides, address literals, null MX (5.1.10), NXDOMAIN and
unusable MX hosts (5.1.2), SERVFAIL (deferred); 4xx then 2xx (delivered on retry, with and
without PIPELINING); 5xx for one recipient (RFC 3464 DSN to the sender with the null sender,
the other recipient delivered once); expiry (DSN 4.4.7); the delay warning; no DSN for the
null sender or NOTIFY=NEVER; a "relayed" DSN for NOTIFY=SUCCESS past a server without DSN,
none past one with DSN; and a restart that keeps the retry schedule and the attempt count.
"""

from __future__ import annotations

import json
import smtplib
import time
import uuid

import pytest

from conftest import HOSTNAME, Server, queued_id
from dnsserver import DnsServer
from sinks import Received, Sink, TlsFiles, bind_same_port, make_certificate, server_tls_context

SENDER = "alice@sender.test"
WAIT = 20.0  # upper bound for anything that should happen within a retry or two

# Fast retries; short network timeouts so that nothing can hang a test for long.
FAST = {
    "retry_first": 1,
    "retry_max": 2,
    "connect_timeout": 3,
    "command_timeout": 5,
    "data_timeout": 5,
}


# --------------------------------------------------------------------------------------
# Configuration, submission, waiting


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(value)


def relay(name: str, sink: Sink, tls: str = "none", **extra) -> dict:
    return {"name": name, "host": sink.host, "port": sink.port, "tls": tls, **extra}


def delivery_config(*, relays=(), rules=(), mx_overrides=None, **knobs) -> str:
    """A `[delivery]` section: FAST knobs, then `knobs`, relay hosts and rules (in order)."""
    lines = ["[delivery]"]
    for key, value in {**FAST, **knobs}.items():
        lines.append(f"{key} = {toml_value(value)}")
    if mx_overrides:
        lines.append("[delivery.mx_overrides]")
        lines += [f"{json.dumps(d)} = {json.dumps(t)}" for d, t in mx_overrides.items()]
    for host in relays:
        lines.append("[[delivery.relay_hosts]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in host.items()]
    for kind, pattern, route in rules:
        lines += ["[[delivery.rules]]", f"kind = {json.dumps(kind)}", f"match = {json.dumps(pattern)}",
                  f"route = {json.dumps(route)}"]
    return "\n".join(lines) + "\n"


def make_message(subject: str, sender: str = SENDER, to: str = "someone@dest.test") -> bytes:
    return (
        f"From: <{sender or 'mailer-daemon@client.test'}>\r\n"
        f"To: <{to}>\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@client.test>\r\n"
        "\r\n"
        f"Body of {subject}.\r\n"
        ".leading dot line\r\n"
    ).encode()


def submit(server: Server, rcpts, subject: str, sender: str = SENDER, notify: dict | None = None) -> tuple[str, bytes]:
    """One message through Postern's relay port; returns (queue id, message bytes sent).

    `notify`: recipient -> NOTIFY value (`NEVER`, `SUCCESS`, `SUCCESS,FAILURE`, ...)."""
    message = make_message(subject, sender, rcpts[0])
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=10) as client:
        client.ehlo("client.test.example")
        code, text = client.mail(sender)
        assert code == 250, (code, text)
        for r in rcpts:
            options = [f"NOTIFY={notify[r]}"] if notify and r in notify else []
            code, text = client.rcpt(r, options)
            assert code == 250, (r, code, text)
        code, text = client.data(message)
        return queued_id(f"{code} {text.decode()}"), message


def deliveries(server: Server, queue_id: str | None = None) -> list[dict]:
    return [e["data"] | {"at_ms": e["at_ms"], "queue_id": e["queue_id"]}
            for e in server.events(kind="delivery", queue_id=queue_id)]


def wait_deliveries(server: Server, predicate, queue_id: str | None = None, timeout: float = WAIT) -> list[dict]:
    """Polls the `delivery` events (of one message) until `predicate(list)` holds."""
    deadline = time.monotonic() + timeout
    while True:
        found = deliveries(server, queue_id)
        if predicate(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(
                f"delivery events never matched within {timeout}s: {json.dumps(found, indent=1)}\n"
                f"postern stdout (tail):\n" + "\n".join(server.stdout[-30:])
            )
        time.sleep(0.05)


def wait_spool_empty(server: Server, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while server.spool_names("queue"):
        if time.monotonic() > deadline:
            raise AssertionError(f"spool still holds {server.spool_names('queue')} after {timeout}s; "
                                 f"deliveries: {json.dumps(deliveries(server), indent=1)}")
        time.sleep(0.05)


def results(events: list[dict]) -> list[tuple[str, str, int]]:
    return [(e["recipient"], e["result"], e["attempt"]) for e in events]


def flush_events(server: Server, marker_sink: Sink, marker_rcpt: str) -> None:
    """Sends one more message and waits for its `delivered` event: every event emitted
    before it (a `dsn` event, say) is then in the store too (one writer, in order)."""
    before = len(marker_sink.messages)
    qid, _ = submit(server, [marker_rcpt], f"marker {uuid.uuid4().hex[:8]}")
    wait_deliveries(server, lambda ev: any(e["result"] == "delivered" for e in ev), qid)
    marker_sink.wait_messages(before + 1)


# --------------------------------------------------------------------------------------
# DSNs


class Dsn:
    """A DSN as received, parsed with the `email` package (policy default)."""

    def __init__(self, received: Received):
        self.received = received
        self.message = received.parsed()
        msg = self.message
        assert msg.get_content_type() == "multipart/report", msg.get_content_type()
        assert msg.get_param("report-type") == "delivery-status", msg["Content-Type"]
        self.parts = list(msg.iter_parts())
        types = [p.get_content_type() for p in self.parts]
        assert len(types) == 3 and types[0] == "text/plain" and types[1] == "message/delivery-status", types
        blocks = self.parts[1].get_payload()
        assert isinstance(blocks, list) and len(blocks) >= 2, blocks
        self.per_message = blocks[0]
        self.per_recipient = blocks[1:]
        self.text = self.parts[0].get_content()
        self.returned = self.parts[2]

    def recipient(self, address: str):
        found = [b for b in self.per_recipient if b["Final-Recipient"] == f"rfc822; {address}"]
        assert len(found) == 1, [dict(b) for b in self.per_recipient]
        return found[0]

    def returned_headers(self) -> bytes:
        """Part 3 when it is text/rfc822-headers."""
        assert self.returned.get_content_type() == "text/rfc822-headers", self.returned.get_content_type()
        return self.returned.get_payload(decode=True)


def assert_null_sender_to(received: Received, rcpt: str = SENDER) -> None:
    assert received.mail_from == "<>", f"a DSN must be sent with MAIL FROM:<>, got {received.mail_from!r}"
    assert received.rcpt_tos == [rcpt], received.rcpt_tos


def dsn_events(server: Server) -> list[dict]:
    return [e["data"] for e in server.events(kind="dsn")]


def wait_dsn_events(server: Server, n: int, timeout: float = WAIT) -> list[dict]:
    """The `dsn` events once `n` are stored (the event writer batches on its own)."""
    return [e["data"] for e in server.wait_events(lambda ev: len(ev) >= n, timeout=timeout, kind="dsn")]


# --------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def sinks():
    """Factory: sinks(name, **kwargs) -> a started Sink on 127.0.0.1; all stopped at teardown."""
    started: list[Sink] = []

    def make(name: str, host: str = "127.0.0.1", **kwargs) -> Sink:
        sink = Sink(name, host, **kwargs).start()
        started.append(sink)
        return sink

    yield make
    for sink in started:
        sink.stop()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> TlsFiles:
    """A test CA, and a sink certificate it signed for 127.0.0.1 (not for 127.0.0.2)."""
    return make_certificate(tmp_path_factory.mktemp("sink-tls"))


@pytest.fixture
def tls_context(tls_files):
    return server_tls_context(tls_files)


def dsn_route(dsn_sink: Sink) -> tuple[list[dict], list[tuple[str, str, str]]]:
    """A relay host for the DSN sink and the recipient rule that sends the sender's mail there."""
    return [relay("dsn", dsn_sink)], [("recipient", "sender.test", "dsn")]


# --------------------------------------------------------------------------------------
# 1. Relay hosts: STARTTLS, AUTH, implicit TLS, require_tls


def plaintext_commands(sink: Sink) -> list[str]:
    return [line for tls, line in sink.command_lines() if not tls]


def authenticated_relay(sink: Sink, tls_files: TlsFiles | None, tls: str = "starttls", password: str = "s3cret",
                        **extra) -> dict:
    """A relay host with AUTH; it verifies certificates (the default with credentials),
    trusting the test CA when `tls_files` is given."""
    host = relay("provider", sink, tls=tls, username="postern", password=password, **extra)
    if tls_files is not None:
        host["tls_ca_file"] = str(tls_files.ca)
    return host


def test_relay_starttls_and_auth(postern, sinks, tls_context, tls_files):
    sink = sinks("provider", starttls=tls_context, require_starttls=True, users={"postern": "s3cret"},
                 auth_required=True)
    server = postern(config=delivery_config(
        default_route="provider", relays=[authenticated_relay(sink, tls_files, require_tls=True)]))
    qid, sent = submit(server, ["bob@dest.test"], "starttls and auth")

    [got] = sink.wait_messages(1)
    assert got.tls, "the message was not sent over TLS"
    assert got.auth_user == "postern"
    assert got.mail_from == SENDER and got.rcpt_tos == ["bob@dest.test"]
    assert got.data.endswith(sent), got.data
    assert got.data.startswith(b"Received: "), got.data[:200]
    assert sink.auth_attempts == [(True, "postern", True)]
    # Before STARTTLS only EHLO and STARTTLS itself went over the wire in plaintext.
    assert [c.split()[0].upper() for c in plaintext_commands(sink)] == ["EHLO", "STARTTLS"], sink.command_lines()

    [event] = wait_deliveries(server, lambda ev: len(ev) == 1, qid)
    assert (event["result"], event["attempt"], event["destination"]) == ("delivered", 1, "relay:provider")
    assert event["status"].startswith("2."), event
    assert f"[127.0.0.1]:{sink.port}" in event["remote"], event
    wait_spool_empty(server)
    assert not (server.data_dir / "spool" / "state" / qid).exists()


def test_relay_wrong_password_defers_and_never_sends(postern, sinks, tls_context, tls_files):
    sink = sinks("provider", starttls=tls_context, require_starttls=True, users={"postern": "s3cret"},
                 auth_required=True)
    server = postern(config=delivery_config(
        default_route="provider", relays=[authenticated_relay(sink, tls_files, password="wrong")]))
    qid, _ = submit(server, ["bob@dest.test"], "wrong password")

    # Two attempts, both deferred: a refused login is our configuration's problem, not a
    # reason to return the sender's mail (Postfix: smtp_sasl_auth_soft_bounce).
    events = wait_deliveries(server, lambda ev: len(ev) >= 2, qid)
    assert results(events[:2]) == [("bob@dest.test", "deferred", 1), ("bob@dest.test", "deferred", 2)], events
    assert all(e["status"].startswith("4.") for e in events), events
    assert "535" in events[0]["reply"], events[0]
    assert sink.messages == []
    assert sink.auth_attempts and all(tls and not ok for tls, _, ok in sink.auth_attempts), sink.auth_attempts
    commands = [c.split()[0].upper() for _, c in sink.command_lines()]
    assert "MAIL" not in commands and "DATA" not in commands, sink.command_lines()
    assert {c.split()[0].upper() for c in plaintext_commands(sink)} == {"EHLO", "STARTTLS"}, sink.command_lines()
    assert qid in server.spool_names("queue")
    assert dsn_events(server) == []


@pytest.mark.parametrize("why", ["untrusted", "wrong-name"])
def test_relay_unverified_certificate_gets_no_credentials(postern, sinks, tls_context, tls_files, why):
    """With credentials the certificate is verified (the default): a server we cannot verify
    never sees the password, and the mail waits."""
    host = "127.0.0.2" if why == "wrong-name" else "127.0.0.1"  # the certificate names 127.0.0.1 only
    sink = sinks("provider", host=host, starttls=tls_context, users={"postern": "s3cret"}, auth_required=True)
    server = postern(config=delivery_config(
        default_route="provider",
        relays=[authenticated_relay(sink, tls_files if why == "wrong-name" else None)]))
    qid, _ = submit(server, ["bob@dest.test"], f"unverified certificate: {why}")
    events = wait_deliveries(server, lambda ev: len(ev) >= 1, qid)
    assert results(events[:1]) == [("bob@dest.test", "deferred", 1)], events
    assert events[0]["status"].startswith("4.") and "certificate" in events[0]["reply"].lower(), events[0]
    assert sink.auth_attempts == [] and sink.messages == []
    commands = [c.split()[0].upper() for _, c in sink.command_lines()]
    assert not {"AUTH", "MAIL", "RCPT", "DATA"} & set(commands), sink.command_lines()
    assert qid in server.spool_names("queue")


def test_relay_require_tls_without_starttls_defers(postern, sinks):
    """require_tls and a server that offers no STARTTLS: nothing is sent, the mail waits."""
    sink = sinks("plain", users={"postern": "s3cret"})
    server = postern(config=delivery_config(
        default_route="provider", relays=[authenticated_relay(sink, None, require_tls=True)]))
    qid, _ = submit(server, ["bob@dest.test"], "require tls")
    events = wait_deliveries(server, lambda ev: len(ev) >= 1, qid)
    assert results(events[:1]) == [("bob@dest.test", "deferred", 1)], events
    assert events[0]["status"].startswith("4."), events
    assert sink.messages == [] and sink.auth_attempts == []
    commands = [c.split()[0].upper() for _, c in sink.command_lines()]
    assert not {"AUTH", "MAIL", "RCPT", "DATA"} & set(commands), sink.command_lines()
    assert qid in server.spool_names("queue")


def test_relay_starttls_opportunistic_without_offer_sends_plain_without_auth(postern, sinks):
    """tls = "starttls" without require_tls and without credentials: plaintext is allowed."""
    sink = sinks("plain")
    server = postern(config=delivery_config(default_route="provider",
                                            relays=[relay("provider", sink, tls="starttls")]))
    qid, sent = submit(server, ["bob@dest.test"], "opportunistic")
    [got] = sink.wait_messages(1)
    assert not got.tls and got.data.endswith(sent)
    wait_deliveries(server, lambda ev: results(ev) == [("bob@dest.test", "delivered", 1)], qid)


def test_relay_implicit_tls_with_auth(postern, sinks, tls_context, tls_files):
    sink = sinks("smtps", implicit_tls=tls_context, users={"postern": "s3cret"}, auth_required=True)
    server = postern(config=delivery_config(
        default_route="provider", relays=[authenticated_relay(sink, tls_files, tls="implicit")]))
    qid, sent = submit(server, ["bob@dest.test"], "implicit tls")
    [got] = sink.wait_messages(1)
    assert got.tls and got.auth_user == "postern" and got.data.endswith(sent)
    assert plaintext_commands(sink) == [], sink.command_lines()
    wait_deliveries(server, lambda ev: results(ev) == [("bob@dest.test", "delivered", 1)], qid)


def test_connection_reused_then_closed_with_quit(postern, sinks):
    """An idle connection serves the next message (RSET, no new EHLO), and is closed with
    QUIT once idle for connection_reuse_time, even when no other delivery follows; and so
    is the next one kept after that."""
    sink = sinks("dest")
    server = postern(config=delivery_config(default_route="dest", relays=[relay("dest", sink)],
                                            connection_reuse_time=2))
    submit(server, ["a@dest.test"], "first")
    sink.wait_messages(1)
    submit(server, ["b@dest.test"], "second")
    sink.wait_messages(2)
    assert sink.connections == 1, "the idle connection was not reused"
    delivered = time.monotonic()
    with sink.cond:
        while sink.closed < 1 and time.monotonic() - delivered < 2 + 5:
            sink.cond.wait(0.1)
    assert sink.closed == 1, "the idle connection was never closed"
    verbs = [c.split()[0].upper() for _, c in sink.command_lines()]
    assert verbs == ["EHLO", "MAIL", "RCPT", "DATA", "RSET", "MAIL", "RCPT", "DATA", "QUIT"], verbs
    # Nothing was kept any more: the next connection kept is closed the same way.
    submit(server, ["c@dest.test"], "third")
    sink.wait_messages(3)
    delivered = time.monotonic()
    with sink.cond:
        while sink.closed < 2 and time.monotonic() - delivered < 2 + 5:
            sink.cond.wait(0.1)
    assert (sink.connections, sink.closed) == (2, 2), "the second idle connection was never closed"
    verbs = [c.split()[0].upper() for _, c in sink.command_lines()]
    assert verbs[9:] == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"], verbs



def test_reused_connection_sends_rset_in_one_group_with_the_next_transaction(postern, sinks):
    """To a server with PIPELINING, the RSET that checks a kept connection travels with
    MAIL, RCPT and DATA (RFC 2920 lets it stand in a group): one round trip, not two."""
    sink = sinks("dest", pipelining=True)
    server = postern(config=delivery_config(default_route="dest", relays=[relay("dest", sink)]))
    submit(server, ["a@dest.test"], "first")
    sink.wait_messages(1)
    submit(server, ["b@dest.test"], "second")
    sink.wait_messages(2)
    assert sink.connections == 1, "the idle connection was not reused"
    with sink.lock:
        lines = [((raw.decode("utf-8", "replace").split() or [""])[0].upper(), grouped)
                 for (_, raw), grouped in zip(sink.lines, sink.grouped)]
    at = [verb for verb, _ in lines].index("RSET")
    assert lines[at:at + 4] == [("RSET", True), ("MAIL", True), ("RCPT", True), ("DATA", False)], lines


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "no-pipelining"])
def test_a_kept_connection_the_server_timed_out_is_replaced_not_deferred(postern, sinks, pipelining):
    """The server closed the idle connection (421, as smtpd_timeout does) before the next
    message: that message goes out at once on a new connection, not after a retry."""
    sink = sinks("dest", pipelining=pipelining, idle_timeout=1)
    server = postern(config=delivery_config(default_route="dest", relays=[relay("dest", sink)],
                                            connection_reuse_time=30))
    first, _ = submit(server, ["a@dest.test"], "first")
    sink.wait_messages(1)
    wait_deliveries(server, lambda ev: results(ev) == [("a@dest.test", "delivered", 1)], first)
    deadline = time.monotonic() + 10
    with sink.cond:
        while sink.closed < 1 and time.monotonic() < deadline:
            sink.cond.wait(0.1)
    assert sink.closed == 1, "the sink did not time the idle connection out"
    second, _ = submit(server, ["b@dest.test"], "second")
    sink.wait_messages(2)
    wait_deliveries(server, lambda ev: results(ev) == [("b@dest.test", "delivered", 1)], second)
    assert sink.connections == 2
    assert [m.rcpt_tos for m in sink.messages] == [["a@dest.test"], ["b@dest.test"]]

# --------------------------------------------------------------------------------------
# 2. Routing: recipient rules, then sender rules, then the default route


def test_recipient_rules_win_over_sender_rules_over_default(postern, sinks):
    by_rcpt, by_sender, default = sinks("by-rcpt"), sinks("by-sender"), sinks("default")
    server = postern(config=delivery_config(
        default_route="default",
        relays=[relay("r", by_rcpt), relay("s", by_sender), relay("default", default)],
        # The sender rule comes first in the file: precedence is by kind, not by order.
        rules=[("sender", "corp.test", "s"), ("recipient", "special.test", "r"),
               ("recipient", "boss@elsewhere.test", "r")],
    ))
    submit(server, ["x@elsewhere.test"], "m1 sender rule", sender="a@corp.test")
    submit(server, ["vip@special.test"], "m2 recipient beats sender", sender="a@corp.test")
    submit(server, ["x@elsewhere.test"], "m3 default", sender="a@other.test")
    submit(server, ["Boss@Elsewhere.TEST"], "m4 exact address rule", sender="a@other.test")
    submit(server, ["vip@special.test", "y@elsewhere.test", "z@nowhere.test"], "m5 split",
           sender="a@CORP.test")

    def by_subject(sink: Sink, n: int) -> dict[str, list[str]]:
        got = sink.wait_messages(n)
        return {m.parsed()["Subject"]: m.rcpt_tos for m in got}

    assert by_subject(by_rcpt, 3) == {
        "m2 recipient beats sender": ["vip@special.test"],
        "m4 exact address rule": ["Boss@Elsewhere.TEST"],
        "m5 split": ["vip@special.test"],
    }
    assert by_subject(by_sender, 2) == {
        "m1 sender rule": ["x@elsewhere.test"],
        "m5 split": ["y@elsewhere.test", "z@nowhere.test"],
    }
    assert by_subject(default, 1) == {"m3 default": ["x@elsewhere.test"]}
    wait_spool_empty(server)
    # The events are written by their own batched writer: the spool can empty first.
    events = wait_deliveries(server, lambda ev: len(ev) >= 6)
    assert {(e["recipient"], e["destination"]) for e in events} == {
        ("x@elsewhere.test", "relay:s"), ("vip@special.test", "relay:r"), ("x@elsewhere.test", "relay:default"),
        ("Boss@Elsewhere.TEST", "relay:r"), ("y@elsewhere.test", "relay:s"), ("z@nowhere.test", "relay:s"),
    }
    assert all(e["result"] == "delivered" and e["attempt"] == 1 for e in events), events
    # Nothing arrived twice.
    time.sleep(0.3)
    assert (len(by_rcpt.messages), len(by_sender.messages), len(default.messages)) == (3, 2, 1)


# --------------------------------------------------------------------------------------
# 3. Direct delivery by MX, with our own DNS server


MX_ZONES = {
    # Preference order: the records are listed highest first on purpose.
    "pref.test": {"MX": [(20, "mx2.pref.test"), (10, "mx1.pref.test")]},
    "mx1.pref.test": {"A": ["127.0.0.2"]},
    "mx2.pref.test": {"A": ["127.0.0.3"]},
    # The preferred MX refuses connections (nothing listens on 127.0.0.4).
    "fallback.test": {"MX": [(10, "dead.fallback.test"), (20, "mx2.pref.test")]},
    "dead.fallback.test": {"A": ["127.0.0.4"]},
    # No MX, an A record: the domain is its own mail host (RFC 5321 §5.1).
    "implicit.test": {"A": ["127.0.0.3"]},
    # RFC 7505: accepts no mail.
    "nullmx.test": {"MX": [(0, ".")]},
    "servfail.test": {"SERVFAIL": True},
    # MX hosts that do not exist / have no address: no usable MX (RFC 5321 §5.1).
    "badmx.test": {"MX": [(10, "nohost.badmx.test"), (20, "noaddr.badmx.test")]},
    "noaddr.badmx.test": {"TXT": ["no address here"]},
    # Where DSNs to alice@sender.test go.
    "sender.test": {"MX": [(10, "mx.sender.test")]},
    "mx.sender.test": {"A": ["127.0.0.5"]},
}


class MxWorld:
    def __init__(self, dns: DnsServer, mx1: Sink, mx2: Sink, dsn: Sink):
        self.dns, self.mx1, self.mx2, self.dsn = dns, mx1, mx2, dsn

    def config(self, **knobs) -> str:
        return delivery_config(default_route="direct", smtp_port=self.mx1.port, dns_servers=[self.dns.address],
                               **knobs)


@pytest.fixture
def mx_world():
    dns = DnsServer(MX_ZONES).start()
    started = bind_same_port([("mx1", "127.0.0.2", {}), ("mx2", "127.0.0.3", {}), ("dsn", "127.0.0.5", {})])
    try:
        yield MxWorld(dns, *started)
    finally:
        for sink in started:
            sink.stop()
        dns.stop()


def test_mx_lowest_preference_first(postern, mx_world):
    server = postern(config=mx_world.config())
    # Two recipients of one domain (spelled differently): one destination, one transaction.
    qid, sent = submit(server, ["bob@pref.test", "carol@PREF.Test"], "mx preference")
    [got] = mx_world.mx1.wait_messages(1)
    assert got.rcpt_tos == ["bob@pref.test", "carol@PREF.Test"] and got.data.endswith(sent)
    events = wait_deliveries(server, lambda ev: len(ev) == 2, qid)
    for event in events:
        assert (event["result"], event["destination"]) == ("delivered", "mx:pref.test"), event
        assert event["remote"] == f"mx1.pref.test[127.0.0.2]:{mx_world.mx1.port}", event
    assert mx_world.mx2.connections == 0
    assert ("pref.test", "MX") in mx_world.dns.queries


def test_mx_override_skips_dns(postern, mx_world):
    server = postern(config=mx_world.config(mx_overrides={"override.test": f"127.0.0.3:{mx_world.mx2.port}"}))
    qid, sent = submit(server, ["bob@Override.test"], "mx override")
    [got] = mx_world.mx2.wait_messages(1)
    assert got.rcpt_tos == ["bob@Override.test"] and got.data.endswith(sent)
    [event] = wait_deliveries(server, lambda ev: len(ev) == 1, qid)
    assert (event["result"], event["destination"]) == ("delivered", "mx:override.test"), event
    assert not [q for q in mx_world.dns.queries if q[0] == "override.test"], mx_world.dns.queries


def test_address_literal_goes_to_that_address(postern, mx_world):
    server = postern(config=mx_world.config())
    qid, sent = submit(server, ["bob@[127.0.0.3]"], "address literal")
    [got] = mx_world.mx2.wait_messages(1)
    assert got.rcpt_tos == ["bob@[127.0.0.3]"] and got.data.endswith(sent)
    [event] = wait_deliveries(server, lambda ev: len(ev) == 1, qid)
    assert event["result"] == "delivered" and "127.0.0.3" in event["remote"], event
    assert not [q for q in mx_world.dns.queries if "127" in q[0]], mx_world.dns.queries


def test_mx_next_host_when_first_refuses(postern, mx_world):
    server = postern(config=mx_world.config())
    qid, sent = submit(server, ["bob@fallback.test"], "mx fallback")
    [got] = mx_world.mx2.wait_messages(1)
    assert got.rcpt_tos == ["bob@fallback.test"] and got.data.endswith(sent)
    [event] = wait_deliveries(server, lambda ev: len(ev) == 1, qid)
    assert (event["result"], event["attempt"]) == ("delivered", 1), event
    assert event["remote"] == f"mx2.pref.test[127.0.0.3]:{mx_world.mx2.port}", event
    assert ("dead.fallback.test", "A") in mx_world.dns.queries
    assert any("127.0.0.4" in line for line in server.stdout), "the refused first MX is not in the log"


def test_implicit_mx_from_a_record(postern, mx_world):
    server = postern(config=mx_world.config())
    qid, sent = submit(server, ["bob@implicit.test"], "implicit mx")
    [got] = mx_world.mx2.wait_messages(1)
    assert got.rcpt_tos == ["bob@implicit.test"] and got.data.endswith(sent)
    [event] = wait_deliveries(server, lambda ev: len(ev) == 1, qid)
    assert event["remote"] == f"implicit.test[127.0.0.3]:{mx_world.mx2.port}", event
    assert ("implicit.test", "MX") in mx_world.dns.queries and ("implicit.test", "A") in mx_world.dns.queries


@pytest.mark.parametrize("domain,status", [("nullmx.test", "5.1.10"), ("nx.test", "5.1.2"), ("badmx.test", "5.1.2")])
def test_undeliverable_domain_bounces_at_once(postern, mx_world, domain, status):
    server = postern(config=mx_world.config())
    rcpt = f"bob@{domain}"
    qid, sent = submit(server, [rcpt], f"bounce {domain}")

    [event] = wait_deliveries(server, lambda ev: len(ev) == 1, qid)
    assert (event["result"], event["status"], event["attempt"]) == ("bounced", status, 1), event
    [got] = mx_world.dsn.wait_messages(1)
    assert_null_sender_to(got)
    dsn = Dsn(got)
    block = dsn.recipient(rcpt)
    assert block["Action"] == "failed" and block["Status"] == status, dict(block)
    assert dsn.per_message["Reporting-MTA"] == f"dns; {HOSTNAME}"
    assert sent in got.data, "the whole original message is returned"
    wait_spool_empty(server)
    assert mx_world.mx1.connections == 0 and mx_world.mx2.connections == 0
    assert [d["action"] for d in wait_dsn_events(server, 1)] == ["failed"]


def test_dns_servfail_defers(postern, mx_world):
    server = postern(config=mx_world.config())
    qid, _ = submit(server, ["bob@servfail.test"], "servfail")
    events = wait_deliveries(server, lambda ev: len(ev) >= 2, qid)
    assert results(events[:2]) == [("bob@servfail.test", "deferred", 1), ("bob@servfail.test", "deferred", 2)]
    assert all(e["status"].startswith("4.") for e in events), events
    assert qid in server.spool_names("queue") and dsn_events(server) == []


# --------------------------------------------------------------------------------------
# 4. A temporary failure, then success


@pytest.mark.parametrize("pipelining", [False, True], ids=["plain", "pipelining"])
@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_temporary_failure_then_delivered_on_retry(postern, sinks, stage, pipelining):
    kwargs = {"pipelining": pipelining}
    if stage == "rcpt":
        kwargs["rcpt_reply"] = lambda addr, n: "450 4.2.0 <bob@dest.test>: try again later" if n == 1 else None
    else:
        kwargs["data_reply"] = lambda n: "451 4.3.0 Temporary local problem" if n == 1 else None
    sink = sinks("flaky", **kwargs)
    server = postern(config=delivery_config(default_route="flaky", relays=[relay("flaky", sink)]))
    qid, sent = submit(server, ["bob@dest.test"], f"retry after 4xx at {stage}")

    events = wait_deliveries(server, lambda ev: len(ev) >= 2, qid)
    assert results(events) == [("bob@dest.test", "deferred", 1), ("bob@dest.test", "delivered", 2)], events
    deferred, delivered = events
    assert deferred["status"] == ("4.2.0" if stage == "rcpt" else "4.3.0"), deferred
    assert ("450 4.2.0" if stage == "rcpt" else "451 4.3.0") in deferred["reply"], deferred
    assert delivered["at_ms"] - deferred["at_ms"] >= 900, "retried before retry_first"
    [got] = sink.wait_messages(1)
    assert got.data.endswith(sent)
    wait_spool_empty(server)
    assert dsn_events(server) == []
    assert len(sink.messages) == 1


# --------------------------------------------------------------------------------------
# 5. A permanent failure for one recipient: DSN to the sender; the other one delivered once


@pytest.mark.parametrize("pipelining", [False, True], ids=["plain", "pipelining"])
def test_one_recipient_refused_dsn_to_sender(postern, sinks, pipelining):
    refused = "550 5.1.1 <bad@dest.test>: Recipient address rejected: User unknown"
    dest = sinks("dest", pipelining=pipelining,
                 rcpt_reply=lambda addr, n: refused if addr == "bad@dest.test" else None)
    dsn_sink = sinks("dsn")
    relays, rules = dsn_route(dsn_sink)
    server = postern(config=delivery_config(default_route="dest", relays=[relay("dest", dest), *relays],
                                            rules=rules))
    qid, sent = submit(server, ["good@dest.test", "bad@dest.test"], "one refused")

    [got] = dest.wait_messages(1)
    assert got.rcpt_tos == ["good@dest.test"] and got.data.endswith(sent)
    [bounce] = dsn_sink.wait_messages(1)
    assert_null_sender_to(bounce)
    dsn = Dsn(bounce)
    msg = dsn.message
    assert [a.addr_spec for a in msg["To"].addresses] == [SENDER], msg["To"]
    assert msg["Auto-Submitted"] == "auto-replied"
    # From the postmaster address ([postmaster] address, default postmaster@<hostname>).
    assert msg["From"].addresses[0].addr_spec == f"postmaster@{HOSTNAME}", msg["From"]
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert dsn.per_message["Reporting-MTA"] == f"dns; {HOSTNAME}"
    assert dsn.per_message["X-Postern-Queue-ID"] == qid
    assert len(dsn.per_recipient) == 1, "only the refused recipient is reported"
    block = dsn.recipient("bad@dest.test")
    assert block["Action"] == "failed"
    assert block["Status"] == "5.1.1"
    assert block["Remote-MTA"] == "dns; 127.0.0.1"  # the relay host's name as configured
    assert block["Diagnostic-Code"].startswith("smtp; ") and refused in " ".join(block["Diagnostic-Code"].split())
    assert "bad@dest.test" in dsn.text and "good@dest.test" not in dsn.text
    assert dsn.returned.get_content_type() == "message/rfc822"
    returned = dsn.returned.get_payload()[0]
    assert returned["Subject"] == "one refused"

    wait_spool_empty(server)
    events = wait_deliveries(server, lambda ev: len(ev) >= 2, qid)
    assert sorted(results(events)) == [("bad@dest.test", "bounced", 1), ("good@dest.test", "delivered", 1)]
    assert [e["status"] for e in events if e["recipient"] == "bad@dest.test"] == ["5.1.1"]
    [dsn_event] = wait_dsn_events(server, 1)
    assert (dsn_event["action"], dsn_event["to"], dsn_event["recipients"]) == ("failed", SENDER, ["bad@dest.test"])
    # The DSN itself was delivered (its own queue id).
    wait_deliveries(server, lambda ev: results(ev) == [(SENDER, "delivered", 1)], dsn_event["dsn_queue_id"])
    # Not retried: a retry would have come after retry_first (1 s).
    time.sleep(1.5)
    assert len(dest.messages) == 1 and len(dsn_sink.messages) == 1
    assert [a for a, _ in dest.rcpts] == ["good@dest.test", "bad@dest.test"], dest.rcpts
    assert len(deliveries(server, qid)) == 2


# --------------------------------------------------------------------------------------
# 6. Expiry


def test_expiry_returns_dsn_4_4_7(postern, sinks):
    dest = sinks("dest", rcpt_reply=lambda addr, n: "450 4.2.1 <bob@dest.test>: mailbox busy")
    dsn_sink = sinks("dsn")
    relays, rules = dsn_route(dsn_sink)
    server = postern(config=delivery_config(default_route="dest", relays=[relay("dest", dest), *relays],
                                            rules=rules, retry_first=1, retry_max=1, max_queue_lifetime=3))
    started = time.monotonic()
    qid, sent = submit(server, ["bob@dest.test"], "expires")

    [bounce] = dsn_sink.wait_messages(1, timeout=WAIT)
    assert time.monotonic() - started >= 2.5, "gave up before max_queue_lifetime"
    assert_null_sender_to(bounce)
    dsn = Dsn(bounce)
    block = dsn.recipient("bob@dest.test")
    assert block["Action"] == "failed" and block["Status"] == "4.4.7", dict(block)
    diagnostic = " ".join(block["Diagnostic-Code"].split())
    assert "450 4.2.1" in diagnostic and "expired after 3 seconds" in diagnostic, diagnostic
    wait_spool_empty(server)
    assert not (server.data_dir / "spool" / "state" / qid).exists()
    events = wait_deliveries(server, lambda ev: any(e["result"] == "expired" for e in ev), qid)
    *deferred, expired = events
    assert len(deferred) >= 2 and all(e["result"] == "deferred" for e in deferred), events
    assert [e["attempt"] for e in deferred] == list(range(1, len(deferred) + 1)), events
    assert (expired["result"], expired["status"]) == ("expired", "4.4.7"), expired
    # The last try may itself run out of time (same number), or find the time already up.
    assert expired["attempt"] in (len(deferred), len(deferred) + 1), events
    assert dest.messages == []


def test_delay_warning_sent_once(postern, sinks):
    """delay_warning: one "delayed" DSN while the mail is still being retried."""
    dest = sinks("dest", rcpt_reply=lambda addr, n: "450 4.2.1 <bob@dest.test>: mailbox busy")
    dsn_sink = sinks("dsn")
    relays, rules = dsn_route(dsn_sink)
    server = postern(config=delivery_config(default_route="dest", relays=[relay("dest", dest), *relays],
                                            rules=rules, retry_first=1, retry_max=1, delay_warning=1,
                                            max_queue_lifetime=3600))
    qid, sent = submit(server, ["bob@dest.test"], "delayed")
    [warning] = dsn_sink.wait_messages(1)
    assert_null_sender_to(warning)
    dsn = Dsn(warning)
    block = dsn.recipient("bob@dest.test")
    assert block["Action"] == "delayed", dict(block)
    assert block["Status"] == "4.2.1", "the Status of a delay warning is the last reply's"
    assert "Will-Retry-Until" in block and "450 4.2.1" in " ".join(block["Diagnostic-Code"].split())
    assert dsn.message["Subject"] == "Delayed Mail (still being retried)"
    assert dsn.returned.get_content_type() == "text/rfc822-headers"
    # Two more attempts, and still only the one warning; the message stays queued.
    attempts = len(deliveries(server, qid))
    wait_deliveries(server, lambda ev: len(ev) >= attempts + 2, qid)
    assert len(dsn_sink.messages) == 1
    assert [d["action"] for d in dsn_events(server)] == ["delayed"]
    assert qid in server.spool_names("queue")


# --------------------------------------------------------------------------------------
# 7, 8. When no DSN is sent, and the "relayed" DSN


def test_null_sender_bounce_sends_no_dsn(postern, sinks):
    dest = sinks("dest", rcpt_reply=lambda addr, n: "550 5.1.1 no such user" if addr.startswith("bad@") else None)
    dsn_sink = sinks("dsn")
    relays, rules = dsn_route(dsn_sink)
    server = postern(config=delivery_config(default_route="dest", relays=[relay("dest", dest), *relays],
                                            rules=rules))
    qid, _ = submit(server, ["bad@dest.test"], "bounce of a bounce", sender="")
    [event] = wait_deliveries(server, lambda ev: len(ev) == 1, qid)
    assert (event["result"], event["status"]) == ("bounced", "5.1.1"), event
    mail = [c for _, c in dest.command_lines() if c.upper().startswith("MAIL")]
    assert len(mail) == 1 and mail[0].upper().startswith("MAIL FROM:<> "), mail
    wait_spool_empty(server)
    flush_events(server, dest, "good@dest.test")
    assert dsn_events(server) == []
    assert dsn_sink.messages == [] and dsn_sink.connections == 0
    assert [m.parsed()["Subject"].startswith("marker") for m in dest.messages] == [True]
    wait_spool_empty(server)


def test_notify_never_sends_no_dsn(postern, sinks):
    dest = sinks("dest", rcpt_reply=lambda addr, n: "550 5.1.1 no such user" if addr.startswith("bad@") else None)
    dsn_sink = sinks("dsn")
    relays, rules = dsn_route(dsn_sink)
    server = postern(config=delivery_config(default_route="dest", relays=[relay("dest", dest), *relays],
                                            rules=rules))
    qid, _ = submit(server, ["good@dest.test", "bad@dest.test"], "notify never",
                    notify={"bad@dest.test": "NEVER"})
    events = wait_deliveries(server, lambda ev: len(ev) == 2, qid)
    assert sorted(results(events)) == [("bad@dest.test", "bounced", 1), ("good@dest.test", "delivered", 1)]
    wait_spool_empty(server)
    flush_events(server, dest, "good@dest.test")
    assert dsn_events(server) == []
    assert dsn_sink.messages == []


def test_notify_success_past_server_without_dsn_gets_relayed_dsn(postern, sinks):
    dest = sinks("dest")  # offers no DSN
    dsn_sink = sinks("dsn")
    relays, rules = dsn_route(dsn_sink)
    server = postern(config=delivery_config(default_route="dest", relays=[relay("dest", dest), *relays],
                                            rules=rules))
    qid, sent = submit(server, ["good@dest.test", "quiet@dest.test"], "notify success",
                       notify={"good@dest.test": "SUCCESS"})
    [got] = dest.wait_messages(1)
    assert got.rcpt_tos == ["good@dest.test", "quiet@dest.test"]
    rcpt_lines = [c for _, c in dest.command_lines() if c.upper().startswith("RCPT")]
    assert rcpt_lines == ["RCPT TO:<good@dest.test>", "RCPT TO:<quiet@dest.test>"], \
        "NOTIFY must not be sent to a server that does not offer DSN"

    [report] = dsn_sink.wait_messages(1)
    assert_null_sender_to(report)
    dsn = Dsn(report)
    assert len(dsn.per_recipient) == 1, "only the recipient that asked for SUCCESS is reported"
    block = dsn.recipient("good@dest.test")
    assert block["Action"] == "relayed" and block["Status"].startswith("2."), dict(block)
    assert dsn.message["Subject"] == "Successful Mail Delivery Report"
    assert dsn.returned.get_content_type() == "text/rfc822-headers"
    assert b"Subject: notify success" in dsn.returned_headers()
    assert b"Body of notify success" not in dsn.returned_headers()
    wait_spool_empty(server)
    [dsn_event] = wait_dsn_events(server, 1)
    assert (dsn_event["action"], dsn_event["recipients"]) == ("relayed", ["good@dest.test"])


def test_notify_success_to_server_with_dsn_is_passed_on(postern, sinks):
    """A next hop that offers DSN gets NOTIFY and reports success itself: no DSN from us."""
    dest = sinks("dest", dsn=True)
    dsn_sink = sinks("dsn")
    relays, rules = dsn_route(dsn_sink)
    server = postern(config=delivery_config(default_route="dest", relays=[relay("dest", dest), *relays],
                                            rules=rules))
    qid, _ = submit(server, ["good@dest.test"], "notify success passed on", notify={"good@dest.test": "SUCCESS"})
    dest.wait_messages(1)
    rcpt_lines = [c for _, c in dest.command_lines() if c.upper().startswith("RCPT")]
    assert len(rcpt_lines) == 1 and "NOTIFY=SUCCESS" in rcpt_lines[0].upper(), rcpt_lines
    wait_deliveries(server, lambda ev: results(ev) == [("good@dest.test", "delivered", 1)], qid)
    wait_spool_empty(server)
    flush_events(server, dest, "other@dest.test")
    assert dsn_events(server) == [] and dsn_sink.messages == []


# --------------------------------------------------------------------------------------
# 9. Restart while deferred


def test_restart_keeps_schedule_and_attempt_count(postern, sinks):
    dest = sinks("dest", rcpt_reply=lambda addr, n: "450 4.2.0 try later")
    retry_first = 4
    server = postern(config=delivery_config(default_route="dest", relays=[relay("dest", dest)],
                                            retry_first=retry_first, retry_max=8))
    qid, sent = submit(server, ["bob@dest.test"], "restart while deferred")
    [first] = wait_deliveries(server, lambda ev: len(ev) >= 1, qid)
    assert (first["result"], first["attempt"]) == ("deferred", 1), first
    server.stop()

    state = json.loads((server.data_dir / "spool" / "state" / qid).read_text())
    assert state["attempts"] == 1, state
    assert [r["status"] for r in state["recipients"]] == ["pending"], state
    next_ms = state["next_attempt_ms"]
    assert 0.8 * retry_first * 1000 <= next_ms - first["at_ms"] <= 1.2 * retry_first * 1000 + 500, (state, first)
    assert len(deliveries(server, qid)) == 1, "a second attempt before the stop would spoil this test"

    dest.rcpt_reply = None  # answers 250 from now on
    server.restart()
    assert server.spool_line[0] == 1, server.spool_line
    events = wait_deliveries(server, lambda ev: len(ev) >= 2, qid, timeout=retry_first + WAIT)
    assert results(events) == [("bob@dest.test", "deferred", 1), ("bob@dest.test", "delivered", 2)], events
    assert events[1]["at_ms"] >= next_ms, "the saved schedule was not kept: tried again at once after the restart"
    [got] = dest.wait_messages(1)
    assert got.data.endswith(sent)
    wait_spool_empty(server)
    assert not (server.data_dir / "spool" / "state" / qid).exists()
    assert len([a for a, _ in dest.rcpts]) == 2
