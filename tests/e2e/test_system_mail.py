"""System mail end to end (issue 11, SPEC §7): lock notices (automatic and through the API)
and DSNs come from the configured postmaster address with the null sender, and copies of
the configured kinds reach the external postmaster. The real binary delivers through its
real SMTP client to real sinks: `tenant` (the default route: the senders' mailboxes),
`dest` (recipients in dest.test) and `ops` (the external postmaster at ops.example)."""

from __future__ import annotations

import time

from conftest import HOSTNAME
from test_accounts import PASSWORD, UNTRUSTED, Api, smtp
from test_delivery import Dsn, delivery_config, relay, sinks  # noqa: F401 (the sinks fixture)
from test_limits import message, transaction

POSTMASTER = "noreply@gw-ops.example"
EXTERNAL = "pm@ops.example"
TEMPLATE = "Sending is locked: your account sent spam. Call support at 555-0100."
REFUSED = "550 5.1.1 <bad@dest.test>: Recipient address rejected: User unknown"


def start(postern, sinks, copies: list[str]):
    tenant = sinks("tenant")
    dest = sinks("dest", rcpt_reply=lambda addr, n: REFUSED if addr == "bad@dest.test" else None)
    ops = sinks("ops")
    config = delivery_config(
        default_route="tenant",
        relays=[relay("tenant", tenant), relay("dest", dest), relay("ops", ops)],
        rules=[("recipient", "dest.test", "dest"), ("recipient", "ops.example", "ops")],
    )
    copied = ", ".join(f'"{k}"' for k in copies)
    config += (f'[postmaster]\naddress = "{POSTMASTER}"\nname = "Postern Gateway"\n'
               f'external = ["{EXTERNAL}"]\ncopies = [{copied}]\n')
    server = postern(config=config, extra=UNTRUSTED)
    api = Api(server)
    api.domain("example.com")
    lock = {"automatic": True, "spam_threshold": 1, "template": TEMPLATE}
    alice = api.account("example.com", "user", "alice@example.com", PASSWORD, settings={"lock": lock})
    return server, api, alice, tenant, dest, ops


def alice_session(server):
    c = smtp(server, tls=True)
    c.login("alice@example.com", PASSWORD)
    return c


def assert_system_mail(received, rcpt: str) -> None:
    msg = received.parsed()
    assert received.mail_from == "<>", f"system mail has the null sender, got {received.mail_from!r}"
    assert received.rcpt_tos == [rcpt], received.rcpt_tos
    assert msg["From"].addresses[0].addr_spec == POSTMASTER, msg["From"]
    assert msg["From"].addresses[0].display_name == "Postern Gateway", msg["From"]


def test_an_automatic_lock_notice_comes_from_the_postmaster_and_is_copied(postern, sinks):
    server, api, alice, tenant, _, ops = start(postern, sinks, ["lock_notice"])
    with alice_session(server) as c:
        for n in range(2):
            assert transaction(c, "alice@example.com", ["r@remote.example"], message(spam=True))[0] == 550, n
        assert transaction(c, "alice@example.com", ["r@remote.example"], message()) == (550, b"5.7.1 " + TEMPLATE.encode())

    [notice] = tenant.wait_messages(1)
    assert_system_mail(notice, "alice@example.com")
    msg = notice.parsed()
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Subject"] == "Sending from alice@example.com is locked"
    assert [a.addr_spec for a in msg["To"].addresses] == ["alice@example.com"]
    assert msg["Message-ID"].endswith(f".lock_notice@{HOSTNAME}>"), msg["Message-ID"]
    body = msg.get_content()
    assert TEMPLATE in body and "Locked: account alice@example.com." in body, body

    # The same message to the external postmaster, as a separate delivery.
    [copy] = ops.wait_messages(1)
    assert_system_mail(copy, EXTERNAL)
    assert copy.parsed()["Message-ID"] == msg["Message-ID"]
    assert copy.data == notice.data


def test_a_lock_through_the_api_sends_its_notice(postern, sinks):
    server, api, alice, tenant, _, ops = start(postern, sinks, ["lock_notice"])
    api.ok("PATCH", f"/accounts/{alice['id']}", {"locked": True})
    [notice] = tenant.wait_messages(1)
    assert_system_mail(notice, "alice@example.com")
    body = notice.parsed().get_content()
    assert body.startswith("Your account has been locked by an administrator. Contact your administrator."), body
    assert TEMPLATE not in body, "the spam template is for automatic locks only"
    [copy] = ops.wait_messages(1)
    assert_system_mail(copy, EXTERNAL)
    # Locked again: nothing new to say.
    api.ok("PATCH", f"/accounts/{alice['id']}", {"locked": True})
    # An identity that is an address hears of its own lock.
    bob = api.ok("POST", "/identities", {"account_id": alice["id"], "name": "bob@example.com"})
    api.ok("PATCH", f"/identities/{bob['id']}", {"locked": True})
    second = tenant.wait_messages(2)[1]
    assert_system_mail(second, "bob@example.com")
    assert second.parsed().get_content().startswith("This sender has been locked by an administrator.")
    time.sleep(1.0)
    assert len(tenant.messages) == 2 and len(ops.messages) == 2, "one notice and one copy per new lock"


def test_a_bounce_comes_from_the_postmaster_and_its_copy_goes_where_configured(postern, sinks):
    server, api, alice, tenant, dest, ops = start(postern, sinks, ["dsn"])
    sent = b"From: alice@example.com\r\nSubject: to a missing mailbox\r\n\r\nbody\r\n"
    with alice_session(server) as c:
        assert transaction(c, "alice@example.com", ["good@dest.test", "bad@dest.test"], sent)[0] == 250
    [delivered] = dest.wait_messages(1)
    assert delivered.rcpt_tos == ["good@dest.test"]

    [bounce] = tenant.wait_messages(1)
    assert_system_mail(bounce, "alice@example.com")
    dsn = Dsn(bounce)  # RFC 3464 inside multipart/report: text, delivery-status, the message
    assert dsn.message["Auto-Submitted"] == "auto-replied"
    assert dsn.message["Subject"] == "Undelivered Mail Returned to Sender"
    assert dsn.per_message["Reporting-MTA"] == f"dns; {HOSTNAME}"
    assert dsn.recipient("bad@dest.test")["Status"] == "5.1.1"
    assert dsn.returned.get_payload()[0]["Subject"] == "to a missing mailbox"

    [copy] = ops.wait_messages(1)
    assert_system_mail(copy, EXTERNAL)
    assert copy.data == bounce.data
    [event] = [e["data"] for e in server.wait_events(lambda ev: len(ev) >= 1, kind="dsn")]
    assert (event["action"], event["to"], event["recipients"]) == ("failed", "alice@example.com", ["bad@dest.test"])
    # No DSN about system mail: both were delivered, nothing more comes back.
    time.sleep(1.5)
    assert len(tenant.messages) == 1 and len(ops.messages) == 1


def test_kinds_not_copied_reach_only_their_recipient(postern, sinks):
    server, api, alice, tenant, _, ops = start(postern, sinks, ["dsn"])
    api.ok("PATCH", f"/accounts/{alice['id']}", {"locked": True})
    [notice] = tenant.wait_messages(1)
    assert_system_mail(notice, "alice@example.com")
    time.sleep(1.5)
    assert ops.messages == [], "lock notices are not in postmaster.copies"
