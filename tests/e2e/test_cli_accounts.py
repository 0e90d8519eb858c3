"""Tenancy from the command line: `postern domain|account|identity|token ...` against a
running server, through the admin API, with its URL (and, unless a test says otherwise, its
token) from the data directory.

Every command runs with stdin a pipe, never a terminal: passwords are the first line of
stdin, so nothing here can hang on a prompt. Exit codes: 0 done, 1 the API (or the CLI)
refused with `postern: STATUS: FIELD: MESSAGE`, 2 a usage error caught by the parser."""

from __future__ import annotations

import json
import os
import re
import smtplib
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import postern_bin

ALICE_PW = "correct horse battery"
NEW_PW = "a brand new secret, with spaces "
UTC_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def run(server, *args: str, stdin: str = "", env: dict | None = None, check: bool = True,
        data_dir: bool = True) -> subprocess.CompletedProcess:
    """`postern ARGS --data-dir DIR` with `stdin` piped in; POSTERN_* from the caller's
    environment are dropped so that only `env` (and the data directory) count."""
    clean = {k: v for k, v in os.environ.items() if k not in ("POSTERN_URL", "POSTERN_TOKEN")}
    cmd = [str(postern_bin()), *args] + (["--data-dir", str(server.data_dir)] if data_dir else [])
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=30,
                          env={**clean, "NO_COLOR": "1", **(env or {})})
    if check:
        assert proc.returncode == 0, (args, proc.returncode, proc.stdout, proc.stderr)
    return proc


def as_json(server, *args: str, **kw):
    return json.loads(run(server, *args, "--json", **kw).stdout)


def names(listed: dict) -> list[str]:
    return sorted(item["name"] for item in listed["items"])


def refused(proc: subprocess.CompletedProcess, pattern: str) -> None:
    """Exit 1 with one line `postern: ...` matching `pattern` on stderr, nothing on stdout."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == "", proc.stdout
    assert re.search(pattern, proc.stderr), proc.stderr


def api_post(server, path: str, body: dict) -> dict:
    url = (server.data_dir / "admin.url").read_text().strip()
    token = (server.data_dir / "admin-token").read_text().strip()
    req = urllib.request.Request(f"{url}/api/v1{path}", data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=10).read())


# --------------------------------------------------------------------------------------


def test_domains_add_list_show_enable_disable_set_remove(postern):
    server = postern()
    added = run(server, "domain", "add", "Example.COM").stdout
    assert "example.com" in added and "disabled" in added
    run(server, "domain", "add", "other.example", "--enable")

    listed = as_json(server, "domain", "list")
    assert names(listed) == ["example.com", "other.example"] and listed["total"] == 2
    assert names(as_json(server, "domain", "list", "--enabled")) == ["other.example"]
    assert names(as_json(server, "domain", "list", "--disabled")) == ["example.com"]
    assert names(as_json(server, "domain", "list", "--name", "other")) == ["other.example"]

    table = run(server, "domain", "list").stdout.splitlines()
    assert table[0].split()[:2] == ["NAME", "FILTER"] and "CREATED (UTC)" in table[0]
    rows = {line.split()[0]: line for line in table[1:-1]}
    assert rows["example.com"].split()[1] == "disabled" and rows["other.example"].split()[1] == "enabled"
    assert UTC_TIME.search(rows["example.com"])
    assert table[-1] == "-- 2 domains"
    page = run(server, "domain", "list", "--limit", "1", "--offset", "1").stdout.splitlines()
    assert len(page) == 3 and page[-1].startswith("-- 1 of 2 shown"), page

    assert as_json(server, "domain", "show", "example.com")["filter_enabled"] is False
    run(server, "domain", "enable", "example.com")
    assert as_json(server, "domain", "show", "example.com")["filter_enabled"] is True
    assert "filter disabled" in run(server, "domain", "disable", "example.com").stdout
    assert as_json(server, "domain", "show", "example.com")["filter_enabled"] is False

    run(server, "domain", "set", "example.com", "sender_security.ip_check=allowlist",
        "sender_security.allowed_ips=192.0.2.0/24,198.51.100.7/32",
        "sender_security.allowed_senders=Info@example.com", "abuse_contact=abuse@example.com")
    shown = as_json(server, "domain", "show", "example.com")
    assert shown["sender_security"] == {"allowed_senders": ["info@example.com"], "ip_check": "allowlist",
                                        "allowed_ips": ["192.0.2.0/24", "198.51.100.7/32"]}
    assert shown["abuse_contact"] == "abuse@example.com"
    # One field of sender_security changed: the others stay.
    run(server, "domain", "set", "example.com", "sender_security.ip_check=spf")
    shown = as_json(server, "domain", "show", "example.com")
    assert shown["sender_security"]["ip_check"] == "spf"
    assert shown["sender_security"]["allowed_ips"] == ["192.0.2.0/24", "198.51.100.7/32"]
    detail = run(server, "domain", "show", "example.com").stdout
    assert re.search(r"^sender_security\.ip_check\s+spf$", detail, re.M), detail
    assert re.search(r"^created_at\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$", detail, re.M), detail

    assert "removed domain other.example" in run(server, "domain", "remove", "other.example").stdout
    assert names(as_json(server, "domain", "list")) == ["example.com"]
    refused(run(server, "domain", "show", "other.example", check=False), r"^postern: 404 Not Found: no such domain$")


def test_accounts_of_all_three_kinds(postern):
    server = postern()
    run(server, "domain", "add", "example.com", "--enable")
    run(server, "account", "add", "ip", "--domain", "example.com", "192.0.2.0/24")
    run(server, "account", "add", "ip", "--domain", "example.com", "198.51.100.7",
        "--set", "limits.max_hops=10", "--set", "identification.headers=X-A")
    alice = run(server, "account", "add", "user", "Alice@Example.com", stdin=ALICE_PW + "\n").stdout
    assert "user alice@example.com" in alice
    # A password of the domain account without a line end at all.
    run(server, "account", "add", "domain", "example.com", stdin="the domain's secret")

    listed = as_json(server, "account", "list")
    by_name = {a["name"]: a for a in listed["items"]}
    assert sorted(by_name) == ["192.0.2.0/24", "198.51.100.7/32", "alice@example.com", "example.com"]
    assert {a["kind"] for a in listed["items"]} == {"ip", "user", "domain"}
    assert by_name["alice@example.com"]["has_password"] and by_name["example.com"]["has_password"]
    assert not by_name["192.0.2.0/24"]["has_password"]
    created = by_name["198.51.100.7/32"]["settings"]
    assert created["limits"]["max_hops"] == 10 and created["identification"]["headers"] == ["X-A"]
    assert created["identification"]["method"] == "sender"  # the ip default, kept

    assert names(as_json(server, "account", "list", "--kind", "user")) == ["alice@example.com"]
    assert names(as_json(server, "account", "list", "--domain", "example.com", "--name", "192.0.2")) == ["192.0.2.0/24"]
    table = run(server, "account", "list").stdout.splitlines()
    assert table[0].split()[:4] == ["ID", "DOMAIN", "KIND", "NAME"] and table[-1] == "-- 4 accounts"
    assert any(line.split()[3] == "alice@example.com" and line.split()[4] == "set" for line in table[1:-1]), table

    # By id, by name, by a bare address for a /32.
    alice_id = by_name["alice@example.com"]["id"]
    assert as_json(server, "account", "show", str(alice_id))["name"] == "alice@example.com"
    assert as_json(server, "account", "show", "alice@example.com")["id"] == alice_id
    assert as_json(server, "account", "show", "198.51.100.7")["name"] == "198.51.100.7/32"
    shown = run(server, "account", "show", "alice@example.com").stdout
    assert f"postern account set {alice_id} KEY=VALUE" in shown
    assert re.search(r"^  limits\.recipients_per_message\s+0$", shown, re.M), shown
    refused(run(server, "account", "show", "nobody@example.com", check=False), r"no account named \"nobody@example.com\"")
    refused(run(server, "account", "show", "192.0.2.1", check=False), r"no account named")

    # Settings: nested numbers, a text, an array (comma list), a boolean; the rest untouched.
    run(server, "account", "set", "alice@example.com", "limits.recipients_per_message=50",
        "identification.method=header", "identification.headers=X-Client-ID,X-AuthUser")
    run(server, "account", "set", "192.0.2.0/24", "allow_reauthentication=true")
    settings = as_json(server, "account", "show", "alice@example.com")["settings"]
    assert settings["limits"]["recipients_per_message"] == 50
    assert settings["limits"]["recipients_per_day"] == 0
    assert settings["identification"]["method"] == "header"
    assert settings["identification"]["headers"] == ["X-Client-ID", "X-AuthUser"]
    assert as_json(server, "account", "show", "192.0.2.0/24")["settings"]["allow_reauthentication"] is True
    run(server, "account", "set", str(alice_id), "identification.headers=X-Only")
    assert as_json(server, "account", "show", str(alice_id))["settings"]["identification"]["headers"] == ["X-Only"]

    # Passwords: a new one from stdin works for AUTH, the old one no longer does.
    assert smtp_login(server, "alice@example.com", ALICE_PW)
    assert "changed the password" in run(server, "account", "password", "alice@example.com", stdin=NEW_PW + "\n").stdout
    assert smtp_login(server, "alice@example.com", NEW_PW)
    assert not smtp_login(server, "alice@example.com", ALICE_PW)
    refused(run(server, "account", "password", "192.0.2.0/24", stdin=NEW_PW, check=False), r"ip accounts have no password")
    refused(run(server, "account", "password", "alice@example.com", stdin="", check=False), r"empty password")
    refused(run(server, "account", "add", "user", "bob@example.com", stdin="\n", check=False), r"empty password")
    refused(run(server, "account", "add", "user", "bob@example.com", stdin="short\n", check=False),
            r"^postern: 400 Bad Request: password: ")

    # Locks.
    assert "locked" in run(server, "account", "lock", "alice@example.com").stdout
    assert as_json(server, "account", "show", "alice@example.com")["lock"]["locked"] is True
    assert names(as_json(server, "account", "list", "--locked")) == ["alice@example.com"]
    run(server, "account", "unlock", str(alice_id))
    assert as_json(server, "account", "show", "alice@example.com")["lock"]["locked"] is False
    assert as_json(server, "account", "list", "--locked")["items"] == []

    assert "removed account" in run(server, "account", "remove", "198.51.100.7").stdout
    assert "198.51.100.7/32" not in names(as_json(server, "account", "list"))
    refused(run(server, "account", "remove", "198.51.100.7", check=False), r"no account named")
    refused(run(server, "account", "show", "999999", check=False), r"^postern: 404 Not Found: no such account$")


def smtp_login(server, user: str, password: str) -> bool:
    """AUTH over implicit TLS: True when accepted, False on 535."""
    ctx = ssl._create_unverified_context()
    with smtplib.SMTP_SSL("127.0.0.1", server.ports["smtps"], timeout=20, context=ctx) as c:
        try:
            c.login(user, password)
            return True
        except smtplib.SMTPAuthenticationError as e:
            assert e.smtp_code == 535, e
            return False


def test_identities_list_lock_unlock(postern):
    server = postern()
    run(server, "domain", "add", "example.com")
    run(server, "account", "add", "ip", "--domain", "example.com", "192.0.2.0/24")
    assert as_json(server, "identity", "list")["items"] == []
    assert run(server, "identity", "list").stdout.splitlines()[-1] == "-- 0 identities"

    account = as_json(server, "account", "show", "192.0.2.0/24")
    made = api_post(server, "/identities", {"account_id": account["id"], "name": "newsletter@example.com"})
    listed = as_json(server, "identity", "list", "--account", "192.0.2.0/24")
    assert [i["name"] for i in listed["items"]] == ["newsletter@example.com"]
    assert as_json(server, "identity", "list", "--domain", "example.com", "--name", "news")["total"] == 1
    assert as_json(server, "identity", "list", "--name", "nobody")["items"] == []
    table = run(server, "identity", "list").stdout
    assert "newsletter@example.com" in table and "FIRST SEEN (UTC)" in table

    run(server, "identity", "lock", str(made["id"]))
    assert [i["id"] for i in as_json(server, "identity", "list", "--locked")["items"]] == [made["id"]]
    assert as_json(server, "identity", "show", str(made["id"]))["lock"]["locked"] is True
    run(server, "identity", "unlock", str(made["id"]))
    assert as_json(server, "identity", "list", "--locked")["items"] == []
    refused(run(server, "identity", "lock", "999999", check=False), r"^postern: 404 Not Found: ")


def test_domain_admin_token_sees_only_its_domain(postern):
    server = postern()
    for name in ("a.example", "b.example"):
        run(server, "domain", "add", name)
    made = run(server, "token", "create", "acme", "--role", "domain_admin", "--domain", "a.example")
    secret = made.stdout.strip()
    assert re.fullmatch(r"pst_\S+", secret), made.stdout
    assert "not shown again" in made.stderr

    tokens = as_json(server, "token", "list")
    acme = next(t for t in tokens["items"] if t["name"] == "acme")
    assert acme["role"] == "domain_admin" and acme["domains"] == ["a.example"]
    assert secret not in json.dumps(tokens) and secret not in run(server, "token", "list").stdout

    # The URL from the data directory, the token from the environment (it wins over the
    # data directory's superadmin token), then from the flag.
    env = {"POSTERN_TOKEN": secret}
    assert names(as_json(server, "domain", "list", env=env)) == ["a.example"]
    assert names(as_json(server, "domain", "list", "--token", secret)) == ["a.example"]
    url = (server.data_dir / "admin.url").read_text().strip()
    only_env = as_json(server, "domain", "list", env={"POSTERN_URL": url, "POSTERN_TOKEN": secret}, data_dir=False)
    assert names(only_env) == ["a.example"]
    refused(run(server, "domain", "show", "b.example", env=env, check=False), r"^postern: 404 Not Found: no such domain$")
    refused(run(server, "domain", "add", "c.example", env=env, check=False), r"^postern: 403 Forbidden: ")
    refused(run(server, "token", "list", env=env, check=False), r"^postern: 403 Forbidden: ")

    assert f"removed token {acme['id']}" in run(server, "token", "remove", str(acme["id"])).stdout
    refused(run(server, "domain", "list", env=env, check=False), r"^postern: 401 Unauthorized: ")


def test_api_errors_are_status_field_message_and_exit_1(postern):
    server = postern()
    run(server, "domain", "add", "example.com")
    run(server, "account", "add", "ip", "--domain", "example.com", "192.0.2.0/24")
    refused(run(server, "account", "add", "ip", "--domain", "example.com", "192.0.2.128/25", check=False),
            r"^postern: 409 Conflict: .*overlap")
    bad_key = run(server, "account", "set", "192.0.2.0/24", "limits.recipients_per_mesage=5", check=False)
    refused(bad_key, r"^postern: 400 Bad Request: settings\.limits[\w.]*: .*recipients_per_mesage")
    refused(run(server, "account", "set", "192.0.2.0/24", "limits.max_hops=many", check=False),
            r"^postern: 400 Bad Request: settings\.limits\.max_hops: ")
    refused(run(server, "domain", "add", "not_a_domain", check=False), r"^postern: 400 Bad Request: name: ")
    refused(run(server, "account", "add", "ip", "--domain", "nowhere.example", "203.0.113.0/24", check=False),
            r"^postern: 404 Not Found: domain: no such domain$")
    refused(run(server, "domain", "list", "--limit", "5000", check=False), r"^postern: 400 Bad Request: limit: ")
    unreachable = run(server, "domain", "list", "--url", "http://127.0.0.1:1", check=False)
    refused(unreachable, r"^postern: cannot reach http://127\.0\.0\.1:1/api/v1/domains")


def test_usage_errors_exit_2_and_no_password_in_argv(postern):
    server = postern()
    for args in (["account", "set", "1", "no-equals-sign"], ["account", "set", "1"],
                 ["account", "add", "user", "not-an-address"], ["account", "list", "--kind", "bogus"],
                 ["token", "create", "x", "--role", "domain-admin"], ["domain", "list", "--enabled", "--disabled"],
                 ["account", "add", "user", "alice@example.com", "--password", "hunter2hunter2"]):
        proc = run(server, *args, check=False)
        assert proc.returncode == 2, (args, proc.returncode, proc.stderr)
        assert proc.stdout == "" and proc.stderr, (args, proc.stdout)

    for args in (["account", "add", "user"], ["account", "add", "domain"], ["account", "password"]):
        help_text = run(server, *args, "--help", data_dir=False).stdout
        assert "--password" not in help_text, help_text
        assert "stdin" in help_text, help_text
    top = run(server, "--help", data_dir=False).stdout
    for noun in ("serve", "queue", "domain", "account", "identity", "token"):
        assert re.search(rf"^  {noun}\s", top, re.M), top
    for noun in ("domain", "account", "identity", "token"):
        assert "Example" in run(server, noun, "--help", data_dir=False).stdout, noun


@pytest.mark.parametrize("noun", ["domain", "account", "identity", "token"])
def test_every_list_has_a_json_form(postern, noun):
    server = postern()
    listed = as_json(server, noun, "list")
    assert set(listed) >= {"items", "total", "limit", "offset"}, listed


# ---- issue 10: what a tenant may claim, client blocks, counters, the role's spelling ----


def domain_admin(server, domain: str, name: str = "tenant") -> dict:
    """A domain admin's token for `domain`, as the environment of CLI calls."""
    secret = run(server, "token", "create", name, "--role", "domain_admin", "--domain", domain).stdout.strip()
    return {"POSTERN_TOKEN": secret}


def api_as(server, token: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    url = (server.data_dir / "admin.url").read_text().strip()
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{url}/api/v1{path}", data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_a_domain_admin_claims_only_delegated_ranges(postern):
    server = postern()  # loopback is trusted (the default)
    for name in ("a.example", "b.example"):
        run(server, "domain", "add", name, "--enable")
    a = domain_admin(server, "a.example")
    add_ip = lambda *args, env=a: run(server, "account", "add", "ip", "--domain", "a.example", *args,
                                      env=env, check=False)
    # Nothing is delegated yet: every range is refused, the whole address space above all.
    for everything in ("0.0.0.0/0", "::/0"):
        refused(add_ip(everything), r"^postern: 403 Forbidden: name: .* wider than /(24|48)")
    refused(add_ip("198.51.100.0/28"), r"^postern: 403 Forbidden: name: .*not inside an IP range delegated to a\.example")

    # The provider delegates; the tenant lists its own ranges but cannot delegate more.
    assert "delegated 192.0.2.0/24 to a.example" in run(
        server, "domain", "ip-range", "add", "a.example", "192.0.2.7/24", "--comment", "contract 42").stdout
    run(server, "domain", "ip-range", "add", "a.example", "10.1.0.0/16")
    run(server, "domain", "ip-range", "add", "a.example", "127.0.0.0/24")
    listed = run(server, "domain", "ip-range", "list", "a.example", env=a).stdout
    assert "192.0.2.0/24" in listed and "contract 42" in listed and "-- 3 ranges" in listed, listed
    refused(run(server, "domain", "ip-range", "add", "a.example", "0.0.0.0/0", env=a, check=False),
            r"^postern: 403 Forbidden: ")
    refused(run(server, "domain", "ip-range", "list", "b.example", env=a, check=False),
            r"^postern: 404 Not Found: no such domain$")

    refused(add_ip("10.1.0.0/20"), r"^postern: 403 Forbidden: name: 10\.1\.0\.0/20 is wider than /24")
    refused(add_ip("127.0.0.1"), r"^postern: 403 Forbidden: name: .*overlaps a trusted network")
    refused(add_ip("198.51.100.0/28"), r"not inside an IP range delegated")
    assert "ip 192.0.2.16/28" in add_ip("192.0.2.16/28").stdout
    assert "ip 10.1.7.0/24" in add_ip("10.1.7.0/24").stdout

    # Another tenant's smarthost inside the range: refused without a word about it.
    run(server, "account", "add", "ip", "--domain", "b.example", "192.0.2.40")
    overlap = add_ip("192.0.2.32/28")
    refused(overlap, r"^postern: 409 Conflict: name: 192\.0\.2\.32/28 overlaps another account's range$")
    assert "192.0.2.40" not in overlap.stderr and "b.example" not in overlap.stderr
    # The superadmin is told which; it may go wide, and over a trusted network only when asked.
    refused(run(server, "account", "add", "ip", "--domain", "a.example", "192.0.2.32/28", check=False),
            r"192\.0\.2\.40/32 of account \d+")
    refused(run(server, "account", "add", "ip", "--domain", "b.example", "0.0.0.0/0", check=False),
            r"^postern: 409 Conflict: cover_trusted: .*trusted network 127\.0\.0\.0/8")
    run(server, "account", "add", "ip", "--domain", "b.example", "172.16.0.0/12")

    # Identities named after another tenant's address: refused, whether that domain exists or not.
    account = as_json(server, "account", "show", "192.0.2.16/28")
    token = a["POSTERN_TOKEN"]
    existing = api_as(server, token, "POST", "/identities", {"account_id": account["id"], "name": "ceo@b.example"})
    missing = api_as(server, token, "POST", "/identities", {"account_id": account["id"], "name": "ceo@c.example"})
    assert existing[0] == 403 and existing == missing, (existing, missing)
    assert api_as(server, token, "POST", "/identities", {"account_id": account["id"], "name": "ceo@a.example"})[0] == 201

    # A trusted client still relays mail of b.example: no tenant took it over.
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=20) as c:
        c.ehlo("client.test.example")
        assert c.mail("bob@b.example")[0] == 250
        assert c.rcpt("dest@remote.example")[0] == 250

    run(server, "domain", "ip-range", "remove", "a.example", "10.1.0.0/16")
    assert "10.1.0.0/16" not in run(server, "domain", "ip-range", "list", "a.example").stdout


def smtps_auth(server, user: str, password: str) -> int:
    """One AUTH over implicit TLS; the reply code (235, 535 or 421)."""
    ctx = ssl._create_unverified_context()
    with smtplib.SMTP_SSL("127.0.0.1", server.ports["smtps"], timeout=20, context=ctx) as c:
        c.ehlo("client.test.example")
        c.user, c.password = user, password
        try:
            return c.auth("PLAIN", c.auth_plain)[0]
        except smtplib.SMTPAuthenticationError as e:
            return e.smtp_code
        except smtplib.SMTPServerDisconnected:
            return 421


def test_client_blocks_listed_and_lifted(postern):
    server = postern(config="[auth]\nmax_failures = 2\nfailure_delay = 0\nblock_time = 600\n",
                     extra=["--trusted-network", "192.0.2.0/24"])
    run(server, "domain", "add", "example.com", "--enable")
    run(server, "account", "add", "user", "alice@example.com", stdin=ALICE_PW + "\n")
    # A success forgets earlier failures: a failure, a success, a failure is not a block.
    assert smtps_auth(server, "alice@example.com", "wrong") == 535
    assert smtps_auth(server, "alice@example.com", ALICE_PW) == 235
    assert smtps_auth(server, "alice@example.com", "wrong") == 535
    assert run(server, "client-block", "list").stdout.splitlines()[-1] == "-- 0 blocked clients"
    # The second failure in a row blocks, and the block holds for the right password too.
    assert smtps_auth(server, "alice@example.com", "wrong") == 421
    assert smtps_auth(server, "alice@example.com", ALICE_PW) == 421

    listed = as_json(server, "client-block", "list")
    assert listed["total"] == 1, listed
    block = listed["items"][0]
    assert block["client"] == "127.0.0.1/32" and block["kind"] == "auth_failures", block
    assert "failed AUTH" in block["reason"] and block["until_ms"] > time.time() * 1000 + 500_000, block
    table = run(server, "client-block", "list").stdout
    assert "127.0.0.1/32" in table and "auth_failures" in table and UTC_TIME.search(table), table

    tenant = domain_admin(server, "example.com")
    refused(run(server, "client-block", "list", env=tenant, check=False), r"^postern: 403 Forbidden: ")
    refused(run(server, "client-block", "lift", "127.0.0.1", env=tenant, check=False), r"^postern: 403 Forbidden: ")
    assert smtps_auth(server, "alice@example.com", ALICE_PW) == 421, "a domain admin lifted nothing"

    assert "lifted 1 block(s) of 127.0.0.1" in run(server, "client-block", "lift", "127.0.0.1").stdout
    assert smtps_auth(server, "alice@example.com", ALICE_PW) == 235
    refused(run(server, "client-block", "lift", "127.0.0.1", check=False), r"^postern: 404 Not Found: ")


def test_counters_say_plainly_what_is_not_counted(postern):
    server = postern()
    run(server, "domain", "add", "example.com", "--enable")
    run(server, "account", "add", "ip", "--domain", "example.com", "192.0.2.0/24")
    counters = as_json(server, "account", "counters", "192.0.2.0/24")
    sessions = next(c for c in counters["counters"] if c["name"] == "sessions_per_minute")
    assert sessions == {"name": "sessions_per_minute", "count": 0, "limit": 0, "counted": False}, sessions
    assert "nothing is counted while no limit is set" in counters["note"]
    text = run(server, "account", "counters", "192.0.2.0/24").stdout
    assert "not counted" in text and "sessions_per_minute" in text, text
    run(server, "account", "set", "192.0.2.0/24", "limits.connections_per_minute=10")
    sessions = next(c for c in as_json(server, "account", "counters", "192.0.2.0/24")["counters"]
                    if c["name"] == "sessions_per_minute")
    assert sessions["counted"] is True and sessions["limit"] == 10


def test_the_role_has_one_spelling(postern):
    server = postern()
    run(server, "domain", "add", "a.example")
    run(server, "token", "create", "one", "--role", "domain_admin", "--domain", "a.example")
    run(server, "token", "create", "two", "--role", "domain-admin", "--domain", "a.example")
    roles = {t["name"]: t["role"] for t in as_json(server, "token", "list")["items"]}
    assert roles["one"] == roles["two"] == "domain_admin", roles
    assert "domain_admin" in run(server, "token", "list").stdout
    assert "domain_admin" in run(server, "token", "create", "--help").stdout


def test_daily_blocks_listed_and_lifted(postern):
    config = "[auth]\nmax_failures = 100\nfailure_delay = 0\n[listeners.smtps]\nauth_failures_limit = 1\n"
    server = postern(config=config, extra=["--trusted-network", "192.0.2.0/24"])
    run(server, "domain", "add", "example.com", "--enable")
    run(server, "account", "add", "user", "alice@example.com", stdin=ALICE_PW + "\n")
    assert smtps_auth(server, "alice@example.com", "wrong") == 535
    assert smtps_auth(server, "alice@example.com", "wrong") == 535
    with pytest.raises(smtplib.SMTPConnectError) as refused_at_connect:
        smtps_auth(server, "alice@example.com", ALICE_PW)
    assert refused_at_connect.value.smtp_code == 421
    block = as_json(server, "client-block", "list")["items"][0]
    assert (block["client"], block["kind"], block["listener"]) == ("127.0.0.1", "daily", "smtps"), block
    assert "2 failed AUTH attempts today, limit 1" in block["reason"], block
    assert block["until_ms"] % 86_400_000 == 0, "until the end of the UTC day"
    run(server, "client-block", "lift", "127.0.0.1")
    assert smtps_auth(server, "alice@example.com", ALICE_PW) == 235
