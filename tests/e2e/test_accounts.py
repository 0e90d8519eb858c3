"""Outgoing accounts end to end (issue 4): domains and accounts created through the admin
API of a running server, then real SMTP clients (smtplib, raw sockets) from loopback
addresses. 127.0.0.1 is *not* trusted in these tests (--trusted-network 192.0.2.0/24), so
every relay below is by account: an ip account for 127.0.0.2, user and domain accounts by
AUTH over STARTTLS. Checked: relaying per account kind, 535 / 538 / 553 / 550 / 503 replies,
AUTH throttling, identities per method (header with two names, regex, stripping), the
owner in the spooled envelope, identities counted through the API, a message found under
both domains, sender security (allowlists and SPF through a local DNS server), and the
classic open-relay tricks refused."""

from __future__ import annotations

import base64
import json
import smtplib
import sqlite3
import time
import urllib.error
import urllib.request

import pytest

from conftest import RawSMTP, queued_id, wait_for
from dnsserver import DnsServer

UNTRUSTED = ["--trusted-network", "192.0.2.0/24"]
PASSWORD = "a long and secret password"
IP_CLIENT = "127.0.0.2"
OTHER_CLIENT = "127.0.0.3"


class Api:
    def __init__(self, server):
        self.base = (server.data_dir / "admin.url").read_text().strip() + "/api/v1"
        self.token = (server.data_dir / "admin-token").read_text().strip()

    def call(self, method: str, path: str, body=None) -> tuple[int, dict]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=20) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def ok(self, method: str, path: str, body=None) -> dict:
        status, answer = self.call(method, path, body)
        assert 200 <= status < 300, (method, path, status, answer)
        return answer

    def domain(self, name: str, enabled: bool = True, **extra) -> dict:
        return self.ok("POST", "/domains", {"name": name, "filter_enabled": enabled, **extra})

    def account(self, domain: str, kind: str, name: str | None = None, password: str | None = None,
                settings: dict | None = None) -> dict:
        body = {"domain": domain, "kind": kind}
        if name is not None:
            body["name"] = name
        if password is not None:
            body["password"] = password
        if settings is not None:
            body["settings"] = settings
        return self.ok("POST", "/accounts", body)


@pytest.fixture
def gateway(postern):
    """A server that trusts no loopback client, with example.com (enabled): the ip account
    127.0.0.2, alice@example.com (user) and the domain account; off.example (disabled) with
    bob@off.example; other.example (enabled) with carol@other.example."""
    server = postern(extra=UNTRUSTED)
    api = Api(server)
    api.domain("example.com")
    api.domain("off.example", enabled=False)
    api.domain("other.example")
    ip = api.account("example.com", "ip", IP_CLIENT)
    alice = api.account("example.com", "user", "alice@example.com", PASSWORD)
    domain = api.account("example.com", "domain", password=PASSWORD)
    bob = api.account("off.example", "user", "bob@off.example", PASSWORD)
    carol = api.account("other.example", "user", "carol@other.example", PASSWORD)
    server.api = api
    server.accounts = {"ip": ip, "alice": alice, "domain": domain, "bob": bob, "carol": carol}
    return server


def smtp(server, source: str = "127.0.0.1", tls: bool = False) -> smtplib.SMTP:
    c = smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=20, source_address=(source, 0))
    c.ehlo("client.test.example")
    if tls:
        c.starttls(context=server.tls_context())
        c.ehlo("client.test.example")
    return c


def auth_plain(c: smtplib.SMTP, user: str, password: str) -> tuple[int, bytes]:
    """One AUTH PLAIN exchange (smtplib's login() would try every mechanism in turn)."""
    c.user, c.password = user, password
    try:
        return c.auth("PLAIN", c.auth_plain)
    except smtplib.SMTPAuthenticationError as e:
        return e.smtp_code, e.smtp_error


MESSAGE = b"From: someone\r\nSubject: accounts\r\n\r\nbody\r\n"


def envelope_of(server, queue_id: str) -> dict:
    return server.spool()[queue_id].envelope


def send(c: smtplib.SMTP, sender: str, rcpt: str = "dest@remote.example", message: bytes = MESSAGE) -> str:
    code, text = c.mail(sender)
    assert code == 250, (code, text)
    code, text = c.rcpt(rcpt)
    assert code == 250, (code, text)
    code, text = c.data(message)
    assert code == 250, (code, text)
    return queued_id(f"{code} {text.decode()}")


def test_ip_account_relays_without_auth_others_are_refused(gateway):
    with smtp(gateway, IP_CLIENT) as c:
        qid = send(c, "app@example.com")
    owner = envelope_of(gateway, qid)["owner"]
    assert owner == {"account_id": gateway.accounts["ip"]["id"], "account": "127.0.0.2/32",
                     "domain": "example.com", "identity": "app@example.com"}
    with smtp(gateway, OTHER_CLIENT) as c:
        assert c.mail("app@example.com")[0] == 250
        code, text = c.rcpt("dest@remote.example")
        assert (code, text) == (554, b"5.7.1 <dest@remote.example>: Relay access denied")


@pytest.mark.parametrize("user", ["alice@example.com", "example.com"])
def test_user_and_domain_accounts_authenticate_over_starttls(gateway, user):
    with smtp(gateway, tls=True) as c:
        assert "PLAIN" in c.esmtp_features["auth"] and "LOGIN" in c.esmtp_features["auth"]
        c.login(user, PASSWORD)
        qid = send(c, "alice@example.com")
    owner = envelope_of(gateway, qid)["owner"]
    account = gateway.accounts["alice" if "@" in user else "domain"]
    assert owner["account_id"] == account["id"]
    assert owner["auth_user"] == user
    assert owner["identity"] == user  # user and domain accounts are identified by AUTH name


def test_login_mechanism_and_wrong_password(gateway):
    with smtp(gateway, tls=True) as c:
        c.user, c.password = "alice@example.com", PASSWORD
        code, _ = c.auth("LOGIN", c.auth_login, initial_response_ok=False)
        assert code == 235
    with smtp(gateway, tls=True) as c:
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            c.login("alice@example.com", "not the password")
        assert e.value.smtp_code == 535 and e.value.smtp_error == b"5.7.8 Error: authentication failed"
        # Still unattributed after the failure.
        c.mail("alice@example.com")
        assert c.rcpt("dest@remote.example")[0] == 554
    log = "".join(gateway.stdout + gateway.stderr)
    assert PASSWORD not in log and "not the password" not in log
    events = gateway.wait_events(lambda ev: len(ev) >= 2, kind="auth")
    assert [e["data"]["result"] for e in events][:2] == ["success", "failure"]


def test_auth_before_tls_is_refused(gateway):
    with smtp(gateway) as c:
        assert "auth" not in c.esmtp_features
    with RawSMTP(gateway.ports["smtp"]) as raw:
        raw.reply()
        raw.ehlo()
        token = base64.b64encode(f"\0alice@example.com\0{PASSWORD}".encode()).decode()
        assert raw.cmd(f"AUTH PLAIN {token}") == "538 5.7.11 Encryption required for requested authentication mechanism"


def test_sender_not_owned_is_refused(gateway):
    with smtp(gateway, tls=True) as c:
        c.login("alice@example.com", PASSWORD)
        code, text = c.mail("bob@example.com")
        assert (code, text) == (553, b"5.7.1 <bob@example.com>: Sender address rejected: not owned by user alice@example.com")
    with smtp(gateway, tls=True) as c:
        c.login("example.com", PASSWORD)
        assert c.mail("anyone@example.com")[0] == 250
        c.rset()
        code, text = c.mail("anyone@other.example")
        assert (code, text) == (553, b"5.7.1 <anyone@other.example>: Sender address rejected: not owned by user example.com")
    with smtp(gateway, IP_CLIENT) as c:
        code, _ = c.mail("app@other.example")
        assert code == 553
    events = gateway.wait_events(lambda ev: len([e for e in ev if e["data"]["stage"] == "mail"]) >= 3, kind="refused")
    assert any("not owned" in e["data"]["reason"] for e in events)


def test_disabled_domain_is_refused_until_enabled(gateway):
    with smtp(gateway, tls=True) as c:
        c.login("bob@off.example", PASSWORD)
        code, text = c.mail("bob@off.example")
        assert (code, text) == (550, b"5.7.1 <bob@off.example>: Sender address rejected: "
                                     b"outgoing filter is not enabled for domain off.example")
    gateway.api.ok("PATCH", "/domains/off.example", {"filter_enabled": True})
    with smtp(gateway, tls=True) as c:
        c.login("bob@off.example", PASSWORD)
        send(c, "bob@off.example")


def test_an_administrators_lock_says_so(gateway):
    alice = gateway.accounts["alice"]["id"]
    locked = gateway.api.ok("PATCH", f"/accounts/{alice}", {"locked": True})
    assert locked["lock"]["by"] == "administrator", locked["lock"]
    with smtp(gateway, tls=True) as c:
        c.login("alice@example.com", PASSWORD)
        assert c.mail("alice@example.com") == (
            550, b"5.7.1 Your account has been locked by an administrator. Contact your administrator.")
    refused = gateway.wait_events(lambda ev: any("locked by administrator" in e["data"]["reason"] for e in ev),
                                  kind="refused")
    assert refused, "the log says which lock"
    gateway.api.ok("PATCH", f"/accounts/{alice}", {"locked": False})
    with smtp(gateway, tls=True) as c:
        c.login("alice@example.com", PASSWORD)
        send(c, "alice@example.com")


def test_reauthentication_only_with_the_flag(gateway):
    with smtp(gateway, IP_CLIENT, tls=True) as c:
        assert auth_plain(c, "carol@other.example", PASSWORD) == (
            503, b"5.5.1 Error: authentication not allowed for this client")
    ip_id = gateway.accounts["ip"]["id"]
    gateway.api.ok("PATCH", f"/accounts/{ip_id}", {"settings": {"allow_reauthentication": True}})
    with smtp(gateway, IP_CLIENT, tls=True) as c:
        assert auth_plain(c, "carol@other.example", PASSWORD)[0] == 235
        qid = send(c, "carol@other.example")
        # Re-attributed: carol's own rules apply now, not the ip account's.
        assert c.mail("app@example.com")[0] == 553
    owner = envelope_of(gateway, qid)["owner"]
    assert owner["account_id"] == gateway.accounts["carol"]["id"] and owner["domain"] == "other.example"


def test_auth_failures_are_throttled_then_blocked(postern):
    server = postern(config="[auth]\nmax_failures = 3\nfailure_delay = 1\nblock_time = 600\n", extra=UNTRUSTED)
    api = Api(server)
    api.domain("example.com")
    api.account("example.com", "user", "alice@example.com", PASSWORD)
    with smtp(server, tls=True) as c:
        started = time.monotonic()
        for _ in range(2):
            assert auth_plain(c, "alice@example.com", "guess")[0] == 535
        # The first failure waits 1 s, the second 2 s.
        assert time.monotonic() - started >= 3.0
        assert auth_plain(c, "alice@example.com", "guess") == (
            421, b"4.7.0 mx.test.example Error: too many failed authentications; try again later")
    # Blocked now, even with the right password, on a new connection.
    with smtp(server, tls=True) as c:
        assert auth_plain(c, "alice@example.com", PASSWORD)[0] == 421
    results = [e["data"]["result"] for e in server.wait_events(lambda ev: len(ev) >= 4, kind="auth")]
    assert results[:4] == ["failure", "failure", "blocked", "blocked"]


def test_header_identification_with_two_names_regex_and_stripping(gateway):
    ip_id = gateway.accounts["ip"]["id"]
    gateway.api.ok("PATCH", f"/accounts/{ip_id}", {"settings": {"identification": {
        "method": "header", "headers": ["X-AuthUser", "X-Client-ID"], "regex": r"customer=(\w+)", "strip": True}}})
    first = b"From: shop\r\nX-Client-ID: shop=9; customer=c42\r\nSubject: 1\r\n\r\nX-Client-ID: body\r\n"
    second = b"From: shop\r\nX-AuthUser: customer=c7\r\nX-Client-ID: customer=ignored\r\nSubject: 2\r\n\r\nb\r\n"
    third = b"From: shop\r\nSubject: no identification header\r\n\r\nb\r\n"
    with smtp(gateway, IP_CLIENT) as c:
        ids = [send(c, "shop@example.com", message=m) for m in (first, second, third, first)]
    spool = gateway.spool()
    identities = [spool[q].envelope["owner"]["identity"] for q in ids]
    assert identities == ["c42", "c7", "shop@example.com", "c42"]
    for q in ids:
        body = spool[q].message
        assert b"X-Client-ID: shop" not in body and b"X-AuthUser" not in body and b"customer=ignored" not in body
    assert b"\r\n\r\nX-Client-ID: body\r\n" in spool[ids[0]].message, "the body is never touched"

    def listed():
        status, answer = gateway.api.call("GET", f"/identities?account_id={ip_id}")
        return {i["name"]: i for i in answer["items"]} if status == 200 else {}

    found = wait_for(lambda: ids if len(ids := listed()) >= 3 else None, "three identities")
    assert set(found) == {"c42", "c7", "shop@example.com"}
    assert found["c42"]["messages"] == 2 and found["c7"]["messages"] == 1
    assert found["c42"]["first_seen_ms"] <= found["c42"]["last_seen_ms"]
    assert found["c42"]["domain"] == "example.com"


def test_sender_identification_and_message_found_under_both_domains(gateway):
    ip_id = gateway.accounts["ip"]["id"]
    gateway.api.ok("PATCH", f"/accounts/{ip_id}", {"settings": {"allow_foreign_sender_domains": True}})
    with smtp(gateway, IP_CLIENT) as c:
        qid = send(c, "news@foreign.example")
    gateway.wait_events(lambda ev: len(ev) == 1, kind="queued", queue_id=qid)
    conn = sqlite3.connect(gateway.data_dir / "postern.db")
    try:
        by_account = conn.execute("SELECT queue_id FROM events WHERE kind = 'queued' AND "
                                  "(domain = ?1 OR sender_domain = ?1)", ("example.com",)).fetchall()
        by_sender = conn.execute("SELECT queue_id FROM events WHERE kind = 'queued' AND "
                                 "(domain = ?1 OR sender_domain = ?1)", ("foreign.example",)).fetchall()
    finally:
        conn.close()
    assert (qid,) in by_account and (qid,) in by_sender


def test_sender_security_allowlists(gateway):
    api = gateway.api
    api.domain("secure.example", sender_security={"allowed_senders": ["ok@secure.example"], "ip_check": "allowlist",
                                                  "allowed_ips": ["192.0.2.0/24"]})
    api.account("secure.example", "domain", password=PASSWORD)
    with smtp(gateway, tls=True) as c:
        c.login("secure.example", PASSWORD)
        code, text = c.mail("other@secure.example")
        assert (code, text) == (550, b"5.7.1 <other@secure.example>: Sender address rejected: "
                                     b"not an allowed sender of domain secure.example")
        code, text = c.mail("ok@secure.example")
        assert code == 550 and b"client IP 127.0.0.1 is not on the IP allowlist of domain secure.example" in text
    api.ok("PATCH", "/domains/secure.example", {"sender_security": {
        "allowed_senders": ["ok@secure.example"], "ip_check": "allowlist", "allowed_ips": ["127.0.0.1/32"]}})
    with smtp(gateway, tls=True) as c:
        c.login("secure.example", PASSWORD)
        send(c, "ok@secure.example")


def test_sender_security_spf_through_local_dns(postern):
    dns = DnsServer({
        "spf.example": {"TXT": ["v=spf1 ip4:127.0.0.2 -all"]},
        "broken.example": {"SERVFAIL": True},
    }).start()
    try:
        server = postern(config=f'[delivery]\ndns_servers = ["{dns.address}"]\n', extra=UNTRUSTED)
        api = Api(server)
        api.domain("example.com")
        api.account("example.com", "ip", "127.0.0.0/29", settings={"allow_foreign_sender_domains": True})
        api.domain("spf.example", sender_security={"ip_check": "spf"})
        api.domain("broken.example", sender_security={"ip_check": "spf"})
        with smtp(server, IP_CLIENT) as c:
            send(c, "a@spf.example")
        with smtp(server, OTHER_CLIENT) as c:
            code, text = c.mail("a@spf.example")
            assert code == 550
            assert b"client IP 127.0.0.3 is not permitted by the SPF record of domain spf.example (fail)" in text
            code, text = c.mail("a@broken.example")
            assert code == 451 and text.startswith(b"4.4.3 <a@broken.example>: Sender address rejected: SPF")
    finally:
        dns.stop()


# The classic tricks, from a client that is neither trusted nor an account, while the
# directory has enabled domains and accounts. Every one must be refused; nothing spooled.
TRICKS = [
    "user%remote.example@example.com",
    "remote.example!user@example.com",
    "@relay.example:user@remote.example",
    "@a.example,@b.example:user@remote.example",
    '"user@remote.example"@example.com',
    '"user%remote.example"@example.com',
    "user@remote.example@example.com",
    "user@[192.0.2.1]",
    "user@[IPv6:2001:db8::1]",
    "user@remote.example.",
    "USER@EXAMPLE.COM",
    "user@Example.Com",
    "alice@example.com",
    "postmaster",
    "user@ex\u0430mple.com",  # Cyrillic a: a look-alike of example.com
]


@pytest.mark.parametrize("utf8", [False, True])
def test_never_an_open_relay(gateway, utf8):
    for rcpt in TRICKS:
        with RawSMTP(gateway.ports["smtp"]) as raw:
            raw.reply()
            raw.ehlo()
            mail = raw.cmd("MAIL FROM:<alice@example.com>" + (" SMTPUTF8" if utf8 else ""))
            assert mail.startswith("250"), mail
            reply = raw.cmd(f"RCPT TO:<{rcpt}>")
            assert reply[:3] in ("554", "501", "553"), (rcpt, reply)
            if reply.startswith("554"):
                assert reply.endswith("Relay access denied"), (rcpt, reply)
            assert raw.cmd("DATA").startswith("503"), rcpt
    assert gateway.spool() == {}
