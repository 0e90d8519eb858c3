"""ClamAV through the real binary and the real clamd (`zINSTREAM`), started on loopback by
scripts/engines.sh (TCP 127.0.0.1:13310 and a Unix socket) with a signature database of
its own, since clamd cannot fetch ClamAV's without the network:
`Postern.Test.Signature` matches TEST_STRING and `PUA.Win.Tool.NetTool-Postern` (a
potentially unwanted program, loaded with `DetectPUA yes`) matches PUA_STRING, anywhere in
a message; clamd decodes MIME itself, so also inside a base64 attachment. clamd names
them with the suffix `.UNOFFICIAL` (a database ClamAV did not sign).

ClamAV runs for an account with `checks.clamav` on (off by default). A virus is held and
refused naming `CLAMAV:<signature>`, and counts toward the account's spam lock; a PUA is a
dangerous attachment only with `checks.block_dangerous_attachments` on. A stopped clamd,
or a message over clamd's StreamMaxLength (1M here), is `failed`, never clean: delivered
and logged (`skip`) or `451 4.7.1` (`tempfail`)."""

from __future__ import annotations

import base64
import smtplib
import time

import pytest

from conftest import wait_for
from test_accounts import PASSWORD, UNTRUSTED, Api, smtp
from test_engines import closed_port, entry, last_checked

TEST_STRING = b"POSTERN-CLAMAV-TEST-SIGNATURE-5d1e8a"
PUA_STRING = b"POSTERN-CLAMAV-PUA-NETTOOL-9b27c4"
VIRUS = "Postern.Test.Signature.UNOFFICIAL"
PUA = "PUA.Win.Tool.NetTool-Postern.UNOFFICIAL"

HEAD = (b"From: {user}\r\nTo: r@remote.example\r\nSubject: {subject}\r\nMessage-ID: <{id}@example.com>\r\n"
        b"Date: Sat, 05 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n")


def head(user: str, subject: str) -> bytes:
    return (HEAD.replace(b"{user}", user.encode()).replace(b"{subject}", subject.encode())
            .replace(b"{id}", str(time.monotonic_ns()).encode()))


def plain(user: str, body: bytes, subject: str = "the report") -> bytes:
    return (head(user, subject) + b"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
            + b"Hello,\r\n\r\nthe figures for the quarter are below.\r\n" + body + b"\r\n")


def with_attachment(user: str, content: bytes, name: str = "tool.bin") -> bytes:
    encoded = base64.encodebytes(b"\x00\x01binary " * 40 + content + b" tail" * 40).replace(b"\n", b"\r\n")
    return (head(user, "the tool") + b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
            + b"--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nHello, the tool is attached.\r\n"
            + b"--b1\r\nContent-Type: application/octet-stream; name=\"" + name.encode() + b"\"\r\n"
            + b"Content-Disposition: attachment; filename=\"" + name.encode() + b"\"\r\n"
            + b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--b1--\r\n")


def clamav_config(address: str, on_failure: str = "skip", extra: str = "") -> str:
    return f'[clamav]\naddress = "{address}"\ntimeout = 10\non_failure = "{on_failure}"\n{extra}'


ON = {"checks": {"clamav": True}}


def gateway(postern, address: str, on_failure: str = "skip", extra: str = "", **accounts: dict):
    """A server with ClamAV at `address` and the accounts `name@example.com` (settings)."""
    server = postern(config=clamav_config(address, on_failure, extra), extra=UNTRUSTED)
    api = Api(server)
    api.domain("example.com")
    for name, settings in accounts.items():
        api.account("example.com", "user", f"{name}@example.com", PASSWORD, settings=settings)
    server.api = api
    return server


def send_as(server, user: str, data: bytes) -> tuple[int, bytes]:
    with smtp(server, tls=True) as c:
        c.login(user, PASSWORD)
        assert c.mail(user)[0] == 250
        assert c.rcpt("r@remote.example")[0] == 250
        return c.data(data)


def refusals(server, n: int) -> list[str]:
    return [e["data"]["reason"] for e in server.wait_events(lambda ev: len(ev) >= n, kind="refused")]


def test_without_clamav_the_test_messages_are_delivered(server):
    """The control: Postern's other checks do not refuse the messages the tests use."""
    for data in (plain("app@example.com", TEST_STRING), with_attachment("app@example.com", TEST_STRING),
                 with_attachment("app@example.com", PUA_STRING)):
        with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as c:
            c.ehlo("client.test.example")
            assert c.mail("app@example.com")[0] == 250
            assert c.rcpt("r@remote.example")[0] == 250
            code, text = c.data(data)
        assert code == 250, text
    assert len(server.spool()) == 3


def test_clamd_finds_the_signature_in_the_body_and_in_an_attachment(postern, clamd):
    server = gateway(postern, clamd.tcp, on_failure="tempfail", alice=ON)
    user = "alice@example.com"
    virus_reply = (550, f"5.7.1 Error: message rejected: virus found (CLAMAV:{VIRUS})".encode())
    # In the plain body.
    assert send_as(server, user, plain(user, TEST_STRING)) == virus_reply
    checked = last_checked(server)
    assert checked["disposition"] == "quarantine"
    found = entry(checked, "clamav")
    assert (found["result"], found["rule"], found.get("part")) == ("blocked", f"CLAMAV:{VIRUS}", None), found
    # Inside a base64 attachment: only clamd's own MIME decoding can see it.
    attached = with_attachment(user, TEST_STRING)
    assert TEST_STRING not in attached
    assert send_as(server, user, attached) == virus_reply
    assert entry(last_checked(server, 2), "clamav")["result"] == "blocked"
    # Both held in the quarantine, never spooled; a virus counts toward the spam lock.
    held = server.api.ok("GET", "/quarantine")
    assert held["total"] == 2 and all(m["rule"] == f"CLAMAV:{VIRUS}" for m in held["items"]), held
    assert server.spool() == {}
    reasons = refusals(server, 2)
    assert reasons[0].startswith(f"virus found (rule CLAMAV:{VIRUS}): rejected; 1 spam message(s) of the account"), \
        reasons
    assert "; 2 spam message(s) of the account" in reasons[1], reasons
    # A clean message passes, the trace says ClamAV looked.
    code, text = send_as(server, user, plain(user, b"Nothing to see here."))
    assert code == 250, text
    clean = entry(last_checked(server, 3), "clamav")
    assert (clean["result"], clean.get("rule")) == ("pass", None), clean
    assert len(server.spool()) == 1


def test_a_pua_is_blocked_only_with_dangerous_attachments_blocked(postern, clamd):
    strict = {"checks": {"clamav": True, "block_dangerous_attachments": True}}
    server = gateway(postern, clamd.tcp, lenient=ON, strict=strict)
    code, text = send_as(server, "lenient@example.com", with_attachment("lenient@example.com", PUA_STRING))
    assert code == 250, text
    passed = entry(last_checked(server), "clamav")
    assert (passed["result"], passed["rule"]) == ("pass", f"{PUA} (checks.block_dangerous_attachments off)"), passed
    assert send_as(server, "strict@example.com", with_attachment("strict@example.com", PUA_STRING)) == (
        550, f"5.7.1 Error: message rejected: dangerous attachment (CLAMAV:{PUA})".encode())
    blocked = entry(last_checked(server, 2), "clamav")
    assert (blocked["result"], blocked["rule"]) == ("blocked", f"CLAMAV:{PUA}"), blocked
    reason = refusals(server, 1)[0]
    assert reason.startswith(f"dangerous attachment (rule CLAMAV:{PUA}): rejected"), reason
    assert "spam message(s)" not in reason, "a PUA is the account's policy, not malware"
    assert len(server.spool()) == 1


def test_checks_clamav_off_is_not_scanned(postern, clamd):
    server = gateway(postern, clamd.tcp, on_failure="tempfail", off={})
    code, text = send_as(server, "off@example.com", plain("off@example.com", TEST_STRING))
    assert code == 250, text
    off = entry(last_checked(server), "clamav")
    assert (off["result"], off["rule"]) == ("off", "checks.clamav off"), off
    # A trusted network has no account: the defaults, ClamAV off.
    trusted = postern(config=clamav_config(clamd.tcp, on_failure="tempfail"))
    with smtplib.SMTP("127.0.0.1", trusted.ports["smtp"], timeout=30) as c:
        c.ehlo("client.test.example")
        assert c.mail("app@example.com")[0] == 250
        assert c.rcpt("r@remote.example")[0] == 250
        assert c.data(plain("app@example.com", TEST_STRING))[0] == 250
    assert entry(last_checked(trusted), "clamav")["result"] == "off"


def test_monitor_mode_logs_the_virus_and_delivers(postern, clamd):
    server = gateway(postern, clamd.tcp, watch={"monitor_only": True, **ON})
    code, text = send_as(server, "watch@example.com", plain("watch@example.com", TEST_STRING))
    assert code == 250, text
    assert len(server.spool()) == 1
    assert entry(last_checked(server), "clamav")["result"] == "blocked"
    reason = refusals(server, 1)[0]
    assert reason == f"would refuse (monitor): virus found (rule CLAMAV:{VIRUS})", reason


def test_a_stopped_clamd_with_skip_delivers_and_logs(postern):
    server = gateway(postern, closed_port(), alice=ON)
    code, text = send_as(server, "alice@example.com", plain("alice@example.com", TEST_STRING))
    assert code == 250, text
    failed = entry(last_checked(server), "clamav")
    assert failed["result"] == "failed" and failed["rule"].startswith("cannot connect to 127.0.0.1:"), failed

    def logged():
        return [line for line in server.stdout if "content check failed" in line and 'engine="clamav"' in line]

    wait_for(lambda: len(logged()) == 1, "the failure logged")
    assert 'on_failure="skip"' in logged()[0], logged()


def test_a_stopped_clamd_with_tempfail_refuses_451(postern):
    server = gateway(postern, closed_port(), on_failure="tempfail", alice=ON)
    code, text = send_as(server, "alice@example.com", plain("alice@example.com", b"Nothing to see here."))
    assert (code, text) == (451, b"4.7.1 Try again later: the content check is unavailable")
    assert server.spool() == {}
    reason = refusals(server, 1)[0]
    assert reason.startswith("content check clamav failed (on_failure = tempfail): cannot connect"), reason


@pytest.mark.parametrize("on_failure,lines", [("skip", 30_000), ("tempfail", 30_000), ("skip", 120_000)])
def test_a_message_over_clamds_stream_limit_fails_never_clean(postern, clamd, on_failure, lines):
    """clamd's StreamMaxLength is 1M: past it clamd answers `INSTREAM size limit exceeded`
    and closes while Postern still sends (1.6 MB, 6.6 MB). The message carries the test
    signature: taking the error as clean would let it pass silently."""
    server = gateway(postern, clamd.tcp, on_failure=on_failure, extra="max_message_size = 10485760\n", alice=ON)
    filler = b"The figures for the quarter, line by line, as agreed.\r\n" * lines
    code, text = send_as(server, "alice@example.com", plain("alice@example.com", filler + TEST_STRING))
    failed = entry(last_checked(server), "clamav")
    assert failed["result"] == "failed", failed
    assert failed["rule"].startswith("clamd error: INSTREAM size limit exceeded"), failed
    if on_failure == "skip":
        assert code == 250, text
    else:
        assert (code, text) == (451, b"4.7.1 Try again later: the content check is unavailable")


def test_a_message_over_max_message_size_is_skipped(postern, clamd):
    server = gateway(postern, clamd.tcp, on_failure="tempfail", extra="max_message_size = 2048\n", alice=ON)
    body = (b"x" * 70 + b"\r\n") * 60 + TEST_STRING
    code, text = send_as(server, "alice@example.com", plain("alice@example.com", body))
    assert code == 250, text
    skipped = entry(last_checked(server), "clamav")
    assert (skipped["result"], skipped["rule"]) == ("skipped", "message larger than max_message_size (2048 octets)")


def test_the_unix_socket_works(postern, clamd):
    server = gateway(postern, clamd.unix, on_failure="tempfail", alice=ON)
    user = "alice@example.com"
    assert send_as(server, user, with_attachment(user, TEST_STRING))[0] == 550
    assert entry(last_checked(server), "clamav")["rule"] == f"CLAMAV:{VIRUS}"
    assert send_as(server, user, plain(user, b"Nothing to see here."))[0] == 250
    assert entry(last_checked(server, 2), "clamav")["result"] == "pass"


def test_a_one_megabyte_message_is_scanned_quickly(postern, clamd):
    """A figure: clamd's time for a message of about a megabyte (under its 1M stream limit),
    as the trace measures it (connect, send, reply)."""
    server = gateway(postern, clamd.tcp, on_failure="tempfail", alice=ON)
    user = "alice@example.com"
    times = []
    for i in range(3):
        # Different bytes each time: clamd caches the verdicts of content it has seen.
        payload = (str(time.monotonic_ns()).encode() + b" ") * 1000
        data = with_attachment(user, payload + bytes(range(256)) * 2800, name=f"data{i}.bin")
        assert 950_000 < len(data) < 1024 * 1024, len(data)
        code, text = send_as(server, user, data)
        assert code == 250, text
        scanned = entry(last_checked(server, i + 1), "clamav")
        assert scanned["result"] == "pass", scanned
        times.append(scanned["micros"] / 1000)
    print(f"\nclamd scan of a {len(data)}-octet message: {', '.join(f'{t:.1f}' for t in times)} ms")
    assert min(times) < 5000
