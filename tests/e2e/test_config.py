"""Configuration errors: one line on stderr naming the file and the key, exit code 2, and
nothing started. Also flag errors, a listener address already in use, and a few positive
checks that file values take effect and flags override them."""

from __future__ import annotations

import re
import smtplib
import socket
import subprocess

import pytest

from conftest import RawSMTP, postern_bin, queued_id

LISTENERS = ["--smtp", "127.0.0.1:0", "--submission", "127.0.0.1:0", "--smtps", "127.0.0.1:0", "--admin", "127.0.0.1:0"]


def run(tmp_path, config: str | None = None, args: list[str] | None = None, listeners=True):
    cmd = [str(postern_bin()), "serve", "--data-dir", str(tmp_path / "data")]
    path = None
    if config is not None:
        path = tmp_path / "postern.toml"
        path.write_text(config)
        cmd += ["--config", str(path)]
    if listeners:
        cmd += LISTENERS
    cmd += args or []
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail(f"postern kept running with {config!r} {args!r}: the configuration was accepted")
    return proc, path


# (id, file text, key named, line named or None, words the reason must contain)
BAD_FILES = [
    ("unknown-key", "[limits]\nmax_hopz = 3\n", "limits.max_hopz", 2, ["unknown field", "max_hopz"]),
    ("unknown-table-key", "hostname = \"a.example\"\n\n[listeners.smtp]\nadress = \"127.0.0.1:1\"\n",
     "listeners.smtp.adress", 4, ["unknown field"]),
    ("unknown-top-key", "hostnme = \"a.example\"\n", "hostnme", 1, ["unknown field"]),
    ("bad-cidr", "trusted_networks = [\"10.0.0.0/8\", \"10.0.0.0/33\"]\n", "trusted_networks[1]", None, ["10.0.0.0/33"]),
    ("cidr-host-bits", "trusted_networks = [\"10.0.0.1/8\"]\n", "trusted_networks[0]", None, ["10.0.0.1/8"]),
    ("missing-cert", "[tls]\ncertificate = \"/nonexistent/c.pem\"\nprivate_key = \"/nonexistent/k.pem\"\n",
     "tls.certificate", None, ["/nonexistent/c.pem"]),
    ("cert-without-key", "[tls]\ncertificate = \"/etc/hostname\"\n", "tls.private_key", None, ["missing"]),
    ("wrong-type-string", "[limits]\nmax_hops = \"three\"\n", "limits.max_hops", 2, ["invalid type"]),
    ("wrong-type-list", "trusted_networks = \"10.0.0.0/8\"\n", "trusted_networks", 1, ["invalid type"]),
    ("negative", "[limits]\nmax_hops = -1\n", "limits.max_hops", 2, ["-1"]),
    ("out-of-range", "[limits]\nmax_message_size = 100\n", "limits.max_message_size", None, ["100", "1024"]),
    ("zero-timeout", "[limits]\ncommand_timeout = 0\n", "limits.command_timeout", None, ["0", "out of range"]),
    ("bad-listen-address", "[listeners.submission]\naddress = \"localhost\"\n", "listeners.submission.address", None, ["localhost"]),
    ("bad-hostname", "hostname = \"bad_name\"\n", "hostname", None, ["bad_name"]),
    ("bad-relay-host", "relay_host = \"nohost\"\n", "relay_host", None, ["nohost"]),
    ("bad-log-format", "[log]\nformat = \"xml\"\n", "log.format", None, ["xml"]),
    ("multi-line-banner", "banner = \"a\\nb\"\n", "banner", None, ["one line"]),
    ("toml-syntax", "hostname = \n", "hostname", 1, []),
]


@pytest.mark.parametrize("text,key,line,words", [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_bad_config_file(tmp_path, text, key, line, words):
    # Listener flags would override file addresses; the file must be judged on its own.
    proc, path = run(tmp_path, text, listeners=("listeners." not in key))
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    # Every error found in the file names its line: the given one, or any for validation errors.
    # (A key that is missing from the file has no line to name.)
    where = re.escape(f"{path}:{line}") if line is not None else re.escape(str(path)) + r"(:\d+)?"
    prefix = rf"postern: config error: {where}: {re.escape(key)}: "
    assert re.match(prefix, lines[0]), f"{lines[0]!r} does not match {prefix!r}"
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert proc.stdout == "", "nothing may start (no log lines, no listening lines)"
    assert not (tmp_path / "data").exists(), "data directory created for an invalid configuration"


def test_bad_log_level_names_the_file(tmp_path):
    proc, path = run(tmp_path, "[log]\nlevel = \"info,[[[\"\n")
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"postern: config error: {path}"), lines[0]
    assert "log.level" in lines[0]


def test_bad_log_level_is_a_config_error(tmp_path):
    """A bad log level: one line naming the file and the key, exit 2."""
    proc, path = run(tmp_path, "[log]\nlevel = \"info,[[[\"\n")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"postern: config error: {path}: log.level: invalid filter directive"]


def test_validation_errors_name_the_line(tmp_path):
    proc, path = run(tmp_path, "hostname = \"a.example\"\ntrusted_networks = [\"10.0.0.0/33\"]\n")
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"postern: config error: {path}:2: trusted_networks[0]: "), proc.stderr


def test_missing_config_file(tmp_path):
    proc, _ = run(tmp_path, args=["--config", str(tmp_path / "nope.toml")])
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"postern: config error: {tmp_path / 'nope.toml'}: cannot read: No such file or directory (os error 2)"
    ]


def test_every_listener_off(tmp_path):
    proc, path = run(tmp_path, args=["--smtp", "", "--submission", "", "--smtps", ""], listeners=False)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["postern: config error: listeners: every listener is turned off"]


@pytest.mark.parametrize(
    "flags,line",
    [
        (["--trusted-network", "10.0.0.0/33"],
         'postern: config error: --trusted-network: "10.0.0.0/33" is not an IP address or CIDR such as 192.0.2.0/24'),
        (["--trusted-network", "127.0.0.0/8", "--trusted-network", "fe80::1/10"],
         'postern: config error: --trusted-network: "fe80::1/10" is not an IP address or CIDR such as 192.0.2.0/24'),
        (["--hostname", "bad host"], 'postern: config error: --hostname: "bad host" is not a valid host name'),
        (["--smtp", "nonsense"],
         'postern: config error: --smtp: "nonsense" is not an IP address and port such as 127.0.0.1:2525'),
        (["--relay-host", "x:0"],
         'postern: config error: --relay-host: "x:0" is not HOST:PORT such as smtp.example.net:587'),
    ],
    ids=["cidr-33", "cidr-host-bits-v6", "hostname", "smtp-address", "relay-host"],
)
def test_bad_flags(tmp_path, flags, line):
    proc, _ = run(tmp_path, args=flags, listeners=(flags[0] != "--smtp"))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [line]
    assert proc.stdout == ""


def test_flag_error_wins_over_file_value(tmp_path):
    """The flag replaces the file's list: its error is reported, not the file's (valid) one."""
    proc, _ = run(tmp_path, "trusted_networks = [\"10.0.0.0/8\"]\n", args=["--trusted-network", "10.0.0.0/33"])
    assert proc.returncode == 2
    assert proc.stderr.startswith("postern: config error: --trusted-network: ")


def test_unknown_flag_is_a_usage_error(tmp_path):
    proc, _ = run(tmp_path, args=["--bogus"])
    assert proc.returncode == 2
    assert "--bogus" in proc.stderr


def test_address_already_in_use(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        proc, _ = run(tmp_path, args=["--smtp", f"127.0.0.1:{port}", "--submission", "127.0.0.1:0",
                                      "--smtps", "127.0.0.1:0"], listeners=False)
    finally:
        taken.close()
    assert proc.returncode != 0
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"127.0.0.1:{port}" in lines[0] and "smtp" in lines[0], lines[0]
    assert re.search(r"(?i)address already in use", lines[0]), lines[0]
    assert not any(l.startswith("listening:") for l in proc.stdout.splitlines())


def test_unusable_certificate_file(tmp_path):
    """A readable file that holds no certificate: refused at start, naming the key and path.
    (Today this is exit 1 with `postern: tls.certificate: ...`, not a `config error` with exit
    2 and the config file's name; see the report.)"""
    not_pem = tmp_path / "not-a-cert.pem"
    not_pem.write_text("hello\n")
    proc, _ = run(tmp_path, f"[tls]\ncertificate = \"{not_pem}\"\nprivate_key = \"{not_pem}\"\n")
    assert proc.returncode != 0
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert "tls.certificate" in lines[0] and str(not_pem) in lines[0], lines[0]
    assert not any(l.startswith("listening:") for l in proc.stdout.splitlines())


def test_unusable_certificate_file_is_a_config_error(tmp_path):
    not_pem = tmp_path / "not-a-cert.pem"
    not_pem.write_text("hello\n")
    proc, path = run(tmp_path, f"[tls]\ncertificate = \"{not_pem}\"\nprivate_key = \"{not_pem}\"\n")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"postern: config error: {path}"), proc.stderr
    assert "tls.certificate" in proc.stderr


# --------------------------------------------------------------------------------------
# Values that do take effect


def test_file_values_apply_and_flags_override(postern):
    server = postern(
        config=(
            'hostname = "file.example"\n'
            'banner = "$hostname ready, says the file"\n'
            'trusted_networks = ["192.0.2.0/24"]\n'
            "[limits]\nmax_message_size = 5000\n"
        ),
        extra=["--trusted-network", "127.0.0.0/8"],
    )
    # --hostname (set by the fixture) beats the file's hostname; the banner template uses it.
    with RawSMTP(server.ports["smtp"]) as c:
        assert c.reply_line() == "220 mx.test.example ready, says the file"
        assert "SIZE 5000" in c.ehlo()
    # --trusted-network replaced the file's list: loopback may relay.
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=10) as c:
        c.ehlo()
        c.mail("a@b.example")
        assert c.rcpt("c@d.example")[0] == 250
        code, text = c.data(b"Subject: x\r\n\r\ny\r\n")
        queued_id(f"{code} {text.decode()}")
    assert "trusted networks (may relay without authentication): 127.0.0.0/8" in server.stdout


def test_json_log_format(postern):
    import json
    server = postern(config='[log]\nformat = "json"\n')
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        assert c.cmd("QUIT") == "221 2.0.0 Bye"
    server.stop()
    logs = [json.loads(line) for line in server.stdout if line.startswith("{")]
    events = [entry.get("event") for entry in logs]
    assert "connect" in events and "disconnect" in events, logs


def test_every_flag_wins_over_the_example_file(tmp_path):
    """The README says flags override the file: each one, against docs/postern.example.toml
    (which sets every one of them), including --relay-host against `default_route = "direct"`."""
    from conftest import REPO, Server, wait_for
    example = REPO / "docs" / "postern.example.toml"
    text = example.read_text()
    for key in ("hostname =", "data_dir =", "trusted_networks =", 'default_route = "direct"', "[admin]",
                "[listeners.smtp]", "[listeners.submission]", "[listeners.smtps]"):
        assert key in text, f"the example no longer sets {key!r}: this test must set it itself"
    data_dir = tmp_path / "flag-data"
    server = Server(data_dir, ["--config", str(example), "--relay-host", "127.0.0.1:1",
                               "--trusted-network", "192.0.2.0/24", *LISTENERS], hostname="flag.example")
    server.start()
    try:
        out = "\n".join(server.stdout)
        assert "delivery: relay host 127.0.0.1:1 (relay_host)" in out, out
        assert "direct (MX lookup)" not in out
        assert "is running as flag.example" in out, out
        assert f"data directory: {data_dir}" in out, out
        assert "trusted networks (may relay without authentication): 192.0.2.0/24" in out, out
        for kind in ("smtp", "submission", "smtps"):
            assert server.ports[kind] not in (2525, 2587, 2465), (kind, server.ports)
        # The admin line follows the spool line the harness waits for.
        admin = wait_for(lambda: re.search(r"admin API: http://127\.0\.0\.1:(\d+)/api/v1", "\n".join(server.stdout)),
                         "the admin API line")
        assert admin and admin.group(1) != "8025", out
        assert (data_dir / "postern.db").exists()
        with RawSMTP(server.ports["smtp"]) as c:
            assert c.reply_line() == "220 flag.example ESMTP Postern"
            c.ehlo()
            assert c.cmd("MAIL FROM:<a@example.com>").startswith("250")
            assert c.cmd("RCPT TO:<b@example.net>").startswith("554 5.7.1"), "loopback is not trusted by the flag"
        server.stop()
    finally:
        server.kill()
