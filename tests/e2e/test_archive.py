"""The archive end to end (issue 13, section 3): an ip account with `archive.enabled`
sends 1,000 messages from several client threads while the server is killed with
SIGKILL in the middle of the run and restarted on the same data directory. Every message
the client got `250` for must have its archived copy (matched by Message-ID): a gzip file
whose SHA-256 is the index's, DKIM-signed (the domain has an active key), the bytes the
spool holds. An account with the archive off gets no copies. Then the operator's side:
`postern archive search|show|export` (a zip whose manifest checksums verify, an mbox that
Python's `mailbox` opens with the right count), a purge run with retention 1 day that
leaves fresh copies alone, the legal hold accepted, and a domain admin who finds nothing
of another tenant by any filter.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import mailbox
import smtplib
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field

import pytest

from conftest import postern_bin, queued_id, wait_for

UNTRUSTED = ["--trusted-network", "192.0.2.0/24"]
ARCHIVED_CLIENT = "127.0.0.2"
PLAIN_CLIENT = "127.0.0.3"
TOTAL = 1000
WORKERS = 8
KILL_AFTER = 400


class Api:
    def __init__(self, server, token: str | None = None):
        self.server = server
        self.token = token or (server.data_dir / "admin-token").read_text().strip()

    @property
    def base(self) -> str:
        return (self.server.data_dir / "admin.url").read_text().strip() + "/api/v1"

    def call(self, method: str, path: str, body=None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def ok(self, method: str, path: str, body=None) -> dict:
        status, answer = self.call(method, path, body)
        assert 200 <= status < 300, (method, path, status, answer[:500])
        return json.loads(answer)


@pytest.fixture
def world(postern):
    """example.com (a DKIM key, active) with an archived ip account (127.0.0.2);
    other.example with an ip account whose archive is off (127.0.0.3)."""
    server = postern(extra=UNTRUSTED)
    api = Api(server)
    api.ok("POST", "/domains", {"name": "example.com", "filter_enabled": True})
    api.ok("POST", "/domains", {"name": "other.example", "filter_enabled": True})
    api.ok("POST", "/domains/example.com/dkim/keys", {"selector": "s1", "algorithm": "ed25519"})
    api.ok("POST", "/domains/example.com/dkim/rotate", {"selector": "s1", "force": True})
    archived = api.ok("POST", "/accounts", {"domain": "example.com", "kind": "ip", "name": ARCHIVED_CLIENT,
                                            "settings": {"archive": {"enabled": True, "retention_days": 30}}})
    plain = api.ok("POST", "/accounts", {"domain": "other.example", "kind": "ip", "name": PLAIN_CLIENT})
    return server, api, archived, plain


def message(i: int, sender: str) -> bytes:
    return (f"From: {sender}\r\nTo: someone@dest.example\r\nSubject: archive run {i}\r\n"
            f"Message-ID: <arch-{i}@example.com>\r\n\r\nbody of message {i}, lighthouse{i}\r\n").encode()


@dataclass
class Ledger:
    lock: threading.Lock = field(default_factory=threading.Lock)
    next: int = 0
    acked: dict[str, str] = field(default_factory=dict)  # Message-ID -> queue id
    refused: dict[str, str] = field(default_factory=dict)
    lost: set[str] = field(default_factory=set)
    port: int = 0

    def take(self) -> int | None:
        with self.lock:
            if self.next >= TOTAL:
                return None
            self.next += 1
            return self.next


def worker(ledger: Ledger, deadline: float) -> None:
    client: smtplib.SMTP | None = None
    i = ledger.take()
    while i is not None and time.monotonic() < deadline:
        msgid = f"<arch-{i}@example.com>"
        if client is None:
            try:
                client = smtplib.SMTP("127.0.0.1", ledger.port, timeout=20, source_address=(ARCHIVED_CLIENT, 0))
                client.ehlo("client.example")
            except (OSError, smtplib.SMTPException):
                client = None  # the server is down: nothing of `i` was sent, try again
                time.sleep(0.05)
                continue
        try:
            code, _ = client.mail("load@example.com")
            assert code == 250, code
            code, _ = client.rcpt("someone@dest.example")
            assert code == 250, code
            code, text = client.data(message(i, "load@example.com"))
        except (OSError, smtplib.SMTPException, AssertionError):
            # The server died under us: the outcome of `i` is unknown (lost), never acked.
            with ledger.lock:
                ledger.lost.add(msgid)
            client = None
            time.sleep(0.05)
            i = ledger.take()
            continue
        with ledger.lock:
            if code == 250:
                ledger.acked[msgid] = queued_id(f"{code} {text.decode()}")
            else:
                ledger.refused[msgid] = f"{code} {text.decode()}"
        i = ledger.take()
    if client is not None:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            pass


def index_rows(server) -> dict[str, dict]:
    conn = sqlite3.connect(f"file:{server.data_dir / 'archive' / 'index.db'}", uri=True, timeout=10)
    try:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM messages").fetchall()
    finally:
        conn.close()
    return {r["message_id"]: dict(r) for r in rows}


def copy_bytes(server, row: dict) -> bytes:
    return gzip.decompress((server.data_dir / "archive" / row["file"]).read_bytes())


def cli(server, *args: str, token: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    if token:
        env["POSTERN_TOKEN"] = token
    proc = subprocess.run([str(postern_bin()), "archive", *args, "--data-dir", str(server.data_dir)],
                          capture_output=True, text=True, timeout=300, env=env, stdin=subprocess.DEVNULL)
    if check:
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def test_a_kill_during_a_run_loses_no_archived_copy_of_an_acknowledged_message(world, tmp_path):
    server, api, archived, plain = world
    ledger = Ledger(port=server.ports["smtp"])
    deadline = time.monotonic() + 600
    threads = [threading.Thread(target=worker, args=(ledger, deadline), daemon=True) for _ in range(WORKERS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    wait_for(lambda: len(ledger.acked) >= KILL_AFTER, "the first acknowledged messages", timeout=300)
    server.kill()  # SIGKILL, mid-run
    killed_at = len(ledger.acked)
    server.restart()
    with ledger.lock:
        ledger.port = server.ports["smtp"]
    for t in threads:
        t.join(timeout=600)
        assert not t.is_alive(), "a client thread hung"
    elapsed = time.monotonic() - started
    assert not ledger.refused, f"refused: {list(ledger.refused.items())[:5]}"
    assert len(ledger.acked) + len(ledger.lost) == TOTAL, (len(ledger.acked), len(ledger.lost))
    assert len(ledger.acked) > killed_at, "messages were acknowledged after the restart too"
    print(f"archive run: {len(ledger.acked)} acknowledged, {len(ledger.lost)} lost at the kill, "
          f"{TOTAL / elapsed:.0f} messages/s with archive on (kill and restart included)")

    rows = index_rows(server)
    spool = server.spool()
    missing = [m for m in ledger.acked if m not in rows]
    assert not missing, f"{len(missing)} acknowledged messages have no archived copy: {missing[:5]}"
    for msgid, queue_id in ledger.acked.items():
        row = rows[msgid]
        assert row["queue_id"] == queue_id, (msgid, row["queue_id"], queue_id)
        data = copy_bytes(server, row)
        assert hashlib.sha256(data).hexdigest() == row["sha256"], msgid
        assert data.startswith(b"DKIM-Signature: v=1; a=ed25519-sha256;"), data[:200]
        assert row["account_id"] == archived["id"] and row["domain"] == "example.com"
        if queue_id in spool:
            assert spool[queue_id].message == data, "the copy is the message as spooled"
    assert not list((server.data_dir / "archive" / "tmp").iterdir()), "recovery left nothing in tmp/"

    # The account whose archive is off: spooled, never archived.
    for i in range(3):
        with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=20, source_address=(PLAIN_CLIENT, 0)) as c:
            c.sendmail("p@other.example", ["someone@dest.example"], message(10_000 + i, "p@other.example"))
    assert not [r for r in index_rows(server).values() if r["account_id"] == plain["id"]]

    # The CLI: search, show, export.
    total = len(rows)
    found = json.loads(cli(server, "search", "--text", "lighthouse7", "--json").stdout)
    expected = ["<arch-7@example.com>"] if "<arch-7@example.com>" in rows else []
    assert [i["message_id"] for i in found["items"]] == expected, found
    table = cli(server, "search", "--domain", "example.com", "--limit", "5").stdout
    assert "archive run" in table, table
    some = rows[next(iter(ledger.acked))]
    shown = cli(server, "show", str(some["id"])).stdout
    assert "file state    present" in shown and some["sha256"] in shown, shown
    eml = subprocess.run([str(postern_bin()), "archive", "show", str(some["id"]), "--eml", "--data-dir",
                          str(server.data_dir)], capture_output=True, timeout=60, check=True).stdout
    assert hashlib.sha256(eml).hexdigest() == some["sha256"]

    out = tmp_path / "export.zip"
    done = cli(server, "export", "--format", "zip", "--out", str(out), "--domain", "example.com").stdout
    assert f"{total} archived message(s) written" in done, done
    with zipfile.ZipFile(out) as z:
        manifest = json.loads(z.read("manifest.json"))
        assert len(manifest) == total and len(z.namelist()) == total + 1
        for item in manifest:
            body = z.read(item["file"])
            assert hashlib.sha256(body).hexdigest() == item["sha256"], item
            assert len(body) == item["size"] and item["domain"] == "example.com"
    assert {i["message_id"] for i in manifest} >= set(ledger.acked)

    box = tmp_path / "export.mbox"
    cli(server, "export", "--format", "mbox", "--out", str(box))
    messages = list(mailbox.mbox(str(box)))
    assert len(messages) == total
    assert {m["Message-ID"] for m in messages} == set(rows)
    assert "lighthouse" in messages[0].get_payload()
    refused = cli(server, "export", "--out", str(box), check=False)
    assert refused.returncode == 1 and "exists" in refused.stderr

    # Retention 1 day: the purge at start leaves fresh copies alone; a legal hold is taken.
    api.ok("PATCH", f"/accounts/{archived['id']}", {"settings": {"archive": {"retention_days": 1}}})
    held = api.ok("PATCH", f"/accounts/{archived['id']}", {"settings": {"archive": {"legal_hold": True}}})
    assert held["settings"]["archive"] == {"enabled": True, "retention_days": 1, "legal_hold": True}
    api.ok("PATCH", f"/accounts/{archived['id']}", {"settings": {"archive": {"legal_hold": False}}})
    server.stop()
    server.restart()
    wait_for(lambda: any("archive purge run" in line for line in server.stdout), "a purge run", timeout=30)
    assert len(index_rows(server)) == total, "fresh copies stay"
    assert all((server.data_dir / "archive" / r["file"]).is_file() for r in index_rows(server).values())


def test_a_domain_admin_cannot_see_another_tenants_archive(world):
    server, api, archived, plain = world
    for i in range(3):
        with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=20, source_address=(ARCHIVED_CLIENT, 0)) as c:
            c.sendmail("secret@example.com", ["someone@dest.example"], message(i, "secret@example.com"))
    rows = index_rows(server)
    assert len(rows) == 3
    token = api.ok("POST", "/tokens", {"name": "other admin", "role": "domain_admin",
                                       "domains": ["other.example"]})["secret"]
    other = Api(server, token)
    row = next(iter(rows.values()))
    for query in ["", "?domain=example.com", f"?account_id={archived['id']}", "?sender=secret",
                  "?text=lighthouse0", "?subject=archive", "?message_id=arch-0@example.com",
                  f"?queue_id={row['queue_id']}", "?recipient=someone", "?identity=secret", "?since=0"]:
        status, body = other.call("GET", f"/archive{query}")
        assert status == 200 and json.loads(body)["total"] == 0, (query, body)
        assert b"example.com" not in body.replace(b"other.example", b""), (query, body)
    for path in [f"/archive/{row['id']}", f"/archive/{row['id']}/message", "/archive/export?domain=example.com",
                 "/archive/export?format=zip"]:
        status, body = other.call("GET", path)
        assert status == 404, (path, status, body)
    listed = cli(server, "search", "--json", token=token)
    assert json.loads(listed.stdout)["total"] == 0
    shown = cli(server, "show", str(row["id"]), token=token, check=False)
    assert shown.returncode == 1 and "404" in shown.stderr and "secret" not in shown.stderr
    # The superadmin sees them.
    assert Api(server).ok("GET", "/archive?domain=example.com")["total"] == 3
