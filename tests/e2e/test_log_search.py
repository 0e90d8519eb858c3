"""Log search end to end (issue 13 §2): the real binary, real smtplib clients, real sinks,
the admin API (`/api/v1/log`) and the CLI (`postern log`).

An ip account of customer.example (127.0.0.2, not a trusted network) sends for two sender
domains, client-a.example and client-b.example; every message is found under the account's
domain and under its sender's domain. Each status is reached by a real scenario and found
by its filter: queued (a sink that holds the RCPT answer while the test looks: the row was
received, then queued), delivered, deferred (a sink answering 4xx until the test has seen
it) then delivered, with every step in its timeline; bounced (5xx) with the DSN's own
row; quarantined (GTUBE) then released and delivered; rejected at RCPT (a block list rule)
and at DATA (too many hops) with their stage; discarded (a block list discard rule);
expired (a queue lifetime of a few seconds, in a server of its own). A domain admin of
another tenant finds none of these messages by any filter and gets 404 for their
timelines; the sender domain's admin sees only its sender domain's. The CLI prints a
search and a timeline.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.parse
import uuid

from conftest import postern_bin, queued_id, wait_for
from test_accounts import IP_CLIENT, OTHER_CLIENT, UNTRUSTED, Api, smtp
from test_delivery import delivery_config, relay, sinks  # noqa: F401 (the sinks fixture)
from test_limits import GTUBE, transaction

CUSTOMER = "customer.example"
HOPS = b"Received: from a\r\nReceived: from b\r\nReceived: from c\r\n"
WAIT = 30.0


def message(sender: str, to: str, subject: str, body: bytes = b"An ordinary message.",
            head: bytes = b"") -> tuple[bytes, str]:
    message_id = f"<{uuid.uuid4().hex}@mua.client.test>"
    text = head + (f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n\r\n"
                   ).encode() + body + b"\r\n"
    return text, message_id


def send(server, sender: str, rcpts: list[str], subject: str, source: str = IP_CLIENT, **kw) -> tuple[int, str, str]:
    """One transaction from `source`: (code, reply text, Message-ID)."""
    data, message_id = message(sender, rcpts[0], subject, **kw)
    with smtp(server, source) as c:
        code, text = transaction(c, sender, rcpts, data)
    return code, text.decode(), message_id


def sent(server, sender: str, rcpts: list[str], subject: str, **kw) -> tuple[str, str]:
    """A message that must be accepted: (queue id, Message-ID)."""
    code, text, message_id = send(server, sender, rcpts, subject, **kw)
    assert code == 250, (code, text)
    return queued_id(f"{code} {text}"), message_id


def search(api: Api, **filters) -> list[dict]:
    return api.ok("GET", "/log?" + urllib.parse.urlencode(filters))["items"]


def row(api: Api, queue_id: str, status: str | None = None, timeout: float = WAIT) -> dict:
    """The row of a queue id, once it exists (and has `status`)."""
    def found():
        rows = search(api, queue_id=queue_id)
        return rows[0] if rows and (status is None or rows[0]["status"] == status) else None
    return wait_for(found, f"{queue_id} {status or ''} in the log (last: {search(api, queue_id=queue_id)})", timeout)


def ids(rows: list[dict]) -> set:
    return {r.get("queue_id") or f"#{r['id']}" for r in rows}


def token(api: Api, name: str, domains: list[str]) -> Api:
    secret = api.ok("POST", "/tokens", {"name": name, "role": "domain_admin", "domains": domains})["secret"]
    other = Api.__new__(Api)
    other.base, other.token = api.base, secret
    return other


class Gate:
    """A sink's RCPT answer for one address, held until the test opens the gate: `4xx`
    (deferred) or a wait (the attempt is in progress, the message still queued)."""

    def __init__(self):
        self.open = threading.Event()
        self.waiting = threading.Event()


def start(postern, sinks, lifetime: int = 3600):  # noqa: F811
    deferred, slow = Gate(), Gate()

    def dest_reply(address: str, n: int):
        if address.startswith("bounce@"):
            return "550 5.1.1 No such user"
        if address.startswith("expire@"):
            return "450 4.2.0 Mailbox busy"
        if address.startswith("defer@") and not deferred.open.is_set():
            deferred.waiting.set()
            return "450 4.2.0 Try again later"
        return None

    def slow_reply(address: str, n: int):
        slow.waiting.set()
        slow.open.wait(4)  # below the client's command timeout
        return None

    dest = sinks("dest", rcpt_reply=dest_reply)
    slow_sink = sinks("slow", rcpt_reply=slow_reply)
    config = delivery_config(default_route="dest", relays=[relay("dest", dest), relay("slow", slow_sink)],
                             rules=[("recipient", "slow.test", "slow")], max_queue_lifetime=lifetime)
    server = postern(config=config, extra=UNTRUSTED)
    api = Api(server)
    for name in (CUSTOMER, "client-a.example", "client-b.example", "other.example"):
        api.domain(name)
    api.account(CUSTOMER, "ip", IP_CLIENT, settings={"allow_foreign_sender_domains": True,
                                                     "limits": {"max_hops": 3}})
    api.account("other.example", "ip", OTHER_CLIENT)
    return server, api, dest, deferred, slow


def test_every_status_is_found_by_its_filter_under_both_domains(postern, sinks):  # noqa: F811
    server, api, dest, deferred, slow = start(postern, sinks)
    a, b = "app@client-a.example", "app@client-b.example"
    blocked = api.ok("POST", "/rules", {"kind": "recipient", "value": "blocked@dest.test", "action": "reject"})
    dropped = api.ok("POST", "/rules", {"kind": "sender", "value": "drop@client-b.example", "action": "discard"})

    # Queued: the slow sink holds its RCPT answer, the row waits as `queued`.
    slow_id, _ = sent(server, a, ["someone@slow.test"], "Slow one")
    assert slow.waiting.wait(WAIT), "the slow sink was never asked"
    assert row(api, slow_id)["status"] == "queued"
    assert slow_id in ids(search(api, status="queued"))
    slow.open.set()
    # Delivered.
    ok_id, ok_message_id = sent(server, a, ["ok@dest.test", "ok2@dest.test"], "Invoice 42")
    # Deferred, then delivered once the test has seen it deferred.
    defer_id, _ = sent(server, b, ["defer@dest.test"], "Deferred one")
    # Bounced (and its DSN to the sender).
    bounce_id, _ = sent(server, a, ["bounce@dest.test"], "Bounced one")
    # Quarantined: GTUBE.
    code, text, _ = send(server, b, ["spam@dest.test"], "Spam one", body=GTUBE)
    assert code == 550 and "GTUBE" in text, (code, text)
    # Rejected at RCPT (a block list rule) and at DATA (more hops than the account allows).
    code, text, _ = send(server, a, ["blocked@dest.test"], "Blocked one")
    assert code == 554, (code, text)
    code, text, _ = send(server, a, ["hops@dest.test"], "Looping one", head=HOPS)
    assert (code, text) == (554, "5.4.6 Error: too many hops")
    # Discarded: answered 250, never spooled.
    discard_id, _ = sent(server, "drop@client-b.example", ["x@dest.test"], "Dropped one")
    # Another tenant's message.
    other_id, _ = sent(server, "x@other.example", ["y@dest.test"], "Other tenant", source=OTHER_CLIENT)

    assert row(api, slow_id, "delivered")["counts"]["delivered"] == 1
    delivered = row(api, ok_id, "delivered")
    assert (delivered["recipient_count"], delivered["counts"]["delivered"]) == (2, 2), delivered
    assert (delivered["account_domain"], delivered["sender_domain"]) == (CUSTOMER, "client-a.example")
    assert delivered["subject"] == "Invoice 42" and delivered["message_id"] == ok_message_id, delivered
    assert deferred.waiting.wait(WAIT)
    assert row(api, defer_id, "deferred")["counts"]["deferred"] == 1
    assert defer_id in ids(search(api, status="deferred", domain="client-b.example"))
    deferred.open.set()
    assert row(api, defer_id, "delivered")["attempts"] >= 2
    assert row(api, bounce_id, "bounced")["reply"].startswith("550 5.1.1")
    assert row(api, discard_id, "discarded")["rule"] == f"list rule {dropped['id']}"
    held = wait_for(lambda: search(api, status="quarantined"), "the quarantined row", WAIT)
    assert len(held) == 1 and held[0]["rule"] == "GTUBE" and held[0]["stage"] == "data", held
    spam_id = held[0]["queue_id"]
    rcpt = wait_for(lambda: search(api, status="rejected", stage="rcpt"), "the RCPT refusal", WAIT)
    assert [(r.get("queue_id"), r["recipients"], r["account_domain"]) for r in rcpt] == [
        (None, ["blocked@dest.test"], CUSTOMER)], rcpt
    assert f"list rule {blocked['id']}" in rcpt[0]["rule"] + rcpt[0]["reply"], rcpt
    data = wait_for(lambda: search(api, status="rejected", stage="data"), "the DATA refusal", WAIT)
    assert [(r.get("queue_id"), r["reply"]) for r in data] == [(None, "554 5.4.6 Error: too many hops")], data

    # Under both domains: the account's, and each sender's.
    customer = ids(search(api, domain=CUSTOMER, limit=100))
    mine = {slow_id, ok_id, defer_id, bounce_id, spam_id, discard_id, f"#{rcpt[0]['id']}", f"#{data[0]['id']}"}
    assert mine <= customer and other_id not in customer, customer
    assert ids(search(api, domain="client-a.example")) >= {slow_id, ok_id, bounce_id, f"#{rcpt[0]['id']}"}
    assert ids(search(api, domain="client-b.example")) >= {defer_id, spam_id, discard_id}
    assert not ids(search(api, domain="client-b.example")) & {slow_id, ok_id, bounce_id}
    # The other filters.
    assert ids(search(api, sender=a.upper())) >= {slow_id, ok_id, bounce_id}
    assert ids(search(api, recipient="OK2@dest.test")) == {ok_id}
    assert ids(search(api, message_id=ok_message_id.strip("<>"))) == {ok_id}
    assert ids(search(api, identity=delivered["identity"])) >= {ok_id}
    assert ok_id in ids(search(api, account=delivered["account"], client_ip=IP_CLIENT))
    assert ids(search(api, subject="invoice")) == {ok_id}
    assert ids(search(api, rule="gtube")) == {spam_id}
    assert ids(search(api, domain=CUSTOMER, status="bounced")) == {bounce_id}
    # Pages: newest first, each row once.
    seen, before = [], None
    while True:
        page = api.ok("GET", "/log?" + urllib.parse.urlencode({"domain": CUSTOMER, "limit": 3,
                                                               **({"before": before} if before else {})}))
        seen += [r["id"] for r in page["items"]]
        before = page.get("next")
        if not before:
            break
    assert len(seen) == len(set(seen)) == len(customer), (seen, customer)

    # The DSN of the bounce has a row of its own, under the same domains, delivered.
    dsn = wait_for(lambda: [r for r in search(api, recipient=a) if r["sender"] == "" and r["status"] == "delivered"],
                   "the DSN's row", WAIT)
    assert dsn[0]["account_domain"] == CUSTOMER, dsn

    # Quarantined, released, delivered.
    held_id = api.ok("GET", "/quarantine")["items"][0]["id"]
    api.ok("POST", f"/quarantine/{held_id}/release")
    assert row(api, spam_id, "delivered")["status"] == "delivered"

    # The deferred message's whole path.
    timeline = api.ok("GET", f"/log/{defer_id}")
    kinds = [s["kind"] for s in timeline["steps"]]
    for kind in ("connect", "dkim", "checked", "queued", "delivery", "disconnect"):
        assert kind in kinds, (kind, kinds)
    order = [kinds.index("connect"), kinds.index("checked"), kinds.index("queued")]
    assert order == sorted(order), kinds
    attempts = [s for s in timeline["steps"] if s["kind"] == "delivery"]
    assert [(s["event"]["result"], s["event"]["attempt"]) for s in attempts][0] == ("deferred", 1), attempts
    assert attempts[-1]["event"]["result"] == "delivered" and attempts[-1]["event"]["attempt"] >= 2, attempts
    assert all(s.get("duration_ms") is not None for s in attempts), attempts
    assert "450 4.2.0 Try again later" in attempts[0]["summary"] and "dest" in attempts[0]["summary"], attempts
    assert timeline["message"]["status"] == "delivered"
    assert [s["at_ms"] for s in timeline["steps"]] == sorted(s["at_ms"] for s in timeline["steps"])
    # The held message's: the verdict names the rule, the refusal is its own, the release.
    timeline = api.ok("GET", f"/log/{urllib.parse.quote(held[0]['message_id'])}")
    assert timeline["message"]["queue_id"] == spam_id
    steps = {s["kind"]: s for s in timeline["steps"]}
    assert steps["checked"]["decided_by"].endswith("(GTUBE)"), steps["checked"]
    assert "GTUBE" in steps["refused"]["summary"] and "quarantine" in steps, timeline["steps"]
    assert [s["event"]["action"] for s in timeline["steps"] if s["kind"] == "quarantine"] == ["held", "released"]
    # A refusal without a queue id, by its row id.
    timeline = api.ok("GET", f"/log/{rcpt[0]['id']}")
    assert [s["kind"] for s in timeline["steps"]] == ["connect", "refused", "disconnect"], timeline["steps"]


def test_a_domain_admin_finds_only_its_own_domains(postern, sinks):  # noqa: F811
    server, api, _, deferred, slow = start(postern, sinks)
    deferred.open.set()
    slow.open.set()
    a_id, a_message_id = sent(server, "app@client-a.example", ["ok@dest.test"], "For A")
    b_id, _ = sent(server, "app@client-b.example", ["ok@dest.test"], "For B")
    other_id, other_message_id = sent(server, "x@other.example", ["y@dest.test"], "Other", source=OTHER_CLIENT)
    send(server, "app@client-a.example", ["hops@dest.test"], "Looping", head=HOPS)
    for q in (a_id, b_id, other_id):
        row(api, q, "delivered")
    refusal = wait_for(lambda: search(api, status="rejected"), "the refusal", WAIT)[0]

    other = token(api, "other admin", ["other.example"])
    assert ids(search(other)) == {other_id}
    forbidden = [
        {}, {"domain": CUSTOMER}, {"domain": "client-a.example"}, {"queue_id": a_id},
        {"message_id": a_message_id}, {"sender": "app@client-a.example"}, {"recipient": "ok@dest.test"},
        {"account": "127.0.0.2/32"}, {"client_ip": IP_CLIENT}, {"status": "rejected"}, {"subject": "For"},
        {"identity": "app@client-a.example"}, {"status": "delivered", "domain": "client-b.example"},
    ]
    for filters in forbidden:
        found = ids(search(other, **filters))
        assert found <= {other_id}, (filters, found)
    for key in (a_id, urllib.parse.quote(a_message_id), str(refusal["id"])):
        status, answer = other.call("GET", f"/log/{key}")
        assert (status, answer) == (404, {"error": "no such message"}), (key, status, answer)
    ghost = other.call("GET", "/log/0123456789ABCDEF0123")
    assert ghost == (404, {"error": "no such message"}), "another tenant's looks like a missing one"

    customer = token(api, "customer admin", [CUSTOMER])
    assert ids(search(customer)) == {a_id, b_id, f"#{refusal['id']}"}
    assert customer.ok("GET", f"/log/{b_id}")["message"]["queue_id"] == b_id
    client_a = token(api, "client-a admin", ["client-a.example"])
    assert ids(search(client_a)) == {a_id, f"#{refusal['id']}"}, "its sender domain's only"
    assert client_a.call("GET", f"/log/{b_id}")[0] == 404
    assert ids(search(api)) == {a_id, b_id, other_id, f"#{refusal['id']}"}, "the superadmin sees all"
    assert other.ok("GET", f"/log/{urllib.parse.quote(other_message_id)}")["message"]["queue_id"] == other_id


def test_an_expired_message_and_the_cli(postern, sinks):  # noqa: F811
    server, api, _, _, _ = start(postern, sinks, lifetime=3)
    expire_id, _ = sent(server, "app@client-a.example", ["expire@dest.test"], "Never arrives")
    expired = row(api, expire_id, "expired", timeout=WAIT)
    assert expired["counts"]["expired"] == 1 and "expired" in expired["reply"], expired
    assert expire_id in ids(search(api, status="expired", domain="client-a.example"))

    def cli(*args: str) -> str:
        proc = subprocess.run([str(postern_bin()), "log", *args, "--data-dir", str(server.data_dir)],
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    table = cli("search", "--domain", CUSTOMER, "--status", "expired")
    assert table.splitlines()[0].split()[:3] == ["ARRIVED", "(UTC)", "ID"], table
    assert expire_id in table and "expired" in table and "app@client-a.example" in table, table
    assert table.rstrip().endswith("-- 1 message(s)"), table
    shown = cli("show", expire_id)
    assert "status" in shown and "expired" in shown, shown
    for what in ("connect", "checked", "queued", "deferred to expire@dest.test", "expired to expire@dest.test"):
        assert what in shown, (what, shown)
    answer = json.loads(cli("search", "--queue-id", expire_id, "--json"))
    assert [r["status"] for r in answer["items"]] == ["expired"], answer
    bad = subprocess.run([str(postern_bin()), "log", "search", "--status", "lost", "--data-dir", str(server.data_dir)],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "status" in bad.stderr, bad.stderr
    missing = subprocess.run([str(postern_bin()), "log", "show", "0123456789ABCDEF0123", "--data-dir",
                              str(server.data_dir)], capture_output=True, text=True, timeout=30)
    assert missing.returncode != 0 and "no such message" in missing.stderr, missing.stderr
