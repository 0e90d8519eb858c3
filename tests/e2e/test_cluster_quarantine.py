"""The quarantine of a cluster (issue 16): two real nodes on one PostgreSQL schema (the
machine's server, a schema of this test's own, dropped at the end). A message held at node
B has its row and its bytes in PostgreSQL, none on B's disk; node A lists it, shows its
preview, and releases it; two releases racing through both nodes deliver it exactly once,
and its bytes are gone from PostgreSQL afterwards. A domain admin at A sees only its own
domains' held messages."""

from __future__ import annotations

import threading

from conftest import queued_id, wait_for
from test_accounts import IP_CLIENT, UNTRUSTED, Api, smtp
from test_limits import GTUBE, message, transaction
from test_quarantine import raw, sink, token  # noqa: F401  (the sink fixture)
from test_store_postgres import config, psql, schema  # noqa: F401  (the schema fixture)


def test_a_message_held_at_one_node_is_released_through_the_other_once(postern, schema, sink):  # noqa: F811
    extra = UNTRUSTED + ["--relay-host", f"{sink.host}:{sink.port}"]
    a = postern(config=config(schema), extra=extra)
    api_a = Api(a)
    api_a.domain("example.com")
    api_a.domain("other.example")
    api_a.account("example.com", "ip", IP_CLIENT, settings={"quarantine_reaction": "accept"})
    b = postern(config=config(schema), extra=extra)
    api_b = Api(b)

    with smtp(b, IP_CLIENT) as c:
        code, text = transaction(c, "app@example.com", ["r@remote.example"], message("spam", spam=True))
    assert code == 250, text
    qid = queued_id(f"{code} {text.decode()}")
    assert psql(f"SELECT state FROM {schema}.quarantine WHERE queue_id = '{qid}'") == ["held"]
    assert psql(f"SELECT octet_length(body) > 0 FROM {schema}.quarantine_bodies WHERE queue_id = '{qid}'") == ["t"]
    assert not (b.data_dir / "quarantine" / "held" / qid).exists(), "no body only on B's disk"

    held = api_a.ok("GET", "/quarantine")
    assert [m["queue_id"] for m in held["items"]] == [qid], held
    target = held["items"][0]["id"]
    shown = api_a.ok("GET", f"/quarantine/{target}")
    assert shown["state"] == "held" and shown["rule"] == "GTUBE", shown
    status, report, _ = raw(api_a, f"/quarantine/{target}/arf")
    assert status == 200 and GTUBE in report, "A reads the bytes B held"

    other = token(api_a, "admin of other", ["other.example"])
    assert other.ok("GET", "/quarantine")["total"] == 0
    assert other.call("GET", f"/quarantine/{target}")[0] == 404

    answers: list[int] = []
    releases = [threading.Thread(target=lambda api=api: answers.append(api.call("POST", f"/quarantine/{target}/release")[0]))
                for api in (api_a, api_b)]
    for t in releases:
        t.start()
    for t in releases:
        t.join()
    assert sorted(answers) == [200, 409], answers
    sink.wait_messages(1)
    wait_for(lambda: psql(f"SELECT COUNT(*) FROM {schema}.quarantine_bodies") == ["0"], "the bytes removed")
    spam = [m for m in sink.messages if GTUBE in m.data]
    assert len(spam) == 1 and spam[0].rcpt_tos == ["r@remote.example"], "delivered exactly once"
    assert api_b.ok("GET", f"/quarantine/{target}")["state"] == "released"
