"""Queue tools against a running server: `postern queue list|show|retry|hold|release|delete`
through the admin API, with its token from the data directory. Mail is held in the queue by
the harness's unreachable route, so every message is `deferred` after its first attempt."""

from __future__ import annotations

import json
import re
import smtplib
import subprocess
import urllib.error
import urllib.request

from conftest import postern_bin, wait_for


def cli(server, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(postern_bin()), "queue", *args, "--data-dir", str(server.data_dir)],
                          capture_output=True, text=True, timeout=20)
    if check:
        assert proc.returncode == 0, (args, proc.returncode, proc.stderr)
    return proc


def listed(server, *filters: str) -> list[dict]:
    return json.loads(cli(server, "list", "--json", *filters).stdout)


def submit(server, sender: str, rcpts: list[str]) -> None:
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=10) as c:
        c.sendmail(sender, rcpts, b"Subject: queue tools\r\n\r\nbody\r\n")


def test_list_filters_show_hold_release_retry_delete(postern):
    server = postern()
    submit(server, "alice@one.example", ["bob@two.example"])
    submit(server, "carol@three.example", ["dave@four.example", "erin@two.example"])
    entries = wait_for(lambda: [e for e in listed(server) if e["state"] == "deferred"] if len(
        [e for e in listed(server) if e["state"] == "deferred"]) == 2 else None, "two deferred messages")
    assert {e["sender"] for e in entries} == {"alice@one.example", "carol@three.example"}
    for e in entries:
        assert e["attempts"] == 1
        assert all(r["status"] == "pending" and "Connection refused" in r["reply"] for r in e["recipients"])

    assert [e["sender"] for e in listed(server, "--sender", "alice@one.example")] == ["alice@one.example"]
    assert [e["sender"] for e in listed(server, "--recipient", "dave@four.example")] == ["carol@three.example"]
    assert len(listed(server, "--domain", "two.example")) == 2
    assert listed(server, "--domain", "nowhere.example") == []

    carol = next(e for e in entries if e["sender"] == "carol@three.example")["queue_id"]
    shown = json.loads(cli(server, "show", carol, "--json").stdout)
    assert [r["address"] for r in shown["recipients"]] == ["dave@four.example", "erin@two.example"]

    table = cli(server, "list").stdout
    assert carol in table and "erin@two.example" in table and "-- 2 message(s)" in table

    cli(server, "hold", carol)
    assert [e["queue_id"] for e in listed(server, "--state", "held")] == [carol]
    cli(server, "release", carol)
    assert listed(server, "--state", "held") == []
    # Released means due now: a second attempt happens at once.
    wait_for(lambda: json.loads(cli(server, "show", carol, "--json").stdout)["attempts"] >= 2, "a second attempt")
    cli(server, "retry", "--all")
    cli(server, "retry", carol)

    # The retry just started an attempt: a message being tried cannot be deleted (404 "or
    # not in a state that allows this"), so delete once that attempt is over.
    wait_for(lambda: cli(server, "delete", carol, check=False).returncode == 0, "the delete")
    assert [e["sender"] for e in listed(server)] == ["alice@one.example"]
    assert carol not in server.spool_names("queue")


def test_show_is_readable_and_shows_the_content(postern):
    server = postern()
    submit(server, "alice@one.example", ["bob@two.example", "carol@three.example"])
    entry = wait_for(lambda: next((e for e in listed(server) if e["state"] == "deferred"), None), "a deferred message")
    text = cli(server, "show", entry["queue_id"]).stdout
    assert f"queue id      {entry['queue_id']}\n" in text, text
    assert re.search(r"^received      \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$", text, re.M), text
    assert re.search(r"^  pending   bob@two\.example  .*Connection refused", text, re.M), text
    assert "carol@three.example" in text
    assert "{" not in text and "_ms" not in text, "not raw JSON: " + text

    content = cli(server, "show", "--content", entry["queue_id"]).stdout
    assert content.startswith("Received: from "), content
    assert content.endswith("Subject: queue tools\r\n\r\nbody\r\n".replace("\r\n", "\n")) or \
        content.replace("\r\n", "\n").endswith("Subject: queue tools\n\nbody\n"), content
    missing = cli(server, "show", "--content", "0123456789ABCDEF0123", check=False)
    assert missing.returncode == 1 and "404 Not Found: no such message" in missing.stderr, missing.stderr

    status = subprocess.run([str(postern_bin()), "status", "--data-dir", str(server.data_dir)],
                            capture_output=True, text=True, timeout=20)
    assert status.returncode == 0, status.stderr
    assert "queue    1 message(s)" in status.stdout, status.stdout
    assert re.search(r"^events   \d+ stored \(0 after a retry\), 0 dropped, 0 waiting", status.stdout, re.M), \
        status.stdout


def test_a_long_message_is_shown_cut_at_10_mib_and_says_so(postern):
    server = postern()
    line = b"x" * 998 + b"\r\n"
    body = b"Subject: long\r\n\r\n" + line * (11 * 1024 * 1024 // len(line))
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as c:
        c.sendmail("alice@one.example", ["bob@two.example"], body)
    entry = wait_for(lambda: next(iter(listed(server)), None), "the message")
    proc = subprocess.run([str(postern_bin()), "queue", "show", "--content", entry["queue_id"], "--data-dir",
                           str(server.data_dir)], capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout) == 10 * 1024 * 1024
    assert f"the message has {entry['size']} bytes; only the first 10485760 are shown".encode() in proc.stderr


def test_errors_are_clear_and_nonzero(postern):
    server = postern()
    missing = cli(server, "show", "0000000000000000DEAD", check=False)
    assert missing.returncode == 1 and "404" in missing.stderr and "no such message" in missing.stderr
    bad_state = cli(server, "list", "--state", "bogus", check=False)
    assert bad_state.returncode == 1 and "state:" in bad_state.stderr
    not_an_id = cli(server, "hold", "../../etc", check=False)
    assert not_an_id.returncode == 1 and "404" in not_an_id.stderr


def test_api_requires_the_token(postern):
    server = postern()
    url = (server.data_dir / "admin.url").read_text().strip()
    token = (server.data_dir / "admin-token").read_text().strip()
    assert (server.data_dir / "admin-token").stat().st_mode & 0o077 == 0, "token file readable by others"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
        req = urllib.request.Request(f"{url}/api/v1/queue", headers=headers)
        try:
            urllib.request.urlopen(req, timeout=5)
            raise AssertionError(f"accepted {headers}")
        except urllib.error.HTTPError as e:
            assert e.code == 401
            assert json.loads(e.read())["error"] == "missing or invalid bearer token"
    ok = urllib.request.urlopen(urllib.request.Request(f"{url}/api/v1/queue", headers={"Authorization": f"Bearer {token}"}), timeout=5)
    assert ok.status == 200 and json.loads(ok.read()) == []
    spec = json.loads(urllib.request.urlopen(f"{url}/api/v1/openapi.json", timeout=5).read())
    assert spec["openapi"].startswith("3.") and "/queue/{id}/hold" in spec["paths"]
    health = json.loads(urllib.request.urlopen(f"{url}/health", timeout=5).read())
    assert health["status"] == "ok" and set(health["checks"]) == {"spool", "store"}, health
    bad = urllib.request.Request(f"{url}/api/v1/queue?colour=red", headers={"Authorization": f"Bearer {token}"})
    try:
        urllib.request.urlopen(bad, timeout=5)
        raise AssertionError("unknown query parameter accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 400 and json.loads(e.read())["field"] == "colour"
