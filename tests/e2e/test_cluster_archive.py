"""The archive of a cluster (issue 16): two real nodes on one PostgreSQL schema (the
machine's server, a schema of this test's own, dropped at the end). An ip account with the
archive on sends through node B; each copy is committed in PostgreSQL (row and gzip bytes)
before B's `250`, nothing of it on B's disk. Node A searches it by its words, shows it,
serves it as delivered, and exports it (mbox and zip, checksums verified) with every
message B archived. A domain admin of another domain, at either node, sees nothing of it
by any filter, path or export. Only one node runs the hourly purge."""

from __future__ import annotations

import hashlib
import json
import mailbox
import zipfile

from conftest import queued_id, wait_for
from test_accounts import IP_CLIENT, UNTRUSTED, smtp
from test_accounts import Api as AdminApi
from test_archive import Api
from test_limits import transaction
from test_quarantine import sink  # noqa: F401  (the sink fixture)
from test_store_postgres import config, psql, schema  # noqa: F401  (the schema fixture)

SENT = 5


def letter(i: int) -> bytes:
    return (f"From: app@example.com\r\nTo: r@remote.example\r\nSubject: cluster archive {i}\r\n"
            f"Message-ID: <clu-{i}@example.com>\r\n\r\nthe lighthouse{i} keeper, café\r\n").encode()


def domain_admin(api: Api, domains: list[str]) -> Api:
    secret = api.ok("POST", "/tokens", {"name": "admin of " + ",".join(domains), "role": "domain_admin",
                                        "domains": domains})["secret"]
    return Api(api.server, secret)


def test_an_archive_export_at_one_node_holds_what_another_node_archived(postern, schema, sink, tmp_path):  # noqa: F811
    extra = UNTRUSTED + ["--relay-host", f"{sink.host}:{sink.port}"]
    a = postern(config=config(schema), extra=extra)
    admin_a = AdminApi(a)
    admin_a.domain("example.com")
    admin_a.domain("other.example")
    account = admin_a.account("example.com", "ip", IP_CLIENT,
                              settings={"archive": {"enabled": True, "retention_days": 30}})
    b = postern(config=config(schema), extra=extra)
    api_a, api_b = Api(a), Api(b)

    queue_ids = []
    with smtp(b, IP_CLIENT) as c:
        for i in range(SENT):
            code, text = transaction(c, "app@example.com", ["r@remote.example"], letter(i))
            assert code == 250, text
            queue_ids.append(queued_id(f"{code} {text.decode()}"))
    # Rows and copies are in PostgreSQL, committed before the 250; nothing on B's disk.
    listed = psql(f"SELECT queue_id FROM {schema}.archive_messages ORDER BY id")
    assert listed == queue_ids, listed
    assert psql(f"SELECT COUNT(*) FROM {schema}.archive_bodies WHERE octet_length(gzip) > 0") == [str(SENT)]
    for node in (a, b):
        assert not (node.data_dir / "archive" / "index.db").exists(), "no index on a node's disk"
        assert not (node.data_dir / "archive" / "messages").exists(), "no copy on a node's disk"

    # Node A searches, shows and serves B's copies.
    found = api_a.ok("GET", "/archive?text=lighthouse3")
    assert [r["queue_id"] for r in found["items"]] == [queue_ids[3]], found
    assert api_a.ok("GET", "/archive?text=cafe")["total"] == SENT, "accents folded, as on one node"
    rows = api_a.ok("GET", "/archive?domain=example.com")
    assert rows["total"] == SENT and {r["account_id"] for r in rows["items"]} == {account["id"]}
    row = found["items"][0]
    shown = api_a.ok("GET", f"/archive/{row['id']}")
    assert shown["file_state"] == "present" and shown["file"] == "postgres:archive_bodies", shown
    status, eml = api_a.call("GET", f"/archive/{row['id']}/message")
    assert status == 200 and hashlib.sha256(eml).hexdigest() == row["sha256"]
    assert b"Message-ID: <clu-3@example.com>" in eml and b"Received: " in eml, eml[:300]

    # The exports at A hold every message B archived.
    status, mbox = api_a.call("GET", "/archive/export?format=mbox&domain=example.com")
    assert status == 200, mbox[:300]
    path = tmp_path / "a.mbox"
    path.write_bytes(mbox)
    assert sorted(m["Message-ID"] for m in mailbox.mbox(str(path))) == sorted(
        f"<clu-{i}@example.com>" for i in range(SENT))
    status, data = api_a.call("GET", "/archive/export?format=zip")
    assert status == 200
    path = tmp_path / "a.zip"
    path.write_bytes(data)
    with zipfile.ZipFile(path) as z:
        manifest = json.loads(z.read("manifest.json"))
        assert sorted(item["queue_id"] for item in manifest) == sorted(queue_ids)
        for item in manifest:
            assert hashlib.sha256(z.read(item["file"])).hexdigest() == item["sha256"], item

    # A domain admin of another domain sees nothing of it, at A or at B.
    for api in (api_a, api_b):
        other = domain_admin(api, ["other.example"])
        for query in ["", "?domain=example.com", f"?account_id={account['id']}", "?text=lighthouse3",
                      "?sender=app", f"?queue_id={row['queue_id']}", "?message_id=clu-3@example.com"]:
            status, body = other.call("GET", f"/archive{query}")
            assert status == 200 and json.loads(body)["total"] == 0, (query, body)
            assert b"example.com" not in body.replace(b"other.example", b""), (query, body)
        for path in [f"/archive/{row['id']}", f"/archive/{row['id']}/message", "/archive/export",
                     "/archive/export?format=zip&domain=example.com"]:
            status, body = other.call("GET", path)
            assert status == 404 and b"clu-" not in body, (path, status, body)
        own = domain_admin(api, ["example.com"])
        assert own.ok("GET", "/archive")["total"] == SENT

    # One node took the purge at start (A, the first); B found the lease taken and skipped it.
    assert psql(f"SELECT COUNT(*) FROM {schema}.archive_purge_lease") == ["1"]
    wait_for(lambda: any("archive purge run" in line for line in a.stdout), "A's purge run", timeout=30)
    assert not any("archive purge run" in line for line in b.stdout), "B skipped the run A took"
