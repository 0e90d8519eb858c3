"""Inbound relay domains end to end (SPEC.md §4, seed 004 "Eingehende E-Mails für andere
E-Mail-Server übermitteln"): a real `postern serve` where 127.0.0.1 is *not* trusted
(--trusted-network 192.0.2.0/24), an inbound domain added through the admin API whose
internal server is a real receiving server (sink "internal"), and every other destination
routed to a second real server (sink "elsewhere", the default relay host) that must never
see mail from the unattributed client.

Checked: an untrusted client's mail to the inbound domain arrives at the internal server,
unsigned, with a `queued` event under the inbound domain; any other recipient is
`554 5.7.1 Relay access denied` (in the same transaction too); each classic open-relay
trick with an inbound domain configured is refused or delivered only to the internal
server; an attributed client's mail to the inbound domain goes to the internal server too,
before the default route; the block lists and the smuggling defence still apply; removal
closes the door; a domain admin cannot add or remove inbound domains (403) and lists only
its own; `postern inbound-domain add|list|show|remove`."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from conftest import RawSMTP, postern_bin, queued_id, wait_for
from sinks import Sink
from test_accounts import IP_CLIENT, UNTRUSTED, Api, smtp

INBOUND = "inbound.example"
MESSAGE = b"From: someone@internet.example\r\nTo: bob@inbound.example\r\nSubject: inbound\r\n\r\nhello\r\n"


@pytest.fixture
def world(postern):
    internal = Sink("internal").start()
    elsewhere = Sink("elsewhere").start()
    server = postern(extra=UNTRUSTED + ["--relay-host", f"127.0.0.1:{elsewhere.port}"])
    api = Api(server)
    entry = api.ok("POST", "/inbound-domains",
                   {"name": INBOUND, "host": "127.0.0.1", "port": internal.port, "tls": "none"})
    server.api, server.internal, server.elsewhere, server.entry = api, internal, elsewhere, entry
    yield server
    internal.stop()
    elsewhere.stop()


def transaction(port: int, sender: str, rcpts: list[str], message: bytes = MESSAGE,
                smtputf8: bool = False) -> tuple[list[str], str | None]:
    """One transaction from 127.0.0.1 over a raw socket (addresses sent byte for byte); the
    RCPT replies and the final reply (None when no recipient was accepted)."""
    with RawSMTP(port) as c:
        c.reply()
        c.ehlo()
        param = " SMTPUTF8" if smtputf8 else ""
        assert c.cmd(f"MAIL FROM:<{sender}>{param}") == "250 2.1.0 Ok"
        replies = [c.cmd(f"RCPT TO:<{r}>") for r in rcpts]
        if not any(r.startswith("250") for r in replies):
            return replies, None
        assert c.cmd("DATA").startswith("354")
        c.send(message + b".\r\n")
        return replies, c.reply_line()


def test_anyone_reaches_the_inbound_domain_and_only_it(world):
    assert world.entry["name"] == INBOUND and world.entry["require_tls"] is False
    replies, final = transaction(world.ports["smtp"], "someone@internet.example",
                                 ["bob@inbound.example", "carol@other.example", "Dave@INBOUND.example"])
    assert replies == ["250 2.1.5 Ok", "554 5.7.1 <carol@other.example>: Relay access denied", "250 2.1.5 Ok"]
    queue_id = queued_id(final)
    [got] = world.internal.wait_messages(1)
    assert got.mail_from == "someone@internet.example"
    assert sorted(got.rcpt_tos) == ["Dave@INBOUND.example", "bob@inbound.example"]
    assert got.data.endswith(MESSAGE.replace(b"\r\n", b"\n")) or got.data.endswith(MESSAGE)
    assert b"DKIM-Signature" not in got.data, "nobody's mail is never signed"
    queued = world.wait_events(lambda ev: len(ev) >= 1, kind="queued", queue_id=queue_id)[0]["data"]
    assert (queued["domain"], queued["account"]) == (INBOUND, "inbound-relay"), queued
    assert "account_id" not in queued
    assert world.events(kind="dkim", queue_id=queue_id) == []
    delivered = world.wait_events(lambda ev: len(ev) >= 2, kind="delivery", queue_id=queue_id)
    assert {e["data"]["destination"] for e in delivered} == {f"inbound:{INBOUND}"}
    assert world.elsewhere.connections == 0, world.elsewhere.rcpts


# Each trick: the RCPT path as sent, and where it may end up: "refused" (any 5xx at RCPT)
# or the exact recipient the internal server must see.
TRICKS = [
    ("user%evil.example@inbound.example", "user%evil.example@inbound.example"),
    ("evil.example!user@inbound.example", "evil.example!user@inbound.example"),
    ("@inbound.example:user@evil.example", "refused"),
    ("@evil.example,@inbound.example:user@inbound.example", "refused"),
    ('"user@evil.example"@inbound.example', '"user@evil.example"@inbound.example'),
    ("user@evil.example@inbound.example", "refused"),
    ("user@inbound.example@evil.example", "refused"),
    ("user@inbound.example.evil.example", "refused"),
    ("user@sub.inbound.example", "refused"),
    ("user@inbound.example.", "refused"),
    ("user@evil.example.", "refused"),
    ("USER@INBOUND.EXAMPLE", "USER@INBOUND.EXAMPLE"),
    ("user@xn--inbund-3ve.example", "refused"),
    ("user@inbound.exampl", "refused"),
    ("user@[127.0.0.1]", "refused"),
    ("user@evil.example", "refused"),
    ('"user%evil.example"@inbound.example', '"user%evil.example"@inbound.example'),
]


def test_open_relay_tricks_reach_only_the_internal_server(world):
    expected_rcpts = []
    for path, outcome in TRICKS:
        # The null sender: a refusal by the internal server must not send a bounce elsewhere.
        replies, final = transaction(world.ports["smtp"], "", [path])
        if outcome == "refused":
            assert replies[0][:1] == "5", (path, replies)
            assert final is None
        else:
            assert replies == ["250 2.1.5 Ok"], (path, replies)
            queued_id(final)
            expected_rcpts.append(outcome)
    # SMTPUTF8: a Cyrillic lookalike of the inbound domain is another domain.
    replies, final = transaction(world.ports["smtp"], "", ["user@inb\u043eund.example"], smtputf8=True)
    assert replies[0].startswith("554 5.7.1 ") and final is None, replies
    world.internal.wait_messages(len(expected_rcpts))

    def rcpt_lines() -> list[str]:
        return [line[len("RCPT TO:<"):-1] for _, line in world.internal.command_lines() if line.startswith("RCPT")]

    # The sink records a session's lines apart from its messages: on a busy machine the last
    # RCPT line may be stored a moment after its message was counted.
    wait_for(lambda: len(rcpt_lines()) >= len(expected_rcpts), "every RCPT line at the internal server")
    # The RCPT lines Postern sent the internal server, byte for byte.
    sent = sorted(rcpt_lines())
    assert sent == sorted(expected_rcpts), sent
    time.sleep(0.5)
    assert world.elsewhere.connections == 0, ("mail of an unattributed client left elsewhere", world.elsewhere.rcpts)
    assert world.spool() == {}, "every accepted message was delivered"


def test_no_backscatter_when_the_internal_server_refuses(postern):
    """Anyone may name any sender: a bounce to it would carry their text anywhere. A
    recipient the internal server refuses is a `bounced` delivery event, and no DSN."""
    internal = Sink("internal", rcpt_reply=lambda addr, n: "550 5.1.1 no such user" if addr.startswith("nobody") else None).start()
    elsewhere = Sink("elsewhere").start()
    try:
        server = postern(extra=UNTRUSTED + ["--relay-host", f"127.0.0.1:{elsewhere.port}"])
        api = Api(server)
        api.ok("POST", "/inbound-domains", {"name": INBOUND, "host": "127.0.0.1", "port": internal.port, "tls": "none"})
        replies, final = transaction(server.ports["smtp"], "victim@elsewhere.example",
                                     ["nobody@inbound.example", "bob@inbound.example"])
        assert replies == ["250 2.1.5 Ok", "250 2.1.5 Ok"]
        queue_id = queued_id(final)
        assert [m.rcpt_tos for m in internal.wait_messages(1)] == [["bob@inbound.example"]]
        events = server.wait_events(lambda ev: len(ev) >= 2, kind="delivery", queue_id=queue_id)
        assert sorted(e["data"]["result"] for e in events) == ["bounced", "delivered"], events
        time.sleep(1.0)
        assert server.events(kind="dsn") == []
        assert elsewhere.connections == 0, elsewhere.rcpts
        assert server.spool() == {}
    finally:
        internal.stop()
        elsewhere.stop()


def test_attributed_clients_go_to_the_internal_server_before_the_default_route(world):
    world.api.domain("example.com")
    world.api.account("example.com", "ip", IP_CLIENT)
    with smtp(world, IP_CLIENT) as c:
        assert c.mail("app@example.com")[0] == 250
        assert c.rcpt("bob@inbound.example")[0] == 250
        assert c.rcpt("x@remote.example")[0] == 250
        code, text = c.data(MESSAGE)
        assert code == 250, text
    assert [m.rcpt_tos for m in world.internal.wait_messages(1)] == [["bob@inbound.example"]]
    assert [m.rcpt_tos for m in world.elsewhere.wait_messages(1)] == [["x@remote.example"]]


def test_lists_and_smuggling_defences_still_apply(world):
    rule = world.api.ok("POST", "/rules", {"kind": "sender", "value": "spammer@bad.example", "action": "reject"})
    replies, _ = transaction(world.ports["smtp"], "spammer@bad.example", ["bob@inbound.example"])
    assert replies == [f"554 5.7.1 <spammer@bad.example>: Sender address rejected: blocked by list rule {rule['id']}"]
    trap = world.api.ok("POST", "/rules", {"kind": "recipient", "value": "trap@inbound.example", "action": "reject"})
    replies, _ = transaction(world.ports["smtp"], "a@internet.example", ["trap@inbound.example"])
    assert replies == [f"554 5.7.1 <trap@inbound.example>: Recipient address rejected: blocked by list rule {trap['id']}"]
    world.api.ok("POST", "/rules", {"kind": "recipient", "value": "bin@inbound.example", "action": "discard"})
    replies, final = transaction(world.ports["smtp"], "a@internet.example", ["bin@inbound.example"])
    assert replies == ["250 2.1.5 Ok"] and final.startswith("250 2.0.0 Ok: queued as "), final
    world.wait_events(lambda ev: len(ev) >= 1, kind="discarded")
    # A bare LF in the data ends the session: nothing smuggled, nothing queued.
    with RawSMTP(world.ports["smtp"]) as c:
        c.reply()
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@internet.example>") == "250 2.1.0 Ok"
        assert c.cmd("RCPT TO:<bob@inbound.example>") == "250 2.1.5 Ok"
        assert c.cmd("DATA").startswith("354")
        c.send(b"Subject: x\r\n\r\nfirst\n.\nMAIL FROM:<a@internet.example>\r\n.\r\n")
        assert c.reply_line().startswith("550 5.5.2 ")
    time.sleep(0.5)
    assert world.internal.messages == [] and world.spool() == {}
    assert world.elsewhere.connections == 0


def test_removing_the_domain_closes_the_door(world):
    assert world.api.ok("DELETE", f"/inbound-domains/{INBOUND}") == {"name": INBOUND, "result": "deleted"}
    replies, _ = transaction(world.ports["smtp"], "a@internet.example", ["bob@inbound.example"])
    assert replies == ["554 5.7.1 <bob@inbound.example>: Relay access denied"]


def test_domain_admins_cannot_add_or_remove(world):
    api = world.api
    for name in ("a.example", "b.example"):
        api.domain(name)
        api.ok("POST", "/inbound-domains", {"name": name, "host": "127.0.0.1", "port": world.internal.port})
    token = api.ok("POST", "/tokens", {"name": "admin of a", "role": "domain_admin", "domains": ["a.example"]})
    admin = Api(world)
    admin.token = token["secret"]
    status, answer = admin.call("POST", "/inbound-domains", {"name": "c.example", "host": "127.0.0.1"})
    assert (status, answer["error"]) == (403, "only a superadmin may add inbound relay domains"), answer
    assert admin.call("POST", "/inbound-domains", {"name": "a.example", "host": "203.0.113.9"})[0] == 403
    assert admin.call("DELETE", "/inbound-domains/a.example")[0] == 403
    assert admin.call("DELETE", "/inbound-domains/b.example")[0] == 404
    assert admin.call("GET", "/inbound-domains/b.example")[0] == 404
    status, listed = admin.call("GET", "/inbound-domains")
    assert status == 200 and [i["name"] for i in listed["items"]] == ["a.example"], listed
    assert [i["name"] for i in api.ok("GET", "/inbound-domains")["items"]] == ["a.example", "b.example", INBOUND]
    # The CLI with the domain admin's token says why.
    proc = cli(world, "add", "c.example", "--host", "127.0.0.1", check=False, token=token["secret"])
    assert proc.returncode != 0 and "403" in proc.stderr and "superadmin" in proc.stderr, proc.stderr


def cli(server, *args: str, check: bool = True, token: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("POSTERN_URL", "POSTERN_TOKEN")}
    if token is not None:
        env["POSTERN_TOKEN"] = token
    proc = subprocess.run([str(postern_bin()), "inbound-domain", *args, "--data-dir", str(server.data_dir)],
                          capture_output=True, text=True, timeout=30, env=env, stdin=subprocess.DEVNULL)
    if check:
        assert proc.returncode == 0, (args, proc.returncode, proc.stdout, proc.stderr)
    return proc


def test_cli_add_list_show_remove(world):
    added = cli(world, "add", "Office.Example", "--host", "127.0.0.1", "--port", str(world.internal.port),
                "--tls", "none", "--comment", "the office")
    assert added.stdout == f"added inbound domain office.example -> 127.0.0.1:{world.internal.port} (none)\n"
    listed = cli(world, "list").stdout
    assert listed.startswith("NAME") and "office.example" in listed and listed.endswith("-- 2 inbound domains\n")
    shown = cli(world, "show", "office.example").stdout
    assert "the office" in shown and str(world.internal.port) in shown
    replies, final = transaction(world.ports["smtp"], "a@internet.example", ["x@office.example"])
    assert replies == ["250 2.1.5 Ok"]
    queued_id(final)
    assert world.internal.wait_messages(1)[0].rcpt_tos == ["x@office.example"]
    bad = cli(world, "add", "office2.example", "--host", "a b", check=False)
    assert bad.returncode != 0 and "host" in bad.stderr, bad.stderr
    assert cli(world, "remove", "office.example").stdout == "removed inbound domain office.example\n"
    assert "office.example" not in cli(world, "list").stdout
