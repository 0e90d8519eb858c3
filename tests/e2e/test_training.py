"""Training the built-in scorer end to end (issue 11): the real binary, `postern train`
with generated eml and mbox files, the installation's counts through the API, the
configured minimum (`[scorer]`) deciding when they take part; a domain admin is refused;
and a message released from quarantine is a ham sample, a confirmed one a spam sample."""

from __future__ import annotations

import json
import subprocess

from conftest import postern_bin, wait_for
from test_accounts import Api
from test_accounts import IP_CLIENT, smtp
from test_limits import alice, message, transaction
from test_quarantine import sink, start, token  # noqa: F401 (sink is a fixture)

CONFIG = "[scorer]\nmin_ham = 2\nmin_spam = 4\n"


def generated(i: int, words: str) -> str:
    return (f"From: sender{i}@example.com\r\nTo: someone{i}@remote.example\r\n"
            f"Subject: sample {i}\r\nMessage-ID: <sample{i}@example.com>\r\n\r\n{words} {i}\r\n")


def mbox(messages: list[str]) -> str:
    return "".join(f"From sender@example.com Sat Jan  3 01:05:34 1996\r\n{m}\r\n" for m in messages)


def train(server, *args: str, data_dir=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(postern_bin()), "train", *args, "--data-dir", str(data_dir or server.data_dir)],
                          capture_output=True, text=True, timeout=60)


def totals(api: Api) -> tuple[int, int, bool]:
    i = api.ok("GET", "/training")["installation"]
    return i["ham"], i["spam"], i["in_force"]


def test_postern_train_learns_eml_and_mbox_files(postern, tmp_path):
    server = postern(config=CONFIG)
    api = Api(server)
    start_state = api.ok("GET", "/training")["installation"]
    assert start_state == {"ham": 0, "spam": 0, "minimum": {"ham": 2, "spam": 4}, "in_force": False}

    spam_words = "Cheap replica watches, act now, limited offer, click here"
    box = tmp_path / "spam.mbox"
    box.write_text(mbox([generated(i, spam_words) for i in range(3)]))
    eml = tmp_path / "one.eml"
    eml.write_text(generated(10, spam_words))
    done = train(server, "--spam", str(box), str(eml))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{box}: 3 message(s): 3 learned as spam, 0 already known", done.stdout
    assert lines[1] == f"{eml}: 1 message(s): 1 learned as spam, 0 already known", done.stdout
    assert lines[2] == "installation: 0 ham, 4 spam (minimum 2 and 4): until then the shipped model decides"
    assert totals(api) == (0, 4, False)

    # The same file again: known, nothing changes.
    again = train(server, "--spam", str(box), "--json")
    assert again.returncode == 0, again.stderr
    answer = json.loads(again.stdout)[0]["answer"]
    assert (answer["learned"], answer["known"]) == (0, 3)
    assert totals(api) == (0, 4, False)

    ham = tmp_path / "ham.mbox"
    ham.write_text(mbox([generated(100 + i, "the quarterly report is attached, see you at the meeting")
                         for i in range(2)]))
    done = train(server, "--ham", str(ham))
    assert done.returncode == 0, done.stderr
    assert "2 ham, 4 spam (minimum 2 and 4): the installation's samples take part" in done.stdout
    assert totals(api) == (2, 4, True)

    # A restart keeps the samples.
    server.stop()
    server.start()
    assert totals(Api(server)) == (2, 4, True)


def test_a_domain_admin_cannot_train(postern, tmp_path):
    server = postern(config=CONFIG)
    api = Api(server)
    api.domain("example.com")
    admin = token(api, "admin of example", ["example.com"])
    eml = tmp_path / "one.eml"
    eml.write_text(generated(1, "hello"))
    refused = subprocess.run([str(postern_bin()), "train", "--spam", str(eml), "--url", admin.base.removesuffix(
        "/api/v1"), "--token", admin.token], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert "403" in refused.stderr and "superadmin" in refused.stderr, refused.stderr
    assert admin.call("GET", "/training")[0] == 403
    bad = train(server, "--ham", str(tmp_path / "missing.eml"))
    assert bad.returncode != 0 and "missing.eml" in bad.stderr
    assert totals(api) == (0, 0, False)


def test_a_release_is_a_ham_sample_and_a_confirmation_a_spam_sample(postern, sink):  # noqa: F811
    server, api = start(postern, sink)
    # GTUBE from an authenticated account (reaction reject) and from the ip account
    # (accept); two different messages, so two samples.
    with alice(server) as c:
        assert transaction(c, "alice@example.com", ["r@remote.example"], message("to confirm", spam=True))[0] == 550
    with smtp(server, IP_CLIENT) as c:
        assert transaction(c, "app@example.com", ["r@remote.example"], message("to release", spam=True))[0] == 250
    assert totals(api) == (0, 0, False)
    held = {m["reaction"]: m for m in api.ok("GET", "/quarantine")["items"]}
    api.ok("POST", f"/quarantine/{held['accept']['id']}/release")
    wait_for(lambda: totals(api) == (1, 0, False), "the release counted as ham")
    api.ok("POST", f"/quarantine/{held['reject']['id']}/confirm")
    wait_for(lambda: totals(api) == (1, 1, False), "the confirmation counted as spam")
    # Confirming again is the same sample: nothing changes.
    api.call("POST", f"/quarantine/{held['reject']['id']}/confirm")
    assert totals(api) == (1, 1, False)
