"""The web panel's users end to end: the real binary, the admin API (`/api/v1/admin-users`)
and the CLI (`postern admin-user ...`).

The first start creates the superadmin `admin`, writes its password to
`<data-dir>/admin-password` (mode 0600, once: never again, even when the file is gone) and
prints the `web panel:` line; the password in the file is the one the database holds (its
argon2id hash verified here with `cryptography`'s Argon2id). The API lists `admin` and never
a hash. The CLI adds users (password from a pipe or `--password-stdin`), lists, shows,
changes a password (the stored hash then verifies the new one only), a role and domains, and
deletes. A domain admin's token gets 403 on every `/admin-users` operation; the last
superadmin is neither deleted nor demoted (409); unknown fields are refused 400 naming the
field; unknown ids are 404.

Every CLI command runs with stdin a pipe, so nothing can hang on a prompt.
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import stat

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from conftest import wait_for
from test_accounts import Api
from test_cli_accounts import as_json, refused, run

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new secret, with spaces "
WEB_PANEL = re.compile(r"^web panel: http://127\.0\.0\.1:\d+/ \(user admin; first password in (.+)/admin-password\)$")


def stored_hash(server, name: str) -> str:
    conn = sqlite3.connect(f"file:{server.data_dir / 'postern.db'}?mode=ro", uri=True, timeout=5)
    try:
        row = conn.execute("SELECT password_hash FROM admin_users WHERE name = ?", (name,)).fetchone()
    finally:
        conn.close()
    assert row is not None, f"no admin user {name} in the database"
    return row[0]


def b64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def verifies(phc: str, password: str) -> bool:
    """Whether `password` matches the PHC string `$argon2id$v=19$m=..,t=..,p=..$salt$hash`."""
    _, algorithm, version, params, salt, digest = phc.split("$")
    assert (algorithm, version) == ("argon2id", "v=19"), phc
    p = dict(kv.split("=") for kv in params.split(","))
    expected = b64(digest)
    kdf = Argon2id(salt=b64(salt), length=len(expected), iterations=int(p["t"]), lanes=int(p["p"]),
                   memory_cost=int(p["m"]))
    try:
        kdf.verify(password.encode(), expected)
        return True
    except InvalidKey:
        return False


def panel_lines(server) -> list[re.Match]:
    """The `web panel:` lines printed so far (they follow the `spool:` line start waits for)."""
    return [m for m in map(WEB_PANEL.match, list(server.stdout)) if m]


def user(api: Api, name: str) -> dict:
    found = [u for u in api.ok("GET", "/admin-users")["items"] if u["name"] == name]
    assert len(found) == 1, (name, found)
    return found[0]


def test_first_start_writes_the_admin_password_once(postern):
    server = postern()
    path = server.data_dir / "admin-password"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, oct(path.stat().st_mode)
    password = path.read_text()
    assert re.fullmatch(r"[0-9a-f]{24}\n", password), password
    password = password.strip()
    lines = wait_for(lambda: panel_lines(server), "the web panel line")
    assert len(lines) == 1, server.stdout
    assert lines[0].group(1) == str(server.data_dir)

    api = Api(server)
    status, listed = api.call("GET", "/admin-users")
    assert status == 200, listed
    assert listed["total"] == 1 and len(listed["items"]) == 1, listed
    admin = listed["items"][0]
    assert (admin["name"], admin["role"], admin["domains"]) == ("admin", "superadmin", []), admin
    assert set(admin) <= {"id", "name", "role", "domains", "created_at_ms", "last_login_ms"}, admin
    text = json.dumps(listed)
    assert password not in text and "argon2" not in text, text
    assert api.ok("GET", f"/admin-users/{admin['id']}") == admin

    phc = stored_hash(server, "admin")
    assert password not in phc
    assert verifies(phc, password), "the file holds the password the database has the hash of"
    assert not verifies(phc, password + "x")

    # Not again: a restart without the file keeps the user and writes no new password.
    server.stop()
    path.unlink()
    server.restart()
    assert not path.exists(), "the first password is written on the first start only"
    wait_for(lambda: panel_lines(server), "the web panel line after a restart")
    assert [u["name"] for u in Api(server).ok("GET", "/admin-users")["items"]] == ["admin"]
    assert stored_hash(server, "admin") == phc


def test_the_cli_adds_lists_changes_and_deletes_admin_users(postern):
    server = postern()
    api = Api(server)
    api.domain("a.example")
    api.domain("b.example")

    added = run(server, "admin-user", "add", "support", "--role", "domain-admin", "--domain", "A.example",
                stdin=PASSWORD + "\n").stdout
    assert re.fullmatch(r"added admin user support \(id \d+, domain_admin: a\.example\)\n", added), added
    assert verifies(stored_hash(server, "support"), PASSWORD)
    # --password-stdin: the first line, the rest ignored.
    made = as_json(server, "admin-user", "add", "root2", "--role", "superadmin", "--password-stdin",
                   stdin=PASSWORD + "\nignored\n")
    assert (made["name"], made["role"], made["domains"]) == ("root2", "superadmin", [])
    assert not any("password" in key for key in made), made

    table = run(server, "admin-user", "list").stdout.splitlines()
    assert table[0].split() == ["ID", "NAME", "ROLE", "DOMAINS", "CREATED", "(UTC)", "LAST", "LOGIN", "(UTC)"]
    rows = {line.split()[1]: line.split() for line in table[1:-1]}
    assert sorted(rows) == ["admin", "root2", "support"], table
    assert rows["support"][2:4] == ["domain_admin", "a.example"], table
    assert rows["admin"][3] == "-" and rows["admin"][-1] == "-", table
    assert table[-1] == "-- 3 admin users", table
    listed = as_json(server, "admin-user", "list")
    assert sorted(u["name"] for u in listed["items"]) == ["admin", "root2", "support"], listed
    assert "argon2" not in json.dumps(listed)

    shown = run(server, "admin-user", "show", "SUPPORT").stdout
    assert re.search(r"^name +support$", shown, re.M) and re.search(r"^domains +a\.example$", shown, re.M), shown

    # A new password, by name (any case) and by id; the old one no longer verifies.
    before = stored_hash(server, "support")
    changed = run(server, "admin-user", "passwd", "Support", stdin=NEW_PASSWORD + "\n").stdout
    assert changed.startswith("changed the password of admin user support"), changed
    after = stored_hash(server, "support")
    assert after != before and verifies(after, NEW_PASSWORD) and not verifies(after, PASSWORD)
    support_id = str(user(api, "support")["id"])
    run(server, "admin-user", "passwd", support_id, "--password-stdin", stdin=PASSWORD + "\n")
    assert verifies(stored_hash(server, "support"), PASSWORD)
    refused(run(server, "admin-user", "passwd", "support", stdin="short\n", check=False),
            r"^postern: 400 Bad Request: password: ")
    refused(run(server, "admin-user", "passwd", "support", stdin="", check=False), r"^postern: empty password")
    assert verifies(stored_hash(server, "support"), PASSWORD), "refused changes change nothing"

    # Role and domains.
    promoted = as_json(server, "admin-user", "set", "support", "--role", "superadmin")
    assert (promoted["role"], promoted["domains"]) == ("superadmin", []), promoted
    back = run(server, "admin-user", "set", support_id, "--role", "domain_admin", "--domain", "a.example",
               "--domain", "b.example").stdout
    assert back == f"changed admin user support (id {support_id}, domain_admin: a.example,b.example)\n", back
    assert as_json(server, "admin-user", "set", "support", "--domain", "b.example")["domains"] == ["b.example"]
    refused(run(server, "admin-user", "set", "support", "--domain", "ghost.example", check=False),
            r"^postern: 404 Not Found: domains\[0\]: no such domain")
    usage = run(server, "admin-user", "set", "support", check=False)
    assert usage.returncode == 2 and "--role" in usage.stderr, usage.stderr

    refused(run(server, "admin-user", "add", "root2", "--role", "superadmin", stdin=PASSWORD + "\n", check=False),
            r"^postern: 409 Conflict: ")
    refused(run(server, "admin-user", "add", "a b", "--role", "superadmin", stdin=PASSWORD + "\n", check=False),
            r"^postern: 400 Bad Request: name: ")

    deleted = run(server, "admin-user", "delete", "support").stdout
    assert deleted == f"deleted admin user support (id {support_id}, domain_admin: b.example)\n", deleted
    refused(run(server, "admin-user", "show", "support", check=False), r"^postern: no admin user named \"support\"")
    refused(run(server, "admin-user", "delete", "987654321", check=False), r"^postern: 404 Not Found: no such admin user")
    assert sorted(u["name"] for u in as_json(server, "admin-user", "list")["items"]) == ["admin", "root2"]


def test_a_domain_admin_gets_403(postern):
    server = postern()
    api = Api(server)
    api.domain("a.example")
    secret = run(server, "token", "create", "tenant", "--role", "domain_admin", "--domain", "a.example").stdout.strip()
    tenant = Api(server)
    tenant.token = secret
    admin_id = user(api, "admin")["id"]
    create = {"name": "mine", "password": PASSWORD, "role": "superadmin"}
    for method, path, body in [
        ("GET", "/admin-users", None),
        ("POST", "/admin-users", create),
        ("GET", f"/admin-users/{admin_id}", None),
        ("PATCH", f"/admin-users/{admin_id}", {"password": NEW_PASSWORD}),
        ("DELETE", f"/admin-users/{admin_id}", None),
        ("GET", "/admin-users/987654321", None),
    ]:
        status, answer = tenant.call(method, path, body)
        assert status == 403, (method, path, status, answer)
        assert answer == {"error": "only a superadmin may manage admin users"}, (method, path, answer)
    env = {"POSTERN_TOKEN": secret}
    refused(run(server, "admin-user", "list", env=env, check=False), r"^postern: 403 Forbidden: ")
    refused(run(server, "admin-user", "add", "x", "--role", "superadmin", stdin=PASSWORD + "\n", env=env,
                check=False), r"^postern: 403 Forbidden: ")
    assert [u["name"] for u in api.ok("GET", "/admin-users")["items"]] == ["admin"], "nothing was added"
    assert verifies(stored_hash(server, "admin"), (server.data_dir / "admin-password").read_text().strip())


def test_the_last_superadmin_stays_and_bad_input_is_named(postern):
    server = postern()
    api = Api(server)
    api.domain("a.example")
    admin_id = user(api, "admin")["id"]

    status, answer = api.call("DELETE", f"/admin-users/{admin_id}")
    assert status == 409 and "last superadmin" in answer["error"], (status, answer)
    status, answer = api.call("PATCH", f"/admin-users/{admin_id}", {"role": "domain_admin", "domains": ["a.example"]})
    assert status == 409, (status, answer)
    refused(run(server, "admin-user", "delete", "admin", check=False), r"^postern: 409 Conflict: .*last superadmin")
    assert user(api, "admin")["role"] == "superadmin"

    for method, path, body, field in [
        ("POST", "/admin-users", {"name": "x", "password": PASSWORD, "role": "superadmin", "colour": "red"}, "colour"),
        ("POST", "/admin-users", {"name": "x", "password": PASSWORD, "role": "god"}, "role"),
        ("POST", "/admin-users", {"name": "x", "role": "superadmin"}, "password"),
        ("PATCH", f"/admin-users/{admin_id}", {"password_hash": "$argon2id$v=19$"}, "password_hash"),
        ("GET", "/admin-users?colour=red", None, "colour"),
    ]:
        status, answer = api.call(method, path, body)
        assert (status, answer.get("field")) == (400, field), (method, path, body, status, answer)
    for method in ("GET", "PATCH", "DELETE"):
        body = {"role": "superadmin"} if method == "PATCH" else None
        status, answer = api.call(method, "/admin-users/987654321", body)
        assert (status, answer["error"]) == (404, "no such admin user"), (method, status, answer)

    # With a second superadmin, the first may go.
    run(server, "admin-user", "add", "root2", "--role", "superadmin", stdin=PASSWORD + "\n")
    assert run(server, "admin-user", "delete", "admin").stdout.startswith("deleted admin user admin ")
    assert [u["name"] for u in api.ok("GET", "/admin-users")["items"]] == ["root2"]
    refused(run(server, "admin-user", "delete", "root2", check=False), r"^postern: 409 Conflict: ")
