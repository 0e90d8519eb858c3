"""The built-in scorer end to end (issue 11): the real binary, real smtplib clients, a real
receiving sink, real messages of the SpamAssassin corpus (groups spam-1 and easy-ham-1 only,
fetched by scripts/fetch-corpus.sh when missing).

Spam from spam-1 sent by authenticated accounts is quarantined with each reaction (`reject`:
550 naming the rules that decided; `accept`: 250) and none of it reaches the sink; ham from
easy-ham-1 sent by the same accounts passes and reaches the sink byte for byte.

The messages are chosen deterministically: by file name, skipping those with a line over
998 octets (Postern refuses them, 550 5.6.0), and for spam the first ones the shipped model
scores 5 or more without account rules (`postern-train score`), so that a future model that
misses one spam moves the choice rather than breaking the quarantine test. Ham is taken as
it comes: any of them flagged fails the test.
"""

from __future__ import annotations

import json
import re
import smtplib
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, postern_bin
from sinks import Sink
from test_accounts import PASSWORD, UNTRUSTED, Api, smtp

CORPUS = REPO / "corpus" / "spam-assassin"
COUNT = 4  # messages of each kind per account
LONGEST_LINE = 998  # octets, without CRLF (RFC 5322)
# The rule names the scorer gives (its bands and rules), joined with commas, at most three.
RULES_RE = re.compile(r"^[A-Z0-9_]+(,[A-Z0-9_]+){0,2}$")
REJECTED_RE = re.compile(rb"^5\.7\.1 Error: message content rejected as spam \(([^)]*)\)$")


def corpus_dir() -> Path:
    """The two allowed groups, fetched once (the script is fast and idempotent when present)."""
    if not ((CORPUS / "easy-ham-1").is_dir() and (CORPUS / "spam-1").is_dir()):
        done = subprocess.run([str(REPO / "scripts" / "fetch-corpus.sh")], capture_output=True, text=True,
                              timeout=600)
        if done.returncode != 0:
            pytest.fail(f"scripts/fetch-corpus.sh failed (it needs npm): {done.stderr}", pytrace=False)
    return CORPUS


def as_sent(path: Path) -> bytes | None:
    """A corpus message with CRLF line ends, or None when a line is longer than SMTP allows."""
    text = json.loads(path.read_text(encoding="utf-8"))["text"].encode("utf-8", "surrogateescape")
    lines = text.replace(b"\r\n", b"\n").split(b"\n")
    if any(len(line) > LONGEST_LINE for line in lines):
        return None
    message = b"\r\n".join(lines)
    return message if message.endswith(b"\r\n") else message + b"\r\n"


def shipped_scores(paths: list[Path]) -> dict[Path, float]:
    """The shipped model's score of each file (`postern-train score`, no account rules)."""
    train = postern_bin().parent / "postern-train"
    if not train.is_file():
        pytest.fail(f"{train} not found: build it with `cargo build --workspace --bins`", pytrace=False)
    done = subprocess.run([str(train), "score", *map(str, paths)], capture_output=True, text=True, timeout=120,
                          check=True)
    scores = {}
    for line in done.stdout.splitlines():
        score, _rule, name = line.split(" ", 2)
        scores[Path(name)] = float(score)
    assert len(scores) == len(paths), done.stdout
    return scores


def pick(group: str, count: int, spam: bool) -> list[tuple[str, bytes]]:
    """The first `count` messages of a group by name that can be sent (and, for spam, that the
    shipped model flags), as (file name, bytes)."""
    paths = sorted((corpus_dir() / group).glob("*.json"))
    sendable = [(p, m) for p in paths[: count * 10] if (m := as_sent(p)) is not None]
    if spam:
        scores = shipped_scores([p for p, _ in sendable])
        sendable = [(p, m) for p, m in sendable if scores[p] >= 5.0]
    assert len(sendable) >= count, f"{group}: only {len(sendable)} usable messages"
    return [(p.name, m) for p, m in sendable[:count]]


@pytest.fixture(scope="module")
def messages() -> dict[str, list[tuple[str, bytes]]]:
    return {"spam": pick("spam-1", 2 * COUNT, spam=True), "ham": pick("easy-ham-1", 2 * COUNT, spam=False)}


@pytest.fixture
def sink():
    s = Sink("scorer-sink").start()
    yield s
    s.stop()


def send(server, account: str, message: bytes) -> tuple[int, bytes]:
    """One authenticated transaction over STARTTLS; DATA's reply (or the first refusal)."""
    with smtp(server, tls=True) as c:
        c.login(account, PASSWORD)
        options = ["BODY=8BITMIME"] if any(b > 0x7F for b in message) else []
        code, text = c.mail(account, options)
        if code != 250:
            return code, text
        code, text = c.rcpt("r@remote.example")
        if code != 250:
            return code, text
        return c.data(message)


def test_corpus_spam_is_quarantined_with_each_reaction_and_ham_reaches_the_sink(postern, sink, messages):
    server = postern(extra=UNTRUSTED + ["--relay-host", f"{sink.host}:{sink.port}"])
    api = Api(server)
    api.domain("example.com")
    accounts = {"reject": "alice@example.com", "accept": "bob@example.com"}
    for reaction, name in accounts.items():
        api.account("example.com", "user", name, PASSWORD, settings={"quarantine_reaction": reaction})

    spam = {"reject": messages["spam"][:COUNT], "accept": messages["spam"][COUNT:]}
    rejected_rules = {}
    accepted_ids = {}
    for name, message in spam["reject"]:
        code, text = send(server, accounts["reject"], message)
        named = REJECTED_RE.match(text)
        assert code == 550 and named, (name, code, text)
        rejected_rules[name] = named.group(1).decode()
        assert RULES_RE.match(rejected_rules[name]) and "BAYES_" in rejected_rules[name], rejected_rules
    for name, message in spam["accept"]:
        code, text = send(server, accounts["accept"], message)
        assert code == 250, (name, code, text)
        accepted_ids[name] = text.decode().rsplit(" ", 1)[-1]

    # Ham from both accounts goes through the same route: it reaches the sink, and marks the
    # point after which no spam can still be on its way.
    ham = messages["ham"]
    for i, (name, message) in enumerate(ham):
        code, text = send(server, accounts["reject" if i % 2 == 0 else "accept"], message)
        assert code == 250, (name, code, text)
    sink.wait_messages(len(ham))
    time.sleep(1)
    received = [m.data for m in sink.messages]
    assert len(received) == len(ham), "only the ham reached the sink"
    for name, message in ham:
        assert sum(data.endswith(message) for data in received) == 1, f"{name} delivered once, unchanged"

    held = api.ok("GET", "/quarantine?limit=100")
    assert held["total"] == 2 * COUNT, held
    by_reaction: dict[str, list[dict]] = {}
    for item in held["items"]:
        by_reaction.setdefault(item["reaction"], []).append(item)
        assert item["state"] == "held" and item["domain"] == "example.com", item
        assert RULES_RE.match(item["rule"]), item
    assert sorted(i["account"] for i in by_reaction["reject"]) == [accounts["reject"]] * COUNT
    assert sorted(i["rule"] for i in by_reaction["reject"]) == sorted(rejected_rules.values())
    assert sorted(i["account"] for i in by_reaction["accept"]) == [accounts["accept"]] * COUNT
    assert sorted(i["queue_id"] for i in by_reaction["accept"]) == sorted(accepted_ids.values())
    for queue_id in accepted_ids.values():
        assert (server.data_dir / "quarantine" / "held" / queue_id).is_file()

    # The verdict trace names the scorer and keeps its score.
    shown = api.ok("GET", f"/quarantine/{by_reaction['accept'][0]['id']}")
    scorer = [c for c in shown["checks"] if c["engine"] == "scorer"]
    assert len(scorer) == 1 and scorer[0]["result"] == "spam" and scorer[0]["score"] >= 5.0, shown["checks"]
    assert scorer[0]["rule"] == by_reaction["accept"][0]["rule"], shown["checks"]
