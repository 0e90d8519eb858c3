"""The quarantine end to end (issue 11): the real binary, real smtplib clients, a real
receiving sink. GTUBE from an authenticated account is held with each reaction and never
reaches the sink; a superadmin's release delivers it exactly once (two releases race);
a domain admin cannot release (403) nor see another tenant's quarantine (404); the
quarantine survives a restart, and a kill -9 in the middle of a release or a hold is settled
at the next start; the ARF report parses with Python's email package; the
purge removes only what expired; the CLI lists and shows."""

from __future__ import annotations

import email
import email.policy
import json
import sqlite3
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import postern_bin, queued_id, wait_for
from sinks import Sink
from test_accounts import IP_CLIENT, PASSWORD, UNTRUSTED, Api, smtp
from test_limits import GTUBE, alice, message, transaction

# The name of the token `serve` writes to the data directory.
ADMIN_TOKEN_NAME = "superadmin (data directory)"


@pytest.fixture
def sink():
    s = Sink("quarantine-sink").start()
    yield s
    s.stop()


def start(postern, sink, config: str | None = None):
    server = postern(config=config, extra=UNTRUSTED + ["--relay-host", f"{sink.host}:{sink.port}"])
    api = Api(server)
    api.domain("example.com", abuse_contact="abuse@example.com")
    api.domain("other.example")
    api.account("example.com", "user", "alice@example.com", PASSWORD, settings={"quarantine_reaction": "reject"})
    api.account("example.com", "ip", IP_CLIENT, settings={"quarantine_reaction": "accept"})
    return server, api


def token(api: Api, name: str, domains: list[str]) -> Api:
    body = {"name": name, "role": "domain_admin", "domains": domains}
    secret = api.ok("POST", "/tokens", body)["secret"]
    other = Api.__new__(Api)
    other.base, other.token = api.base, secret
    return other


def raw(api: Api, path: str) -> tuple[int, bytes, str]:
    req = urllib.request.Request(api.base + path)
    req.add_header("Authorization", f"Bearer {api.token}")
    with urllib.request.urlopen(req, timeout=20) as resp:
        return resp.status, resp.read(), resp.headers.get("Content-Type", "")


def spam_from_both(server) -> str:
    """GTUBE from alice (reject) and from the ip account (accept); returns the accepted id."""
    with alice(server) as c:
        assert transaction(c, "alice@example.com", ["r@remote.example"], message("spam", spam=True)) == (
            550, b"5.7.1 Error: message content rejected as spam (GTUBE)")
    with smtp(server, IP_CLIENT) as c:
        code, text = transaction(c, "app@example.com", ["r@remote.example", "s@remote.example"],
                                 message("spam", spam=True))
        assert code == 250, text
        return queued_id(f"{code} {text.decode()}")


def test_spam_is_held_with_each_reaction_and_a_superadmin_releases_it_once(postern, sink):
    server, api = start(postern, sink)
    accepted = spam_from_both(server)
    # A clean message goes through the same route: the sink works, and is the marker.
    with alice(server) as c:
        assert transaction(c, "alice@example.com", ["r@remote.example"], message("clean"))[0] == 250
    sink.wait_messages(1)
    time.sleep(1)
    # The only copies of the spam that leave are the ARF reports to the domain's abuse contact.
    wait_for(lambda: any(m.rcpt_tos == ["abuse@example.com"] for m in sink.messages), "an abuse report sent")
    report = next(m for m in sink.messages if m.rcpt_tos == ["abuse@example.com"])
    assert b"message/feedback-report" in report.data and report.mail_from == "<>", report.data[:400]
    delivered = [m for m in sink.messages if m.rcpt_tos != ["abuse@example.com"]]
    assert [GTUBE in m.data for m in delivered] == [False], "no spam reached the sink"
    held = api.ok("GET", "/quarantine")
    assert held["total"] == 2, held
    by_reaction = {m["reaction"]: m for m in held["items"]}
    assert by_reaction["accept"]["queue_id"] == accepted
    assert by_reaction["reject"]["account"] == "alice@example.com"
    assert all(m["state"] == "held" and m["rule"] == "GTUBE" and m["domain"] == "example.com"
               for m in held["items"])
    assert (server.data_dir / "quarantine" / "held" / accepted).is_file()

    # A restart keeps the quarantine.
    server.stop()
    server.start()
    api = Api(server)
    assert api.ok("GET", "/quarantine")["total"] == 2

    # Tenants: another domain's admin sees nothing; the domain's own admin cannot release.
    other = token(api, "admin of other", ["other.example"])
    own = token(api, "admin of example", ["example.com"])
    target = by_reaction["accept"]["id"]
    assert other.ok("GET", "/quarantine")["total"] == 0
    assert other.call("GET", f"/quarantine/{target}")[0] == 404
    assert other.call("POST", f"/quarantine/{target}/release")[0] == 404
    assert own.ok("GET", "/quarantine")["total"] == 2
    assert own.call("POST", f"/quarantine/{target}/release")[0] == 403
    assert own.ok("POST", f"/quarantine/{target}/request-release", {"note": "a customer's invoice"})
    assert api.ok("GET", f"/quarantine/{target}")["release_requested_by"] == "admin of example"

    # Two superadmin releases race: one wins, the message is delivered once.
    answers: list[int] = []
    threads = [threading.Thread(target=lambda: answers.append(api.call("POST", f"/quarantine/{target}/release")[0]))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200, 409], answers
    sink.wait_messages(2)
    time.sleep(2)
    spam = [m for m in sink.messages if GTUBE in m.data and m.rcpt_tos != ["abuse@example.com"]]
    assert len(spam) == 1, "delivered exactly once"
    assert sorted(spam[0].rcpt_tos) == ["r@remote.example", "s@remote.example"]
    assert not (server.data_dir / "quarantine" / "held" / accepted).exists()
    released = server.wait_events(lambda ev: any(e["data"].get("action") == "released" for e in ev),
                                  kind="quarantine")
    details = [e["data"].get("detail") for e in released if e["data"].get("action") == "released"]
    assert details == [f"released by {ADMIN_TOKEN_NAME}"], details
    assert api.ok("GET", f"/quarantine/{target}")["state"] == "released"
    # The one held with the reject reaction is still held, and never delivered.
    assert api.ok("GET", f"/quarantine/{by_reaction['reject']['id']}")["state"] == "held"


def test_the_arf_report_parses_with_the_email_package(postern, sink):
    server, api = start(postern, sink)
    accepted = spam_from_both(server)
    row = next(m for m in api.ok("GET", "/quarantine")["items"] if m["queue_id"] == accepted)
    status, body, ctype = raw(api, f"/quarantine/{row['id']}/arf")
    assert status == 200 and ctype.startswith("message/rfc822")
    report = email.message_from_bytes(body, policy=email.policy.default)
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "feedback-report"
    assert report["To"] == "abuse@example.com"
    parts = list(report.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "message/feedback-report", "message/rfc822"]
    feedback = parts[1]
    fields = feedback.get_payload(0) if feedback.is_multipart() else email.message_from_string(
        feedback.get_payload(), policy=email.policy.default)
    assert fields["Feedback-Type"] == "abuse"
    assert fields["Version"] == "1"
    assert fields["User-Agent"].startswith("Postern/")
    assert fields["Source-IP"] == IP_CLIENT
    assert fields["Original-Mail-From"] == "<app@example.com>"
    assert fields.get_all("Original-Rcpt-To") == ["<r@remote.example>", "<s@remote.example>"]
    assert fields["Arrival-Date"]
    assert fields["Reported-Domain"] == "example.com"
    original = parts[2].get_payload(0)
    assert original["Subject"] == "spam"
    assert GTUBE.decode() in original.get_content()
    shown = api.ok("GET", f"/quarantine/{row['id']}")
    assert "Feedback-Type: abuse" in shown["arf"] and shown["checks"][0]["engine"]


def test_a_crash_in_a_release_or_a_hold_is_settled_at_start(postern, sink):
    """The crash states are built by hand after a kill -9 (nothing lets a test stop the
    server between two steps of one release): a row left `releasing` whose message never
    reached the spool is held again, and a held file whose row was never written goes."""
    server, api = start(postern, sink)
    accepted = spam_from_both(server)
    held = {m["reaction"]: m for m in api.ok("GET", "/quarantine")["items"]}
    stuck, orphan = held["accept"], held["reject"]
    held_dir = server.data_dir / "quarantine" / "held"
    assert (held_dir / accepted).is_file() and (held_dir / orphan["queue_id"]).is_file()
    server.kill()
    db = sqlite3.connect(server.data_dir / "postern.db", timeout=5)
    with db:
        db.execute("UPDATE quarantine SET state = 'releasing', released_by = 'root' WHERE id = ?", (stuck["id"],))
        db.execute("DELETE FROM quarantine WHERE id = ?", (orphan["id"],))
    db.close()

    server.restart()
    api = Api(server)
    row = api.ok("GET", f"/quarantine/{stuck['id']}")
    assert row["state"] == "held" and row.get("released_by") is None, row
    assert (held_dir / accepted).is_file(), "the message held again keeps its bytes"
    assert not (held_dir / orphan["queue_id"]).exists(), "the file with no row is gone"
    assert list((server.data_dir / "quarantine" / "corrupt").iterdir()) == []
    undone = server.wait_events(lambda ev: any(e["data"].get("action") == "release_undone" for e in ev),
                                kind="quarantine", queue_id=accepted)
    assert [e["data"]["id"] for e in undone if e["data"].get("action") == "release_undone"] == [stuck["id"]]
    time.sleep(1)
    assert [m for m in sink.messages if GTUBE in m.data and m.rcpt_tos != ["abuse@example.com"]] == []

    # A second start changes nothing; the administrator can release it, and it goes once.
    server.stop()
    server.restart()
    api = Api(server)
    assert api.ok("GET", f"/quarantine/{stuck['id']}")["state"] == "held"
    actions = [e["data"].get("action") for e in server.events(kind="quarantine", queue_id=accepted)]
    assert actions.count("release_undone") == 1, actions
    assert api.call("POST", f"/quarantine/{stuck['id']}/release")[0] == 200
    wait_for(lambda: any(GTUBE in m.data and m.rcpt_tos != ["abuse@example.com"] for m in sink.messages),
             "the released message delivered")
    time.sleep(1)
    assert len([m for m in sink.messages if GTUBE in m.data and m.rcpt_tos != ["abuse@example.com"]]) == 1
    assert api.ok("GET", f"/quarantine/{stuck['id']}")["state"] == "released"


def test_the_purge_removes_only_what_expired(postern, sink):
    # 0.0001 day = 8.64 s; the purge runs every second.
    server, api = start(postern, sink, config="[quarantine]\nlifetime_days = 0.0001\n")
    with smtp(server, IP_CLIENT) as c:
        assert transaction(c, "app@example.com", ["r@remote.example"], message("first", spam=True))[0] == 250
    first = api.ok("GET", "/quarantine")["items"][0]
    time.sleep(5)
    with smtp(server, IP_CLIENT) as c:
        assert transaction(c, "app@example.com", ["r@remote.example"], message("second", spam=True))[0] == 250
    wait_for(lambda: api.call("GET", f"/quarantine/{first['id']}")[0] == 404, "the first purged", timeout=8)
    left = api.ok("GET", "/quarantine")
    assert [m["subject"] for m in left["items"]] == ["second"], "the young one stays"
    assert not (server.data_dir / "quarantine" / "held" / first["queue_id"]).exists()
    assert [m for m in sink.messages if m.rcpt_tos != ["abuse@example.com"]] == [], "a purge delivers nothing"


def test_the_cli_lists_and_shows(postern, sink):
    server, api = start(postern, sink)
    spam_from_both(server)
    run = lambda *args: subprocess.run([str(postern_bin()), "quarantine", *args, "--data-dir", str(server.data_dir)],
                                       capture_output=True, text=True, timeout=30)
    listed = run("list", "--rule", "GTUBE", "--json")
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)["items"]
    assert len(items) == 2
    table = run("list", "--account", "alice@example.com")
    assert table.returncode == 0 and "alice@example.com" in table.stdout and "-- 1 held message" in table.stdout
    shown = run("show", str(items[0]["id"]))
    assert shown.returncode == 0, shown.stderr
    assert "verdict trace:" in shown.stdout and "Feedback-Type: abuse" in shown.stdout
    bad = run("list", "--since", "yesterday")
    assert bad.returncode != 0 and "RFC 3339" in bad.stderr
