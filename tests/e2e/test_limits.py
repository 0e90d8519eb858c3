"""Per-account limits, spam events and automatic locks end to end (issue 5): a running
server, accounts made through the admin API, real smtplib clients. 127.0.0.1 is not trusted
here; alice@example.com authenticates over STARTTLS and 127.0.0.2 is an ip account."""

from __future__ import annotations

import smtplib
import time
import uuid

import pytest

from conftest import queued_id, wait_for
from test_accounts import IP_CLIENT, PASSWORD, UNTRUSTED, Api, smtp

GTUBE = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
TEMPLATE = "Sending is locked: your account sent spam. Call support at 555-0100."


def setup(server, alice: dict | None = None, ip: dict | None = None) -> tuple[Api, dict, dict]:
    api = Api(server)
    api.domain("example.com")
    a = api.account("example.com", "user", "alice@example.com", PASSWORD, settings=alice or {})
    i = api.account("example.com", "ip", IP_CLIENT, settings=ip or {})
    return api, a, i


def alice(server) -> smtplib.SMTP:
    c = smtp(server, tls=True)
    c.login("alice@example.com", PASSWORD)
    return c


def message(subject: str = "hello", spam: bool = False) -> bytes:
    body = GTUBE if spam else b"an ordinary message"
    return b"From: a\r\nSubject: " + subject.encode() + b"\r\n\r\n" + body + b"\r\n"


def transaction(c: smtplib.SMTP, sender: str, rcpts: list[str], data: bytes) -> tuple[int, bytes]:
    """MAIL, RCPTs, DATA; the first non-2xx/3xx reply, or DATA's final reply."""
    code, text = c.mail(sender)
    if code != 250:
        c.rset()
        return code, text
    for r in rcpts:
        code, text = c.rcpt(r)
        if code != 250:
            c.rset()
            return code, text
    code, text = c.data(data)
    return code, text


def test_recipients_per_message_and_per_day_survive_a_restart(postern):
    server = postern(extra=UNTRUSTED)
    api, a, _ = setup(server, alice={"limits": {"recipients_per_message": 2, "recipients_per_day": 3}})
    with alice(server) as c:
        assert c.mail("alice@example.com")[0] == 250
        assert c.rcpt("r1@remote.example")[0] == 250
        assert c.rcpt("r2@remote.example")[0] == 250
        assert c.rcpt("r3@remote.example") == (452, b"4.5.3 Error: too many recipients")
        assert c.data(message())[0] == 250
        assert c.mail("alice@example.com")[0] == 250
        assert c.rcpt("r4@remote.example")[0] == 250
        assert c.rcpt("r5@remote.example") == (
            451, b"4.7.1 Error: daily recipient limit of 3 reached for alice@example.com")
    counters = api.ok("GET", f"/accounts/{a['id']}/counters")
    assert {"name": "recipients_per_day", "count": 3, "limit": 3, "counted": True} in counters["counters"]
    server.stop()
    server.start()
    with alice(server) as c:
        assert c.mail("alice@example.com")[0] == 250
        assert c.rcpt("r6@remote.example")[0] == 451, "the daily count survived the restart"


def test_sessions_per_minute_and_messages_per_session(postern):
    server = postern(extra=UNTRUSTED)
    setup(server, ip={"limits": {"connections_per_minute": 2, "messages_per_session": 2}})
    for _ in range(2):
        with smtp(server, IP_CLIENT) as c:
            assert transaction(c, "app@example.com", ["r@remote.example"], message())[0] == 250
            assert transaction(c, "app@example.com", ["r@remote.example"], message())[0] == 250
            assert transaction(c, "app@example.com", ["r@remote.example"], message()) == (
                451, b"4.7.1 Error: too many messages in this session (limit 2)")
    with smtp(server, IP_CLIENT) as c:
        assert transaction(c, "app@example.com", ["r@remote.example"], message()) == (
            451, b"4.7.1 Error: connection limit of 2 per minute reached for 127.0.0.2/32")


def test_account_size_and_hop_limits(postern):
    server = postern(extra=UNTRUSTED)
    setup(server, ip={"limits": {"max_message_size": 2000, "max_hops": 3}})
    with smtp(server, IP_CLIENT) as c:
        assert c.esmtp_features["size"] == "2000", "the account's limit is announced"
        code, text = c.mail("app@example.com", ["SIZE=5000"])
        assert (code, text) == (552, b"5.3.4 Message size exceeds fixed limit")
        big = message() + b"x" * 3000 + b"\r\n"
        assert transaction(c, "app@example.com", ["r@remote.example"], big) == (
            552, b"5.3.4 Message size exceeds fixed limit")
        hops = b"Received: from a\r\nReceived: from b\r\nReceived: from c\r\n" + message()
        assert transaction(c, "app@example.com", ["r@remote.example"], hops) == (554, b"5.4.6 Error: too many hops")
        assert transaction(c, "app@example.com", ["r@remote.example"], message())[0] == 250


def test_monitor_mode_refuses_nothing_and_says_what_it_would_have_refused(postern):
    server = postern(extra=UNTRUSTED)
    setup(server, alice={"monitor_only": True, "limits": {"recipients_per_day": 1, "messages_per_session": 1}})
    with alice(server) as c:
        assert transaction(c, "alice@example.com", ["r1@remote.example", "r2@remote.example"], message())[0] == 250
        assert transaction(c, "alice@example.com", ["r3@remote.example"], message())[0] == 250
    reasons = server.wait_events(lambda ev: len(ev) >= 3, kind="refused")
    would = [e["data"]["reason"] for e in reasons]
    assert any(r.startswith("would refuse (monitor): recipients per day") for r in would), would
    assert any(r.startswith("would refuse (monitor): messages per session") for r in would), would
    assert all(e["data"]["reply"].startswith("451 4.7.1 ") for e in reasons), "the reply it would have sent"
    assert len(server.spool()) == 2


def test_gtube_is_spam_and_never_delivered(postern):
    server = postern(extra=UNTRUSTED)
    setup(server, ip={"quarantine_reaction": "accept"})
    with alice(server) as c:
        assert transaction(c, "alice@example.com", ["r@remote.example"], message(spam=True)) == (
            550, b"5.7.1 Error: message content rejected as spam (GTUBE)")
    with smtp(server, IP_CLIENT) as c:
        code, text = transaction(c, "app@example.com", ["r@remote.example"], message(spam=True))
        assert code == 250 and queued_id(f"{code} {text.decode()}")  # the accept reaction: the sender sees success
    assert server.spool() == {}
    spam = server.wait_events(
        lambda ev: len([e for e in ev if e["data"]["reason"].startswith("spam (rule GTUBE)")]) >= 2, kind="refused")
    reasons = [e["data"]["reason"] for e in spam if e["data"]["reason"].startswith("spam (rule GTUBE)")]
    assert len(reasons) == 2 and "held, not delivered" in reasons[1]
    # Each message's verdict trace is stored as one event: the GTUBE rule, quarantined.
    checked = server.wait_events(lambda ev: len(ev) >= 2, kind="checked")
    assert [e["data"]["disposition"] for e in checked] == ["quarantine", "quarantine"]
    for e in checked:
        spam = [c for c in e["data"]["checks"] if c["result"] == "spam"]
        assert spam == [{"stage": "content", "engine": "gtube", "rule": "GTUBE", "result": "spam",
                         "micros": spam[0]["micros"]}], e


def address(value) -> str:
    """An address as the spool's envelope JSON has it."""
    return value if isinstance(value, str) else f"{value['local_part']}@{value['domain']}"


def lock_of(api: Api, path: str) -> dict:
    return api.ok("GET", path)["lock"]


def test_automatic_locks_time_out_then_stay_until_unlocked(postern):
    """The account and one of the ip account's identities lock on the sixth GTUBE within
    10 minutes; both locks end after their 1-minute timeout; after the maximum of one
    automatic unlock the next lock stays until the API unlocks it."""
    server = postern(extra=UNTRUSTED)
    lock = {"automatic": True, "timeout_minutes": 1, "max_automatic_unlocks": 1, "template": TEMPLATE}
    identity_lock = {"lock_identities": True, "timeout_minutes": 1, "max_automatic_unlocks": 1, "template": TEMPLATE}
    api, a, ip = setup(server, alice={"lock": lock}, ip={"lock": identity_lock})
    locked_reply = (550, b"5.7.1 " + TEMPLATE.encode())

    with alice(server) as c:
        for n in range(6):
            assert transaction(c, "alice@example.com", ["r@remote.example"], message(spam=True))[0] == 550, n
        assert transaction(c, "alice@example.com", ["r@remote.example"], message()) == locked_reply
    with smtp(server, IP_CLIENT) as c:
        for n in range(6):
            transaction(c, "spammer@example.com", ["r@remote.example"], message(spam=True))
        assert transaction(c, "spammer@example.com", ["r@remote.example"], message()) == locked_reply
        # Another identity of the same account is not locked.
        assert transaction(c, "honest@example.com", ["r@remote.example"], message())[0] == 250

    account_lock = lock_of(api, f"/accounts/{a['id']}")
    assert account_lock["locked"] and account_lock["until_ms"] - account_lock["since_ms"] == 60_000
    assert "6 spam messages within 10 minutes" in account_lock["reason"]
    identities = api.ok("GET", f"/identities?account_id={ip['id']}&name=spammer")["items"]
    assert identities[0]["lock"]["locked"]
    # The lock notices went to the senders, with the null sender.
    notices = [f for f in server.spool().values() if f.envelope.get("sender") in (None, "")]
    assert sorted(address(r["address"]) for n in notices for r in n.envelope["recipients"]) == [
        "alice@example.com", "spammer@example.com"]
    assert all(TEMPLATE.encode() in n.message for n in notices)

    time.sleep(61)
    with alice(server) as c:
        assert transaction(c, "alice@example.com", ["r@remote.example"], message())[0] == 250
        # Still more than 5 spam in the window: the next spam locks again, for good now.
        assert transaction(c, "alice@example.com", ["r@remote.example"], message(spam=True))[0] == 550
        assert transaction(c, "alice@example.com", ["r@remote.example"], message()) == locked_reply
    with smtp(server, IP_CLIENT) as c:
        assert transaction(c, "spammer@example.com", ["r@remote.example"], message())[0] == 250
        transaction(c, "spammer@example.com", ["r@remote.example"], message(spam=True))
        assert transaction(c, "spammer@example.com", ["r@remote.example"], message()) == locked_reply
    account_lock = lock_of(api, f"/accounts/{a['id']}")
    assert account_lock["locked"] and account_lock.get("until_ms") is None
    assert account_lock["automatic_unlocks"] == 1
    identity = api.ok("GET", f"/identities?account_id={ip['id']}&name=spammer")["items"][0]
    assert identity["lock"]["locked"] and identity["lock"].get("until_ms") is None

    api.ok("PATCH", f"/accounts/{a['id']}", {"locked": False})
    api.ok("PATCH", f"/identities/{identity['id']}", {"locked": False})
    assert lock_of(api, f"/accounts/{a['id']}")["automatic_unlocks"] == 0
    with alice(server) as c:
        assert transaction(c, "alice@example.com", ["r@remote.example"], message())[0] == 250
    with smtp(server, IP_CLIENT) as c:
        assert transaction(c, "spammer@example.com", ["r@remote.example"], message())[0] == 250


def test_an_identity_locked_by_hand_stays_locked_across_a_restart(postern):
    """The policy keeps identity locks in memory: a lock set through the API applies to
    the next message, is loaded again after a restart, and an unlock lifts it."""
    server = postern(extra=UNTRUSTED)
    api, _, ip = setup(server, ip={"lock": {"template": TEMPLATE}})
    # A lock by hand says so: the spam template is for automatic locks only.
    locked_reply = (550, b"5.7.1 This sender has been locked by an administrator. Contact your administrator.")
    with smtp(server, IP_CLIENT) as c:
        assert transaction(c, "bob@example.com", ["r@remote.example"], message())[0] == 250
    bob = wait_for(lambda: api.ok("GET", f"/identities?account_id={ip['id']}&name=bob")["items"],
                   "the identity's registration")[0]
    api.ok("PATCH", f"/identities/{bob['id']}", {"locked": True})
    with smtp(server, IP_CLIENT) as c:
        assert transaction(c, "bob@example.com", ["r@remote.example"], message()) == locked_reply
        assert transaction(c, "carol@example.com", ["r@remote.example"], message())[0] == 250
    server.stop()
    server.start()
    with smtp(server, IP_CLIENT) as c:
        assert transaction(c, "bob@example.com", ["r@remote.example"], message()) == locked_reply, \
            "the lock was loaded again at start-up"
    api = Api(server)  # the restarted server's admin listener
    api.ok("PATCH", f"/identities/{bob['id']}", {"locked": False})
    with smtp(server, IP_CLIENT) as c:
        assert transaction(c, "bob@example.com", ["r@remote.example"], message())[0] == 250


def test_spam_events_through_the_api(postern):
    server = postern(extra=UNTRUSTED)
    api, a, _ = setup(server, alice={"lock": {"automatic": True, "spam_threshold": 2}})
    for n in range(3):
        answer = api.ok("POST", "/spam-events", {"account_id": a["id"], "identity": "alice@example.com"})
        assert answer["account_count"] == n + 1
    assert answer["account_locked"] is True
    with alice(server) as c:
        assert transaction(c, "alice@example.com", ["r@remote.example"], message())[0] == 550
    status, err = api.call("POST", "/spam-events", {"account_id": 999999})
    assert status == 404


def test_two_nodes_sharing_redis_enforce_one_limit(postern):
    prefix = f"postern-test-{uuid.uuid4().hex}"
    config = f'[counters]\nbackend = "redis"\nredis_url = "redis://127.0.0.1:6379"\nredis_prefix = "{prefix}"\n'
    nodes = [postern(config=config, extra=UNTRUSTED) for _ in range(2)]
    for node in nodes:
        setup(node, alice={"limits": {"recipients_per_day": 4}})
    accepted = 0
    for i in range(6):
        node = nodes[i % 2]
        with alice(node) as c:
            assert c.mail("alice@example.com")[0] == 250
            code, _ = c.rcpt(f"r{i}@remote.example")
            accepted += code == 250
            if code != 250:
                assert code == 451
    assert accepted == 4, "one limit across both nodes"
