#!/usr/bin/env bash
# Starts or stops the real engines the end-to-end tests scan with, on loopback ports,
# with every network check off:
#   rspamd  (Debian package `rspamd`)        on 127.0.0.1:$POSTERN_RSPAMD_PORT (11433)
#   spamd   (Debian package `spamassassin`)  on 127.0.0.1:$POSTERN_SPAMD_PORT  (7833)
#   clamd   (Debian package `clamav-daemon`) on 127.0.0.1:$POSTERN_CLAMD_PORT  (13310)
#           and on the Unix socket $POSTERN_ENGINES_DIR/clamd/run/clamd.sock
#
#   scripts/engines.sh start [ENGINE...]   start what is not answering yet (idempotent,
#                                          fast when up); ENGINE: rspamd, spamd, clamd
#                                          (default: all three)
#   scripts/engines.sh stop [ENGINE...]    stop what this script started
#   scripts/engines.sh status [ENGINE...]  exit 0 when all answer
#
# State (configuration, pid files, logs, rspamd's compiled rule cache) lives in
# $POSTERN_ENGINES_DIR (default: $TMPDIR/postern-engines). Rspamd runs with a
# configuration of its own: the packaged rules, a resolver that answers nothing (a closed
# loopback port, short timeout) and the modules that would ask the network turned off.
# spamd runs with -L (local tests only), no Bayes, no user configuration.
# clamd cannot fetch ClamAV's databases (no network, no freshclam): it runs with a database
# this script writes, two test signatures matching unique ASCII strings anywhere in a
# message (clamd decodes MIME parts, so also inside a base64 attachment):
#   Postern.Test.Signature        "POSTERN-CLAMAV-TEST-SIGNATURE-5d1e8a"  (postern.ndb)
#   PUA.Win.Tool.NetTool-Postern  "POSTERN-CLAMAV-PUA-NETTOOL-9b27c4"     (postern.ndu)
# clamd reports them with the suffix `.UNOFFICIAL` (not signed by ClamAV). A `.ndu` file
# holds PUA signatures, loaded only with `DetectPUA yes` (set here). StreamMaxLength is 1M,
# so a test can go past it.
set -euo pipefail

RSPAMD_PORT="${POSTERN_RSPAMD_PORT:-11433}"
SPAMD_PORT="${POSTERN_SPAMD_PORT:-7833}"
CLAMD_PORT="${POSTERN_CLAMD_PORT:-13310}"
DIR="${POSTERN_ENGINES_DIR:-${TMPDIR:-/tmp}/postern-engines}"
START_WAIT=60 # seconds; rspamd compiles its rules on the first start

# Whether something answers on 127.0.0.1:$1 with the protocol's "ping".
answers() {
    python3 - "$1" "$2" <<'EOF' 2>/dev/null
import socket, sys
port, kind = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), 1)
s.settimeout(2)
if kind == "rspamd":
    s.sendall(b"GET /ping HTTP/1.0\r\n\r\n")
    expect = b"pong"
elif kind == "clamd":
    s.sendall(b"zPING\0")
    expect = b"PONG"
else:
    s.sendall(b"PING SPAMC/1.5\r\n\r\n")
    expect = b"PONG"
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
sys.exit(0 if expect in data else 1)
EOF
}

wait_for() { # port kind pidfile log
    local i
    for i in $(seq $((START_WAIT * 10))); do
        answers "$1" "$2" && return 0
        sleep 0.1
    done
    echo "$2 did not answer on 127.0.0.1:$1 within ${START_WAIT}s; its log:" >&2
    tail -n 30 "$4" >&2 || true
    return 1
}

# Runs as an unprivileged user when we are root; prints the user.
run_user() {
    if [ "$(id -u)" -ne 0 ]; then
        id -un
    elif id "$1" >/dev/null 2>&1; then
        echo "$1"
    else
        echo nobody
    fi
}

start_rspamd() {
    if answers "$RSPAMD_PORT" rspamd; then return 0; fi
    command -v rspamd >/dev/null || { echo "rspamd is not installed (scripts/install-test-deps.sh)" >&2; return 1; }
    local d="$DIR/rspamd" user
    user="$(run_user _rspamd)"
    mkdir -p "$d/local.d" "$d/override.d" "$d/db" "$d/run" "$d/log"
    cat >"$d/rspamd.conf" <<EOF
# Postern's test rspamd: the packaged rules, one scanner worker on loopback, no network.
.include "\$CONFDIR/common.conf"
options {
    pidfile = "$d/run/rspamd.pid";
    .include "\$CONFDIR/options.inc"
    .include(try=true; priority=1,duplicate=merge) "\$LOCAL_CONFDIR/local.d/options.inc"
}
logging {
    type = "file";
    filename = "$d/log/rspamd.log";
    level = "warning";
}
worker "normal" {
    bind_socket = "127.0.0.1:$RSPAMD_PORT";
    count = 1;
    .include "\$CONFDIR/worker-normal.inc"
}
EOF
    # A resolver that never answers (ICMP port unreachable at once): nothing leaves the host.
    # Rspamd's test patterns besides GTUBE (YJS... = "add header", ZJS... = "rewrite
    # subject", AJS... = "no action"), so a test can show Rspamd's action deciding.
    cat >"$d/local.d/options.inc" <<'EOF'
enable_test_patterns = true;
dns {
    nameserver = ["127.0.0.1:1"];
    timeout = 0.1s;
    retransmits = 0;
}
EOF
    local module
    for module in asn arc bimi clickhouse dcc dkim dmarc elastic emails external_services \
        fuzzy_check greylist history_redis metadata_exporter metric_exporter mx_check neural \
        p0f phishing ratelimit rbl replies reputation rspamd_update spf surbl url_redirector \
        antivirus; do
        echo "enabled = false;" >"$d/override.d/$module.conf"
    done
    if [ "$(id -u)" -eq 0 ]; then chown -R "$user" "$d/db" "$d/run" "$d/log"; fi
    local args=(-c "$d/rspamd.conf" --var "LOCAL_CONFDIR=$d" --var "DBDIR=$d/db" --var "RUNDIR=$d/run"
        --var "LOGDIR=$d/log")
    if [ "$(id -u)" -eq 0 ]; then args+=(-u "$user" -g "$(id -gn "$user")"); fi
    rspamd "${args[@]}" >"$d/log/stdout.log" 2>&1
    wait_for "$RSPAMD_PORT" rspamd "$d/run/rspamd.pid" "$d/log/rspamd.log"
}

start_spamd() {
    if answers "$SPAMD_PORT" spamd; then return 0; fi
    command -v spamd >/dev/null || { echo "spamd is not installed (scripts/install-test-deps.sh)" >&2; return 1; }
    local d="$DIR/spamd" user
    user="$(run_user debian-spamd)"
    mkdir -p "$d/site" "$d/home"
    # The packaged site configuration (its plugin loaders), then ours: no Bayes, no network.
    cp /etc/spamassassin/*.pre /etc/spamassassin/*.cf "$d/site/" 2>/dev/null || true
    cat >"$d/site/zz_postern_tests.cf" <<'EOF'
use_bayes 0
bayes_auto_learn 0
dns_available no
skip_rbl_checks 1
EOF
    local as_user=()
    if [ "$(id -u)" -eq 0 ]; then
        chown -R "$user" "$d/home"
        as_user=(--username="$user")
    fi
    rm -f "$d/spamd.pid"
    spamd -L -x --listen="127.0.0.1:$SPAMD_PORT" --allowed-ips=127.0.0.1 --max-children=2 \
        --siteconfigpath="$d/site" --helper-home-dir="$d/home" "${as_user[@]}" \
        --pidfile="$d/spamd.pid" --syslog="$d/spamd.log" --daemonize
    wait_for "$SPAMD_PORT" spamd "$d/spamd.pid" "$d/spamd.log"
}

start_clamd() {
    if answers "$CLAMD_PORT" clamd; then return 0; fi
    command -v clamd >/dev/null || { echo "clamd is not installed (scripts/install-test-deps.sh)" >&2; return 1; }
    local d="$DIR/clamd" user
    user="$(run_user clamav)"
    mkdir -p "$d/db" "$d/run"
    # name:target (0: any file):offset (*: anywhere):the bytes in hex
    echo "Postern.Test.Signature:0:*:$(hex POSTERN-CLAMAV-TEST-SIGNATURE-5d1e8a)" >"$d/db/postern.ndb"
    echo "PUA.Win.Tool.NetTool-Postern:0:*:$(hex POSTERN-CLAMAV-PUA-NETTOOL-9b27c4)" >"$d/db/postern.ndu"
    cat >"$d/clamd.conf" <<EOF
# Postern's test clamd: its own database, loopback TCP and a Unix socket.
DatabaseDirectory $d/db
TCPAddr 127.0.0.1
TCPSocket $CLAMD_PORT
LocalSocket $d/run/clamd.sock
LocalSocketMode 666
PidFile $d/run/clamd.pid
LogFile $d/clamd.log
LogTime yes
Foreground yes
DetectPUA yes
StreamMaxLength 1M
MaxScanSize 10M
MaxFileSize 5M
MaxThreads 4
EOF
    if [ "$(id -u)" -eq 0 ]; then
        echo "User $user" >>"$d/clamd.conf"
        touch "$d/clamd.log"
        chown -R "$user" "$d/db" "$d/run" "$d/clamd.log"
    fi
    rm -f "$d/run/clamd.pid" "$d/run/clamd.sock"
    setsid clamd -c "$d/clamd.conf" >"$d/stdout.log" 2>&1 </dev/null &
    wait_for "$CLAMD_PORT" clamd "$d/run/clamd.pid" "$d/stdout.log"
}

# The hex of $1's bytes.
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }

stop_pidfile() { # pidfile name
    [ -f "$1" ] || return 0
    local pid
    pid="$(cat "$1" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        local i
        for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        echo "stopped $2 (pid $pid)"
    fi
    rm -f "$1"
}

port_of() {
    case "$1" in
        rspamd) echo "$RSPAMD_PORT" ;;
        spamd) echo "$SPAMD_PORT" ;;
        clamd) echo "$CLAMD_PORT" ;;
    esac
}

pidfile_of() {
    case "$1" in
        rspamd) echo "$DIR/rspamd/run/rspamd.pid" ;;
        spamd) echo "$DIR/spamd/spamd.pid" ;;
        clamd) echo "$DIR/clamd/run/clamd.pid" ;;
    esac
}

action="${1:-}"
[ $# -gt 0 ] && shift
engines=("$@")
[ ${#engines[@]} -gt 0 ] || engines=(rspamd spamd clamd)
for engine in "${engines[@]}"; do
    case "$engine" in
        rspamd | spamd | clamd) ;;
        *)
            echo "unknown engine $engine (rspamd, spamd, clamd)" >&2
            exit 2
            ;;
    esac
done

case "$action" in
    start)
        mkdir -p "$DIR"
        for engine in "${engines[@]}"; do
            "start_$engine"
            echo "$engine 127.0.0.1:$(port_of "$engine")"
        done
        ;;
    stop)
        for engine in "${engines[@]}"; do stop_pidfile "$(pidfile_of "$engine")" "$engine"; done
        ;;
    status)
        for engine in "${engines[@]}"; do answers "$(port_of "$engine")" "$engine" || exit 1; done
        ;;
    *)
        echo "usage: $0 start|stop|status [rspamd|spamd|clamd...]" >&2
        exit 2
        ;;
esac
