"""Graceful shutdown (SIGTERM): stop accepting, tell idle sessions 421, let transactions in
flight finish with 250, exit 0; never cut a transaction silently past shutdown_timeout
without also refusing to acknowledge it."""

from __future__ import annotations

import signal
import socket
import subprocess
import time


from conftest import HOSTNAME, Closed, RawSMTP, default_args, postern_bin, queued_id, split_added_headers

MSG = b"Subject: in flight\r\n\r\nfinished after SIGTERM\r\n"
SHUTTING_DOWN = f"421 4.3.2 {HOSTNAME} Service shutting down"


def wait_refused(port: int, timeout: float = 5.0) -> None:
    """New connections must be refused once the listeners are closed."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return
        except ConnectionResetError:
            pass  # the listener closed during our handshake: poll once more
        finally:
            s.close()
        if time.monotonic() > deadline:
            raise AssertionError(f"port {port} still accepts connections {timeout}s after SIGTERM")
        time.sleep(0.05)


def in_transaction(server) -> RawSMTP:
    c = RawSMTP(server.ports["smtp"])
    c.reply()
    c.ehlo("client.test.example")
    assert c.cmd("MAIL FROM:<alice@sender.example>") == "250 2.1.0 Ok"
    assert c.cmd("RCPT TO:<bob@rcpt.example>") == "250 2.1.5 Ok"
    return c


def idle(server, listener: str) -> RawSMTP:
    tls = server.tls_context() if listener == "smtps" else None
    c = RawSMTP(server.ports[listener], tls=tls)
    c.reply()
    c.ehlo("idle.test.example")
    return c


def test_sigterm_lets_transaction_finish_and_tells_idle_clients_421(server):
    busy = in_transaction(server)
    idlers = {name: idle(server, name) for name in ("smtp", "submission", "smtps")}

    server.signal(signal.SIGTERM)

    # Idle sessions are told at once, and closed.
    for name, c in idlers.items():
        c.sock.settimeout(5)
        assert c.reply_line() == SHUTTING_DOWN, name
        c.expect_closed()
        c.close()
    # No new connections on any listener.
    for name in ("smtp", "submission", "smtps"):
        wait_refused(server.ports[name])
    assert server.running(), "exited while a transaction was in flight"

    # The transaction in flight finishes normally.
    assert busy.cmd("DATA") == "354 End data with <CR><LF>.<CR><LF>"
    busy.send(MSG + b".\r\n")
    qid = queued_id(busy.reply_line())
    # Now idle: told 421 without asking, then closed.
    assert busy.reply_line() == SHUTTING_DOWN
    busy.expect_closed()
    busy.close()

    assert server.wait(timeout=10) == 0
    files = server.spool()
    assert list(files) == [qid]
    split_added_headers(files[qid].message, MSG)
    disconnects = server.events(kind="disconnect")
    reasons = [e["data"]["reason"] for e in disconnects]
    # Our four sessions; a probe of wait_refused that raced the listener closing may add one.
    assert len(reasons) >= 4 and set(reasons) == {"shutdown"}, reasons
    assert [e["queue_id"] for e in server.events(kind="queued")] == [qid]
    assert any("shutting down" in line for line in server.stdout)


def test_sigterm_during_data(server):
    """SIGTERM arrives in the middle of the message body: the message still completes."""
    c = in_transaction(server)
    assert c.cmd("DATA")[:3] == "354"
    c.send(MSG[:20])
    time.sleep(0.1)
    server.signal(signal.SIGTERM)
    wait_refused(server.ports["smtp"])
    c.send(MSG[20:] + b".\r\n")
    qid = queued_id(c.reply_line())
    assert c.reply_line() == SHUTTING_DOWN
    c.close()
    assert server.wait(timeout=10) == 0
    split_added_headers(server.spool()[qid].message, MSG)


def test_quit_after_sigterm(server):
    """A client in a transaction may also give up: RSET makes it idle, and it is told 421."""
    c = in_transaction(server)
    server.signal(signal.SIGTERM)
    wait_refused(server.ports["smtp"])
    assert c.cmd("NOOP") == "250 2.0.0 Ok"  # still in the transaction: served
    assert c.cmd("RSET") == "250 2.0.0 Ok"
    assert c.reply_line() == SHUTTING_DOWN
    c.expect_closed()
    c.close()
    assert server.wait(timeout=10) == 0
    assert server.spool() == {}


def test_shutdown_timeout_cuts_a_stalled_transaction(postern):
    server = postern(config="[limits]\nshutdown_timeout = 1\n")
    c = in_transaction(server)
    assert c.cmd("DATA")[:3] == "354"
    c.send(b"Subject: never finished\r\n\r\nhalf a mess")
    t0 = time.monotonic()
    server.signal(signal.SIGTERM)
    assert server.wait(timeout=10) == 0
    assert 0.8 < time.monotonic() - t0 < 5
    # The client never got a 250 (at most a 4xx before the close), and nothing is spooled.
    c.sock.settimeout(5)
    try:
        code, lines = c.reply()
        assert 400 <= code < 500, (code, lines)
    except Closed:
        pass
    c.close()
    assert server.spool() == {}
    assert server.spool_names("torn") == []


def test_sigterm_with_no_sessions_exits_zero_quickly(server):
    # One round trip first: see test_sigterm_right_after_startup for why.
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        assert c.cmd("QUIT") == "221 2.0.0 Bye"
    t0 = time.monotonic()
    server.stop(timeout=5)
    assert time.monotonic() - t0 < 3
    assert any(line.endswith("stopped sessions_cut=0") for line in server.stdout), server.stdout[-3:]


def test_sigterm_does_not_wait_for_pending_tls_handshakes(postern):
    server = postern(config="[limits]\nshutdown_timeout = 5\n")
    smtps = socket.create_connection(("127.0.0.1", server.ports["smtps"]), timeout=10)
    starttls = RawSMTP(server.ports["smtp"])
    try:
        starttls.reply()
        starttls.ehlo("client.test.example")
        assert starttls.cmd("STARTTLS") == "220 2.0.0 Ready to start TLS"
        time.sleep(0.1)
        server.signal(signal.SIGTERM)
        t0 = time.monotonic()
        try:
            rc = server.wait(timeout=2.5)
        except Exception:
            rc = None
        took = time.monotonic() - t0
        assert rc == 0 and took < 2.5, f"exit code {rc} after {took:.1f}s"
    finally:
        smtps.close()
        starttls.close()


def test_sigterm_right_after_startup_is_graceful(tmp_path):
    cmd = [str(postern_bin()), "serve", "--data-dir", str(tmp_path / "data")] + default_args()
    for attempt in range(100):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            for line in proc.stdout:
                if line.startswith(b"spool: "):
                    proc.send_signal(signal.SIGTERM)
                    break
            proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, f"attempt {attempt}: exit status {proc.returncode} after SIGTERM"
