"""`/metrics` and `/health` on the admin listener, against the real binary (issue 13 §4).

Metrics: a known set of messages (clean ones delivered to a sink, one deferred then
delivered, one bounced with its DSN, GTUBE held and refused, a recipient over the limit),
then `/metrics` read with Prometheus's own text parser (the PyPI `prometheus-client`): every
counter equals what the test sent and what the event log says, the histograms have their
observations, the gauges are back to zero, and every metric is documented. Access: loopback
by default; with an allowlist that excludes loopback, 403 without a token, 401 with a wrong
one, 200 with the right one; a SIGHUP applies a new `[metrics]` section.

Health: ok normally; an engine on a closed port is `failing` (503) with `on_failure =
"tempfail"` and `degraded` (200) with `skip`; a spool that cannot take a file (its
`journal/` replaced by a file: this works as root too, where permissions would not) is
`failing`, and healthy again once repaired; Redis holding the counters is checked with
PING and `failing` when it goes away.
"""

from __future__ import annotations

import json
import re
import shutil
import smtplib
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import REPO, queued_id, wait_for
from test_delivery import delivery_config, relay, sinks  # noqa: F401 (the sinks fixture)
from tcp_proxy import Proxy
from test_engines import closed_port

GTUBE = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
TOKEN = "metrics-token-0123456789"
SENDER = "alice@sender.test"


def admin_url(server) -> str:
    return (server.data_dir / "admin.url").read_text().strip()


def get(server, path: str, token: str | None = None) -> tuple[int, str, object]:
    """(status, body, headers) of a GET on the admin listener, errors included."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(admin_url(server) + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers


def scrape(server, token: str | None = None) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics, parsed by prometheus_client: {(name, sorted labels): value}."""
    status, body, headers = get(server, "/metrics", token)
    assert status == 200, (status, body)
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers
    samples = {}
    for family in text_string_to_metric_families(body):
        assert family.name.startswith("postern_"), family.name
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def families(server) -> dict[str, str]:
    """Metric family name -> type, as the parser sees them."""
    _, body, _ = get(server, "/metrics")
    return {f.name: f.type for f in text_string_to_metric_families(body)}


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items())))) or 0.0


def send(server, rcpts: list[str], body: bytes = b"An ordinary message.") -> tuple[int, bytes]:
    data = (f"From: <{SENDER}>\r\nTo: <{rcpts[0]}>\r\nSubject: metrics\r\n\r\n").encode() + body + b"\r\n"
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=15) as c:
        c.ehlo("client.test.example")
        assert c.mail(SENDER)[0] == 250
        for r in rcpts:
            assert c.rcpt(r)[0] == 250, r
        return c.data(data)


def count_events(server, kind: str, predicate=lambda d: True) -> int:
    return sum(1 for e in server.events(kind=kind) if predicate(e["data"]))


# --------------------------------------------------------------------------------------
# /metrics


def test_the_counters_match_what_was_sent_and_the_log(postern, sinks):  # noqa: F811
    def rcpt_reply(address: str, n: int):
        if address == "bounce@dest.test":
            return "550 5.1.1 No such user"
        if address == "deferme@dest.test" and not deferred_once.is_set():
            deferred_once.set()
            return "450 4.2.0 Try again later"
        return None

    deferred_once = threading.Event()
    sink = sinks("dest", rcpt_reply=rcpt_reply)
    config = delivery_config(default_route="dest", relays=[relay("dest", sink)]) + "[limits]\nmax_recipients = 2\n"
    server = postern(config=config)

    for i in range(3):
        code, text = send(server, [f"ok{i}@dest.test"])
        queued_id(f"{code} {text.decode()}")
    assert send(server, ["deferme@dest.test"])[0] == 250
    assert send(server, ["bounce@dest.test"])[0] == 250
    code, text = send(server, ["spam@dest.test"], GTUBE)
    assert (code, text) == (550, b"5.7.1 Error: message content rejected as spam (GTUBE)")
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=15) as c:
        c.ehlo("client.test.example")
        assert c.mail(SENDER)[0] == 250
        assert c.rcpt("r1@dest.test")[0] == 250
        assert c.rcpt("r2@dest.test")[0] == 250
        assert c.rcpt("r3@dest.test")[0] == 452, "one recipient over limits.max_recipients"
    sessions = 7

    # 3 clean + the deferred one (then delivered) + the DSN of the bounce: 5 delivered.
    server.wait_events(lambda ev: sum(e["data"]["result"] == "delivered" for e in ev) >= 5, kind="delivery",
                       timeout=30)
    server.wait_events(lambda ev: len(ev) >= sessions, kind="disconnect")
    wait_for(lambda: not server.spool_names("queue"), "an empty queue", timeout=20)

    m = wait_for(lambda: (s := scrape(server)) and value(s, "postern_sessions_open") == 0
                 and value(s, "postern_queue_messages", state="active") == 0 and s, "settled gauges")
    assert value(m, "postern_messages_received_total") == 6, "5 clean + GTUBE"
    assert value(m, "postern_messages_queued_total") == 5
    assert value(m, "postern_messages_quarantined_total") == 1
    assert value(m, "postern_refusals_total", stage="data", rule="GTUBE") == 1
    assert value(m, "postern_refusals_total", stage="rcpt", rule="max_recipients") == 1
    assert sum(v for (name, _), v in m.items() if name == "postern_refusals_total") == 2
    assert value(m, "postern_deliveries_total", result="delivered") == 5
    assert value(m, "postern_deliveries_total", result="deferred") == 1
    assert value(m, "postern_deliveries_total", result="bounced") == 1
    assert value(m, "postern_deliveries_total", result="expired") == 0
    assert value(m, "postern_dsns_sent_total", action="failed") == 1
    assert value(m, "postern_sessions_total", listener="smtp") == sessions
    assert value(m, "postern_quarantine_actions_total", action="held") == 1
    for state in ("incoming", "active", "deferred", "held"):
        assert value(m, "postern_queue_messages", state=state) == 0, state

    # The counters say what the log says.
    assert value(m, "postern_messages_queued_total") == count_events(server, "queued")
    assert value(m, "postern_messages_received_total") == count_events(server, "checked")
    assert value(m, "postern_deliveries_total", result="delivered") == count_events(
        server, "delivery", lambda d: d["result"] == "delivered")
    assert value(m, "postern_sessions_total", listener="smtp") == count_events(server, "connect")

    # Histograms: an observation per delivery result, per delivered recipient, per scan.
    assert value(m, "postern_delivery_attempt_duration_seconds_count", result="delivered") == 5
    assert value(m, "postern_delivery_attempt_duration_seconds_count", result="deferred") == 1
    assert value(m, "postern_delivery_attempt_duration_seconds_bucket", result="delivered", le="+Inf") == 5
    assert value(m, "postern_delivery_latency_seconds_count") == 5
    latency = value(m, "postern_delivery_latency_seconds_sum")
    assert latency > 0.5, "the deferred message waited for its retry"
    assert value(m, "postern_scan_duration_seconds_count", engine="gtube") == 6
    delivered = [e for e in server.events(kind="delivery") if e["data"]["result"] == "delivered"]
    assert all(e["data"]["duration_ms"] >= 0 and e["data"]["queued_at_ms"] <= e["at_ms"] for e in delivered), delivered

    # Families with labels appear once they have a series: all of them documented too.
    found = assert_documented(server)
    for name in ("postern_refusals", "postern_deliveries", "postern_dsns_sent", "postern_sessions",
                 "postern_quarantine_actions", "postern_queue_messages", "postern_store_errors"):
        assert name in found, name

    # The event writer's counts and the build.
    assert value(m, "postern_events_dropped_total") == 0
    assert value(m, "postern_events_stored_total") > 0
    build = [labels for (name, labels), v in m.items() if name == "postern_build_info" and v == 1]
    assert len(build) == 1 and dict(build[0])["version"], build
    server.stop()


def assert_documented(server) -> dict[str, str]:
    """Every metric family /metrics shows now is named in docs/MONITORING.md; returns them."""
    found = families(server)
    doc = (REPO / "docs" / "MONITORING.md").read_text()
    documented = set(re.findall(r"`(postern_[a-z_]+)`", doc))
    for name, kind in found.items():
        exported = name + "_total" if kind == "counter" else name
        assert exported in documented, f"{exported} is not in docs/MONITORING.md"
    return found


def test_every_metric_is_typed_and_documented(server):
    found = assert_documented(server)
    expected = {
        "postern_build_info": "gauge",
        "postern_messages_received": "counter",
        "postern_messages_queued": "counter",
        "postern_sessions_open": "gauge",
        "postern_delivery_latency_seconds": "histogram",
        "postern_events_stored": "counter",
        "postern_events_waiting": "gauge",
    }
    for name, kind in expected.items():
        assert found.get(name) == kind, (name, found.get(name))


def test_loopback_reads_metrics_by_default(server):
    status, body, _ = get(server, "/metrics")
    assert status == 200 and "postern_sessions_open 0" in body, body[:500]
    status, _, _ = get(server, "/metrics", token="anything")
    assert status == 200, "an allowed peer needs no token, whatever it sends"


def test_an_allowlist_without_loopback_needs_the_token(postern):
    server = postern(config=f'[metrics]\nallow = ["192.0.2.0/24"]\ntoken = "{TOKEN}"\n')
    status, body, _ = get(server, "/metrics")
    assert status == 403 and "not allowed" in body, (status, body)
    status, body, headers = get(server, "/metrics", token="wrong-token-0123456789")
    assert status == 401 and headers.get("WWW-Authenticate") == "Bearer", (status, body)
    assert TOKEN not in body
    assert scrape(server, token=TOKEN)[("postern_sessions_open", ())] == 0
    # The API's own tokens are something else: the metrics token opens nothing there.
    status, _, _ = get(server, "/api/v1/status", token=TOKEN)
    assert status == 401
    # /health needs no token.
    assert get(server, "/health")[0] == 200


def test_sighup_applies_a_new_metrics_section(postern):
    server = postern(config='[metrics]\nallow = []\n')
    assert get(server, "/metrics")[0] == 403
    config = Path(server.args[server.args.index("--config") + 1])
    config.write_text('[metrics]\nallow = ["127.0.0.0/8"]\n')
    server.signal(__import__("signal").SIGHUP)
    wait_for(lambda: any("configuration reloaded" in line and "metrics" in line for line in server.stdout),
             "the reload naming metrics")
    assert get(server, "/metrics")[0] == 200
    server.stop()


def test_check_config_refuses_a_bad_metrics_network(tmp_path):
    import subprocess

    from conftest import postern_bin
    bad = tmp_path / "bad.toml"
    bad.write_text('[metrics]\nallow = ["10.0.0.1/8"]\n')
    run = subprocess.run([str(postern_bin()), "check-config", str(bad)], capture_output=True, text=True, timeout=20)
    assert run.returncode == 2, run
    assert 'metrics.allow[0]: "10.0.0.1/8" is not an IP address or CIDR' in run.stderr, run.stderr
    good = tmp_path / "good.toml"
    good.write_text(f'[metrics]\nallow = ["10.0.0.0/8", "::1"]\ntoken = "{TOKEN}"\n')
    run = subprocess.run([str(postern_bin()), "check-config", str(good)], capture_output=True, text=True, timeout=20)
    assert run.returncode == 0, run.stderr


# --------------------------------------------------------------------------------------
# /health


def health(server) -> tuple[int, dict]:
    status, body, _ = get(server, "/health")
    return status, json.loads(body)


def test_health_is_ok_with_its_checks(server):
    status, answer = health(server)
    assert status == 200, answer
    assert answer == {"status": "ok", "checks": {"spool": {"status": "ok", "detail": "ok"},
                                                  "store": {"status": "ok", "detail": "ok"}}}


@pytest.mark.parametrize("on_failure,code,status", [("tempfail", 503, "failing"), ("skip", 200, "degraded")])
def test_a_stopped_engine_fails_or_degrades_health_by_its_policy(postern, on_failure, code, status):
    address = closed_port()
    server = postern(config=f'[rspamd]\naddress = "{address}"\ntimeout = 5\non_failure = "{on_failure}"\n')
    got, answer = health(server)
    assert (got, answer["status"]) == (code, status), answer
    assert answer["checks"]["rspamd"]["status"] == status
    assert answer["checks"]["rspamd"]["detail"].startswith("cannot connect"), answer
    assert address not in json.dumps(answer), "no addresses in the public answer"
    assert answer["checks"]["spool"]["status"] == "ok"


def test_a_spool_that_cannot_take_a_file_fails_health_until_repaired(server):
    journal = server.data_dir / "spool" / "journal"
    moved = server.data_dir / "spool" / "journal.away"
    journal.rename(moved)
    journal.write_bytes(b"")  # a file where the directory was: no probe can be created
    try:
        status, answer = health(server)
        assert status == 503 and answer["status"] == "failing", answer
        assert answer["checks"]["spool"]["status"] == "failing"
        assert answer["checks"]["spool"]["detail"].startswith("cannot create a probe file"), answer
        assert str(server.data_dir) not in json.dumps(answer), "no paths in the public answer"
        assert answer["checks"]["store"]["status"] == "ok"
    finally:
        journal.unlink()
        moved.rename(journal)
    time.sleep(1.1)  # an answer is reused for a second
    status, answer = health(server)
    assert (status, answer["status"]) == (200, "ok"), answer
    assert [p for p in journal.iterdir() if p.name.startswith(".probe")] == [], "no probe file left behind"


def redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(7).startswith(b"+PONG")
    except OSError:
        return False


def test_redis_counters_are_pinged(postern):
    if not redis_up():
        pytest.fail("no Redis on 127.0.0.1:6379: run scripts/install-test-deps.sh", pytrace=False)
    relay_ = Proxy(6379)
    server = postern(config=f'[counters]\nbackend = "redis"\nredis_url = "redis://127.0.0.1:{relay_.port}"\n'
                            f'redis_prefix = "postern-health-{time.monotonic_ns()}"\n')
    status, answer = health(server)
    assert (status, answer["checks"]["redis"]) == (200, {"status": "ok", "detail": "ok"}), answer
    relay_.close()
    time.sleep(1.1)
    status, answer = wait_for(lambda: (r := health(server)) and r[0] == 503 and r, "Redis failing", timeout=15)
    assert answer["checks"]["redis"]["status"] == "failing", answer
    assert answer["checks"]["redis"]["detail"] in (
        "PING not answered", "no answer within 2000 ms", "the previous check has not finished"), answer
    assert str(relay_.port) not in json.dumps(answer), "no address in the public answer"
    assert answer["checks"]["spool"]["status"] == "ok"


def test_the_real_engines_answer_the_health_check(postern, engines, clamd):
    server = postern(config=f'[rspamd]\naddress = "{engines.rspamd}"\non_failure = "tempfail"\n'
                            f'[spamassassin]\naddress = "{engines.spamd}"\n'
                            f'[clamav]\naddress = "{clamd.unix}"\non_failure = "tempfail"\n')
    status, answer = health(server)
    assert (status, answer["status"]) == (200, "ok"), answer
    for engine in ("rspamd", "spamassassin", "clamav"):
        assert answer["checks"][engine] == {"status": "ok", "detail": "ok"}, answer
