"""Compromise detection by behaviour end to end (issue 15): the real binary, accounts made
through the admin API, a real smtplib client authenticated as alice@example.com. The
warm-up is shortened to 5 messages. Profiles learn a usual from closed blocks of 10
minutes and an hour, and a newsletter's is a weekly burst: the history test runs the real
binary under libfaketime (Debian's `faketime`) and restarts it days later between sends."""

from __future__ import annotations

import smtplib
import time
from pathlib import Path

import pytest

from test_accounts import PASSWORD, UNTRUSTED, Api, smtp
from test_delivery import sinks  # noqa: F401 (fixture)
from test_limits import TEMPLATE, alice, message, setup, transaction

BURST = [f"stranger{i}@far{i % 17}.example" for i in range(40)]
SHORT_WARMUP = {"warmup_hours": 0, "warmup_messages": 5}


def establish(c) -> None:
    for i in range(5):
        assert transaction(c, "alice@example.com", ["friend@remote.example"], message(f"hi {i}"))[0] == 250


def test_a_burst_to_new_recipients_locks_an_established_identity(postern):
    server = postern(extra=UNTRUSTED)
    setup(server, alice={"behaviour": {"action": "lock_identity", **SHORT_WARMUP},
                         "lock": {"template": TEMPLATE}})
    with alice(server) as c:
        establish(c)
        assert transaction(c, "alice@example.com", BURST, message("offer")) == (550, b"5.7.1 " + TEMPLATE.encode())
    with alice(server) as c:
        code, _ = transaction(c, "alice@example.com", ["friend@remote.example"], message("again"))
        assert code == 550, "the identity stays locked"
    refused = server.wait_events(
        lambda ev: any(e["data"]["reason"].startswith("behaviour: ") for e in ev), kind="refused")
    reasons = [e["data"]["reason"] for e in refused if e["data"]["reason"].startswith("behaviour: ")]
    # 41: the friend was new too, within the hour (the warm-up learns no new recipients).
    assert reasons == ["behaviour: 41 recipients never written to before in 1 hour, this identity usually sends "
                       "none; locked identity alice@example.com"], reasons
    spooled = list(server.spool().values())
    mail = [f for f in spooled if f.envelope.get("sender") not in (None, "")]
    assert len(mail) == 5, "the burst was not delivered"
    # The lock notice went to the sender, with the null sender and the lock template.
    notices = [f for f in spooled if f.envelope.get("sender") in (None, "")]
    assert len(notices) == 1 and TEMPLATE.encode() in notices[0].message


def test_monitor_is_the_default_and_only_logs(postern):
    server = postern(extra=UNTRUSTED)
    setup(server, alice={"behaviour": SHORT_WARMUP})
    with alice(server) as c:
        establish(c)
        assert transaction(c, "alice@example.com", BURST, message("offer"))[0] == 250
        assert transaction(c, "alice@example.com", ["friend@remote.example"], message("again"))[0] == 250
    refused = server.wait_events(lambda ev: len(ev) >= 1, kind="refused")
    reasons = [e["data"]["reason"] for e in refused]
    assert reasons[0].startswith("would refuse (monitor): behaviour: 41 recipients never written to before"), reasons
    assert len(server.spool()) == 7


def test_the_quarantine_action_holds_the_burst(postern):
    server = postern(extra=UNTRUSTED)
    api, _, _ = setup(server, alice={"behaviour": {"action": "quarantine", **SHORT_WARMUP}})
    with alice(server) as c:
        establish(c)
        assert transaction(c, "alice@example.com", BURST, message("offer")) == (
            550, b"5.7.1 Error: message held: this sender's traffic is far above its usual")
        # Only the message is held: the identity is not locked.
        assert transaction(c, "alice@example.com", ["friend@remote.example"], message("again"))[0] == 250
    held = api.ok("GET", "/quarantine")
    assert held["total"] == 1, held
    assert held["items"][0]["rule"].startswith("BEHAVIOUR: 41 recipients never written to before"), held["items"][0]
    assert len(server.spool()) == 6


def test_delivery_failures_lock_an_identity_sending_to_a_dead_list(postern, sinks):  # noqa: F811
    """The receiving server refuses the recipients for good (550): the failures come back
    from delivery to the sender's profile, which locks the identity; the finding is in the
    failed message's timeline."""
    dest = sinks("dest", rcpt_reply=lambda addr, n: "550 5.1.1 no such user" if addr.startswith("gone") else None)
    server = postern(extra=UNTRUSTED + ["--relay-host", f"127.0.0.1:{dest.port}"])
    setup(server, alice={"behaviour": {"action": "lock_identity", **SHORT_WARMUP},
                         "lock": {"template": TEMPLATE}})
    dead = [f"gone{i}@old-list.example" for i in range(4)]
    with alice(server) as c:
        establish(c)
        # Four new recipients a message: far below every recipient signal; only the
        # failures say something is wrong. 12 failures in an hour (the floor is 10).
        for i in range(3):
            assert transaction(c, "alice@example.com", dead, message(f"offer {i}"))[0] == 250
    found = server.wait_events(lambda ev: len(ev) >= 1, kind="behaviour", timeout=40)
    [event] = found
    assert event["data"]["reason"] == "12 delivery failures in 1 hour, this identity usually sends none", event
    assert event["data"]["done"] == "locked identity alice@example.com", event
    assert event["data"]["identity"] == "alice@example.com" and event["data"]["domain"] == "example.com"
    with alice(server) as c:
        code, text = transaction(c, "alice@example.com", ["friend@remote.example"], message("again"))
        assert (code, text) == (550, b"5.7.1 " + TEMPLATE.encode()), "the identity is locked"
    # The lock notice went to alice, with the lock template (beside the bounces).
    notices = [m for m in dest.wait_messages(5 + 3 + 1, timeout=30) if TEMPLATE.encode() in m.data]
    assert len(notices) == 1 and notices[0].rcpt_tos == ["alice@example.com"], notices


LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


class Clock:
    """The server's clock, days ahead of the real one: libfaketime's `FAKETIME`, read once
    when the server starts. Moving it restarts the server, which keeps the profiles (the
    embedded counters hold them across restarts). A timestamp file read again while the
    server runs proved racy: in 6 of 13 runs a lock set just after a move ran out at once,
    or an hour's counts were lost, as if some threads still had the old time."""

    def __init__(self):
        if not LIBFAKETIME.exists():
            pytest.fail(f"{LIBFAKETIME} is missing: install Debian's faketime (scripts/install-test-deps.sh)")

    @staticmethod
    def env(days: int = 0) -> dict[str, str]:
        return {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME": f"+{days}d",
                "FAKETIME_DONT_FAKE_MONOTONIC": "1", "DONT_FAKE_MONOTONIC": "1"}

    def days(self, server, n: int) -> None:
        server.stop()
        server.env.update(self.env(n))
        server.restart()


def newsletter(c: smtplib.SMTP, sender: str, subscribers: list[str], issue: str) -> list[int]:
    """One message per subscriber, as a list manager sends it; the code of each, until the
    server closes the session (it does after many refusals)."""
    codes = []
    for s in subscribers:
        try:
            codes.append(transaction(c, sender, [s], message(f"{issue} for {s}"))[0])
        except smtplib.SMTPServerDisconnected:
            break
    return codes


def behaviour_refusals(server) -> list[str]:
    return [e["data"]["reason"] for e in server.events(kind="refused") if "behaviour: " in e["data"]["reason"]]


def test_a_newsletter_whose_history_holds_such_bursts_is_not_locked(postern):
    """A weekly newsletter learned in monitor mode (the recommended start) is the sender's
    usual: the next issue goes out under `lock_identity`. The same issue from a sender
    without that history is locked."""
    clock = Clock()
    server = postern(extra=UNTRUSTED, env=clock.env())
    api, account, _ = setup(server, alice={"behaviour": SHORT_WARMUP})
    alice_id = account["id"]
    subscribers = [f"reader{i}@list{i % 20}.example" for i in range(100)]
    with alice(server) as c:
        establish(c)
    clock.days(server, 1)
    with alice(server) as c:
        assert newsletter(c, "alice@example.com", subscribers[:80], "issue 1") == [250] * 80
    # In monitor mode the first issue is a finding (logged, delivered): such a burst is
    # what locks a sender without history.
    first = server.wait_events(lambda ev: any("behaviour: " in e["data"]["reason"] for e in ev), kind="refused")
    assert any(e["data"]["reason"].startswith("would refuse (monitor): behaviour: ") for e in first), first
    clock.days(server, 8)
    with alice(server) as c:
        assert newsletter(c, "alice@example.com", subscribers[:90], "issue 2") == [250] * 90
    time.sleep(1)
    api = Api(server)
    api.ok("PATCH", f"/accounts/{alice_id}",
           {"settings": {"behaviour": {"action": "lock_identity", **SHORT_WARMUP}}})
    logged = len(behaviour_refusals(server))
    clock.days(server, 15)
    api = Api(server)
    with alice(server) as c:
        # The list grew by 10 subscribers since: the issue goes out whole.
        assert newsletter(c, "alice@example.com", subscribers, "issue 3") == [250] * 100
        assert transaction(c, "alice@example.com", ["friend@remote.example"], message("after"))[0] == 250
    time.sleep(1.5)
    assert behaviour_refusals(server)[logged:] == [], "no finding at all for the usual newsletter"
    assert server.events(kind="behaviour") == []

    # Bob, established but without a newsletter in his history, sending the same issue.
    api.account("example.com", "user", "bob@example.com", PASSWORD,
                settings={"behaviour": {"action": "lock_identity", **SHORT_WARMUP}})
    with smtp(server, tls=True) as c:
        c.login("bob@example.com", PASSWORD)
        for i in range(5):
            assert transaction(c, "bob@example.com", ["friend@remote.example"], message(f"hi {i}"))[0] == 250
    clock.days(server, 16)
    c = smtp(server, tls=True)
    c.login("bob@example.com", PASSWORD)
    codes = newsletter(c, "bob@example.com", subscribers, "issue 3")
    c.close()
    assert 550 in codes and codes.index(550) < 40, codes
    locked = [r for r in behaviour_refusals(server)[logged:] if "locked identity bob@example.com" in r]
    assert len(locked) == 1, behaviour_refusals(server)
