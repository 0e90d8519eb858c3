"""SIGHUP reloads the configuration (SPEC §7) and never stops the server; `postern
check-config FILE` validates a file the way `serve --config FILE` would."""

from __future__ import annotations

import re
import signal
import subprocess

from conftest import RawSMTP, postern_bin, wait_for

UNTRUSTED = 'trusted_networks = ["127.0.0.2/32"]\n'
TRUSTED = 'trusted_networks = ["127.0.0.0/8"]\n'


def config_path(server) -> str:
    return server.args[server.args.index("--config") + 1]


def rcpt(server) -> str:
    with RawSMTP(server.ports["smtp"]) as c:
        c.reply()
        c.ehlo()
        assert c.cmd("MAIL FROM:<a@example.com>").startswith("250")
        return c.cmd("RCPT TO:<b@example.net>")


def log_lines(server, words: str) -> list[str]:
    return [line for line in server.stdout if words in line]


def reload(server, marker: str, count: int = 1) -> list[str]:
    server.signal(signal.SIGHUP)
    return wait_for(lambda: len(log_lines(server, marker)) >= count and log_lines(server, marker),
                    f"{marker!r} in the log")


def test_sighup_keeps_serving_and_applies_a_new_trusted_network(postern):
    server = postern(UNTRUSTED)
    assert rcpt(server).startswith("554 5.7.1"), "127.0.0.1 is not trusted yet"
    with open(config_path(server), "w") as f:
        f.write(TRUSTED)
    reload(server, "configuration reloaded")
    assert server.running(), "SIGHUP must not stop the server"
    line = log_lines(server, "configuration reloaded")[0]
    assert "trusted_networks" in line, line
    assert rcpt(server).startswith("250"), "the added trusted network applies at once"
    # An open session sees it at its next transaction too.
    server.stop()


def test_an_invalid_file_is_refused_and_the_old_configuration_keeps_working(postern):
    server = postern(TRUSTED)
    with open(config_path(server), "w") as f:
        f.write('trusted_networks = ["127.0.0.0/33"]\n')
    reload(server, "configuration reload refused")
    refused = log_lines(server, "configuration reload refused")
    assert len(refused) == 1, refused
    assert "trusted_networks[0]" in refused[0] and "127.0.0.0/33" in refused[0], refused[0]
    assert server.running()
    assert rcpt(server).startswith("250"), "the old trusted networks still apply"
    # Garbage, not even TOML: the same.
    with open(config_path(server), "w") as f:
        f.write("this is = = not toml\n")
    reload(server, "configuration reload refused", 2)
    assert server.running()
    assert rcpt(server).startswith("250")
    server.stop()


def test_a_change_that_needs_a_restart_is_named(postern):
    server = postern(TRUSTED)
    with open(config_path(server), "w") as f:
        f.write(TRUSTED + 'banner = "$hostname ESMTP reloaded"\n[limits]\nmax_connections = 5\n'
                '[log]\nlevel = "debug"\n')
    reload(server, "configuration reloaded")
    named = " ".join(log_lines(server, "needs a restart"))
    assert "limits.max_connections" in named and "log" in named, named
    assert "banner" not in named, "the banner changes live"
    with RawSMTP(server.ports["smtp"]) as c:
        assert c.reply_line().endswith(" ESMTP reloaded"), "the new banner greets the next client"
    assert server.running()
    server.stop()


def test_repeated_sighups_never_stop_the_server(postern):
    server = postern(TRUSTED)
    for n in range(1, 6):
        reload(server, "nothing to change live", n)
    assert server.running()
    assert rcpt(server).startswith("250")
    server.stop()


def test_check_config(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text(TRUSTED + "[limits]\nmax_hops = 9\n")
    proc = subprocess.run([str(postern_bin()), "check-config", str(good)], capture_output=True, text=True, timeout=10)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"{good}: valid\n", "")
    bad = tmp_path / "bad.toml"
    bad.write_text("[limits]\nmax_hops = 0\n")
    proc = subprocess.run([str(postern_bin()), "check-config", str(bad)], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, lines
    assert re.fullmatch(rf"postern: config error: {re.escape(str(bad))}(:2)?: limits.max_hops: 0 is out of range 1..=1000",
                        lines[0]), lines
    proc = subprocess.run([str(postern_bin()), "check-config", str(tmp_path / "nope.toml")], capture_output=True,
                          text=True, timeout=10)
    assert proc.returncode == 2 and "cannot read" in proc.stderr
