#!/usr/bin/env bash
# Starts or stops the real spam engines the end-to-end tests scan with, on loopback ports,
# with every network check off:
#   rspamd  (Debian package `rspamd`)        on 127.0.0.1:$POSTERN_RSPAMD_PORT (11433)
#   spamd   (Debian package `spamassassin`)  on 127.0.0.1:$POSTERN_SPAMD_PORT  (7833)
#
#   scripts/engines.sh start    start what is not answering yet (idempotent, fast when up)
#   scripts/engines.sh stop     stop what this script started
#   scripts/engines.sh status   exit 0 when both answer
#
# State (configuration, pid files, logs, rspamd's compiled rule cache) lives in
# $POSTERN_ENGINES_DIR (default: $TMPDIR/postern-engines). Rspamd runs with a
# configuration of its own: the packaged rules, a resolver that answers nothing (a closed
# loopback port, short timeout) and the modules that would ask the network turned off.
# spamd runs with -L (local tests only), no Bayes, no user configuration.
set -euo pipefail

RSPAMD_PORT="${POSTERN_RSPAMD_PORT:-11433}"
SPAMD_PORT="${POSTERN_SPAMD_PORT:-7833}"
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

case "${1:-}" in
    start)
        mkdir -p "$DIR"
        start_rspamd
        start_spamd
        echo "rspamd 127.0.0.1:$RSPAMD_PORT, spamd 127.0.0.1:$SPAMD_PORT"
        ;;
    stop)
        stop_pidfile "$DIR/rspamd/run/rspamd.pid" rspamd
        stop_pidfile "$DIR/spamd/spamd.pid" spamd
        ;;
    status)
        answers "$RSPAMD_PORT" rspamd && answers "$SPAMD_PORT" spamd
        ;;
    *)
        echo "usage: $0 start|stop|status" >&2
        exit 2
        ;;
esac
