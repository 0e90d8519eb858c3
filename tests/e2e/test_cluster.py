"""Two real nodes on one PostgreSQL schema and one Redis prefix (issue 16, convergence and
failure behaviour): a change made through node A's admin API reaches node B's in-memory
directory through the change feed within 2 s, without a restart; a lock set on A refuses
at B. With PostgreSQL away (a TCP proxy between a node and 127.0.0.1:5432, cut), the
node answers 451 4.3.0 at MAIL once its directory may be stale and /health says
`postgres` failing; when the proxy is back the node catches up by itself and accepts
again, and every message it acknowledged is in its spool. With Redis away, an account
with a limit is refused 451 4.3.0, never accepted unchecked. A per-minute session limit
of 10 admits exactly 10 sessions across both nodes together (the counters are Redis's).
Under continuous load, PostgreSQL cut for 8 s: 451 4.3.0 while away, never a 5xx, 250
again once it is back without a restart, and every acknowledged message reaches the sink
(none lost, none twice).

PostgreSQL (127.0.0.1:5432, database `test`, a schema of the test's own, dropped at the
end) and Redis (127.0.0.1:6379, a prefix of the test's own) must be running: the tests
fail and say so otherwise."""

from __future__ import annotations

import json
import smtplib
import subprocess
import threading
import time
import urllib.request
import uuid

import pytest

from conftest import queued_id, wait_for
from sinks import Sink
from tcp_proxy import Proxy
from test_accounts import IP_CLIENT, OTHER_CLIENT, UNTRUSTED, Api, send, smtp
from test_store_postgres import PG, schema  # noqa: F401  (the fixture)


def store_config(schema: str, port: int = 5432) -> str:
    url = f"host=127.0.0.1 port={port} user=postgres dbname=test options='-c search_path={schema}'"
    return f'[store]\nbackend = "postgres"\nurl = "{url}"\npool_size = 2\n'


def counters_config(prefix: str, port: int = 6379) -> str:
    return f'[counters]\nbackend = "redis"\nredis_url = "redis://127.0.0.1:{port}"\nredis_prefix = "{prefix}"\n'


@pytest.fixture(autouse=True)
def redis_prefixes():
    """The Redis key prefixes a test used; their keys are deleted at the end (behaviour
    blobs would otherwise stay for their 60 days). Autouse, so set up before `postern`
    and torn down after it: the nodes are gone and write no key after the deletion."""
    names: list[str] = []
    yield names
    for name in names:
        scan = subprocess.run(["redis-cli", "-h", "127.0.0.1", "--scan", "--pattern", f"{name}:*"],
                              capture_output=True, text=True, timeout=30)
        # One key a line; a key may hold any other octet (0x1f, which str.split() would cut at).
        keys = [k for k in scan.stdout.split("\n") if k]
        if keys:
            subprocess.run(["redis-cli", "-h", "127.0.0.1", "DEL", *keys], capture_output=True, timeout=30)


@pytest.fixture
def prefix(redis_prefixes) -> str:
    name = f"postern-cluster-{uuid.uuid4().hex}"
    redis_prefixes.append(name)
    return name


def node(postern, schema: str, prefix: str, pg_port: int = 5432, redis_port: int = 6379,
         extra: list[str] | None = None):
    return postern(config=store_config(schema, pg_port) + counters_config(prefix, redis_port),
                   extra=UNTRUSTED + (extra or []))


def rcpt_code(server, source: str = IP_CLIENT) -> int:
    """The answer to MAIL (when it is not 250) or else to RCPT, from an ip account's
    address (the first one's unless told)."""
    with smtp(server, source) as c:
        code, _ = c.mail("app@example.com")
        if code != 250:
            return code
        return c.rcpt("dest@remote.example")[0]


def health(server) -> tuple[int, dict]:
    url = (server.data_dir / "admin.url").read_text().strip() + "/health"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_an_account_made_on_one_node_relays_through_the_other_and_a_lock_refuses_there(postern, schema, prefix):
    a = node(postern, schema, prefix)
    b = node(postern, schema, prefix)
    assert rcpt_code(b) == 554, "no account yet: relay access denied"

    api = Api(a)
    api.domain("example.com")
    started = time.monotonic()
    account = api.ok("POST", "/accounts", {"domain": "example.com", "kind": "ip", "name": IP_CLIENT})
    wait_for(lambda: rcpt_code(b) == 250, "node B relays for the account made on A", timeout=2)
    print(f"account made on A relays through B {time.monotonic() - started:.3f} s after the API call began")
    with smtp(b, IP_CLIENT) as c:
        qid = send(c, "app@example.com")
    assert b.spool()[qid].envelope["owner"]["account_id"] == account["id"]

    started = time.monotonic()
    api.ok("PATCH", f"/accounts/{account['id']}", {"locked": True})
    wait_for(lambda: rcpt_code(b) == 550, "the lock set on A refuses at B", timeout=2)
    print(f"lock set on A refuses at B {time.monotonic() - started:.3f} s after the API call began")
    with smtp(b, IP_CLIENT) as c:
        code, text = c.mail("app@example.com")
        assert (code, text) == (550, b"5.7.1 Your account has been locked by an administrator. "
                                     b"Contact your administrator."), (code, text)
    # Unlocked on B this time: A follows.
    Api(b).ok("PATCH", f"/accounts/{account['id']}", {"locked": False})
    wait_for(lambda: rcpt_code(a) == 250, "the unlock made on B reaches A", timeout=2)
    assert health(b)[1]["checks"]["postgres"] == {"status": "ok", "detail": "ok"}


def test_postgres_away_is_451_until_it_is_back_and_nothing_acknowledged_is_lost(postern, schema, prefix):
    proxy = Proxy(5432)
    try:
        a = node(postern, schema, prefix)
        b = node(postern, schema, prefix, pg_port=proxy.port)
        api = Api(a)
        api.domain("example.com")
        api.ok("POST", "/accounts", {"domain": "example.com", "kind": "ip", "name": IP_CLIENT})
        wait_for(lambda: rcpt_code(b) == 250, "B relays for the account", timeout=2)

        accepted = []
        with smtp(b, IP_CLIENT) as c:
            accepted.append(send(c, "app@example.com"))
        proxy.away()
        away = time.monotonic()
        # Until the directory may be stale, B goes on deciding on it; then 451 4.3.0.
        while True:
            with smtp(b, IP_CLIENT) as c:
                code, text = c.mail("app@example.com")
                if code == 250:
                    code, text = c.rcpt("dest@remote.example")
                    if code == 250:
                        code, text = c.data(b"Subject: while away\r\n\r\nhi\r\n")
                        if code == 250:
                            accepted.append(text.decode().rsplit(" ", 1)[-1])
                            time.sleep(0.1)
                            continue
            break
        assert (code, text) == (451, b"4.3.0 directory store unavailable, try again later"), (code, text)
        print(f"451 after {time.monotonic() - away:.1f} s away")
        status, answer = wait_for(lambda: (r := health(b)) and r[0] == 503 and r, "health failing", timeout=5)
        assert answer["checks"]["postgres"]["status"] == "failing", answer
        assert str(proxy.port) not in json.dumps(answer)
        assert rcpt_code(b) == 451

        # Meanwhile A (on PostgreSQL itself) locks nothing but adds a rule B must learn.
        api.ok("POST", "/rules", {"kind": "recipient", "value": "trap@remote.example", "action": "reject"})
        proxy.back()
        back = time.monotonic()
        wait_for(lambda: rcpt_code(b) == 250, "B accepts again once PostgreSQL is back", timeout=10)
        print(f"250 again {time.monotonic() - back:.1f} s after PostgreSQL came back")
        with smtp(b, IP_CLIENT) as c:
            assert c.mail("app@example.com")[0] == 250
            assert c.rcpt("trap@remote.example")[0] == 554, "the rule made while B was away was caught up"
        wait_for(lambda: health(b)[0] == 200, "health ok again", timeout=5)
        with smtp(b, IP_CLIENT) as c:
            accepted.append(send(c, "app@example.com"))
        spooled = b.spool()
        assert all(qid in spooled for qid in accepted), "every acknowledged message is in B's spool"
        assert b.running()
    finally:
        proxy.close()


def test_redis_away_refuses_a_limited_account_451_never_unchecked(postern, schema, prefix):
    proxy = Proxy(6379)
    try:
        a = node(postern, schema, prefix, redis_port=proxy.port)
        api = Api(a)
        api.domain("example.com")
        api.ok("POST", "/accounts", {"domain": "example.com", "kind": "ip", "name": IP_CLIENT,
                                     "settings": {"limits": {"recipients_per_day": 100}}})
        assert rcpt_code(a) == 250
        proxy.away()
        with smtp(a, IP_CLIENT) as c:
            assert c.mail("app@example.com")[0] == 250
            code, text = c.rcpt("dest@remote.example")
        assert (code, text) == (451, b"4.3.0 limit counters unavailable, try again later"), (code, text)
        status, answer = wait_for(lambda: (r := health(a)) and r[0] == 503 and r, "health failing", timeout=10)
        assert answer["checks"]["redis"]["status"] == "failing", answer
        proxy.back()
        wait_for(lambda: rcpt_code(a) == 250, "accepted again once Redis is back", timeout=15)
    finally:
        proxy.close()


def test_a_session_limit_of_10_per_minute_admits_exactly_10_across_both_nodes(postern, schema, prefix):
    a = node(postern, schema, prefix)
    b = node(postern, schema, prefix)
    api = Api(a)
    api.domain("example.com")
    api.ok("POST", "/accounts", {"domain": "example.com", "kind": "ip", "name": IP_CLIENT,
                                 "settings": {"limits": {"connections_per_minute": 10}}})
    # Checking the limited account on a node would spend one of its sessions: a second
    # account, made after it, tells that both nodes have learnt the first (the change feed
    # is applied in order).
    api.ok("POST", "/accounts", {"domain": "example.com", "kind": "ip", "name": OTHER_CLIENT})
    for n in (a, b):
        wait_for(lambda n=n: rcpt_code(n, OTHER_CLIENT) == 250, "both nodes know the accounts", timeout=2)

    admitted = {"A": 0, "B": 0}
    refused = []
    started = time.monotonic()
    for i in range(14):
        name, n = ("A", a) if i % 2 == 0 else ("B", b)
        with smtp(n, IP_CLIENT) as c:
            code, text = c.mail("app@example.com")
            if code == 250:
                assert c.rcpt("dest@remote.example")[0] == 250
                code, text = c.data(f"Subject: session {i}\r\n\r\nhi\r\n".encode())
                assert code == 250, (name, i, code, text)
                admitted[name] += 1
            else:
                refused.append((name, code, text))
    elapsed = time.monotonic() - started
    print(f"14 sessions in {elapsed:.2f} s: admitted {admitted}, refused {len(refused)}")
    assert elapsed < 50, "all 14 attempts within the minute window"
    assert sum(admitted.values()) == 10, (admitted, refused)
    assert admitted["A"] > 0 and admitted["B"] > 0, admitted
    assert len(refused) == 4, refused
    assert {(code, text) for _, code, text in refused} == {
        (451, f"4.7.1 Error: connection limit of 10 per minute reached for {IP_CLIENT}/32".encode())}, refused
    assert len(a.spool()) + len(b.spool()) == 10


@pytest.fixture
def sink():
    s = Sink("cluster-sink").start()
    yield s
    s.stop()


def test_postgres_cut_under_load_loses_nothing_acknowledged_and_recovers_without_restart(
        postern, schema, prefix, sink):
    proxy = Proxy(5432)
    try:
        a = node(postern, schema, prefix)
        b = node(postern, schema, prefix, pg_port=proxy.port, extra=["--relay-host", f"{sink.host}:{sink.port}"])
        api = Api(a)
        api.domain("example.com")
        api.ok("POST", "/accounts", {"domain": "example.com", "kind": "ip", "name": IP_CLIENT})
        wait_for(lambda: rcpt_code(b) == 250, "B relays for the account", timeout=2)
        pid = b.proc.pid

        # One session per message, each with its own Message-ID: (when, message id, code,
        # reply text, queue id if acknowledged).
        results: list[tuple[float, str, int, bytes, str | None]] = []
        stop = threading.Event()

        def sender():
            i = 0
            while not stop.is_set():
                i += 1
                mid = f"<load-{i}-{uuid.uuid4().hex}@example.com>"
                data = f"Message-ID: {mid}\r\nSubject: load {i}\r\n\r\nhi\r\n".encode()
                try:
                    with smtp(b, IP_CLIENT) as c:
                        code, text = c.mail("app@example.com")
                        if code == 250:
                            code, text = c.rcpt("dest@remote.example")
                        if code == 250:
                            code, text = c.data(data)
                except (OSError, smtplib.SMTPException) as e:
                    code, text = 0, repr(e).encode()
                qid = queued_id(f"{code} {text.decode()}") if code == 250 else None
                results.append((time.monotonic(), mid, code, text, qid))
                time.sleep(0.05)

        thread = threading.Thread(target=sender, daemon=True)
        thread.start()
        time.sleep(2)
        proxy.away()
        away = time.monotonic()
        time.sleep(8)
        proxy.back()
        back = time.monotonic()
        time.sleep(5)
        stop.set()
        thread.join(timeout=30)
        assert not thread.is_alive()

        codes = [r[2] for r in results]
        during = [r for r in results if away <= r[0] <= back]
        after = [r for r in results if r[0] > back]
        acked = {r[4]: r[1] for r in results if r[2] == 250}
        soft = [r for r in results if 400 <= r[2] < 500]
        first_soft = min((r[0] for r in soft), default=back) - away
        first_back = min((r[0] for r in after if r[2] == 250), default=float("inf")) - back
        print(f"{len(results)} sessions: {len(acked)} acknowledged, {len(soft)} 4xx "
              f"(first {first_soft:.1f} s after the cut), 250 again {first_back:.1f} s after PostgreSQL came back")
        assert not [r for r in results if r[2] >= 500 or r[2] == 0], "no 5xx, no broken session"
        assert [r for r in during if r[2] == 451], "451 while PostgreSQL was away"
        assert {(r[2], r[3]) for r in soft} == {(451, b"4.3.0 directory store unavailable, try again later")}, soft
        assert [r for r in after if r[2] == 250], "250 again after PostgreSQL came back"
        assert b.running() and b.proc.pid == pid, "B was never restarted"
        assert codes[-1] == 250

        # Every acknowledged message is in B's spool or at the sink (the spool read first:
        # a message leaves it only after the sink has it).
        def missing():
            spooled = b.spool()
            delivered = {m.parsed()["Message-ID"] for m in sink.messages}
            return [q for q, mid in acked.items() if q not in spooled and mid not in delivered]

        assert missing() == [], "no acknowledged message lost"
        wait_for(lambda: not b.spool() and len(sink.messages) >= len(acked), "B delivers everything", timeout=30)
        assert missing() == []
        delivered = [m.parsed()["Message-ID"] for m in sink.messages]
        assert sorted(delivered) == sorted(acked.values()), "each acknowledged message delivered once"
    finally:
        proxy.close()
