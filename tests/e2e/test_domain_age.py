"""Newly registered sender domains (SPEC §5) through the real binary: the account setting
`checks.block_new_domains` blocks a message whose sender's registrable domain is younger
than `checks.new_domain_min_age_hours`, the age coming from a local feed or from RDAP.

The RDAP server is a Python http.server on loopback, named by a bootstrap file the test
writes (`test` -> the server). Its answer depends on the domain's first label: `young` was
registered an hour ago, `old` a year ago, `moved` redirects to a young answer, `missing` is
a 404, `error` a 500, `garbage` not JSON, `silent` never answers. It counts the requests it
gets, per domain. Checked: the 550 naming NEW_DOMAIN and the domain (envelope sender and a
different From header), the trace (`blocked`, `pass`, `off`, `skipped` with the reason), the
cache (one request for two messages), unknown ages never blocking (and a silent server
still answered within a few seconds), the feed without any RDAP server (and read again on
SIGHUP), monitor mode, and the `accept` reaction holding the message in the quarantine."""

from __future__ import annotations

import collections
import json
import signal
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import queued_id, wait_for
from test_accounts import PASSWORD, UNTRUSTED, Api, smtp
from test_engines import entry, last_checked

BLOCK = b"5.7.1 Error: message rejected: sender domain registered too recently (NEW_DOMAIN in "


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


class Rdap:
    """A fake RDAP server: `GET /rdap/domain/<name>`, answered by the name's first label."""

    def __init__(self):
        self.requests: collections.Counter[str] = collections.Counter()
        self.stopped = threading.Event()
        rdap = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                parts = self.path.split("/")
                name = parts[-1]
                rdap.requests[name] += 1
                label = name.split(".")[0]
                now = datetime.now(timezone.utc)
                if parts[2] == "fresh" or label == "young":
                    self.answer(200, domain(name, now - timedelta(hours=1)))
                elif label == "old":
                    self.answer(200, domain(name, now - timedelta(days=365)))
                elif label == "moved":
                    self.send_response(302)
                    self.send_header("Location", f"/rdap/fresh/{name}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif label == "missing":
                    self.answer(404, b'{"errorCode": 404, "title": "Not Found"}')
                elif label == "garbage":
                    self.answer(200, b'<html>{"events": [{"eventAction": "registration", ')
                elif label == "silent":
                    rdap.stopped.wait(10)
                else:
                    self.answer(500, b"")

            def answer(self, status: int, body: bytes):
                self.send_response(status)
                self.send_header("Content-Type", "application/rdap+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/rdap/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.stopped.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def domain(name: str, registered: datetime) -> bytes:
    return json.dumps({
        "objectClassName": "domain", "ldhName": name.upper(),
        "events": [{"eventAction": "expiration", "eventDate": "2030-01-01T00:00:00Z"},
                   {"eventAction": "registration", "eventDate": stamp(registered)}],
    }).encode()


@pytest.fixture
def rdap():
    server = Rdap()
    yield server
    server.close()


def bootstrap(tmp_path, rdap: Rdap) -> str:
    path = tmp_path / "dns.json"
    path.write_text(json.dumps({"version": "1.0", "services": [[["test"], [rdap.base]]]}))
    return f'[domain_age]\nbootstrap = "{path}"\ntimeout = 1\n'


def start(postern, config: str, accounts: dict[str, dict]):
    """A server that trusts no loopback client, with one user account per address (its
    domain created as needed) and the given settings."""
    server = postern(config=config, extra=UNTRUSTED)
    api = Api(server)
    for name in sorted({a.split("@")[1] for a in accounts}):
        api.domain(name)
    for address, settings in accounts.items():
        api.account(address.split("@")[1], "user", address, PASSWORD, settings=settings)
    server.api = api
    return server


ON = {"checks": {"block_new_domains": True}}


def send(server, user: str, from_header: str | None = None) -> tuple[int, bytes]:
    head = f"From: {from_header or user}\r\nTo: r@remote.example\r\nSubject: hello\r\n"
    message = (head + "Message-ID: <" + str(time.monotonic_ns()) + "@x.test>\r\n\r\nHello.\r\n").encode()
    with smtp(server, tls=True) as c:
        c.login(user, PASSWORD)
        assert c.mail(user)[0] == 250
        assert c.rcpt("r@remote.example")[0] == 250
        return c.data(message)


def test_a_young_sender_domain_is_blocked_an_old_one_passes_and_the_answer_is_cached(postern, rdap, tmp_path):
    server = start(postern, bootstrap(tmp_path, rdap),
                   {"a@young.test": ON, "a@old.test": ON, "a@moved.test": ON})
    code, text = send(server, "a@young.test")
    assert code == 550 and text.startswith(BLOCK + b"young.test registered 20"), text
    first = entry(last_checked(server, 1), "domain_age")
    assert (first["result"], first["rule"]) == ("blocked", "NEW_DOMAIN"), first
    assert first["part"].startswith("young.test registered "), first
    registered = datetime.strptime(first["part"].split()[-1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert timedelta(minutes=59) < datetime.now(timezone.utc) - registered < timedelta(minutes=62)
    assert server.wait_events(lambda ev: len(ev) >= 1, kind="checked")[0]["data"]["disposition"] == "quarantine"

    # A subdomain of it is the same registrable domain: asked once, answered from the cache.
    code, text = send(server, "a@young.test", from_header="News <news@mail.young.test>")
    assert code == 550 and BLOCK + b"young.test registered" in text, text
    cached = entry(last_checked(server, 2), "domain_age")
    assert rdap.requests["young.test"] == 1, rdap.requests
    print(f"\ndomain_age: RDAP lookup {first['micros']} us, cache hit {cached['micros']} us")

    code, text = send(server, "a@old.test")
    assert code == 250, text
    assert entry(last_checked(server, 3), "domain_age")["result"] == "pass"
    # The From header's domain, when it is another registrable domain, is asked too.
    code, text = send(server, "a@old.test", from_header="Shop <shop@young.test>")
    assert code == 550 and BLOCK + b"young.test registered" in text, text
    assert (rdap.requests["old.test"], rdap.requests["young.test"]) == (1, 1), rdap.requests
    # RDAP servers redirect: followed.
    code, text = send(server, "a@moved.test")
    assert code == 550 and BLOCK + b"moved.test registered" in text, text
    assert len(server.spool()) == 1


def test_the_setting_off_and_a_lower_threshold_let_it_pass(postern, rdap, tmp_path):
    server = start(postern, bootstrap(tmp_path, rdap), {
        "off@young.test": {},
        "hour@young.test": {"checks": {"block_new_domains": True, "new_domain_min_age_hours": 1}},
    })
    code, text = send(server, "off@young.test")
    assert code == 250, text
    off = entry(last_checked(server, 1), "domain_age")
    assert (off["result"], off["rule"]) == ("off", "checks.block_new_domains off"), off
    assert rdap.requests["young.test"] == 0, "nothing is looked up for an account with the setting off"
    code, text = send(server, "hour@young.test")
    assert code == 250, text
    assert entry(last_checked(server, 2), "domain_age")["result"] == "pass"
    assert rdap.requests["young.test"] == 1


def test_an_unknown_age_never_blocks(postern, rdap, tmp_path):
    reasons = {
        "a@missing.test": "age of missing.test unknown: RDAP: not found",
        "a@error.test": "age of error.test unknown: RDAP: HTTP 500 from 127.0.0.1",
        "a@garbage.test": "age of garbage.test unknown: RDAP: not JSON",
        "a@silent.test": "age of silent.test unknown: RDAP: no answer within 1000 ms",
        "a@unlisted.example": "age of unlisted.example unknown: no RDAP server known for .example",
    }
    server = start(postern, bootstrap(tmp_path, rdap), {user: ON for user in reasons})
    for nth, (user, reason) in enumerate(reasons.items(), start=1):
        started = time.monotonic()
        code, text = send(server, user)
        took = time.monotonic() - started
        assert code == 250, (user, text)
        assert took < 4, f"{user}: the reply took {took:.1f} s"
        skipped = entry(last_checked(server, nth), "domain_age")
        assert skipped["result"] == "skipped" and skipped["rule"].startswith(reason), skipped
    assert len(server.spool()) == len(reasons)
    # A failure is cached for a while too: no second request.
    assert send(server, "a@error.test")[0] == 250
    assert rdap.requests["error.test"] == 1, rdap.requests


def test_the_feed_blocks_without_any_rdap_server_and_is_read_again_on_sighup(postern, tmp_path):
    feed = tmp_path / "new-domains.txt"
    two_hours_ago = stamp(datetime.now(timezone.utc) - timedelta(hours=2))
    feed.write_text(f"# newly registered\nfresh.test\t{two_hours_ago}\nold.test 2001-01-01\n")
    config = f'[domain_age]\nfeed = "{feed}"\nrdap = false\n'
    server = start(postern, config, {"a@fresh.test": ON, "a@old.test": ON, "a@later.test": ON})
    code, text = send(server, "a@fresh.test")
    assert code == 550 and text == BLOCK + f"fresh.test registered {two_hours_ago})".encode(), text
    assert send(server, "a@old.test")[0] == 250
    assert entry(last_checked(server, 2), "domain_age")["result"] == "pass"
    code, _ = send(server, "a@later.test")
    assert code == 250
    assert entry(last_checked(server, 3), "domain_age")["rule"] == (
        "age of later.test unknown: not in the feed, and RDAP lookups are off")

    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    feed.write_text(f"later.test {today}\n")
    server.signal(signal.SIGHUP)
    wait_for(lambda: any("domain age sources reloaded" in line and "feed: 1 domains" in line
                         for line in server.stdout + server.stderr), "the feed read again")
    code, text = send(server, "a@later.test")
    assert code == 550 and BLOCK + f"later.test registered {today}T00:00:00Z".encode() in text, text
    assert send(server, "a@fresh.test")[0] == 250, "no longer in the feed"


def test_monitor_mode_logs_and_delivers(postern, rdap, tmp_path):
    server = start(postern, bootstrap(tmp_path, rdap),
                   {"a@young.test": {"monitor_only": True, **ON}})
    code, text = send(server, "a@young.test")
    assert code == 250, text
    assert list(server.spool()) == [queued_id(f"250 {text.decode()}")]
    assert entry(last_checked(server), "domain_age")["result"] == "blocked"
    refused = server.wait_events(lambda ev: len(ev) >= 1, kind="refused")
    reason = refused[-1]["data"]["reason"]
    assert reason.startswith("would refuse (monitor): sender domain registered too recently "
                             "(rule NEW_DOMAIN in young.test registered "), reason


def test_the_accept_reaction_holds_it_in_the_quarantine(postern, rdap, tmp_path):
    server = start(postern, bootstrap(tmp_path, rdap),
                   {"a@young.test": {"quarantine_reaction": "accept", **ON}})
    code, text = send(server, "a@young.test")
    assert code == 250, text
    held_id = queued_id(f"250 {text.decode()}")
    assert server.spool() == {}, "held, never queued for delivery"
    held = server.api.ok("GET", "/quarantine")
    assert held["total"] == 1, held
    item = held["items"][0]
    assert (item["queue_id"], item["reaction"], item["state"]) == (held_id, "accept", "held")
    assert item["rule"].startswith("NEW_DOMAIN in young.test registered "), item
