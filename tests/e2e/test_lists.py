"""Block and allow lists end to end (SPEC.md §4, seed 004): rules created through the admin
API (and the CLI) of a running server, then real SMTP clients from loopback addresses.
127.0.0.1 is *not* trusted here (--trusted-network 192.0.2.0/24): 127.0.0.2 is an ip account
of example.com, 127.0.0.4 one of other.example, 127.0.0.3 nobody's.

Checked: reject by IP, CIDR, dotted mask, sender, recipient and sender domain with their
exact replies and refused events; discard (250 with a queue id, nothing spooled, a
`discarded` event); an allow by IP skipping a failing SPF sender-security check (local DNS),
and not when another tenant's list says so; an allow never letting an unattributed client
relay; a domain's rules only for its mail, and winning over global rules; global rules are
the superadmin's; `postern rule add|list|show|remove`."""

from __future__ import annotations

import json
import re
import os
import sqlite3
import subprocess

import pytest

from conftest import postern_bin, queued_id
from dnsserver import DnsServer
from test_accounts import IP_CLIENT, MESSAGE, OTHER_CLIENT, UNTRUSTED, Api, send, smtp

OTHER_ACCOUNT = "127.0.0.4"


def make_gateway(server):
    api = Api(server)
    api.domain("example.com")
    api.domain("other.example")
    server.accounts = {
        "ip": api.account("example.com", "ip", IP_CLIENT, settings={"allow_foreign_sender_domains": True}),
        "other": api.account("other.example", "ip", OTHER_ACCOUNT),
    }
    server.api = api
    return server


@pytest.fixture
def gateway(postern):
    return make_gateway(postern(extra=UNTRUSTED))


def rule(server, kind: str, value: str, action: str, domain: str | None = None, **extra) -> dict:
    body = {"kind": kind, "value": value, "action": action, **extra}
    if domain is not None:
        body["domain"] = domain
    return server.api.ok("POST", "/rules", body)


def remove(server, created: dict) -> None:
    server.api.ok("DELETE", f"/rules/{created['id']}")


def rcpt_reply(server, source: str, sender: str, rcpt: str = "dest@remote.example") -> tuple[int, bytes]:
    with smtp(server, source) as c:
        code, text = c.mail(sender)
        assert code == 250, (code, text)
        return c.rcpt(rcpt)


def refusals(server, count: int) -> list[dict]:
    events = server.wait_events(lambda ev: len(ev) >= count, kind="refused")
    return [e["data"] for e in events]


def test_reject_by_ip_cidr_and_dotted_mask(gateway):
    assert rcpt_reply(gateway, IP_CLIENT, "app@example.com")[0] == 250
    ip = rule(gateway, "ip", IP_CLIENT, "reject")
    assert ip["value"] == "127.0.0.2" and ip["domain"] is None
    assert rcpt_reply(gateway, IP_CLIENT, "app@example.com") == (
        554, f"5.7.1 <unknown[127.0.0.2]>: Client host rejected: blocked by list rule {ip['id']}".encode())
    remove(gateway, ip)
    cidr = rule(gateway, "network", "127.0.0.0/30", "reject")
    assert rcpt_reply(gateway, IP_CLIENT, "app@example.com") == (
        554, f"5.7.1 <unknown[127.0.0.2]>: Client host rejected: blocked by list rule {cidr['id']}".encode())
    remove(gateway, cidr)
    masked = rule(gateway, "network", "127.0.0.2/255.255.255.252", "reject")
    assert masked["value"] == "127.0.0.0/30", "a dotted mask is stored as CIDR"
    assert rcpt_reply(gateway, IP_CLIENT, "app@example.com")[0] == 554
    assert rcpt_reply(gateway, OTHER_ACCOUNT, "app@other.example")[0] == 250, "127.0.0.4 is outside the /30"
    events = refusals(gateway, 3)
    assert [e["stage"] for e in events] == ["rcpt"] * 3
    assert events[0]["reason"] == f"client host rejected by list rule {ip['id']} (global: reject ip 127.0.0.2)"
    assert events[2]["reason"].endswith(f"rule {masked['id']} (global: reject network 127.0.0.0/30)")
    assert events[0]["recipient"] == "dest@remote.example" and events[0]["sender"] == "app@example.com"
    assert gateway.spool() == {}


def test_reject_by_sender_recipient_and_sender_domain(gateway):
    sender = rule(gateway, "sender", "Spam@Example.COM", "reject", domain="example.com")
    trap = rule(gateway, "recipient", "trap@remote.example", "reject")
    bad = rule(gateway, "sender_domain", "Bad.Example", "reject")
    assert (sender["value"], bad["value"]) == ("spam@example.com", "bad.example")
    assert rcpt_reply(gateway, IP_CLIENT, "SPAM@example.com") == (
        554, f"5.7.1 <SPAM@example.com>: Sender address rejected: blocked by list rule {sender['id']}".encode())
    assert rcpt_reply(gateway, IP_CLIENT, "news@bad.example") == (
        554, f"5.7.1 <news@bad.example>: Sender address rejected: blocked by list rule {bad['id']}".encode())
    assert rcpt_reply(gateway, IP_CLIENT, "news@sub.bad.example")[0] == 250, "sender domains match exactly"
    with smtp(gateway, IP_CLIENT) as c:
        assert c.mail("app@example.com")[0] == 250
        assert c.rcpt("Trap@Remote.example") == (
            554, f"5.7.1 <Trap@Remote.example>: Recipient address rejected: blocked by list rule {trap['id']}".encode())
        assert c.rcpt("dest@remote.example")[0] == 250
        code, text = c.data(MESSAGE)
        qid = queued_id(f"{code} {text.decode()}")
    recipients = ["{local_part}@{domain}".format(**r["address"]) for r in gateway.spool()[qid].envelope["recipients"]]
    assert recipients == ["dest@remote.example"], "the other recipient still goes"


def test_discard_answers_250_and_spools_nothing(gateway):
    binned = rule(gateway, "recipient", "bin@remote.example", "discard", domain="example.com", comment="black hole")
    assert binned["comment"] == "black hole"
    with smtp(gateway, IP_CLIENT) as c:
        assert c.mail("app@example.com")[0] == 250
        assert c.rcpt("dest@remote.example")[0] == 250
        assert c.rcpt("bin@remote.example") == (250, b"2.1.5 Ok")
        code, text = c.data(MESSAGE)
        qid = queued_id(f"{code} {text.decode()}")
        # The session goes on: the next message is queued as usual.
        kept = send(c, "app@example.com")
    assert list(gateway.spool()) == [kept], "the discarded message is not in the spool"
    assert gateway.spool_names("torn") == []
    events = gateway.wait_events(lambda ev: len(ev) == 1, kind="discarded")
    assert events[0]["queue_id"] == qid
    assert events[0]["data"]["rule"] == binned["id"]
    assert events[0]["data"]["sender"] == "app@example.com"
    assert events[0]["data"]["recipients"] == ["dest@remote.example", "bin@remote.example"]
    assert gateway.events(kind="queued", queue_id=qid) == []
    # Found in a log search by domain, like a queued message: its own search columns.
    db = sqlite3.connect(gateway.data_dir / "postern.db")
    try:
        columns = db.execute("SELECT domain, sender_domain FROM events WHERE kind = 'discarded'").fetchall()
    finally:
        db.close()
    assert columns == [("example.com", "example.com")]
    assert events[0]["data"]["domain"] == "example.com" and events[0]["data"]["identity"] == "app@example.com"


def mail_reply(server, source: str, sender: str) -> tuple[int, bytes]:
    with smtp(server, source) as c:
        return c.mail(sender)


def test_allow_by_ip_skips_a_failing_spf_check(postern):
    dns = DnsServer({"spf.example": {"TXT": ["v=spf1 ip4:127.0.0.9 -all"]}}).start()
    try:
        # Held by the unreachable relay host: no MX lookups reach the DNS server, the spool keeps what was sent.
        config = f'[delivery]\ndns_servers = ["{dns.address}"]\n'
        server = make_gateway(postern(config=config, extra=UNTRUSTED + ["--relay-host", "127.0.0.1:1"]))
        server.api.domain("spf.example", sender_security={"ip_check": "spf"})
        code, text = mail_reply(server, IP_CLIENT, "a@spf.example")
        assert code == 550 and b"not permitted by the SPF record of domain spf.example (fail)" in text
        # example.com's own list may not waive spf.example's sender security.
        mine = rule(server, "ip", IP_CLIENT, "allow", domain="example.com")
        assert mail_reply(server, IP_CLIENT, "a@spf.example")[0] == 550
        remove(server, mine)
        allowed = rule(server, "ip", IP_CLIENT, "allow")
        with smtp(server, IP_CLIENT) as c:
            first = send(c, "a@spf.example")
        remove(server, allowed)
        # A recipient's allow rule cannot: SPF runs at MAIL, before any recipient.
        rule(server, "recipient", "dest@remote.example", "allow")
        assert mail_reply(server, IP_CLIENT, "b@spf.example")[0] == 550
        # spf.example's own list may.
        rule(server, "ip", IP_CLIENT, "allow", domain="spf.example")
        with smtp(server, IP_CLIENT) as c:
            second = send(c, "b@spf.example")
        assert sorted(server.spool()) == sorted([first, second])
    finally:
        dns.stop()


def test_an_allow_never_lets_an_unattributed_client_relay(gateway):
    rule(gateway, "ip", OTHER_CLIENT, "allow")
    rule(gateway, "network", "127.0.0.0/8", "allow", domain="example.com")
    rule(gateway, "sender", "app@example.com", "allow")
    rule(gateway, "recipient", "bin@remote.example", "discard")
    for rcpt in ("dest@remote.example", "bin@remote.example"):
        assert rcpt_reply(gateway, OTHER_CLIENT, "app@example.com", rcpt) == (
            554, f"5.7.1 <{rcpt}>: Relay access denied".encode())
    trap = rule(gateway, "recipient", "trap@remote.example", "reject")
    assert rcpt_reply(gateway, OTHER_CLIENT, "app@example.com", "trap@remote.example")[1].endswith(
        f"blocked by list rule {trap['id']}".encode())
    assert gateway.spool() == {}


def test_a_domains_rules_apply_only_to_its_mail_and_win_over_global_ones(gateway):
    other = rule(gateway, "recipient", "r@remote.example", "reject", domain="other.example")
    assert rcpt_reply(gateway, IP_CLIENT, "app@example.com", "r@remote.example")[0] == 250
    assert rcpt_reply(gateway, OTHER_ACCOUNT, "app@other.example", "r@remote.example") == (
        554, f"5.7.1 <r@remote.example>: Recipient address rejected: blocked by list rule {other['id']}".encode())
    # The sender's domain counts too: example.com's account sending as other.example.
    assert rcpt_reply(gateway, IP_CLIENT, "x@other.example", "r@remote.example")[0] == 554
    everyone = rule(gateway, "network", "127.0.0.0/29", "reject")
    rule(gateway, "ip", IP_CLIENT, "allow", domain="example.com")
    with smtp(gateway, IP_CLIENT) as c:
        send(c, "app@example.com")
    assert rcpt_reply(gateway, OTHER_ACCOUNT, "app@other.example")[1].endswith(
        f"blocked by list rule {everyone['id']}".encode())


def test_global_rules_are_the_superadmins(gateway):
    api = gateway.api
    token = api.ok("POST", "/tokens", {"name": "tenant", "role": "domain_admin", "domains": ["example.com"]})
    tenant = Api(gateway)
    tenant.token = token["secret"]
    status, answer = tenant.call("POST", "/rules", {"kind": "ip", "value": OTHER_ACCOUNT, "action": "reject"})
    assert (status, answer["error"]) == (403, "only a superadmin may create global rules")
    status, _ = tenant.call("POST", "/rules", {"domain": "other.example", "kind": "ip", "value": OTHER_ACCOUNT,
                                               "action": "reject"})
    assert status == 404
    own = tenant.ok("POST", "/rules", {"domain": "example.com", "kind": "ip", "value": IP_CLIENT, "action": "reject"})
    glob = rule(gateway, "ip", OTHER_ACCOUNT, "reject")
    assert tenant.call("GET", f"/rules/{glob['id']}")[0] == 404
    assert tenant.call("DELETE", f"/rules/{glob['id']}")[0] == 404
    assert [r["id"] for r in tenant.ok("GET", "/rules")["items"]] == [own["id"]]
    assert rcpt_reply(gateway, IP_CLIENT, "app@example.com")[0] == 554
    assert rcpt_reply(gateway, OTHER_ACCOUNT, "app@other.example")[0] == 554, "a global rule is for every domain"


def cli(server, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("POSTERN_URL", "POSTERN_TOKEN")}
    proc = subprocess.run([str(postern_bin()), "rule", *args, "--data-dir", str(server.data_dir)],
                          capture_output=True, text=True, timeout=30, env={**env, "NO_COLOR": "1"}, stdin=subprocess.DEVNULL)
    if check:
        assert proc.returncode == 0, (args, proc.returncode, proc.stdout, proc.stderr)
    return proc


def test_cli_add_list_show_remove(gateway):
    added = cli(gateway, "add", "--kind", "network", "--action", "reject", "--domain", "example.com",
                "--comment", "spam run", "127.0.0.0/255.255.255.248")
    created = gateway.api.ok("GET", "/rules")["items"][0]
    rid = created["id"]
    assert added.stdout == f"added rule {rid} (example.com): reject network 127.0.0.0/29\n"
    cli(gateway, "add", "--kind", "sender-domain", "--action", "discard", "bulk.example")
    listed = cli(gateway, "list").stdout.splitlines()
    assert listed[0].split() == ["ID", "DOMAIN", "KIND", "VALUE", "ACTION", "COMMENT", "CREATED", "(UTC)"]
    assert listed[1].split()[:6] == [str(rid), "example.com", "network", "127.0.0.0/29", "reject", "spam"]
    assert listed[2].split()[1:5] == ["global", "sender_domain", "bulk.example", "discard"]
    assert listed[-1] == "-- 2 rules"
    only = json.loads(cli(gateway, "list", "--kind", "sender-domain", "--json").stdout)
    assert [r["value"] for r in only["items"]] == ["bulk.example"]
    assert json.loads(cli(gateway, "list", "--global", "--action", "reject", "--json").stdout)["total"] == 0
    shown = cli(gateway, "show", str(rid)).stdout
    assert re.search(r"^value +127\.0\.0\.0/29$", shown, re.M) and re.search(r"^comment +spam run$", shown, re.M), shown
    assert re.search(r"^created_at +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$", shown, re.M), shown
    assert rcpt_reply(gateway, IP_CLIENT, "app@example.com")[0] == 554
    assert cli(gateway, "remove", str(rid)).stdout == f"removed rule {rid}\n"
    assert rcpt_reply(gateway, IP_CLIENT, "app@example.com")[0] == 250, "removed: the next transaction sees it"
    bad = cli(gateway, "add", "--kind", "ip", "--action", "reject", "10.0.0.0/8", check=False)
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.strip() == "postern: 400 Bad Request: value: 10.0.0.0/8 is a network: use kind network", bad.stderr
    usage = cli(gateway, "add", "--kind", "asn", "--action", "reject", "1", check=False)
    assert usage.returncode == 2
