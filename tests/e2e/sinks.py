"""Receiving SMTP servers ("sinks") for the delivery tests, on loopback only.

A `Sink` is an aiosmtpd server in its own thread and event loop. It records everything a
test wants to check afterwards:

- `lines`: every line the client sent, with whether the connection was TLS at that moment
  (so a test can prove that no AUTH, MAIL or message was ever sent in plaintext);
- `messages`: every message it accepted (sender, recipients, bytes, TLS, AUTH user);
- `rcpts` and `auth_attempts`: every RCPT and AUTH it was given, with the answer.

Its behaviour is scripted: `rcpt_reply(address, n)` and `data_reply(n)` return the reply to
give (or None for the default `250`), where `n` counts the calls so far (1 = first); both
can be replaced while the sink runs. `dsn=False` (the default): the sink does not offer the
DSN extension, like many servers (`dsn=True`: it does, and accepts NOTIFY, ORCPT, RET
and ENVID); `pipelining=True` makes it announce PIPELINING (aiosmtpd
reads commands one after the other from its stream, so pipelined clients work).

`idle_timeout`: seconds a connection may wait for a command before the sink says `421` and
closes it, as Postfix's smtpd does after `smtpd_timeout`. `grouped[i]` tells whether line
`i` arrived together with the next one (a pipelined group).

`bind_same_port()` starts several sinks on different 127.0.0.x addresses with one port, as
direct MX delivery needs (one `delivery.smtp_port` for every MX host).
"""

from __future__ import annotations

import asyncio
import datetime
import email
import email.policy
import ipaddress
import logging
import socket
import ssl
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

STOP_TIMEOUT = 5.0

# aiosmtpd logs every command at INFO and warns about its own deprecated attributes.
logging.getLogger("mail.log").setLevel(logging.ERROR)


@dataclass
class TlsFiles:
    ca: Path  # the CA certificate a client trusts (delivery.relay_hosts.tls_ca_file)
    cert: Path  # the server's certificate (signed by the CA)
    key: Path


def make_certificate(directory: Path, names: tuple[str, ...] = ("sink.test.example",),
                     ips: tuple[str, ...] = ("127.0.0.1",)) -> TlsFiles:
    """A test CA and a server certificate it signed (EC P-256), valid for `names` and `ips`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Postern test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return files


def server_tls_context(files: TlsFiles) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(files.cert), str(files.key))
    return ctx


@dataclass
class Received:
    """One message a sink accepted."""

    mail_from: str  # "<>" for the null sender
    rcpt_tos: list[str]
    mail_options: list[str]
    rcpt_options: list[str]
    data: bytes
    tls: bool
    auth_user: str | None
    at: float = field(default_factory=time.monotonic)

    def parsed(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)


class _Handler:
    def __init__(self, sink: "Sink"):
        self.sink = sink

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.sink.pipelining:
            responses.insert(-1, "250-PIPELINING")
        if self.sink.dsn:
            responses.insert(-1, "250-DSN")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        sink = self.sink
        with sink.lock:
            sink.rcpt_calls += 1
            n = sink.rcpt_calls
        reply = sink.rcpt_reply(address, n) if sink.rcpt_reply else None
        reply = reply or "250 2.1.5 Ok"
        with sink.lock:
            sink.rcpts.append((address, reply))
        if reply.startswith("2"):
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        return reply

    async def handle_DATA(self, server, session, envelope):
        sink = self.sink
        with sink.lock:
            sink.data_calls += 1
            n = sink.data_calls
        reply = sink.data_reply(n) if sink.data_reply else None
        reply = reply or "250 2.0.0 Ok: queued"
        if reply.startswith("2"):
            auth = session.auth_data
            user = auth.login.decode() if isinstance(auth, LoginPassword) else None
            message = Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                mail_options=list(envelope.mail_options),
                rcpt_options=list(envelope.rcpt_options),
                data=bytes(envelope.original_content or envelope.content or b""),
                tls=_is_tls(server),
                auth_user=user,
            )
            with sink.cond:
                sink.messages.append(message)
                sink.cond.notify_all()
        return reply


def _is_tls(server: SMTP) -> bool:
    """After STARTTLS, or on an implicit-TLS listener (which aiosmtpd does not track)."""
    if server._tls_protocol is not None:
        return True
    return server.transport is not None and server.transport.get_extra_info("ssl_object") is not None


class _RecordingSMTP(SMTP):
    """aiosmtpd's server, recording every line the client sends (with the TLS state)."""

    async def _handle_client(self):
        reader = self._reader
        original = reader.readuntil
        sink: Sink = self.event_handler.sink

        async def readuntil(*args, **kwargs):
            line = await original(*args, **kwargs)
            with sink.lock:
                sink.lines.append((_is_tls(self), bytes(line)))
                # More bytes already received: the client sent this line and the next in
                # one group (PIPELINING), without waiting for a reply in between.
                sink.grouped.append(len(reader._buffer) > 0)
            return line

        reader.readuntil = readuntil
        with sink.lock:
            sink.connections += 1
        await super()._handle_client()

    def connection_lost(self, exc):
        sink: Sink = self.event_handler.sink
        with sink.cond:
            sink.closed += 1
            sink.cond.notify_all()
        super().connection_lost(exc)

    # aiosmtpd refuses every MAIL/RCPT parameter it does not know; a sink that offers DSN
    # takes the DSN parameters off first (they stay visible in `lines`).
    async def smtp_MAIL(self, arg):
        if self.event_handler.sink.dsn:
            arg = _strip_params(arg, ("RET=", "ENVID="))
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg):
        if self.event_handler.sink.dsn:
            arg = _strip_params(arg, ("NOTIFY=", "ORCPT="))
        await super().smtp_RCPT(arg)


def _strip_params(arg: str | None, prefixes: tuple[str, ...]) -> str | None:
    if not arg:
        return arg
    head, *params = arg.split(" ")
    return " ".join([head] + [p for p in params if not p.upper().startswith(prefixes)])


class Sink:
    def __init__(
        self,
        name: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        require_starttls: bool = False,
        users: dict[str, str] | None = None,
        auth_required: bool = False,
        pipelining: bool = False,
        dsn: bool = False,
        rcpt_reply: Callable[[str, int], str | None] | None = None,
        data_reply: Callable[[int], str | None] | None = None,
        idle_timeout: float = 30,
    ):
        self.name = name
        self.host = host
        self.port = port
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.require_starttls = require_starttls
        self.users = users
        self.auth_required = auth_required
        self.pipelining = pipelining
        self.dsn = dsn
        self.rcpt_reply = rcpt_reply
        self.data_reply = data_reply
        self.idle_timeout = idle_timeout
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.messages: list[Received] = []
        self.lines: list[tuple[bool, bytes]] = []
        self.grouped: list[bool] = []  # per line: the next line had already arrived with it
        self.rcpts: list[tuple[str, str]] = []
        self.auth_attempts: list[tuple[bool, str, bool]] = []  # (tls, user, accepted)
        self.connections = 0
        self.closed = 0  # connections that ended (either side closed)
        self.rcpt_calls = 0
        self.data_calls = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def _authenticator(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        ok = self.users is not None and self.users.get(user) == password
        with self.lock:
            self.auth_attempts.append((_is_tls(server), user, ok))
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def _factory(self) -> SMTP:
        kwargs = {}
        if self.users is not None:
            kwargs["authenticator"] = self._authenticator
        with warnings.catch_warnings():
            # "Requiring AUTH while not requiring TLS": on implicit TLS it is all TLS.
            warnings.simplefilter("ignore", UserWarning)
            return self._make_smtp(kwargs)

    def _make_smtp(self, kwargs: dict) -> SMTP:
        return _RecordingSMTP(
            _Handler(self),
            hostname=f"{self.name}.sink.test",
            tls_context=self.starttls,
            require_starttls=self.require_starttls,
            auth_required=self.auth_required,
            # aiosmtpd only knows STARTTLS: on an implicit-TLS listener every byte is TLS.
            auth_require_tls=self.implicit_tls is None,
            # Idle this long, it says 421 and closes (aiosmtpd's timeout, like smtpd_timeout).
            timeout=self.idle_timeout,
            loop=self._loop,
            **kwargs,
        )

    def start(self) -> "Sink":
        ready = threading.Event()
        failure: list[BaseException] = []

        def run():
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    loop.create_server(self._factory, self.host, self.port, ssl=self.implicit_tls,
                                       reuse_address=True)
                )
            except BaseException as e:  # noqa: BLE001 - reported to the starting thread
                failure.append(e)
                ready.set()
                loop.close()
                return
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            try:
                loop.run_forever()
            finally:
                self._server.close()
                try:
                    loop.run_until_complete(asyncio.wait_for(self._server.wait_closed(), 2))
                except (asyncio.TimeoutError, Exception):  # noqa: BLE001
                    pass
                for task in asyncio.all_tasks(loop):
                    task.cancel()
                loop.run_until_complete(asyncio.sleep(0))
                loop.close()

        self._thread = threading.Thread(target=run, name=f"sink-{self.name}", daemon=True)
        self._thread.start()
        if not ready.wait(STOP_TIMEOUT):
            raise RuntimeError(f"sink {self.name} did not start")
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(STOP_TIMEOUT)

    # -- what it saw --------------------------------------------------------------------

    def wait_messages(self, n: int, timeout: float = 15.0) -> list[Received]:
        """Waits until at least `n` messages arrived; returns all of them."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"sink {self.name}: expected {n} message(s) within {timeout}s, got "
                        f"{len(self.messages)}; RCPTs {self.rcpts}; lines {self.command_lines()}"
                    )
                self.cond.wait(min(left, 0.1))
            return list(self.messages)

    def command_lines(self) -> list[tuple[bool, str]]:
        """Lines that are SMTP commands (message content left out), with the TLS state."""
        out, in_data = [], False
        with self.lock:
            lines = list(self.lines)
        for tls, raw in lines:
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            if in_data:
                if text == ".":
                    in_data = False
                continue
            out.append((tls, text))
            if text.upper() == "DATA":
                in_data = True
        return out

    def __repr__(self) -> str:
        return f"Sink({self.name} {self.host}:{self.port})"


def free_port_on(hosts: list[str]) -> int:
    """A TCP port that is free on every one of `hosts` right now."""
    for _ in range(50):
        first = socket.socket()
        try:
            first.bind((hosts[0], 0))
            port = first.getsockname()[1]
            others = []
            try:
                for host in hosts[1:]:
                    s = socket.socket()
                    others.append(s)
                    s.bind((host, port))
            except OSError:
                continue
            finally:
                for s in others:
                    s.close()
            return port
        finally:
            first.close()
    raise RuntimeError(f"no common free port on {hosts}")


def bind_same_port(specs: list[tuple[str, str, dict]]) -> list[Sink]:
    """Starts one sink per (name, host, kwargs) on a common port; retries on a lost race."""
    hosts = [host for _, host, _ in specs]
    for _ in range(10):
        port = free_port_on(hosts)
        started: list[Sink] = []
        try:
            for name, host, kwargs in specs:
                started.append(Sink(name, host, port, **kwargs).start())
            return started
        except OSError:
            for s in started:
                s.stop()
    raise RuntimeError(f"could not start sinks on one port on {hosts}")
