"""Delivery edge cases an operator would otherwise trip over:
- a server that greets with 5xx is skipped, and the mail is deferred (not bounced) when no
  other server is left — Postfix's smtp_skip_5xx_greeting default;
- a message flagged SMTPUTF8 whose addresses and headers are ASCII still goes to a server
  without SMTPUTF8 (RFC 6531 §3.2); one that really needs it bounces with 5.6.7."""

from __future__ import annotations

import smtplib
import socket
import threading

from conftest import queued_id
from test_delivery import (  # noqa: F401  (sinks is a fixture)
    SENDER, delivery_config, dsn_events, results, sinks, wait_deliveries, relay,
)


class RudeServer:
    """Greets every connection with a 5xx and closes it."""

    def __init__(self, greeting: bytes = b"554 5.7.1 rude.test.example go away\r\n"):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.greeting = greeting
        self.connections = 0
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop_flag.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            try:
                conn.sendall(self.greeting)
                conn.settimeout(1)
                conn.recv(1024)
            except OSError:
                pass
            finally:
                conn.close()

    def stop(self):
        self.stop_flag.set()
        self.thread.join(timeout=2)
        self.sock.close()


def send(server, sender: str, rcpt: str, subject: str, smtputf8: bool) -> str:
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=10) as client:
        client.ehlo("client.test.example")
        client.command_encoding = "utf-8"
        code, text = client.mail(sender, ["SMTPUTF8"] if smtputf8 else [])
        assert code == 250, (code, text)
        code, text = client.rcpt(rcpt)
        assert code == 250, (code, text)
        code, text = client.data(f"From: <{SENDER}>\r\nSubject: {subject}\r\n\r\nbody\r\n".encode())
        return queued_id(f"{code} {text.decode()}")


def test_5xx_greeting_defers_instead_of_bouncing(postern):
    rude = RudeServer()
    try:
        config = delivery_config(default_route="rude",
                                 relays=[{"name": "rude", "host": "127.0.0.1", "port": rude.port, "tls": "none"}])
        server = postern(config=config)
        qid = send(server, SENDER, "bob@dest.test", "rude greeting", smtputf8=False)
        events = wait_deliveries(server, lambda ev: len(ev) >= 2, qid)
        assert [e["result"] for e in events[:2]] == ["deferred", "deferred"], events
        assert "go away" in events[0]["reply"]
        assert dsn_events(server) == []
        assert qid in server.spool_names("queue")
        assert rude.connections >= 2
    finally:
        rude.stop()


def test_smtputf8_flag_with_ascii_message_reaches_server_without_smtputf8(postern, sinks):
    sink = sinks("ascii-only")  # aiosmtpd does not offer SMTPUTF8 unless asked
    server = postern(config=delivery_config(default_route="plain", relays=[relay("plain", sink)]))
    qid = send(server, SENDER, "bob@dest.test", "flag only", smtputf8=True)
    [got] = sink.wait_messages(1)
    assert b"Subject: flag only" in got.data
    wait_deliveries(server, lambda ev: results(ev) == [("bob@dest.test", "delivered", 1)], qid)


def test_smtputf8_address_bounces_at_server_without_smtputf8(postern, sinks):
    sink = sinks("ascii-only")
    server = postern(config=delivery_config(default_route="plain", relays=[relay("plain", sink)]))
    qid = send(server, SENDER, "jörg@dest.test", "needs utf8", smtputf8=True)
    events = wait_deliveries(server, lambda ev: len(ev) >= 1, qid)
    assert events[0]["result"] == "bounced" and events[0]["status"] == "5.6.7", events
    # The only message the sink gets is the DSN to the sender (same default route).
    [dsn] = sink.wait_messages(1)
    assert dsn.mail_from == "<>" and dsn.rcpt_tos == [SENDER]
    assert b"Status: 5.6.7" in dsn.data and "jörg@dest.test".encode() in dsn.data
