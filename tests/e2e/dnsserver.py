"""A small authoritative DNS server on loopback for the direct-delivery tests (dnslib).

    dns = DnsServer({
        "pref.test": {"MX": [(20, "mx2.pref.test"), (10, "mx1.pref.test")]},
        "mx1.pref.test": {"A": ["127.0.0.2"]},
        "nullmx.test": {"MX": [(0, ".")]},
        "spf.test": {"TXT": ["v=spf1 ip4:127.0.0.2 -all"]},
        "2.0.0.127.in-addr.arpa": {"PTR": ["mx1.pref.test"]},
    }).start()
    ... dns.port ...   # delivery.dns_servers = ["127.0.0.1:PORT"]
    dns.stop()

A TXT value is one string, or a list of strings: one record made of several
character-strings (each at most 255 octets), as long DKIM records are published. Records
can be changed while the server runs: `dns.publish(name, "TXT", [...])`, `dns.remove(name)`.

A name in the table answers its records of the asked type, or no data (NOERROR with an SOA
in the authority section) when it has none of that type; a name not in the table answers
NXDOMAIN; a name whose table has "SERVFAIL": True answers SERVFAIL. Reverse names
(`ptr_name("127.0.0.5")` -> "5.0.0.127.in-addr.arpa") answer PTR records like any other.
Every question is recorded in `queries` as (name without the final dot, type).
Names are case-insensitive. UDP only (answers are small, never truncated).
"""

from __future__ import annotations

import threading

from dnslib import AAAA, MX, PTR, QTYPE, RCODE, RR, SOA, TXT, A, DNSLabel
from dnslib.server import BaseResolver, DNSLogger, DNSServer

TTL = 60


class _Resolver(BaseResolver):
    def __init__(self, zones: dict[str, dict]):
        self.zones = {name.lower().rstrip("."): records for name, records in zones.items()}
        self.queries: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def resolve(self, request, handler):
        reply = request.reply()
        qname = str(request.q.qname).lower().rstrip(".")
        qtype = QTYPE[request.q.qtype]
        with self.lock:
            self.queries.append((qname, qtype))
        with self.lock:
            zone = self.zones.get(qname)
        if zone is not None and zone.get("SERVFAIL"):
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        if zone is None:
            reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(self._soa(qname))
            return reply
        for value in zone.get(qtype, []):
            if qtype == "MX":
                preference, host = value
                rdata = MX(DNSLabel(host), preference)
            elif qtype == "A":
                rdata = A(value)
            elif qtype == "AAAA":
                rdata = AAAA(value)
            elif qtype == "TXT":
                rdata = TXT(value)
            elif qtype == "PTR":
                rdata = PTR(DNSLabel(value))
            else:
                continue
            reply.add_answer(RR(request.q.qname, request.q.qtype, rdata=rdata, ttl=TTL))
        if not reply.rr:
            reply.add_auth(self._soa(qname))
        return reply

    @staticmethod
    def _soa(qname: str) -> RR:
        zone = qname.rsplit(".", 1)[-1] + "."
        return RR(zone, QTYPE.SOA, ttl=TTL,
                  rdata=SOA("ns." + zone, "hostmaster." + zone, (1, 3600, 600, 86400, TTL)))


def ptr_name(ip: str) -> str:
    """The in-addr.arpa name of an IPv4 address, for PTR records in the table."""
    return ".".join(reversed(ip.split("."))) + ".in-addr.arpa"


class DnsServer:
    def __init__(self, zones: dict[str, dict], host: str = "127.0.0.1"):
        self.resolver = _Resolver(zones)
        self.host = host
        self.port = 0
        self._server: DNSServer | None = None

    def start(self) -> "DnsServer":
        quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False,
                          logf=lambda *_: None)
        self._server = DNSServer(self.resolver, address=self.host, port=0, logger=quiet)
        self.port = self._server.server.server_address[1]
        self._server.start_thread()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server.server.server_close()
            self._server = None

    def publish(self, name: str, rtype: str, values: list) -> None:
        """Sets the records of one type at `name` (replacing those of that type)."""
        with self.resolver.lock:
            self.resolver.zones.setdefault(name.lower().rstrip("."), {})[rtype] = list(values)

    def remove(self, name: str) -> None:
        """The name no longer exists (NXDOMAIN)."""
        with self.resolver.lock:
            self.resolver.zones.pop(name.lower().rstrip("."), None)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def queries(self) -> list[tuple[str, str]]:
        with self.resolver.lock:
            return list(self.resolver.queries)
