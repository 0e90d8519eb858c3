"""What an installation gets from the command line itself: shell completions and manual
pages generated from its definition, and progress on stderr only where a person watches.

Covers: `postern completions bash` sourced by a real bash registers `complete -p postern`
and completes `postern qu<TAB>` to queue and quarantine, and `postern queue li<TAB>` to
list; the other shells' scripts are syntax-checked when that shell is installed;
`postern man` renders with groff and `man -l` without a single warning and names every
top-level subcommand; `man --out DIR` writes one page per subcommand; `dkim generate` and
`train` print nothing on stderr into a pipe or with --json, and draw their progress when
stderr is a terminal (a pty).
"""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import postern_bin

# Every top-level subcommand (clap's `help` aside). A new one must be added here, and so
# gets checked in the completions and the manual page.
SUBCOMMANDS = ["serve", "check-config", "status", "queue", "domain", "account", "identity", "token",
               "admin-user", "rule", "dkim", "client-block", "inbound-domain", "quarantine", "log", "train",
               "archive", "completions", "man"]


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(postern_bin()), *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, **kwargs)
    assert proc.returncode == 0, (args, proc.returncode, proc.stdout, proc.stderr)
    return proc


def test_help_lists_exactly_the_known_subcommands():
    help_text = run("--help").stdout
    commands = help_text.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    names = [line.split()[0] for line in commands.splitlines() if line.startswith("  ") and line.split()]
    assert sorted(n for n in names if n != "help") == sorted(SUBCOMMANDS), names


# --------------------------------------------------------------------------------------
# Completions


def bash_complete(script: Path, line: str) -> list[str]:
    """What bash offers for `line` (the cursor at its end), through the registered function."""
    words = line.split(" ")
    program = f"""
source {script}
spec=$(complete -p postern) || exit 3
echo "SPEC $spec"
function=$(sed -n 's/.*-F \\([^ ]*\\).*/\\1/p' <<<"$spec")
COMP_LINE='{line}'
COMP_POINT=${{#COMP_LINE}}
COMP_WORDS=({' '.join(repr(w) if w else "''" for w in words)})
COMP_CWORD={len(words) - 1}
COMP_TYPE=9
"$function" postern '{words[-1]}' '{words[-2]}'
printf 'REPLY %s\\n' "${{COMPREPLY[@]}}"
"""
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", program], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert proc.stderr == "", proc.stderr
    lines = proc.stdout.splitlines()
    spec = [line for line in lines if line.startswith("SPEC ")]
    assert spec and spec[0].endswith(" postern"), lines
    return [line.split(" ", 1)[1].strip() for line in lines if line.startswith("REPLY ")]


def test_bash_completion_is_registered_and_completes(tmp_path):
    script = tmp_path / "postern.bash"
    script.write_text(run("completions", "bash").stdout)
    assert sorted(bash_complete(script, "postern qu")) == ["quarantine", "queue"]
    assert bash_complete(script, "postern queue li") == ["list"]
    offered = bash_complete(script, "postern ")
    for name in SUBCOMMANDS:
        assert name in offered, (name, offered)


@pytest.mark.parametrize("shell,check", [("zsh", ["zsh", "-n"]), ("fish", ["fish", "--no-execute"])])
def test_other_shells_scripts_parse(tmp_path, shell, check):
    script = run("completions", shell).stdout
    for name in SUBCOMMANDS:
        assert name in script, (shell, name)
    if shutil.which(check[0]) is None:
        pytest.skip(f"{check[0]} is not installed: only the names were checked")
    path = tmp_path / f"postern.{shell}"
    path.write_text(script)
    proc = subprocess.run([*check, str(path)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr


def test_elvish_and_powershell_scripts_name_the_subcommands():
    for shell in ("elvish", "powershell"):
        script = run("completions", shell).stdout
        for name in SUBCOMMANDS:
            assert name in script, (shell, name)


def test_an_unknown_shell_is_refused():
    proc = subprocess.run([str(postern_bin()), "completions", "tcsh"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2, proc
    assert "invalid value 'tcsh'" in proc.stderr, proc.stderr


# --------------------------------------------------------------------------------------
# Manual pages


def render(page: Path) -> str:
    """The page as groff formats it for a terminal, failing on any warning (-ww)."""
    proc = subprocess.run(["groff", "-man", "-Tutf8", "-ww", str(page)], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "LC_ALL": "C.UTF-8"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", f"{page.name}: {proc.stderr}"
    return re.sub(".\b", "", proc.stdout)  # grotty's overstrike (bold, underline) undone


@pytest.mark.skipif(shutil.which("groff") is None or shutil.which("man") is None, reason="groff and man needed")
def test_man_page_renders_without_warnings_and_names_every_subcommand(tmp_path):
    page = tmp_path / "postern.1"
    page.write_text(run("man").stdout)
    text = render(page)
    assert text.lstrip().startswith("postern(1)"), text[:200]
    for name in SUBCOMMANDS:
        assert f"postern-{name}(1)" in text, name
    assert "postern-help(1)" not in text, "clap's help subcommand has no page"
    shown = subprocess.run(["man", "--warnings", "-l", str(page)], capture_output=True, text=True, timeout=30,
                           env={**os.environ, "MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "80", "LC_ALL": "C.UTF-8"})
    assert shown.returncode == 0, shown.stderr
    assert shown.stderr == "", shown.stderr
    assert "Postern, an outbound mail gateway" in shown.stdout


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff needed")
def test_man_out_writes_a_page_per_subcommand(tmp_path):
    out = tmp_path / "man1"
    listed = run("man", "--out", str(out)).stdout.splitlines()
    written = sorted(p.name for p in out.iterdir())
    assert sorted(Path(p).name for p in listed) == written
    for name in ["postern.1", "postern-queue-list.1", "postern-dkim-generate.1", "postern-domain-ip-range-add.1"] + \
            [f"postern-{n}.1" for n in SUBCOMMANDS]:
        assert name in written, name
    for page in out.iterdir():
        for referenced in re.findall(r"(postern[\w\\-]*)\(1\)", page.read_text()):
            assert referenced.replace("\\-", "-") + ".1" in written, (page.name, referenced)
    generate = render(out / "postern-dkim-generate.1")
    assert "--selector" in generate and "RSA-2048" in generate, generate
    for page in ("postern-serve.1", "postern-queue.1", "postern-completions.1"):
        render(out / page)


# --------------------------------------------------------------------------------------
# Progress: only on a terminal


def run_on_pty(args: list[str], timeout: float = 60.0) -> tuple[int, str, str]:
    """Runs with stderr on a pseudo-terminal (stdout a pipe): exit code, stdout, the pty's bytes."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                            env={**client_env(), "TERM": "xterm", "NO_COLOR": "1"})
    os.close(slave)
    seen = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    stdout = proc.stdout.read().decode() if proc.stdout else ""
    code = proc.wait(timeout=10)
    return code, stdout, seen.decode("utf-8", "replace")


def client_env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("POSTERN_URL", "POSTERN_TOKEN")}


def test_dkim_generate_shows_a_spinner_only_on_a_terminal(postern):
    server = postern()
    base = [str(postern_bin())]
    data = ["--data-dir", str(server.data_dir)]
    run("domain", "add", "progress.example", *data, env=client_env())

    piped = run("dkim", "generate", "progress.example", "--selector", "piped", *data, env=client_env())
    assert piped.stderr == "", piped.stderr
    assert "piped" in piped.stdout, piped.stdout

    code, stdout, terminal = run_on_pty(base + ["dkim", "generate", "progress.example", "--selector", "tty", *data])
    assert code == 0, (stdout, terminal)
    assert "generating the RSA-2048 key tty for progress.example" in terminal, repr(terminal)
    assert "generating" not in stdout, stdout
    assert "tty" in stdout, stdout

    code, stdout, terminal = run_on_pty(base + ["dkim", "generate", "progress.example", "--selector", "json",
                                                "--algorithm", "ed25519", "--json", *data])
    assert code == 0, (stdout, terminal)
    assert terminal == "", repr(terminal)
    assert '"json"' in stdout, stdout


def test_train_shows_a_bar_only_on_a_terminal(postern, tmp_path):
    server = postern()
    data = ["--data-dir", str(server.data_dir)]
    files = []
    for i in range(3):
        path = tmp_path / f"ham{i}.eml"
        path.write_text(f"From: a{i}@example.com\r\nTo: b@example.org\r\nSubject: hello {i}\r\n"
                        f"Message-ID: <p{i}@example.com>\r\n\r\nThe minutes of meeting {i}.\r\n")
        files.append(str(path))

    piped = run("train", "--ham", *files[:2], *data, env=client_env())
    assert piped.stderr == "", piped.stderr
    assert len(piped.stdout.splitlines()) == 3, piped.stdout

    code, stdout, terminal = run_on_pty([str(postern_bin()), "train", "--ham", *files, *data])
    assert code == 0, (stdout, terminal)
    assert "/3 files" in terminal, repr(terminal)
    assert "files" not in stdout, stdout
    assert stdout.splitlines()[-1].startswith("installation: 3 ham"), stdout
