"""Shared fixtures for Postern's end-to-end tests.

The tests drive the real binary over loopback. Nothing is built here: the binary is taken
from $POSTERN_BIN, or ./target/debug/postern relative to the repository root (build it with
`cargo build -p postern`).

`postern` (a factory fixture) starts a server on port 0 in a fresh data directory and
returns a `Server`: its ports (parsed from the `listening:` lines), its data directory, and
helpers to read the spool (with full verification of the file format), query the event
store, stop it with SIGTERM (asserting exit code 0) or kill it with SIGKILL. Every process
started through the fixture is killed at teardown, whatever the test did.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import ssl
import subprocess
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HOSTNAME = "mx.test.example"
START_TIMEOUT = 15.0

QUEUED_RE = re.compile(r"^250 2\.0\.0 Ok: queued as ([0-9A-F]{20})$")


def postern_bin() -> Path:
    path = Path(os.environ.get("POSTERN_BIN", REPO / "target" / "debug" / "postern"))
    if not path.is_absolute():
        path = REPO / path
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"postern binary not found at {path}: build it with `cargo build -p postern` "
            "in the repository root, or set POSTERN_BIN",
            pytrace=False,
        )
    return path


# --------------------------------------------------------------------------------------
# Spool files


@dataclass
class SpoolFile:
    queue_id: str
    envelope: dict
    message: bytes
    path: Path  # the journal segment that holds the record
    offset: int = 0  # where the record starts in it
    length: int = 0  # the record's octets, header included


class SpoolFormatError(AssertionError):
    pass


SEGMENT_MAGIC = b"POSTERN-JOURNAL1"
RECORD_MAGIC = b"PSJ1"
SEGMENT_HEADER = 32
RECORD_HEADER = 44


def _record_header(data: bytes, off: int, salt: int):
    """(kind, queue id, envelope length, message length, body crc) of a valid record
    header at `off` whose body fits in `data`, else None (crates/postern-queue/src/journal.rs)."""
    h = data[off : off + RECORD_HEADER]
    if len(h) < RECORD_HEADER or h[:4] != RECORD_MAGIC:
        return None
    if zlib.crc32(h[:40], salt) & 0xFFFFFFFF != int.from_bytes(h[40:44], "little"):
        return None
    kind, qid = h[4], h[8:28].decode("ascii", "replace")
    env_len, msg_len = int.from_bytes(h[28:32], "little"), int.from_bytes(h[32:36], "little")
    if kind not in (1, 2, 3) or off + RECORD_HEADER + env_len + msg_len > len(data):
        return None
    return kind, qid, env_len, msg_len, int.from_bytes(h[36:40], "little")


def scan_journal(data_dir: Path) -> tuple[dict[str, SpoolFile], list[str]]:
    """Replays the spool's journal as recovery does: message records in segment order,
    tombstones taking them out. Returns the live messages (verified like spool files were:
    CRC, queue id, size) and the torn tails ("<segment>@<offset>": octets after the last
    valid record that are no record; what a crash leaves, never acknowledged). A corrupt
    record followed by valid ones raises SpoolFormatError."""
    d = Path(data_dir) / "spool" / "journal"
    live: dict[str, SpoolFile] = {}
    torn: list[str] = []
    if not d.is_dir():
        return live, torn
    for path in sorted(d.glob("*.seg")):
        data = path.read_bytes()
        if data[:16] != SEGMENT_MAGIC or zlib.crc32(data[:28]) & 0xFFFFFFFF != int.from_bytes(data[28:32], "little"):
            raise SpoolFormatError(f"{path}: bad segment header")
        salt = int.from_bytes(data[24:28], "little")
        used = max(len(data.rstrip(b"\0")), SEGMENT_HEADER)
        off = SEGMENT_HEADER
        while off < used:
            header = _record_header(data, off, salt)
            body_ok = header is not None and (
                header[0] == 3  # padding: a corrupt region neutralized by recovery
                or zlib.crc32(data[off + RECORD_HEADER : off + RECORD_HEADER + header[2] + header[3]]) & 0xFFFFFFFF
                == header[4]
            )
            if not body_ok:
                later = any(
                    (h := _record_header(data, at, salt)) is not None
                    and zlib.crc32(data[at + RECORD_HEADER : at + RECORD_HEADER + h[2] + h[3]]) & 0xFFFFFFFF == h[4]
                    for at in range(off + 1, used)
                    if data[at : at + 4] == RECORD_MAGIC
                )
                if later:
                    raise SpoolFormatError(f"{path}: corrupt record at {off} between valid ones")
                torn.append(f"{path.name}@{off}")
                break
            kind, qid, env_len, msg_len, _ = header
            length = RECORD_HEADER + env_len + msg_len
            if kind == 1:
                body = data[off + RECORD_HEADER : off + length]
                envelope = json.loads(body[:env_len].decode("utf-8"))
                message = body[env_len:]
                if envelope.get("queue_id") != qid:
                    raise SpoolFormatError(f"{path}@{off}: envelope queue id {envelope.get('queue_id')} != {qid}")
                if envelope.get("size") != len(message):
                    raise SpoolFormatError(f"{path}@{off}: envelope size {envelope.get('size')} != {len(message)}")
                live[qid] = SpoolFile(qid, envelope, message, path, off, length)
            elif kind == 2:
                live.pop(qid, None)
            off += length
    return dict(sorted(live.items())), torn


def read_spool(data_dir: Path) -> dict[str, SpoolFile]:
    """Queued messages by queue id, verified."""
    return scan_journal(data_dir)[0]


def spool_names(data_dir: Path, area: str) -> list[str]:
    """Areas: "queue": the queued messages' ids; "torn": torn tails in the journal (see
    scan_journal); "corrupt": files moved aside by recovery."""
    if area == "queue":
        return list(read_spool(data_dir))
    if area == "torn":
        return scan_journal(data_dir)[1]
    if area != "corrupt":
        raise ValueError(f"no spool area {area!r}")
    d = Path(data_dir) / "spool" / area
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def split_added_headers(message: bytes, sent: bytes) -> bytes:
    """The headers Postern added: the spooled message must be them + exactly `sent`."""
    assert message.endswith(sent), f"spooled message does not end with what was sent:\n{message!r}\n--- sent:\n{sent!r}"
    return message[: len(message) - len(sent)]


def parse_added_headers(head: bytes) -> list[tuple[str, str]]:
    """Unfolds the added header block into (name, value) pairs, in order."""
    assert head.endswith(b"\r\n"), head
    fields: list[tuple[str, str]] = []
    for line in head[:-2].decode("utf-8").split("\r\n"):
        assert "\n" not in line and "\r" not in line, f"bare line end in added headers: {head!r}"
        if line.startswith(("\t", " ")):
            assert fields, head
            name, value = fields[-1]
            fields[-1] = (name, value + " " + line.strip())
        else:
            name, _, value = line.partition(":")
            assert name and _, f"not a header line: {line!r}"
            fields.append((name, value.strip()))
    return fields


# --------------------------------------------------------------------------------------
# The server process


class Server:
    def __init__(self, data_dir: Path, args: list[str], hostname: str | None = HOSTNAME,
                 env: dict[str, str] | None = None):
        self.data_dir = Path(data_dir)
        # Extra environment of the process (e.g. libfaketime's, to move its clock).
        self.env = env or {}
        self.args = args
        self.hostname = hostname
        self.proc: subprocess.Popen | None = None
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._cond = threading.Condition()
        self.ports: dict[str, int] = {}
        self.hosts: dict[str, str] = {}
        self.spool_line: tuple[int, int, int] | None = None
        self.returncode: int | None = None

    # -- lifecycle ------------------------------------------------------------------

    def command(self) -> list[str]:
        cmd = [str(postern_bin()), "serve", "--data-dir", str(self.data_dir)]
        if self.hostname:
            cmd += ["--hostname", self.hostname]
        return cmd + self.args

    def start(self) -> "Server":
        self.stdout, self.stderr, self.ports, self.hosts, self.spool_line = [], [], {}, {}, None
        self.proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "NO_COLOR": "1", **self.env},
        )
        for stream, sink in ((self.proc.stdout, self.stdout), (self.proc.stderr, self.stderr)):
            threading.Thread(target=self._drain, args=(stream, sink), daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        with self._cond:
            while self.spool_line is None:
                if self.proc.poll() is not None and self._eof_count == 2:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.1))
        if self.spool_line is None:
            self.kill()
            pytest.fail(
                "postern did not start: exit code %s\nstdout:\n%s\nstderr:\n%s"
                % (self.proc.returncode, "\n".join(self.stdout), "\n".join(self.stderr)),
                pytrace=False,
            )
        self._wait_sigterm_handler(deadline)
        return self

    def _wait_sigterm_handler(self, deadline: float) -> None:
        """Waits until the process catches SIGTERM (SigCgt in /proc/PID/status).

        Work-around for a known startup race (see test_shutdown.py::
        test_sigterm_right_after_startup_is_graceful): the ready lines are printed before the
        handler is installed, so a SIGTERM sent too early kills the process outright. Tests
        that are about something else must not trip over it.
        """
        bit = 1 << (signal.SIGTERM - 1)
        status = Path(f"/proc/{self.proc.pid}/status")
        while time.monotonic() < deadline and self.proc.poll() is None:
            for line in status.read_text().splitlines():
                if line.startswith("SigCgt:") and int(line.split()[1], 16) & bit:
                    return
            time.sleep(0.005)
        self.kill()
        pytest.fail(f"postern never installed a SIGTERM handler within {START_TIMEOUT}s of starting", pytrace=False)

    _eof_count = 0

    def _drain(self, stream, sink: list[str]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                sink.append(line)
                m = re.match(r"^listening: (\w+) (\S+):(\d+) \(", line)
                if m:
                    self.ports[m.group(1)] = int(m.group(3))
                    self.hosts[m.group(1)] = m.group(2).strip("[]")
                m = re.match(r"^spool: (\d+) message\(s\) waiting, (\d+) incomplete removed, (\d+) corrupt moved aside$", line)
                if m:
                    self.spool_line = tuple(int(g) for g in m.groups())
                self._cond.notify_all()
        with self._cond:
            self._eof_count += 1
            self._cond.notify_all()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        self.returncode = self.proc.wait(timeout=timeout)
        # Let the reader threads see the end of the pipes.
        deadline = time.monotonic() + 2
        with self._cond:
            while self._eof_count < 2 and time.monotonic() < deadline:
                self._cond.wait(0.05)
        return self.returncode

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, wait, and require a clean exit."""
        self.signal(signal.SIGTERM)
        try:
            rc = self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"postern did not exit within {timeout}s of SIGTERM")
        assert rc == 0, f"postern exited with {rc} after SIGTERM\nstderr:\n" + "\n".join(self.stderr)
        return rc

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            self.returncode = self.proc.returncode

    def restart(self) -> "Server":
        assert not self.running()
        self._eof_count = 0
        return self.start()

    # -- what it wrote ------------------------------------------------------------------

    def spool(self) -> dict[str, SpoolFile]:
        return read_spool(self.data_dir)

    def spool_names(self, area: str) -> list[str]:
        return spool_names(self.data_dir, area)

    def events(self, kind: str | None = None, queue_id: str | None = None) -> list[dict]:
        db = self.data_dir / "postern.db"
        conn = sqlite3.connect(f"file:{db}", uri=True, timeout=5)
        try:
            rows = conn.execute(
                "SELECT id, at_ms, session, client_ip, queue_id, kind, data FROM events ORDER BY id"
            ).fetchall()
        finally:
            conn.close()
        out = []
        for id_, at_ms, session, client_ip, qid, k, data in rows:
            if kind is not None and k != kind:
                continue
            if queue_id is not None and qid != queue_id:
                continue
            out.append(
                {"id": id_, "at_ms": at_ms, "session": session, "client_ip": client_ip,
                 "queue_id": qid, "kind": k, "data": json.loads(data)}
            )
        return out

    def wait_events(self, predicate, timeout: float = 5.0, **filters) -> list[dict]:
        """Polls the event store until `predicate(events)` holds (events are written in batches)."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.events(**filters)
            if predicate(events):
                return events
            if time.monotonic() > deadline:
                raise AssertionError(f"events never matched; last seen: {json.dumps(events, indent=1)[:4000]}")
            time.sleep(0.05)

    def tls_context(self, verify: bool = True, max_version=None) -> ssl.SSLContext:
        """A client context that trusts exactly the server's (self-signed) certificate."""
        ctx = ssl.create_default_context(cafile=str(self.data_dir / "tls" / "cert.pem")) if verify \
            else ssl._create_unverified_context()
        ctx.check_hostname = False
        if max_version is not None:
            ctx.maximum_version = max_version
        return ctx


# Nothing listens on port 1 of loopback: every delivery attempt is deferred ("connection
# refused"), so accepted mail stays in the spool where these tests inspect it. Tests of
# delivery itself pass their own --relay-host or a [delivery] config.
HOLD_ROUTE = ["--relay-host", "127.0.0.1:1"]
# The admin API on a free port, so that servers never collide on its default 8025.
ADMIN_ANY_PORT = ["--admin", "127.0.0.1:0"]


def with_test_defaults(args: list[str]) -> list[str]:
    """Explicit arguments, plus the hold route and a free admin port unless they are given."""
    # A new list: `extra += ...` must never extend the shared HOLD_ROUTE in place.
    extra = [] if "--relay-host" in args else list(HOLD_ROUTE)
    extra += [] if "--admin" in args else ADMIN_ANY_PORT
    return args + extra


def default_args(config: Path | None = None, extra: list[str] | None = None) -> list[str]:
    args = ["--smtp", "127.0.0.1:0", "--submission", "127.0.0.1:0", "--smtps", "127.0.0.1:0"]
    if config is not None:
        args += ["--config", str(config)]
    extra = extra or []
    if "--relay-host" not in extra and not (config is not None and "relay_host" in config.read_text()
                                            or config is not None and "[delivery]" in config.read_text()):
        args += HOLD_ROUTE
    if "--admin" not in extra:
        args += ADMIN_ANY_PORT
    return args + extra


@pytest.fixture
def postern(tmp_path):
    """Factory: postern(config="toml text", extra=[flags]) -> a started Server."""
    started: list[Server] = []
    counter = [0]

    def make(config: str | None = None, extra: list[str] | None = None, data_dir: Path | None = None,
             args: list[str] | None = None, env: dict[str, str] | None = None) -> Server:
        counter[0] += 1
        cfg_path = None
        if config is not None:
            cfg_path = tmp_path / f"postern-{counter[0]}.toml"
            cfg_path.write_text(config)
        server = Server(data_dir or tmp_path / f"data-{counter[0]}",
                        with_test_defaults(args) if args is not None else default_args(cfg_path, extra), env=env)
        started.append(server)
        return server.start()

    def kill_all() -> None:
        for server in started:
            server.kill()

    # For fixtures that must outlive the servers (a PostgreSQL schema is dropped only once
    # no node holds a lock in it): they take `postern`, so they end first, and call this.
    make.kill_all = kill_all
    yield make
    kill_all()


@pytest.fixture
def server(postern) -> Server:
    return postern()


# --------------------------------------------------------------------------------------
# A minimal SMTP client over a raw socket, for byte-exact conversations.


class Closed(Exception):
    """The server closed the connection (or reset it) before a full reply arrived."""


class RawSMTP:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0, tls: ssl.SSLContext | None = None):
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            sock = tls.wrap_socket(sock)
        self.sock = sock
        self.buf = b""

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _fill(self) -> None:
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError) as e:
            raise Closed(str(e)) from e
        if not chunk:
            raise Closed("EOF")
        self.buf += chunk

    def reply(self) -> tuple[int, list[str]]:
        """One (possibly multi-line) reply: (code, [text lines without the code])."""
        lines: list[str] = []
        while True:
            while b"\r\n" not in self.buf:
                self._fill()
            line, self.buf = self.buf.split(b"\r\n", 1)
            text = line.decode("utf-8")
            assert re.match(r"^\d{3}[ -]", text), f"malformed reply line {text!r}"
            lines.append(text[4:])
            if text[3] == " ":
                return int(text[:3]), lines

    def reply_line(self) -> str:
        """A single-line reply as text, e.g. `250 2.0.0 Ok`."""
        code, lines = self.reply()
        assert len(lines) == 1, lines
        return f"{code} {lines[0]}"

    def cmd(self, line: str) -> str:
        self.send(line + "\r\n")
        return self.reply_line()

    def ehlo(self, name: str = "client.test.example") -> list[str]:
        self.send(f"EHLO {name}\r\n")
        code, lines = self.reply()
        assert code == 250, lines
        return lines

    def expect_closed(self, timeout: float = 5.0) -> None:
        """The server closes: EOF (or a reset) with no further reply."""
        self.sock.settimeout(timeout)
        try:
            self._fill()
        except Closed:
            return
        raise AssertionError(f"expected the connection to be closed, got {self.buf!r}")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def wait_for(predicate, what: str, timeout: float = 10.0):
    """Polls `predicate()` until it returns something true, and returns that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def queued_id(reply: str) -> str:
    m = QUEUED_RE.match(reply)
    assert m, f"not a queued reply: {reply!r}"
    return m.group(1)


# --------------------------------------------------------------------------------------
# Figures the crash test reports at the end of the run.

CRASH_FIGURES: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if CRASH_FIGURES:
        terminalreporter.section("postern crash test figures")
        for line in CRASH_FIGURES:
            terminalreporter.write_line(line)


def rustls_cipher_name(sslsock: ssl.SSLSocket) -> str:
    """The cipher name Postern reports, derived from what OpenSSL says on our side.

    TLS 1.3 suites: rustls spells them `TLS13_AES_256_GCM_SHA384` where OpenSSL (and IANA)
    say `TLS_AES_256_GCM_SHA384`. TLS 1.2: the tests pin one suite and map it here.
    """
    name, version, _bits = sslsock.cipher()
    if version == "TLSv1.3":
        assert name.startswith("TLS_"), name
        return "TLS13_" + name[len("TLS_"):]
    tls12 = {
        "ECDHE-ECDSA-AES128-GCM-SHA256": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305": "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    }
    return tls12[name]


# --------------------------------------------------------------------------------------
# The real engines (scripts/engines.sh): rspamd, spamd and clamd on loopback, network off.


@dataclass
class Engines:
    rspamd: str  # host:port
    spamd: str


@pytest.fixture(scope="session")
def engines() -> Engines:
    """Starts rspamd and spamd once for the session (left running: the script is idempotent
    and `scripts/engines.sh stop` stops them)."""
    run = subprocess.run([str(REPO / "scripts" / "engines.sh"), "start"], capture_output=True, text=True,
                         timeout=180)
    if run.returncode != 0:
        pytest.fail(f"scripts/engines.sh start failed:\n{run.stdout}\n{run.stderr}", pytrace=False)
    return Engines(rspamd=f"127.0.0.1:{os.environ.get('POSTERN_RSPAMD_PORT', '11433')}",
                   spamd=f"127.0.0.1:{os.environ.get('POSTERN_SPAMD_PORT', '7833')}")


@dataclass
class Clamd:
    tcp: str  # host:port
    unix: str  # the Unix socket's path


@pytest.fixture(scope="session")
def clamd() -> Clamd:
    """Starts clamd once for the session (scripts/engines.sh: its own test database, TCP on
    127.0.0.1:13310 and a Unix socket; left running like the spam engines)."""
    run = subprocess.run([str(REPO / "scripts" / "engines.sh"), "start", "clamd"], capture_output=True, text=True,
                         timeout=120)
    if run.returncode != 0:
        pytest.fail(f"scripts/engines.sh start clamd failed:\n{run.stdout}\n{run.stderr}", pytrace=False)
    state = os.environ.get("POSTERN_ENGINES_DIR") or os.path.join(os.environ.get("TMPDIR") or "/tmp", "postern-engines")
    return Clamd(tcp=f"127.0.0.1:{os.environ.get('POSTERN_CLAMD_PORT', '13310')}",
                 unix=os.path.join(state, "clamd", "run", "clamd.sock"))
