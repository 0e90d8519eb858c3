"""`[store] backend = "postgres"` end to end (issue 16, first part): the directory lives in
the machine's PostgreSQL (127.0.0.1:5432, database `test`, a schema of this test's own,
dropped at the end), not in the node's SQLite file. An account created through node A's
API relays at once; its identity is recorded in PostgreSQL by the event writer; node B,
with a data directory of its own, finds the domain and the account at start and relays
for it, and finds the panel's `admin` the first node made. PostgreSQL unreachable: the test fails and says so (CI runs the server)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time

import pytest

from conftest import wait_for
from test_accounts import IP_CLIENT, UNTRUSTED, Api, send, smtp

PG = "host=127.0.0.1 user=postgres dbname=test"


def run_psql(sql: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["psql", PG, "-v", "ON_ERROR_STOP=1", "-Atc", sql],
                              capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        pytest.fail("psql not found: these tests need PostgreSQL's client and server", pytrace=False)


def psql(sql: str) -> list[str]:
    done = run_psql(sql)
    if done.returncode != 0:
        pytest.fail(f"PostgreSQL at {PG!r}: {sql}: {done.stderr.strip()}", pytrace=False)
    return [line for line in done.stdout.splitlines() if line]


@pytest.fixture
def schema(postern):
    # Taking `postern` makes this fixture end before it: the nodes are killed first, so the
    # DROP never races a node still writing there (a deadlock between the DROP's exclusive
    # locks and a node's insert failed one CI run).
    name = f"e2e_{os.getpid()}_{time.monotonic_ns()}"
    psql(f"CREATE SCHEMA {name}")
    yield name
    postern.kill_all()
    # A killed node's backend may still hold its locks for a moment (it sees the closed
    # socket only at its next read): a deadlock then aborts the DROP, and a retry finds
    # the backend gone.
    drop = f"DROP SCHEMA IF EXISTS {name} CASCADE"
    for _ in range(9):
        done = run_psql(drop)
        if done.returncode == 0:
            return
        if "deadlock detected" not in done.stderr:
            break
        time.sleep(0.5)
    psql(drop)  # the last try: its error fails the test


def config(schema: str) -> str:
    url = f"{PG} options='-c search_path={schema}'"
    return f'[store]\nbackend = "postgres"\nurl = "{url}"\npool_size = 2\n'


def relay(server) -> str:
    with smtp(server, IP_CLIENT) as c:
        return send(c, "app@example.com")


def test_the_directory_lives_in_postgres_and_a_second_node_finds_it(postern, schema):
    a = postern(config=config(schema), extra=UNTRUSTED)
    api = Api(a)
    api.domain("example.com")
    account = api.ok("POST", "/accounts", {"domain": "example.com", "kind": "ip", "name": IP_CLIENT})
    assert psql(f"SELECT id, name FROM {schema}.accounts") == [f"{account['id']}|127.0.0.2/32"]
    with sqlite3.connect(a.data_dir / "postern.db") as db:
        assert db.execute("SELECT COUNT(*) FROM accounts").fetchone() == (0,), "nothing in the node's file"

    qid = relay(a)
    assert a.spool()[qid].envelope["owner"]["account_id"] == account["id"]
    wait_for(lambda: psql(f"SELECT name, messages FROM {schema}.identities") == ["app@example.com|1"],
             "the identity recorded in PostgreSQL")
    a.stop()

    b = postern(config=config(schema), extra=UNTRUSTED)
    assert [d["name"] for d in Api(b).ok("GET", "/domains")["items"]] == ["example.com"]
    qid = relay(b)
    assert b.spool()[qid].envelope["owner"]["account_id"] == account["id"]
    # The panel's users are shared too: only the first node made (and wrote) `admin`.
    assert psql(f"SELECT name FROM {schema}.admin_users") == ["admin"]
    assert (a.data_dir / "admin-password").exists()
    assert not (b.data_dir / "admin-password").exists()
    with sqlite3.connect(b.data_dir / "postern.db") as db:
        assert db.execute("SELECT COUNT(*) FROM admin_users").fetchone() == (0,)
