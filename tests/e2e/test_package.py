"""The Debian package, installed for real: `scripts/package.sh --dev` builds it around the
debug binary, `dpkg -i` installs it, the service starts exactly as its systemd unit says
(the unit's ExecStartPre and ExecStart lines, as its User= and Group=, in its
WorkingDirectory=, with its Environment= and UMask=: the suite has no systemd as PID 1),
relays one message to a receiving server, reloads on the unit's ExecReload, stops on
SIGTERM; then `dpkg -r` keeps the configuration and the data, and `dpkg -P` leaves nothing.

The package keeps the `postern` system user on purge (Debian policy: a later user must not
inherit files owned by a reused uid); this test deletes it afterwards when it created it, so
the machine is left as it was. Runs only as root on a dpkg system where no postern package
is installed (it never touches an operator's installation).
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shlex
import shutil
import signal
import smtplib
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from sinks import Sink

REPO = Path(__file__).resolve().parents[2]
CONFIG = Path("/etc/postern/postern.toml")
DATA = Path("/var/lib/postern")
WAIT = 20.0


def installed_status() -> str:
    proc = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", "postern"], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else ""


pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="installs a package: needs root"),
    pytest.mark.skipif(shutil.which("dpkg") is None or shutil.which("adduser") is None, reason="needs dpkg and adduser"),
]


def dpkg(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(["dpkg", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def unit_service(text: str) -> dict[str, list[str]]:
    """The [Service] section of a unit file: each key with its values in order."""
    section, values = None, {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def command(line: str, env: dict[str, str], mainpid: int | None = None) -> list[str]:
    """An Exec*= line as systemd runs it: prefixes dropped, $VAR and ${VAR} replaced."""
    line = line.lstrip("-@:+!")
    words = shlex.split(line)
    out = []
    for word in words:
        if mainpid is not None:
            word = word.replace("$MAINPID", str(mainpid)).replace("${MAINPID}", str(mainpid))
        word = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), word)
        out.append(word)
    return out


class Service:
    """The unit's service, started as systemd would start it (without systemd)."""

    def __init__(self, unit: Path):
        self.service = unit_service(unit.read_text())
        user = self.service["User"][-1]
        group = self.service.get("Group", [user])[-1]
        entry = pwd.getpwnam(user)
        self.env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
                    "HOME": entry.pw_dir, "USER": user, "LOGNAME": user, "SHELL": entry.pw_shell}
        for assignment in self.service.get("Environment", []):
            for pair in shlex.split(assignment):
                key, _, value = pair.partition("=")
                self.env[key] = value
        self.as_user = ["setpriv", f"--reuid={user}", f"--regid={group}", "--init-groups",
                        "--inh-caps=-all", "--bounding-set=-all,+net_bind_service"]
        self.cwd = self.service.get("WorkingDirectory", ["/"])[-1]
        self.umask = int(self.service.get("UMask", ["0022"])[-1], 8)
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []
        self.cond = threading.Condition()

    def run_pre(self) -> None:
        for line in self.service.get("ExecStartPre", []):
            proc = subprocess.run(self.as_user + command(line, self.env), cwd=self.cwd, env=self.env,
                                  capture_output=True, text=True, timeout=30, umask=self.umask)
            assert proc.returncode == 0, (line, proc.stdout, proc.stderr)

    def start(self) -> None:
        (start,) = self.service["ExecStart"]
        self.proc = subprocess.Popen(self.as_user + command(start, self.env), cwd=self.cwd, env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     umask=self.umask)
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()

    def wait_line(self, pattern: str, timeout: float = WAIT) -> re.Match:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    m = re.search(pattern, line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                assert left > 0 and self.proc is not None and self.proc.poll() is None, \
                    f"no line matching {pattern!r}; exit {self.proc and self.proc.poll()}; output:\n" + "\n".join(self.lines)
                self.cond.wait(min(left, 0.1))

    def wait_sigterm_handler(self) -> None:
        """Like conftest's Server: the SIGTERM handler is installed just after the ready lines."""
        assert self.proc is not None
        deadline = time.monotonic() + WAIT
        bit = 1 << (signal.SIGTERM - 1)
        while time.monotonic() < deadline:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("SigCgt:") and int(line.split()[1], 16) & bit:
                    return
            time.sleep(0.01)
        raise AssertionError("no SIGTERM handler")

    def reload(self) -> None:
        assert self.proc is not None
        for line in self.service.get("ExecReload", []):
            proc = subprocess.run(command(line, self.env, mainpid=self.proc.pid), capture_output=True, text=True, timeout=30)
            assert proc.returncode == 0, (line, proc.stderr)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def for_the_test(text: str, relay_port: int) -> str:
    """The installed configuration with loopback port 0 everywhere (no clash with anything on
    this machine) and the receiving server as relay host: the edits an operator makes."""
    for old in ('"127.0.0.1:2525"', '"127.0.0.1:2587"', '"127.0.0.1:2465"', '"127.0.0.1:8025"'):
        assert f"address = {old}" in text, old
        text = text.replace(f"address = {old}", 'address = "127.0.0.1:0"')
    assert "# relay_host = " in text
    return re.sub(r"(?m)^# relay_host = .*$", f'relay_host = "127.0.0.1:{relay_port}"', text)


def leftovers() -> list[str]:
    """Every path the package or its scripts could have left on the machine."""
    patterns = ["/etc/postern", "/var/lib/postern", "/usr/bin/postern", "/usr/lib/systemd/system/postern.service",
                "/lib/systemd/system/postern.service", "/usr/share/man/man1/postern*",
                "/usr/share/bash-completion/completions/postern", "/usr/share/zsh/vendor-completions/_postern",
                "/usr/share/fish/vendor_completions.d/postern.fish", "/usr/share/doc/postern",
                "/etc/systemd/system/*/postern.service", "/var/lib/systemd/deb-systemd-helper-*/postern.service*",
                "/var/lib/systemd/deb-systemd-helper-*/*/postern.service*", "/var/lib/dpkg/info/postern.*"]
    found = []
    for pattern in patterns:
        found += [str(p) for p in Path("/").glob(pattern.lstrip("/"))]
    return found


def test_install_run_relay_remove_purge(tmp_path):
    if installed_status():
        pytest.skip(f"a postern package is on this machine ({installed_status()}): not touching it")
    assert leftovers() == [], "files of an earlier postern installation are on this machine"
    user_existed = _exists(pwd.getpwnam, "postern")
    group_existed = _exists(grp.getgrnam, "postern")
    sink = Sink("package").start()
    service: Service | None = None
    started = time.monotonic()
    try:
        built = subprocess.run([str(REPO / "scripts" / "package.sh"), "--dev"], cwd=REPO, capture_output=True,
                               text=True, timeout=900)
        assert built.returncode == 0, built.stderr[-4000:]
        deb = Path(built.stdout.strip().splitlines()[-1])
        assert deb.is_file() and deb.suffix == ".deb", built.stdout
        build_seconds = time.monotonic() - started

        # What the package says it holds.
        info = subprocess.run(["dpkg-deb", "--info", str(deb)], capture_output=True, text=True, check=True).stdout
        assert "Package: postern" in info and "adduser" in info, info
        listing = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True).stdout
        for path in ("./usr/bin/postern", "./etc/postern/postern.toml", "./usr/share/man/man1/postern.1.gz",
                     "./usr/share/man/man1/postern-queue.1.gz", "./usr/share/bash-completion/completions/postern",
                     "./usr/lib/systemd/system/postern.service"):
            assert path in listing, (path, listing)

        dpkg("-i", str(deb))
        assert installed_status() == "ii"

        # The user, the files, the conffile.
        user = pwd.getpwnam("postern")
        assert user.pw_uid < 1000 and user.pw_dir == str(DATA), user
        assert user.pw_shell.endswith("nologin") or user.pw_shell == "/bin/false", user
        assert grp.getgrgid(user.pw_gid).gr_name == "postern"
        data = DATA.stat()
        assert stat.S_ISDIR(data.st_mode) and stat.S_IMODE(data.st_mode) == 0o750, oct(data.st_mode)
        assert (data.st_uid, data.st_gid) == (user.pw_uid, user.pw_gid)
        config = CONFIG.stat()
        assert stat.S_IMODE(config.st_mode) == 0o640 and (config.st_uid, config.st_gid) == (0, user.pw_gid)
        conffiles = subprocess.run(["dpkg-query", "-W", "-f=${Conffiles}", "postern"], capture_output=True, text=True,
                                   check=True).stdout
        assert str(CONFIG) in conffiles, conffiles
        text = CONFIG.read_text()
        assert 'data_dir = "/var/lib/postern"' in text and "\nhostname =" not in text
        assert "\ndefault_route =" not in text, "uncommenting relay_host must be enough to use one"
        checked = subprocess.run(["/usr/bin/postern", "check-config", str(CONFIG)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        assert os.access("/usr/bin/postern", os.X_OK)
        unit = Path("/usr/lib/systemd/system/postern.service")
        assert unit.is_file()
        unit_text = unit.read_text()
        for line in ("User=postern", "ProtectSystem=strict", "ReadWritePaths=/var/lib/postern", "ProtectHome=true",
                     "PrivateTmp=true", "NoNewPrivileges=true", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
                     "AmbientCapabilities=CAP_NET_BIND_SERVICE", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
                     "SystemCallFilter=@system-service", "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure"):
            assert line in unit_text.splitlines(), line
        if shutil.which("systemd-analyze"):  # offline: no systemd as PID 1 needed
            verified = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                                      env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
            assert verified.returncode == 0 and verified.stderr == "", verified.stderr
        if shutil.which("deb-systemd-helper"):  # enabled on install, like Debian's daemons
            assert Path("/etc/systemd/system/multi-user.target.wants/postern.service").is_symlink()
        completion = subprocess.run(["bash", "--norc", "-c",
                                     "source /usr/share/bash-completion/completions/postern && complete -p postern"],
                                    capture_output=True, text=True)
        assert completion.returncode == 0 and completion.stdout.strip().endswith(" postern"), completion

        # Run it as the unit says, relaying to the sink.
        CONFIG.write_text(for_the_test(text, sink.port))
        service = Service(unit)
        service.run_pre()
        service.start()
        port = int(service.wait_line(r"^listening: smtp 127\.0\.0\.1:(\d+) ").group(1))
        service.wait_line(r"^spool: ")
        service.wait_sigterm_handler()
        status = Path(f"/proc/{service.proc.pid}/status").read_text()
        assert re.search(rf"(?m)^Uid:\s+{user.pw_uid}\s", status), status
        with smtplib.SMTP("127.0.0.1", port, timeout=WAIT) as client:
            client.sendmail("ops@package.example", ["someone@remote.example"],
                            b"From: ops@package.example\r\nTo: someone@remote.example\r\nSubject: installed\r\n\r\n"
                            b"Sent through the installed package.\r\n")
        (received,) = sink.wait_messages(1, timeout=WAIT)
        assert received.mail_from == "ops@package.example" and received.rcpt_tos == ["someone@remote.example"]
        assert b"Sent through the installed package." in received.data
        # A file (a finished journal segment, a state file) may go between the listing and
        # the stat: owners of the files that are still there are what counts.
        assert all(uid == user.pw_uid for uid in _owners(DATA / "spool"))
        assert (DATA / "postern.db").stat().st_uid == user.pw_uid
        assert stat.S_IMODE((DATA / "admin-token").stat().st_mode) & 0o077 == 0

        service.reload()
        service.wait_line(r"configuration reloaded")
        assert service.proc.poll() is None
        service.proc.send_signal(signal.SIGTERM)
        assert service.proc.wait(45) == 0, "\n".join(service.lines)

        # Remove: the program goes, the configuration and the data stay.
        dpkg("-r", "postern")
        assert installed_status() == "rc"
        assert not Path("/usr/bin/postern").exists()
        assert CONFIG.is_file() and (DATA / "postern.db").is_file()

        # Purge: nothing is left but the system user.
        dpkg("-P", "postern")
        assert installed_status() == ""
        assert leftovers() == []
        assert _exists(pwd.getpwnam, "postern"), "the system user is kept on purge"
        print(f"package built in {build_seconds:.1f}s, {deb.stat().st_size} bytes; "
              f"whole test {time.monotonic() - started:.1f}s")
    except BaseException:
        if service is not None:
            print("the service's output:\n" + "\n".join(service.lines))
        raise
    finally:
        if service is not None:
            service.kill()
        sink.stop()
        if installed_status():
            subprocess.run(["dpkg", "-P", "postern"], capture_output=True)
        if not user_existed and _exists(pwd.getpwnam, "postern"):
            subprocess.run(["userdel", "postern"], capture_output=True)
        if not group_existed and _exists(grp.getgrnam, "postern"):
            subprocess.run(["groupdel", "postern"], capture_output=True)
        for path in (DATA, Path("/etc/postern")):
            shutil.rmtree(path, ignore_errors=True)


def _owners(top):
    """The owner uid of every regular file under `top`, skipping files removed meanwhile."""
    owners = []
    for path in top.rglob("*") if top.exists() else []:
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode):
            owners.append(st.st_uid)
    return owners


def _exists(lookup, name: str) -> bool:
    try:
        lookup(name)
        return True
    except KeyError:
        return False
