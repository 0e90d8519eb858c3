#!/usr/bin/env python3
"""Scores the SpamAssassin corpus groups easy-ham-1 and spam-1 with the anchor engines
(spamd and Rspamd on loopback, started by bench/corpus.sh) and prints the share of spam
caught and of ham flagged by each.

spamd: `CHECK SPAMC/1.5`, its own verdict (required_score 5.0, default rules, no Bayes,
no network). Rspamd: `POST /checkv2`, flagged when its action is `add header`,
`rewrite subject` or `reject` (the packaged thresholds: 6 and 15), with the `reject` share
reported too. The engines are not trained on the corpus, so every message is scored once
(the scorer's own figures come from 10-fold cross-validation, `postern-train cv`).

Usage: bench/corpus.py --corpus DIR --spamd PORT --rspamd PORT [--limit N] [--out FILE]
"""
import argparse
import concurrent.futures
import json
import os
import socket
import sys
import time

GROUPS = ("easy-ham-1", "spam-1")  # never any other group


def load(corpus, group, limit):
    directory = os.path.join(corpus, group)
    names = sorted(n for n in os.listdir(directory) if n.endswith(".json"))
    if limit:
        names = names[:limit]
    out = []
    for name in names:
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            out.append(json.load(f)["text"].encode("utf-8", "surrogateescape"))
    return out


def recv_all(sock, limit=1 << 20):
    data = b""
    while len(data) < limit:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def spamd(port, message):
    with socket.create_connection(("127.0.0.1", port), 30) as s:
        s.settimeout(120)
        s.sendall(b"CHECK SPAMC/1.5\r\nUser: postern-bench\r\nContent-length: %d\r\n\r\n" % len(message) + message)
        s.shutdown(socket.SHUT_WR)
        reply = recv_all(s)
    for line in reply.split(b"\r\n"):
        if line.startswith(b"Spam:"):
            verdict, _, score = line[5:].partition(b";")
            return verdict.strip() == b"True", float(score.split(b"/")[0])
    raise RuntimeError("garbled spamd reply: %r" % reply[:200])


def rspamd(port, message):
    head = (
        "POST /checkv2 HTTP/1.0\r\nContent-Length: %d\r\nIP: 127.0.0.1\r\nUser: postern-bench\r\n"
        "Helo: bench.localhost\r\n\r\n" % len(message)
    ).encode()
    with socket.create_connection(("127.0.0.1", port), 30) as s:
        s.settimeout(120)
        s.sendall(head + message)
        reply = recv_all(s, 4 << 20)
    _, _, body = reply.partition(b"\r\n\r\n")
    result = json.loads(body)
    return result["action"], float(result["score"])


def run(engine, messages, workers):
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(engine, messages))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--corpus", required=True)
    p.add_argument("--spamd", type=int)
    p.add_argument("--rspamd", type=int)
    p.add_argument("--limit", type=int, default=0, help="messages per group (0: all)")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    ham, spam = (load(args.corpus, g, args.limit) for g in GROUPS)
    print(f"corpus: {len(ham)} ham (easy-ham-1), {len(spam)} spam (spam-1)")
    if args.spamd:
        started = time.time()
        h = run(lambda m: spamd(args.spamd, m), ham, args.workers)
        s = run(lambda m: spamd(args.spamd, m), spam, args.workers)
        report("spamd (SpamAssassin, default rules, no Bayes, no network)", [v for v, _ in h], [v for v, _ in s], started)
    if args.rspamd:
        started = time.time()
        h = run(lambda m: rspamd(args.rspamd, m), ham, args.workers)
        s = run(lambda m: rspamd(args.rspamd, m), spam, args.workers)
        flagged = ("add header", "rewrite subject", "reject")
        report("rspamd (packaged rules, network checks off; add header or worse)",
               [a in flagged for a, _ in h], [a in flagged for a, _ in s], started)
        report("rspamd (reject only)", [a == "reject" for a, _ in h], [a == "reject" for a, _ in s], started)


def report(name, ham_flags, spam_flags, started):
    caught, flagged = sum(spam_flags), sum(ham_flags)
    print(
        f"{name}: spam caught {caught}/{len(spam_flags)} = {100 * caught / len(spam_flags):.2f}%, "
        f"ham flagged {flagged}/{len(ham_flags)} = {100 * flagged / len(ham_flags):.2f}% "
        f"({time.time() - started:.0f}s)",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
