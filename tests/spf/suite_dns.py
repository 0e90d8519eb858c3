#!/usr/bin/env python3
"""Serves the RFC 7208 test suite's DNS data on loopback, one real DNS server per scenario.

    python3 tests/spf/suite_dns.py tests/spf/rfc7208-tests.yml.gz [more.yml ...]

In: suite files (YAML, optionally gzipped). Out: one JSON line on stdout, then silence:

    {"scenarios": [{"file": "...", "description": "...", "server": "127.0.0.1:PORT",
                    "tests": [{"name": "...", "helo": "...", "host": "...", "mailfrom": "...",
                               "result": ["fail", ...], "explanation": "..." | null}]}]}

Each scenario gets its own dnslib server (UDP and TCP on the same port of 127.0.0.1),
because scenarios reuse the same names with different records. The servers run until
stdin reaches end of file (the test that started us is done or died), or for at most
MAX_LIFETIME seconds, so nothing outlives the test run.

The zone data means what the suite's reference driver (pyspf's testspf.py) makes it mean:
- `SPF` records are also published as TXT when the name has no TXT record at all;
  a record whose value is `NONE` is not published.
- `TIMEOUT` (a bare entry) makes every query for the name unanswered, except for types
  whose records come before it; a record whose value is `TIMEOUT` leaves its type's
  queries unanswered. A name that does not exist and starts with `error.` is unanswered.
  "Unanswered" is literal: no reply is sent, so the resolver times out.
- CNAMEs are followed inside the zone data (with loop detection), as a recursive
  resolver would, and the chain is returned in the answer.
- UDP answers over 512 bytes are truncated (TC set), so the client retries over TCP.
Names are case-insensitive; a missing name answers NXDOMAIN, and every answer without
records carries the root's SOA (for negative caching).
"""

from __future__ import annotations

import gzip
import json
import sys
import threading

import yaml
from dnslib import AAAA, CNAME, MX, PTR, QTYPE, RCODE, RR, SOA, TXT, A, DNSError, DNSLabel, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

TTL = 60
MAX_LIFETIME = 300.0
MAX_CNAME_CHAIN = 8
TIMEOUT = "TIMEOUT"


def load_suite(path: str) -> list[dict]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]


def zone_records(name: str, entries: list) -> list:
    """The suite's records for one name, as testspf.py's getrdata() lists them."""
    records, generated, generate = [], [], True
    for entry in entries:
        if not isinstance(entry, dict):
            records.append(entry)  # the bare TIMEOUT marker
            continue
        for rtype, value in entry.items():
            if rtype in ("TXT", "SPF") and isinstance(value, str):
                value = (value,)
            if rtype == "TXT":
                generate = False
            elif rtype == "SPF" and generate:
                generated.append(("TXT", value))
            if value != ("NONE",):
                records.append((rtype, value))
    if generate:
        records.extend(generated)
    return records


def txt_strings(value) -> list[bytes]:
    """TXT character-strings, each at most 255 bytes."""
    if value == TIMEOUT:
        return []
    strings = []
    for text in value:
        data = text.encode("utf-8")
        strings.extend(data[i:i + 255] for i in range(0, len(data), 255)) if data else strings.append(b"")
    return strings or [b""]


def rdata(rtype: str, value):
    if rtype in ("TXT", "SPF"):
        return TXT(txt_strings(value))
    if rtype == "A":
        return A(value)
    if rtype == "AAAA":
        return AAAA(value)
    if rtype == "MX":
        preference, exchange = value
        return MX(DNSLabel(exchange), preference)
    if rtype == "PTR":
        return PTR(DNSLabel(value))
    if rtype == "CNAME":
        return CNAME(DNSLabel(value))
    raise ValueError(f"unsupported record type {rtype}")


class Unanswered(Exception):
    """The query must time out."""


class SuiteResolver(BaseResolver):
    def __init__(self, zonedata: dict):
        self.zone = {name.lower().rstrip("."): zone_records(name, entries or [])
                     for name, entries in (zonedata or {}).items()}

    def lookup(self, name: DNSLabel, qtype: str, seen: tuple = ()) -> tuple[list[RR], bool]:
        """Answers for (name, qtype) and whether the final name exists; raises Unanswered."""
        key = b".".join(name.label).decode("utf-8", "replace").lower()  # raw bytes, not str()'s escapes
        if key in seen or len(seen) > MAX_CNAME_CHAIN:
            return [], True  # a CNAME loop or an overlong chain: the answer is the chain so far
        records = self.zone.get(key)
        if records is None:
            if key.startswith("error."):
                raise Unanswered
            return [], False
        answers, has_type = [], False
        for record in records:
            if record == TIMEOUT:
                if not has_type:
                    raise Unanswered
                break
            rtype, value = record
            if rtype == qtype:
                has_type = True
            if value == TIMEOUT:
                if rtype == qtype:
                    raise Unanswered
                continue
            if rtype == qtype:
                answers.append(RR(name, getattr(QTYPE, qtype), rdata=rdata(rtype, value), ttl=TTL))
            elif rtype == "CNAME":
                answers.append(RR(name, QTYPE.CNAME, rdata=rdata(rtype, value), ttl=TTL))
                chased, exists = self.lookup(DNSLabel(value), qtype, seen + (key,))
                return answers + chased, exists
        return answers, True

    def resolve(self, request, handler):
        reply = request.reply()
        qname = request.q.qname
        qtype = QTYPE.get(request.q.qtype)
        try:
            answers, exists = self.lookup(qname, qtype)
        except Unanswered:
            raise DNSError("simulated timeout: no answer") from None
        for answer in answers:
            reply.add_answer(answer)
        if not exists:
            reply.header.rcode = RCODE.NXDOMAIN
        if not answers:
            reply.add_auth(RR(".", QTYPE.SOA, ttl=TTL, rdata=SOA("ns.test.", "hostmaster.test.", (1, 3600, 600, 86400, TTL))))
        return reply


class TruncatingHandler(DNSHandler):
    """UDP answers over 512 bytes become TC answers that keep the question, as real
    servers send them (dnslib's own truncation drops the question, which clients reject)."""

    def get_reply(self, data):
        if self.protocol != "udp":
            return super().get_reply(data)
        request = DNSRecord.parse(data)
        reply = self.server.resolver.resolve(request, self)
        packed = reply.pack()
        if len(packed) <= 512:
            return packed
        truncated = request.reply()
        truncated.header.tc = 1
        return truncated.pack()


QUIET = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False,
                  logf=lambda *_: None)


def serve(resolver: SuiteResolver) -> tuple[int, list[DNSServer]]:
    """UDP and TCP servers on one free port of 127.0.0.1."""
    for _ in range(50):
        udp = DNSServer(resolver, address="127.0.0.1", port=0, logger=QUIET, handler=TruncatingHandler)
        port = udp.server.server_address[1]
        try:
            tcp = DNSServer(resolver, address="127.0.0.1", port=port, tcp=True, logger=QUIET,
                            handler=TruncatingHandler)
        except OSError:
            udp.server.server_close()
            continue
        for server in (udp, tcp):
            server.start_thread()
        return port, [udp, tcp]
    raise OSError("no port free for both UDP and TCP")


def test_case(name: str, data: dict) -> dict:
    result = data["result"]
    return {
        "name": name,
        "helo": str(data.get("helo") or ""),
        "host": str(data["host"]),
        "mailfrom": str(data.get("mailfrom") or ""),
        "result": [result] if isinstance(result, str) else list(result),
        "explanation": data.get("explanation"),
    }


def scenario(path: str, doc: dict, port: int) -> dict:
    return {
        "file": path.rsplit("/", 1)[-1],
        "description": doc.get("description", ""),
        "server": f"127.0.0.1:{port}",
        "tests": [test_case(name, data) for name, data in doc["tests"].items()],
    }


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    scenarios, servers = [], []
    for path in sys.argv[1:]:
        for doc in load_suite(path):
            port, started = serve(SuiteResolver(doc.get("zonedata")))
            servers.extend(started)
            scenarios.append(scenario(path, doc, port))
    print(json.dumps({"scenarios": scenarios}), flush=True)

    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.buffer.read(), done.set()), daemon=True).start()
    done.wait(MAX_LIFETIME)
    for server in servers:
        server.stop()
        server.server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
