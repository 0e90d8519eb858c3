"""Log search across a cluster (issue 16): with `[store] backend = "postgres"`, events and
log search's rows live in the machine's PostgreSQL (127.0.0.1:5432, database `test`, a
schema of this test's own, dropped at the end), so the log search of any node finds every
node's messages with their whole path.

Two real nodes on one schema, both running at once, each with its own data directory and
spool. A message relayed through node B is found by node A's log search API with its steps
(connected, checked, queued, delivered, disconnected), and node B finds node A's the same
way. Both nodes' first SMTP session comes from the same client address with the same session
number (numbers restart in every process): each timeline shows its own node's connection
only. A domain admin of another tenant finds neither message on either node. Nothing of
the log is in the nodes' own files.
"""

from __future__ import annotations

import sqlite3
import urllib.parse

from conftest import wait_for
from test_accounts import IP_CLIENT, UNTRUSTED, Api, send, smtp
from test_delivery import delivery_config, relay, sinks  # noqa: F401 (the sinks fixture)
from test_log_search import token
from test_store_postgres import config, psql, schema  # noqa: F401 (the schema fixture)

WAIT = 30.0


def node(postern, schema: str, dest) -> tuple:  # noqa: F811
    server = postern(config=config(schema) + delivery_config(default_route="dest", relays=[relay("dest", dest)]),
                     extra=UNTRUSTED)
    return server, Api(server)


def delivered(api: Api, queue_id: str) -> dict:
    """The row of `queue_id` once it is delivered."""
    def found():
        rows = api.ok("GET", "/log?" + urllib.parse.urlencode({"queue_id": queue_id}))["items"]
        return rows[0] if rows and rows[0]["status"] == "delivered" else None
    return wait_for(found, f"{queue_id} delivered in the log", WAIT)


def path(api: Api, queue_id: str) -> list[str]:
    timeline = api.ok("GET", f"/log/{queue_id}")
    assert timeline["message"]["queue_id"] == queue_id
    at = [s["at_ms"] for s in timeline["steps"]]
    assert at == sorted(at), timeline
    return [s["kind"] for s in timeline["steps"]]


def ended(kinds: list[str]) -> list[str] | None:
    return kinds if "disconnect" in kinds else None


def test_each_nodes_log_search_finds_the_others_messages_with_their_path(postern, schema, sinks):  # noqa: F811
    dest = sinks("dest")
    a, api_a = node(postern, schema, dest)
    api_a.domain("example.com")
    api_a.domain("other.example")
    api_a.account("example.com", "ip", IP_CLIENT)
    # Started once the account exists: a node loads the directory at start.
    b, api_b = node(postern, schema, dest)

    with smtp(a, IP_CLIENT) as c:
        via_a = send(c, "app@example.com", "someone@dest.test")
    with smtp(b, IP_CLIENT) as c:
        via_b = send(c, "app@example.com", "someone@dest.test")
    dest.wait_messages(2, timeout=WAIT)

    # Node A finds node B's message, delivered, with its whole path; and B finds A's.
    row = delivered(api_a, via_b)
    assert (row["sender"], row["recipients"], row["account_domain"]) == (
        "app@example.com", ["someone@dest.test"], "example.com")
    row = delivered(api_b, via_a)
    assert row["session"] == 1, "both nodes' first session: the same number, the same client"
    steps = ["connect", "checked", "dkim", "queued", "disconnect", "delivery"]
    for api, queue_id in ((api_a, via_b), (api_b, via_a), (api_a, via_a)):
        kinds = wait_for(lambda: ended(path(api, queue_id)), f"{queue_id}'s session ended in its timeline", WAIT)
        assert sorted(kinds) == sorted(steps), kinds
        assert kinds.count("connect") == 1, f"its own node's connection only: {kinds}"

    # The tenant wall holds on every node: other.example's admin finds neither message.
    for api in (api_a, api_b):
        stranger = token(api, f"stranger-{id(api)}", ["other.example"])
        assert stranger.ok("GET", "/log")["items"] == []
        for queue_id in (via_a, via_b):
            status, _ = stranger.call("GET", f"/log/{queue_id}")
            assert status == 404

    # The log is in PostgreSQL only.
    assert psql(f"SELECT count(*) FROM {schema}.messages WHERE status = 'delivered'") == ["2"]
    writers = psql(f"SELECT count(DISTINCT writer) FROM {schema}.events")
    assert writers == ["2"], "each node's events carry its own writer"
    for server in (a, b):
        with sqlite3.connect(server.data_dir / "postern.db") as db:
            assert db.execute("SELECT count(*) FROM events").fetchone() == (0,)
            assert db.execute("SELECT count(*) FROM messages").fetchone() == (0,)
