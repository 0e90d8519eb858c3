"""DKIM end to end: keys made through the CLI, their records published in a local DNS server
exactly as `postern dkim show-dns` prints them (parsed by dnslib as zone-file lines),
`postern dkim check` against that server, and every message that reaches the sink verified
by an independent verifier, Python's dkimpy, with a DNS function that answers the records
published there.

Covers: RSA-2048, Ed25519 and dual signatures (RFC 8463); 8-bit bodies, long folded
headers, messages with and without a final CRLF (DATA and BDAT), dot lines and trailing
blank lines, whitespace-only lines at the end of the body (RFC 6376 §3.4.4, where
mail-auth 0.13.3 differs), identification headers stripped before signing; a tampered copy fails
verification (the check can fail); over-signed headers cannot be added; messages of a From
domain without a key go unsigned and the `dkim` event says why; check reports published,
missing and mismatched; rotation: both selectors in DNS, the signing selector switches, the
old signature still verifies during the grace period, and a retired key is no longer listed.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import subprocess
import uuid

import dkim
import pytest
from dnslib import RR

from conftest import postern_bin, queued_id
from dnsserver import DnsServer
from sinks import Sink
from test_accounts import Api

UNTRUSTED = ["--trusted-network", "192.0.2.0/24"]
WAIT = 20.0


# --------------------------------------------------------------------------------------
# The world: a DNS server, a sink, and Postern relaying to the sink


class World:
    def __init__(self, server, dns: DnsServer, sink: Sink):
        self.server, self.dns, self.sink = server, dns, sink
        self.api = Api(server)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        clean = {k: v for k, v in os.environ.items() if k not in ("POSTERN_URL", "POSTERN_TOKEN")}
        cmd = [str(postern_bin()), "dkim", *args, "--data-dir", str(self.server.data_dir)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env={**clean, "NO_COLOR": "1"})
        if check:
            assert proc.returncode == 0, (args, proc.returncode, proc.stdout, proc.stderr)
        return proc

    def publish_show_dns(self, domain: str) -> list[str]:
        """Loads the zone lines `show-dns` prints into the DNS server; returns their names."""
        text = self.cli("show-dns", domain).stdout
        names = []
        for line in text.splitlines():
            if not line or line.startswith(";"):
                continue
            (rr,) = RR.fromZone(line)
            strings = [s.decode("ascii") for s in rr.rdata.data]
            assert all(len(s) <= 255 for s in strings), strings
            name = str(rr.rname).rstrip(".")
            self.dns.publish(name, "TXT", [strings])
            names.append(name)
        return names

    def dnsfunc(self, name: bytes, timeout: int = 5) -> bytes | None:
        """dkimpy's DNS lookup, answered from the records published in the DNS server."""
        zone = self.dns.resolver.zones.get(name.decode().lower().rstrip("."), {})
        for value in zone.get("TXT", []):
            joined = "".join(value) if isinstance(value, list) else value
            if joined.startswith("v=DKIM1"):
                return joined.encode()
        return None

    def verify_all(self, data: bytes) -> list[bool]:
        """dkimpy's verdict on each DKIM-Signature of `data`, top to bottom."""
        count = len(re.findall(rb"(?im)^DKIM-Signature:", data.split(b"\r\n\r\n", 1)[0]))
        return [self._verify(data, i) for i in range(count)]

    def _verify(self, data: bytes, index: int) -> bool:
        try:
            return bool(dkim.DKIM(data).verify(idx=index, dnsfunc=self.dnsfunc))
        except dkim.DKIMException:  # a body hash mismatch is raised, not returned
            return False


def config(dns: DnsServer, sink: Sink) -> str:
    return (
        "[delivery]\n"
        'default_route = "sink"\n'
        f'dns_servers = ["{dns.address}"]\n'
        "retry_first = 1\nretry_max = 2\nconnect_timeout = 3\ncommand_timeout = 5\ndata_timeout = 5\n"
        "[[delivery.relay_hosts]]\n"
        f'name = "sink"\nhost = "{sink.host}"\nport = {sink.port}\ntls = "none"\n'
    )


@pytest.fixture
def world(postern):
    dns = DnsServer({}).start()
    sink = Sink("sink").start()
    try:
        yield World(postern(config=config(dns, sink), extra=UNTRUSTED), dns, sink)
    finally:
        sink.stop()
        dns.stop()


def send(world: World, source: str, sender: str, message: bytes, bdat: bool = False) -> str:
    """One message from `source` (an ip account's address) to the sink; its queue id."""
    with smtplib.SMTP("127.0.0.1", world.server.ports["smtp"], timeout=20, source_address=(source, 0)) as c:
        c.ehlo("client.example")
        code, text = c.mail(sender, ["BODY=8BITMIME"])
        assert code == 250, (code, text)
        code, text = c.rcpt("someone@dest.example")
        assert code == 250, (code, text)
        if bdat:
            c.send(f"BDAT {len(message)} LAST\r\n".encode() + message)
            code, text = c.getreply()
        else:
            code, text = c.data(message)
        return queued_id(f"{code} {text.decode()}")


def received(world: World, count: int) -> list[bytes]:
    return [m.data for m in world.sink.wait_messages(count, timeout=WAIT)]


def headers_of(data: bytes) -> str:
    return data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")


# --------------------------------------------------------------------------------------
# Messages


def messages(domain: str) -> dict[str, bytes]:
    frm = f"Shop <shop@{domain}>"
    mid = lambda: f"<{uuid.uuid4().hex}@{domain}>"  # noqa: E731
    long_subject = "Subject: " + "\r\n ".join(f"part{i} of a subject that goes on and on" for i in range(8))
    many_to = "To: " + ",\r\n\t".join(f"Person {i} <p{i}@dest.example>" for i in range(12))
    return {
        "plain": f"From: {frm}\r\nTo: someone@dest.example\r\nSubject: hello\r\nMessage-ID: {mid()}\r\n\r\n"
                 "Hello.\r\n.a line with a leading dot\r\n".encode(),
        "8bit": (f"From: {frm}\r\nTo: someone@dest.example\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
                 f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 f"Content-Transfer-Encoding: 8bit\r\nMessage-ID: {mid()}\r\n\r\n"
                 "Äpfel, Öl und Übermut — 8 bits \t \r\nZeile mit Leerzeichen am Ende   \r\n\r\n\r\n").encode(),
        "folded": (f"From: {frm}\r\n{many_to}\r\n{long_subject}\r\nMessage-ID: {mid()}\r\n"
                   f"References: {' '.join(mid() for _ in range(6))}\r\n\r\nbody\r\n").encode(),
        "no final CRLF (DATA)": f"From: {frm}\r\nSubject: short\r\n\r\nno line end here".encode(),
        "stripped identity header": (f"From: {frm}\r\nX-Client-ID: customer-42\r\nSubject: order\r\n"
                                     f"Message-ID: {mid()}\r\n\r\nX-Client-ID: this one is body\r\n").encode(),
    }


# --------------------------------------------------------------------------------------


def test_keys_are_published_checked_and_every_message_verifies(world):
    w = world
    api = w.api
    api.domain("example.com")
    strip = {"identification": {"method": "header", "headers": ["X-Client-ID"], "strip": True}}
    api.account("example.com", "ip", "127.0.0.2", settings={**strip, "dkim_selector": "r1"})
    api.account("example.com", "ip", "127.0.0.3", settings={**strip, "dkim_selector": "e1"})
    api.account("example.com", "ip", "127.0.0.4", settings={**strip, "allow_foreign_sender_domains": True})

    generated = w.cli("generate", "example.com", "--selector", "r1").stdout
    assert "generated rsa key r1 of example.com (pending)" in generated, generated
    w.cli("generate", "example.com", "--selector", "e1", "--algorithm", "ed25519")

    # Nothing published yet: check says so and fails; rotation refuses.
    missing = w.cli("check", "example.com", check=False)
    assert missing.returncode == 1 and "missing" in missing.stdout, (missing.stdout, missing.stderr)
    refused = w.cli("rotate", "example.com", "r1", check=False)
    assert refused.returncode == 1 and "not published" in refused.stderr, refused.stderr

    # show-dns as printed, loaded by a DNS server: check finds both.
    names = w.publish_show_dns("example.com")
    assert sorted(names) == ["e1._domainkey.example.com", "r1._domainkey.example.com"]
    rsa_strings = w.dns.resolver.zones["r1._domainkey.example.com"]["TXT"][0]
    assert len(rsa_strings) == 2, "an RSA-2048 record is two strings"
    published = json.loads(w.cli("check", "example.com", "--json").stdout)
    assert published["all_published"] is True, published
    assert {r["selector"]: r["status"] for r in published["results"]} == {"r1": "published", "e1": "published"}
    assert any(q == ("r1._domainkey.example.com", "TXT") for q in w.dns.queries), "asked the configured DNS server"

    # A record with another key is mismatched.
    good = w.dns.resolver.zones["e1._domainkey.example.com"]["TXT"]
    w.dns.publish("e1._domainkey.example.com", "TXT", ["v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="])
    mismatched = w.cli("check", "example.com", check=False)
    assert mismatched.returncode == 1 and re.search(r"e1\s+pending\s+mismatched", mismatched.stdout), mismatched.stdout
    w.dns.publish("e1._domainkey.example.com", "TXT", good)

    w.cli("rotate", "example.com", "r1")
    w.cli("rotate", "example.com", "e1")
    listed = json.loads(w.cli("list", "example.com", "--json").stdout)
    assert {k["selector"]: k["state"] for k in listed["items"]} == {"r1": "active", "e1": "active"}

    # Every kind of message, from each account: RSA (r1), Ed25519 (e1), both (no selector).
    sources = {"127.0.0.2": ["r1"], "127.0.0.3": ["e1"], "127.0.0.4": ["r1", "e1"]}
    sent = []
    for source in sources:
        for name, message in messages("example.com").items():
            sent.append((source, name, send(w, source, "shop@example.com", message)))
        bdat = b"From: shop@example.com\r\nSubject: chunked\r\n\r\nno final line end, sent with BDAT"
        sent.append((source, "no final CRLF (BDAT)", send(w, source, "shop@example.com", bdat, bdat=True)))
    got = received(w, len(sent))
    assert len(got) == len(sent)
    for data in got:
        head = headers_of(data)
        selectors = re.findall(r"DKIM-Signature: v=1; a=[a-z0-9-]+; s=([a-z0-9]+); d=example\.com;", head)
        source = re.search(r"Received: from client\.example \(\[(127\.0\.0\.\d)\]\)", head).group(1)
        assert selectors == sources[source], (source, head)
        assert w.verify_all(data) == [True] * len(selectors), head
        assert "X-Client-ID: customer-42" not in head, "stripped before signing"
        # The check can fail: one body byte changed and every signature breaks.
        body_at = data.index(b"\r\n\r\n") + 4
        i = next(i for i in range(len(data) - 1, body_at - 1, -1) if data[i:i + 1].isalnum())
        tampered = data[:i] + (b"X" if data[i:i + 1] != b"X" else b"Y") + data[i + 1:]
        assert w.verify_all(tampered) == [False] * len(selectors), head
        # An over-signed header added afterwards breaks them too.
        assert w.verify_all(b"Subject: changed\r\n" + data) == [False] * len(selectors)
    assert any(b"X-Client-ID: this one is body" in d for d in got)
    assert any("Äpfel".encode() in d for d in got)

    signed = w.server.wait_events(lambda e: len(e) >= len(sent), kind="dkim")
    assert {e["data"]["result"] for e in signed} == {"signed"}
    assert all(e["queue_id"] for e in signed)


def test_mail_of_a_domain_without_a_key_goes_unsigned_and_the_log_says_why(world):
    w = world
    w.api.domain("example.com")
    w.api.account("example.com", "ip", "127.0.0.2", settings={"allow_foreign_sender_domains": True})
    w.cli("generate", "example.com", "--selector", "k1", "--algorithm", "ed25519")
    w.publish_show_dns("example.com")
    w.cli("rotate", "example.com", "k1")
    other = send(w, "127.0.0.2", "app@other.example", b"From: app@other.example\r\nSubject: x\r\n\r\nhi\r\n")
    ours = send(w, "127.0.0.2", "app@example.com", b"From: app@example.com\r\nSubject: y\r\n\r\nhi\r\n")
    got = {headers_of(d).count("DKIM-Signature:"): d for d in received(w, 2)}
    assert set(got) == {0, 1}
    assert w.verify_all(got[1]) == [True]
    events = w.server.wait_events(lambda e: len(e) >= 2, kind="dkim")
    by_id = {e["queue_id"]: e["data"] for e in events}
    assert by_id[other]["result"] == "unsigned"
    assert by_id[other]["reason"] == "From domain other.example is not the account's domain example.com"
    shown = {k: by_id[ours].get(k) for k in ("event", "result", "domain", "selectors", "reason")}
    assert shown == {"event": "dkim", "result": "signed", "domain": "example.com", "selectors": ["k1"], "reason": None}
    log = "\n".join(w.server.stdout)
    assert re.search(r"dkim.*unsigned.*not the account's domain", log), log[-3000:]


def test_rotation_keeps_the_old_selector_verifying_through_its_grace_period(world):
    w = world
    w.api.domain("example.com")
    w.api.account("example.com", "ip", "127.0.0.2")
    w.cli("generate", "example.com", "--selector", "s1")
    w.publish_show_dns("example.com")
    w.cli("rotate", "example.com", "s1")
    first = send(w, "127.0.0.2", "shop@example.com", b"From: shop@example.com\r\nSubject: before\r\n\r\none\r\n")
    (before,) = received(w, 1)
    assert "s=s1;" in headers_of(before)

    # Both selectors published at once, then the switch.
    w.cli("generate", "example.com", "--selector", "s2")
    names = w.publish_show_dns("example.com")
    assert sorted(names) == ["s1._domainkey.example.com", "s2._domainkey.example.com"]
    rotated = w.cli("rotate", "example.com", "s2", "--grace", "7d").stdout
    assert "example.com signs with s2 (rsa) from now on" in rotated and "s1 retires" in rotated, rotated
    second = send(w, "127.0.0.2", "shop@example.com", b"From: shop@example.com\r\nSubject: after\r\n\r\ntwo\r\n")
    after = received(w, 2)[1]
    assert "s=s2;" in headers_of(after) and "s=s1;" not in headers_of(after)
    assert w.verify_all(before) == [True], "the old selector still verifies during the grace period"
    assert w.verify_all(after) == [True]
    dns = json.loads(w.cli("show-dns", "example.com", "--json").stdout)
    assert {r["selector"]: r["state"] for r in dns["records"]} == {"s1": "retiring", "s2": "active"}
    assert json.loads(w.cli("check", "example.com", "--json").stdout)["all_published"] is True

    # A rotation without grace: the replaced key is retired at once and no longer listed.
    w.cli("generate", "example.com", "--selector", "s3")
    w.publish_show_dns("example.com")
    w.cli("rotate", "example.com", "s3", "--grace", "0")
    dns = json.loads(w.cli("show-dns", "example.com", "--json").stdout)
    assert {r["selector"]: r["state"] for r in dns["records"]} == {"s1": "retiring", "s3": "active"}
    listed = json.loads(w.cli("list", "--json").stdout)
    assert {k["selector"]: k["state"] for k in listed["items"]} == {"s1": "retiring", "s2": "retired", "s3": "active"}
    w.cli("remove", "example.com", "s2")
    refused = w.cli("remove", "example.com", "s3", check=False)
    assert refused.returncode == 1 and "rotate to another key first" in refused.stderr, refused.stderr
    events = {e["queue_id"]: e["data"]["selectors"] for e in w.server.wait_events(lambda e: len(e) >= 2, kind="dkim")}
    assert events == {first: ["s1"], second: ["s2"]}


def test_imported_keys_sign_and_keys_survive_a_restart_sealed(world, tmp_path):
    w = world
    w.api.domain("example.com")
    w.api.account("example.com", "ip", "127.0.0.2")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    key_file = tmp_path / "imported.pem"
    key_file.write_bytes(pem)
    imported = w.cli("import", "example.com", "--selector", "imp", str(key_file)).stdout
    assert "imported ed25519 key imp of example.com" in imported, imported
    w.publish_show_dns("example.com")
    w.cli("rotate", "example.com", "imp")

    # The master key file is private; the database holds no usable private key.
    master = w.server.data_dir / "dkim.key"
    assert oct(master.stat().st_mode & 0o777) == "0o600"
    db = (w.server.data_dir / "postern.db").read_bytes()
    raw_seed = serialization.load_pem_private_key(pem, None).private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    assert raw_seed not in db and b"PRIVATE KEY" not in db

    w.server.stop()
    w.server.restart()
    send(w, "127.0.0.2", "shop@example.com", b"From: shop@example.com\r\nSubject: after restart\r\n\r\nhi\r\n")
    (data,) = received(w, 1)
    assert "s=imp;" in headers_of(data)
    assert w.verify_all(data) == [True]


def test_whitespace_only_lines_at_the_end_of_the_body_verify(world):
    """RFC 6376 §3.4.4 deletes whitespace at line ends before it ignores the empty lines at
    the end: `a CRLF SP CRLF` canonicalizes to `a CRLF` (as dkimpy computes it). mail-auth 0.13.3
    kept such lines, and the body hash failed at verifiers that follow the RFC."""
    w = world
    w.api.domain("example.com")
    w.api.account("example.com", "ip", "127.0.0.2")
    w.cli("generate", "example.com", "--selector", "ws", "--algorithm", "ed25519")
    w.publish_show_dns("example.com")
    w.cli("rotate", "example.com", "ws")
    head = b"From: shop@example.com\r\nSubject: blank tail\r\n\r\n"
    bodies = {
        "space line": b"Hello.\r\n  \r\n",
        "space line, empty line": b"Hello.\r\n \r\n\r\n",
        "space and tab": b"Hello.\r\n \t\r\n",
        "mixed tail": b"Hello  there \r\n\r\n\t\r\n \r\n\r\n",
        "whitespace-only body": b" \r\n\t\r\n",
    }
    for body in bodies.values():
        send(w, "127.0.0.2", "shop@example.com", head + body)
    # No final CRLF (BDAT): the whitespace of the last, unended line goes too; relayed with
    # DATA, the message gains the CRLF that makes it `Hello. CRLF SP CRLF SP SP CRLF`.
    bdat = head + b"Hello.\r\n \r\n  "
    send(w, "127.0.0.2", "shop@example.com", bdat, bdat=True)
    got = received(w, len(bodies) + 1)
    assert [headers_of(d).count("DKIM-Signature:") for d in got] == [1] * len(got)
    failed = [d.split(b"\r\n\r\n", 1)[1] for d in got if w.verify_all(d) != [True]]
    assert failed == [], f"dkimpy fails the body hash of {failed!r}"
