"""Two real nodes on one PostgreSQL schema and one Redis prefix (issue 16, convergence and
failure behaviour): a change made through node A's admin API reaches node B's in-memory
directory through the change feed within 2 s, without a restart; a lock set on A refuses
at B. With PostgreSQL away (a TCP proxy between a node and 127.0.0.1:5432, cut), the
node answers 451 4.3.0 at MAIL once its directory may be stale and /health says
`postgres` failing; when the proxy is back the node catches up by itself and accepts
again, and every message it acknowledged is in its spool. With Redis away, an account
with a limit is refused 451 4.3.0, never accepted unchecked.

PostgreSQL (127.0.0.1:5432, database `test`, a schema of the test's own, dropped at the
end) and Redis (127.0.0.1:6379, a prefix of the test's own) must be running: the tests
fail and say so otherwise."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
import uuid

import pytest

from conftest import wait_for
from test_accounts import IP_CLIENT, UNTRUSTED, Api, send, smtp
from test_store_postgres import PG, schema  # noqa: F401  (the fixture)


class Proxy:
    """A TCP proxy to a local server that can be taken away (every link cut, new
    connections closed at once) and brought back, on the same port."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.links: list[socket.socket] = []
        self.lock = threading.Lock()
        self.up = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.links += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def away(self):
        self.up = False
        with self.lock:
            links, self.links = self.links, []
        for s in links:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def back(self):
        self.up = True

    def close(self):
        self.away()
        self.sock.close()


def store_config(schema: str, port: int = 5432) -> str:
    url = f"host=127.0.0.1 port={port} user=postgres dbname=test options='-c search_path={schema}'"
    return f'[store]\nbackend = "postgres"\nurl = "{url}"\npool_size = 2\n'


def counters_config(prefix: str, port: int = 6379) -> str:
    return f'[counters]\nbackend = "redis"\nredis_url = "redis://127.0.0.1:{port}"\nredis_prefix = "{prefix}"\n'


@pytest.fixture
def prefix() -> str:
    return f"postern-cluster-{uuid.uuid4().hex}"


def node(postern, schema: str, prefix: str, pg_port: int = 5432, redis_port: int = 6379):
    return postern(config=store_config(schema, pg_port) + counters_config(prefix, redis_port), extra=UNTRUSTED)


def rcpt_code(server) -> int:
    """The answer to MAIL (when it is not 250) or else to RCPT, from the ip account's
    address."""
    with smtp(server, IP_CLIENT) as c:
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
