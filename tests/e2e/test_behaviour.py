"""Compromise detection by behaviour end to end (issue 15): the real binary, accounts made
through the admin API, a real smtplib client authenticated as alice@example.com. Profiles
need closed blocks of 10 minutes and an hour to learn a usual, which a test cannot wait
for: the warm-up is shortened to 5 messages, and the identity's usual of new recipients is
none. A sender whose history holds such bursts (a newsletter) is covered by the unit tests
and the abuse simulation (crates/postern-sim), on simulated time."""

from __future__ import annotations

from test_accounts import UNTRUSTED
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
