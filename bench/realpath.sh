#!/usr/bin/env bash
# The real-path benchmark (issue 17): authenticated submission over STARTTLS, as a few
# hundred user accounts, with content scanning, DKIM RSA-2048 signing and (for Postern) an
# archive for a share of the accounts, relayed to one smtp-sink:
#   (a) postern   bench/loadgen -> Postern (submission listener) -> smtp-sink
#   (b) postfix   bench/loadgen -> Postfix (SASL via Dovecot, STARTTLS,
#                 milters Rspamd + OpenDKIM) -> smtp-sink
# for each message size x messages per connection, repeated and interleaved; prints medians,
# ratios, every run and every setting, and writes them to bench/results-<date>-realpath.md.
#
# Usage (as root):  bench/realpath.sh
# Environment (defaults in brackets):
#   REPS [3]                  repetitions of every case (Postern, Postfix interleaved)
#   SIZES ["1024 102400"]     message sizes in bytes (the whole message, approximately)
#   PER_CONN ["20 1"]         messages per connection (1: connect, TLS and AUTH per message)
#   SESSIONS [20]             concurrent sessions
#   USERS [300]               user accounts; connections take them in turn
#   ARCHIVE_EVERY [10]        Postern: the archive is on for every Nth user (0: none)
#   AUTH_CACHE_TTL [600]      Postern: [auth] cache_ttl (0: no AUTH cache); Dovecot's is
#                             in bench/realpath/dovecot.conf.in
#   MSGS_REUSE_SMALL [3000]   messages per run, sizes <= 10 KiB, several per connection
#   MSGS_REUSE_LARGE [1000]   ... larger sizes
#   MSGS_SINGLE [600]         messages per run with one message per connection
#   WARMUP [300]              unrecorded messages through each setup first (0: none)
#   SETUPS ["postern postfix"]
#   PF_CONCURRENCY [20]       Postfix *_destination_concurrency_limit
#   PF_PROCESS_LIMIT [100]    Postfix default_process_limit
#   MAX_BUSY [15] QUIET_WAIT [10]   before each run wait until at most MAX_BUSY % of the
#                             CPUs are busy, for at most QUIET_WAIT s
#   PAUSE [1]                 seconds of rest (after sync) between runs
#   TIMEOUT [300]             seconds before one run is abandoned
#   POSTERN_BIN LOADGEN_BIN   use these binaries instead of `cargo build --release`
#   RATE_FRACTION [""]        latency at a fraction of the peak (issue 17: 0.5): after each
#                             closed-loop run (the peak), a second run of the same case
#                             in loadgen's open loop at RATE_FRACTION x the peak's msg/s
#                             (`--rate`), reporting p50/p90/p99/max of the 250 after DATA
#                             and the lag behind the schedule ("" : off)
#   PROFILE_DIR [""]          perf record Postern during each of its runs (bench/profile.sh;
#                             bench/flamegraph.sh draws them)
#   OUT [bench/results-<date>-<time>-realpath.md]  ("" : stdout only)
#   KEEP_TMP [0]              1: keep the temporary directory (logs, configs)
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
CONF_DIR=$BENCH_DIR/realpath
HELPERS=$CONF_DIR/helpers.py
# shellcheck source=profile.sh
source "$BENCH_DIR/profile.sh"

REPS=${REPS:-3}
SIZES=${SIZES:-"1024 102400"}
PER_CONN=${PER_CONN:-"20 1"}
SESSIONS=${SESSIONS:-20}
USERS=${USERS:-300}
ARCHIVE_EVERY=${ARCHIVE_EVERY:-10}
AUTH_CACHE_TTL=${AUTH_CACHE_TTL:-600}
MSGS_REUSE_SMALL=${MSGS_REUSE_SMALL:-3000}
MSGS_REUSE_LARGE=${MSGS_REUSE_LARGE:-1000}
MSGS_SINGLE=${MSGS_SINGLE:-600}
WARMUP=${WARMUP:-300}
SETUPS=${SETUPS:-"postern postfix"}
PF_CONCURRENCY=${PF_CONCURRENCY:-20}
PF_PROCESS_LIMIT=${PF_PROCESS_LIMIT:-100}
MAX_BUSY=${MAX_BUSY:-15}
QUIET_WAIT=${QUIET_WAIT:-10}
PAUSE=${PAUSE:-1}
TIMEOUT=${TIMEOUT:-300}
KEEP_TMP=${KEEP_TMP:-0}
RATE_FRACTION=${RATE_FRACTION:-}
STAMP=$(date +%Y-%m-%d-%H%M%S)
OUT=${OUT-$BENCH_DIR/results-$STAMP-realpath.md}

DOMAIN=bench.example
SELECTOR=bench2026
TO=rcpt@example.net

log() { printf '[realpath %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
has() { [[ " $SETUPS " == *" $1 "* ]]; }

# ---------------------------------------------------------------- prerequisites
[[ $EUID -eq 0 ]] || die "run as root (Postfix, Dovecot, OpenDKIM and Rspamd start as root and drop privileges)"
command -v python3 >/dev/null || die "python3 is required"
missing=()
for pair in postfix:postfix smtp-sink:postfix dovecot:dovecot-core opendkim:opendkim rspamd:rspamd openssl:openssl; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if ((${#missing[@]})); then
    log "installing from Debian: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if postfix status >/dev/null 2>&1; then
    log "WARNING: the system Postfix is running and competes for CPU (our ports are separate)"
fi

postern_rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$REPO" diff --quiet HEAD -- . ':!bench' 2>/dev/null || postern_rev="$postern_rev (+ uncommitted changes)"
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
if [[ -z ${POSTERN_BIN:-} ]] && has postern; then
    log "building Postern: cargo build --release -p postern"
    (cd "$REPO" && cargo build --release -p postern) || die "build failed (set POSTERN_BIN)"
    POSTERN_BIN=$TARGET/release/postern
fi
if [[ -z ${LOADGEN_BIN:-} ]]; then
    log "building the load generator: cargo build --release -p postern-loadgen"
    (cd "$REPO" && cargo build --release -p postern-loadgen) || die "build failed (set LOADGEN_BIN)"
    LOADGEN_BIN=$TARGET/release/postern-loadgen
fi
for b in ${POSTERN_BIN:-} "$LOADGEN_BIN"; do [[ -x $b ]] || die "$b is not executable"; done

# ---------------------------------------------------------------- temp dir, cleanup
TMP=$(mktemp -d /tmp/postern-realpath.XXXXXX)
chmod 755 "$TMP"
declare -A PIDS=() # name -> pid of what we started
PF_ETC=$TMP/postfix/etc
PF_STARTED=0
# OpenDKIM refuses a configuration or key below a directory others may write (/tmp): its
# files live under /run.
OD_DIR=$(mktemp -d /run/postern-realpath-opendkim.XXXXXX)

stop_pid() { # name
    local pid=${PIDS[$1]:-}
    [[ -n $pid ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && { log "$1 ($pid) did not stop within 30 s; killing it"; kill -KILL "$pid" 2>/dev/null || true; }
    fi
    wait "$pid" 2>/dev/null || true
    unset "PIDS[$1]"
}

stop_postfix() {
    [[ $PF_STARTED -eq 1 ]] || return 0
    local pidfile=$TMP/postfix/queue/pid/master.pid master=
    [[ -f $pidfile ]] && master=$(tr -dc 0-9 <"$pidfile")
    timeout 30 postfix -c "$PF_ETC" stop >/dev/null 2>&1 || true
    if [[ -n $master ]]; then
        for _ in $(seq 1 100); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$master" 2>/dev/null && kill -KILL "$master" 2>/dev/null || true
    fi
    PF_STARTED=0
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    profile_stop
    [[ -n ${PIDS[sampler]:-} ]] && { kill -TERM "${PIDS[sampler]}" 2>/dev/null || true; wait "${PIDS[sampler]}" 2>/dev/null || true; unset "PIDS[sampler]"; }
    stop_pid postern
    stop_postfix
    for name in rspamd opendkim dovecot dns sink; do stop_pid "$name"; done
    if [[ $rc -ne 0 ]]; then
        for f in "$TMP"/postern.log "$TMP"/postfix/maillog "$TMP"/dovecot/dovecot.log "$TMP"/opendkim.log \
            "$TMP"/rspamd/log/rspamd.log "$TMP"/loadgen.err; do
            [[ -s $f ]] && { log "last lines of $f:"; tail -n 15 "$f" >&2; }
        done
    fi
    if [[ $KEEP_TMP -eq 1 ]]; then log "kept $TMP and $OD_DIR"; else rm -rf "$TMP" "$OD_DIR"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

wait_port() { # port seconds
    local deadline=$((SECONDS + $2))
    until timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

read -r SINK_PORT POSTERN_PORT PF_PORT DOVECOT_AUTH_PORT OPENDKIM_PORT RSPAMD_MILTER_PORT RSPAMD_NORMAL_PORT \
    RSPAMD_CONTROLLER_PORT DNS_PORT < <(free_ports 9)
COUNT_FILE=$TMP/sink.count
SINK_CMD=(smtp-sink -c -u nobody "127.0.0.1:$SINK_PORT" 1024)

# ---------------------------------------------------------------- users, key, certificate
"$LOADGEN_BIN" users --count "$USERS" --domain "$DOMAIN" >"$TMP/users.tsv"
mkdir -p "$TMP/dkim"
openssl genrsa -out "$TMP/dkim/$SELECTOR.pem" 2048 2>/dev/null
log "$USERS users of $DOMAIN; DKIM RSA-2048 key, selector $SELECTOR"

# ---------------------------------------------------------------- Postern
POSTERN_DATA=$TMP/postern-data
printf '%s 2001-01-01\n' "$DOMAIN" >"$TMP/new-domains.txt"
cat >"$TMP/postern.toml" <<EOF
hostname = "postern-bench.localdomain"
# No client is trusted by address: every message comes through AUTH (as Postfix's mynetworks).
trusted_networks = ["192.0.2.0/24"]
[auth]
cache_ttl = $AUTH_CACHE_TTL
[domain_age]
rdap = false
feed = "$TMP/new-domains.txt"
EOF
POSTERN_CMD=("${POSTERN_BIN:-postern}" serve --config "$TMP/postern.toml" --data-dir "$POSTERN_DATA"
    --smtp "" --smtps "" --submission "127.0.0.1:$POSTERN_PORT" --admin 127.0.0.1:0
    --relay-host "127.0.0.1:$SINK_PORT")
# Every user account: limits on and far above the load, every built-in content check on.
ACCOUNT_SETTINGS='{"limits": {"connections_per_minute": 1000000, "connections_per_hour": 10000000, "connections_per_day": 100000000, "connections_per_week": 100000000, "connections_per_month": 100000000, "messages_per_session": 1000, "recipients_per_day": 100000000, "recipients_per_message": 100, "max_message_size": 52428800, "max_hops": 50}, "checks": {"spam": true, "block_macros": true, "block_dangerous_attachments": true, "block_encrypted_archives": true, "block_new_domains": true}}'
if has postern; then
    "${POSTERN_CMD[@]}" >"$TMP/postern.log" 2>&1 &
    PIDS[postern]=$!
    deadline=$((SECONDS + 60))
    until grep -q "^listening: submission 127.0.0.1:$POSTERN_PORT" "$TMP/postern.log" 2>/dev/null; do
        kill -0 "${PIDS[postern]}" 2>/dev/null || die "Postern exited at start-up"
        ((SECONDS < deadline)) || die "Postern did not print 'listening: submission 127.0.0.1:$POSTERN_PORT'"
        sleep 0.1
    done
    log "Postern: creating the domain, the DKIM key and $USERS accounts through the CLI and the admin API"
    python3 "$HELPERS" postern-setup --postern "$POSTERN_BIN" --data-dir "$POSTERN_DATA" --users "$TMP/users.tsv" \
        --domain "$DOMAIN" --key "$TMP/dkim/$SELECTOR.pem" --selector "$SELECTOR" \
        --settings "$ACCOUNT_SETTINGS" --archive-every "$ARCHIVE_EVERY" >"$TMP/postern-setup.log" 2>&1 ||
        die "Postern setup failed: $(tail -n 5 "$TMP/postern-setup.log")"
    log "Postern: $(tail -n 1 "$TMP/postern-setup.log")"
fi
# Both servers present the same certificate: Postern's own (generated at first start).
mkdir -p "$TMP/tls"
if has postern; then
    cp "$POSTERN_DATA/tls/cert.pem" "$POSTERN_DATA/tls/key.pem" "$TMP/tls/" || die "no certificate in $POSTERN_DATA/tls"
else
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=bench \
        -keyout "$TMP/tls/key.pem" -out "$TMP/tls/cert.pem" 2>/dev/null
fi
chmod 600 "$TMP/tls/key.pem"
TLS_KEY_KIND=$(openssl pkey -in "$TMP/tls/key.pem" -noout -text 2>/dev/null | head -n 1)

# ---------------------------------------------------------------- the Postfix stack
subst() { # template -> stdout
    sed -e "s|@QUEUE_DIR@|$TMP/postfix/queue|g" -e "s|@DATA_DIR@|$TMP/postfix/data|g" \
        -e "s|@SINK_PORT@|$SINK_PORT|g" -e "s|@LOG_FILE@|$TMP/postfix/maillog|g" \
        -e "s|@TMP_DIR@|$TMP/postfix|g" -e "s|@DEST_CONCURRENCY@|$PF_CONCURRENCY|g" \
        -e "s|@PROCESS_LIMIT@|$PF_PROCESS_LIMIT|g" -e "s|@SMTPD_ADDR@|127.0.0.1:$PF_PORT|g" \
        -e "s|@TLS_CERT@|$TMP/tls/cert.pem|g" -e "s|@TLS_KEY@|$TMP/tls/key.pem|g" \
        -e "s|@DOVECOT_AUTH_PORT@|$DOVECOT_AUTH_PORT|g" -e "s|@SENDER_LOGIN_MAP@|$TMP/postfix/etc/sender_login|g" \
        -e "s|@RSPAMD_MILTER_PORT@|$RSPAMD_MILTER_PORT|g" -e "s|@OPENDKIM_PORT@|$OPENDKIM_PORT|g" \
        -e "s|@RSPAMD_NORMAL_PORT@|$RSPAMD_NORMAL_PORT|g" -e "s|@RSPAMD_CONTROLLER_PORT@|$RSPAMD_CONTROLLER_PORT|g" \
        -e "s|@DNS_PORT@|$DNS_PORT|g" -e "s|@DC_DIR@|$TMP/dovecot|g" -e "s|@OD_DIR@|$OD_DIR|g" \
        -e "s|@DOMAIN@|$DOMAIN|g" -e "s|@SELECTOR@|$SELECTOR|g" -e "s|@KEY_FILE@|$OD_DIR/$SELECTOR.pem|g" "$1"
}

if has postfix; then
    # A DNS responder for Rspamd (NXDOMAIN for every question: there is no network).
    python3 "$HELPERS" dns --port "$DNS_PORT" >"$TMP/dns.log" 2>&1 &
    PIDS[dns]=$!

    # Dovecot: the auth service only.
    mkdir -p "$TMP/dovecot/run" "$TMP/dovecot/state"
    subst "$CONF_DIR/dovecot.conf.in" >"$TMP/dovecot/dovecot.conf"
    "$LOADGEN_BIN" dovecot-passwd <"$TMP/users.tsv" >"$TMP/dovecot/users"
    chmod 644 "$TMP/dovecot/users"
    dovecot -F -c "$TMP/dovecot/dovecot.conf" >"$TMP/dovecot/stdout.log" 2>&1 &
    PIDS[dovecot]=$!
    wait_port "$DOVECOT_AUTH_PORT" 20 || die "Dovecot auth is not listening on $DOVECOT_AUTH_PORT"

    # OpenDKIM: the same key as Postern's.
    cp "$TMP/dkim/$SELECTOR.pem" "$OD_DIR/$SELECTOR.pem"
    subst "$CONF_DIR/opendkim.conf.in" >"$OD_DIR/opendkim.conf"
    chown -R opendkim:opendkim "$OD_DIR"
    chmod 750 "$OD_DIR"; chmod 600 "$OD_DIR/$SELECTOR.pem"; chmod 644 "$OD_DIR/opendkim.conf"
    chown root:root "$OD_DIR/opendkim.conf"
    opendkim -f -x "$OD_DIR/opendkim.conf" >"$TMP/opendkim.log" 2>&1 &
    PIDS[opendkim]=$!
    wait_port "$OPENDKIM_PORT" 20 || die "OpenDKIM is not listening on $OPENDKIM_PORT"

    # Rspamd: Debian's configuration, our local.d (ports, DNS, network checks off).
    mkdir -p "$TMP/rspamd/etc/local.d" "$TMP/rspamd/db" "$TMP/rspamd/run" "$TMP/rspamd/log"
    for f in "$CONF_DIR"/rspamd-local.d/*; do subst "$f" >"$TMP/rspamd/etc/local.d/$(basename "$f")"; done
    chown -R _rspamd:_rspamd "$TMP/rspamd/db" "$TMP/rspamd/run" "$TMP/rspamd/log"
    RSPAMD_CMD=(rspamd -f -u _rspamd -g _rspamd -c /etc/rspamd/rspamd.conf --var="LOCAL_CONFDIR=$TMP/rspamd/etc"
        --var="DBDIR=$TMP/rspamd/db" --var="RUNDIR=$TMP/rspamd/run" --var="LOGDIR=$TMP/rspamd/log")
    "${RSPAMD_CMD[@]}" >"$TMP/rspamd/stdout.log" 2>&1 &
    PIDS[rspamd]=$!
    wait_port "$RSPAMD_MILTER_PORT" 240 || die "Rspamd's proxy (milter) is not listening on $RSPAMD_MILTER_PORT"
    wait_port "$RSPAMD_NORMAL_PORT" 240 || die "Rspamd's normal worker is not listening on $RSPAMD_NORMAL_PORT"

    # Postfix.
    mkdir -p "$PF_ETC" "$TMP/postfix/queue" "$TMP/postfix/data"
    chown postfix:postfix "$TMP/postfix/data"
    subst "$CONF_DIR/postfix-main.cf.in" >"$PF_ETC/main.cf"
    subst "$CONF_DIR/postfix-master.cf.in" >"$PF_ETC/master.cf"
    printf '/^(.+)$/ ${1}\n' >"$PF_ETC/sender_login"
    if ! out=$(script -qec "postfix -c $PF_ETC check" /dev/null 2>&1); then die "postfix check: $out"; fi
    PF_STARTED=1
    if ! out=$(script -qec "postfix -c $PF_ETC start" /dev/null 2>&1); then die "postfix start: $out"; fi
    wait_port "$PF_PORT" 20 || die "Postfix smtpd is not listening on 127.0.0.1:$PF_PORT"
    log "Postfix stack: smtpd 127.0.0.1:$PF_PORT, Dovecot auth :$DOVECOT_AUTH_PORT, OpenDKIM :$OPENDKIM_PORT, Rspamd milter :$RSPAMD_MILTER_PORT"
fi

port_of() { if [[ $1 == postern ]]; then echo "$POSTERN_PORT"; else echo "$PF_PORT"; fi; }
roots_of() { # the processes whose trees make the setup
    if [[ $1 == postern ]]; then echo "${PIDS[postern]}"; return; fi
    echo "$(tr -dc 0-9 <"$TMP/postfix/queue/pid/master.pid") ${PIDS[dovecot]} ${PIDS[opendkim]} ${PIDS[rspamd]}"
}
loadgen() { # setup sessions messages per_conn size [extra...]
    local setup=$1 sessions=$2 messages=$3 per_conn=$4 size=$5
    shift 5
    "$LOADGEN_BIN" run --server "127.0.0.1:$(port_of "$setup")" --users-file "$TMP/users.tsv" \
        --sessions "$sessions" --messages "$messages" --per-connection "$per_conn" --size "$size" --to "$TO" \
        --timeout "$TIMEOUT" "$@" 2>>"$TMP/loadgen.err"
}

# ---------------------------------------------------------------- smoke: both sign, Postfix scans
# A sink that keeps the messages, for a few messages through each setup; then the counting
# sink for the measurements (on the same port, after the relays' cached connections expired).
mkdir -p "$TMP/smoke"; chown nobody "$TMP/smoke"
smtp-sink -u nobody -d "$TMP/smoke/%H%M%S." "127.0.0.1:$SINK_PORT" 64 >"$TMP/smoke-sink.log" 2>&1 &
PIDS[sink]=$!
wait_port "$SINK_PORT" 10 || die "smtp-sink did not start"
SMOKE_REPORT=$TMP/smoke.md
: >"$SMOKE_REPORT"
for setup in $SETUPS; do
    for size in $SIZES; do
        line=$(loadgen "$setup" 1 2 2 "$size" --sample "$TMP/sample-$size.eml")
        [[ $line == status=accepted* ]] || die "smoke run through $setup failed: $line"
    done
done
want=$(( $(wc -w <<<"$SETUPS") * $(wc -w <<<"$SIZES") * 2 ))
for _ in $(seq 1 100); do (( $(find "$TMP/smoke" -type f | wc -l) >= want )) && break; sleep 0.2; done
got=$(find "$TMP/smoke" -type f | wc -l)
((got >= want)) || die "the smoke sink has $got of $want messages"
signed=$( (grep -lE "^DKIM-Signature: v=1; a=rsa-sha256;.* d=$DOMAIN;" -r "$TMP/smoke" || true) | wc -l)
scanned=$( (grep -l '^X-Spamd-Result:' -r "$TMP/smoke" || true) | wc -l)
{
    echo "Smoke check before measuring ($want messages, 2 per setup and size, kept by a second smtp-sink):"
    echo "$signed of $want carry an rsa-sha256 DKIM-Signature of d=$DOMAIN; $scanned carry Rspamd's X-Spamd-Result (Postfix's)."
    echo
    for f in $(find "$TMP/smoke" -type f | sort); do
        echo '```'
        # The signature and the scan result of each (the header fields with their continuations).
        awk '/^\r?$/ { exit } /^[^ \t]/ { keep = ($0 ~ /^(DKIM-Signature|X-Spamd-Result):/) } keep' "$f" | cut -c1-160
        echo '```'
    done
} >>"$SMOKE_REPORT"
log "smoke: $signed/$want signed (rsa-sha256, d=$DOMAIN), $scanned with X-Spamd-Result"
((signed >= want)) || die "not every message was DKIM-signed (see $TMP/smoke)"
has postfix && { ((scanned >= want / $(wc -w <<<"$SETUPS"))) || die "Postfix's messages do not carry Rspamd's header"; }
sleep 7 # Postern reuses a delivery connection for 5 s, Postfix caches one for 2 s
stop_pid sink
rm -rf "$TMP/smoke"
"${SINK_CMD[@]}" >"$COUNT_FILE" 2>"$TMP/sink.err" &
PIDS[sink]=$!
wait_port "$SINK_PORT" 10 || die "smtp-sink did not start"

# ---------------------------------------------------------------- measurements
RESULTS=$TMP/results.tsv
printf 'rep\tsize\tper_conn\tsetup\tstatus\trate\taccept_rate\tp50_ms\tp99_ms\tsetup_p50_ms\tcpu_ms\tok\tpeak_rss_kb\tbusy_before\tfirst_error\tmode\toffered_rate\tp90_ms\tmax_ms\tlag_p50_ms\tlag_p99_ms\tlag_max_ms\tdue_p99_ms\tstart_ms\tend_ms\n' >"$RESULTS"
messages_for() { # size per_conn
    if (($2 == 1)); then echo "$MSGS_SINGLE"; elif (($1 <= 10240)); then echo "$MSGS_REUSE_SMALL"; else echo "$MSGS_REUSE_LARGE"; fi
}
FAILED=0
measure() { # setup rep size per_conn [rate: open loop at this many msg/s]
    local setup=$1 rep=$2 size=$3 per_conn=$4 open_rate=${5:-} messages busy line sampled mode=peak
    local -a rate_arg=()
    [[ -n $open_rate ]] && { mode=open; rate_arg=(--rate "$open_rate"); }
    messages=$(messages_for "$size" "$per_conn")
    busy=$(python3 "$HELPERS" busy --max "$MAX_BUSY" --wait "$QUIET_WAIT")
    # shellcheck disable=SC2046 # the roots are a list of pids
    python3 "$HELPERS" sample $(roots_of "$setup") >"$TMP/sample.out" &
    PIDS[sampler]=$!
    sleep 0.3
    [[ $setup == postern ]] && profile_start "${PIDS[postern]}" "realpath-$size-$per_conn-$mode-rep$rep"
    local start_ms end_ms
    start_ms=$(date +%s%3N)
    line=$(loadgen "$setup" "$SESSIONS" "$messages" "$per_conn" "$size" --sink-count "$COUNT_FILE" "${rate_arg[@]}") ||
        line="status=loadgen-failed"
    end_ms=$(date +%s%3N)
    sleep 0.5 # work still in flight after the sink's count (queue removal, events) is part of the cost
    profile_stop
    kill -TERM "${PIDS[sampler]}"; wait "${PIDS[sampler]}" || true; unset "PIDS[sampler]"
    sampled=$(cat "$TMP/sample.out")
    local status= rate= accept_rate= p50_ms= p99_ms= setup_p50_ms= ok=0 first_error= cpu_ms= peak_rss_kb=
    local messages_= failed= connections= accept_s= done_s= max_ms= mean_ms= setup_p99_ms= p90_ms=
    local offered_rate= lag_p50_ms= lag_p99_ms= lag_max_ms= due_p50_ms= due_p99_ms= due_max_ms=
    eval "${line/messages=/messages_=}"
    eval "$sampled"
    [[ $status == delivered ]] || FAILED=$((FAILED + 1))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$size" "$per_conn" "$setup" "$status" \
        "$rate" "$accept_rate" "$p50_ms" "$p99_ms" "$setup_p50_ms" "$cpu_ms" "$ok" "$peak_rss_kb" "$busy" "$first_error" \
        "$mode" "$offered_rate" "$p90_ms" "$max_ms" "$lag_p50_ms" "$lag_p99_ms" "$lag_max_ms" "$due_p99_ms" "$start_ms" "$end_ms" >>"$RESULTS"
    LAST_RATE=$rate
    [[ $mode == open ]] && log "$(printf '%-7s rep %s %6s B x %2s/conn: open loop at %s msg/s: p50 %s  p90 %s  p99 %s  max %s ms; lag behind the schedule p50 %s  p99 %s  max %s ms' \
        "$setup" "$rep" "$size" "$per_conn" "$offered_rate" "$p50_ms" "$p90_ms" "$p99_ms" "$max_ms" "$lag_p50_ms" "$lag_p99_ms" "$lag_max_ms")"
    log "$(printf '%-7s rep %s %6s B x %2s/conn: %-10s %7s msg/s  p50 %6s ms  p99 %7s ms  CPU %s ms (%s µs/msg)  peak RSS %s MB  busy before %s%%' \
        "$setup" "$rep" "$size" "$per_conn" "$status" "$rate" "$p50_ms" "$p99_ms" "$cpu_ms" \
        "$((ok > 0 ? cpu_ms * 1000 / ok : 0))" "$((peak_rss_kb / 1024))" "$busy")${first_error:+ first error: $first_error}"
    sync
    sleep "$PAUSE"
}

if ((WARMUP > 0)); then
    for setup in $SETUPS; do
        log "warm-up: $WARMUP messages through $setup (not recorded)"
        line=$(loadgen "$setup" "$SESSIONS" "$WARMUP" 10 1024 --sink-count "$COUNT_FILE")
        [[ $line == status=delivered* ]] || die "warm-up through $setup failed: $line"
    done
fi
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$SECONDS
for rep in $(seq 1 "$REPS"); do
    for size in $SIZES; do
        for per_conn in $PER_CONN; do
            for setup in $SETUPS; do
                LAST_RATE=
                measure "$setup" "$rep" "$size" "$per_conn"
                if [[ -n $RATE_FRACTION && -n $LAST_RATE ]]; then
                    measure "$setup" "$rep" "$size" "$per_conn" \
                        "$(python3 -c "import sys; print(f'{float(sys.argv[1]) * float(sys.argv[2]):.1f}')" "$LAST_RATE" "$RATE_FRACTION")"
                fi
            done
        done
    done
done
elapsed=$((SECONDS - started))
# How many of Postern's AUTHs the cache answered (its auth events say so), warm-up included.
AUTH_SUMMARY=
if has postern; then
    AUTH_SUMMARY=$(python3 - "$POSTERN_DATA/postern.db" <<'EOF' 2>/dev/null || true
import json, sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute("SELECT data FROM events WHERE kind = 'auth'").fetchall()
details = [json.loads(r[0]).get("detail", "") for r in rows]
print(f"{sum('from the AUTH cache' in d for d in details)} of its {len(details)} AUTHs answered from the cache")
EOF
    )
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
HEADER=$TMP/header.md
FOOTER=$TMP/footer.md
{
    echo "# Real-path benchmark $STAMP (issue 17)"
    echo
    echo "- machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), $(df -hT "$TMP" | awk 'NR==2 {print $2 " on " $1}') (spools and queues)"
    echo "- Postern ${POSTERN_BIN:-}, repo at $postern_rev when the benchmark started; load generator $LOADGEN_BIN"
    echo "- Postfix $(postconf -h mail_version), Dovecot $(dovecot --version | cut -d' ' -f1), $(opendkim -V 2>&1 | head -n 1 | sed 's/^opendkim: //'), Rspamd $(rspamd --version 2>&1 | grep -o '[0-9][0-9.]*' | head -n 1) (Debian packages)"
    echo "- $REPS repetitions, Postern and the Postfix stack interleaved within each; measuring took ${elapsed} s; load average before: $load_before, after: $load_after"
    echo "- $SESSIONS concurrent sessions; $USERS user accounts of $DOMAIN, connections take them in turn; sizes $SIZES bytes; messages per connection $PER_CONN; messages per run: $MSGS_REUSE_SMALL (<= 10 KiB, several per connection), $MSGS_REUSE_LARGE (larger), $MSGS_SINGLE (one per connection); $WARMUP unrecorded warm-up messages per setup first"
    echo "- every connection: EHLO, STARTTLS (full handshake: the client does not resume sessions; certificate: ${TLS_KEY_KIND:-?}, the same file for both servers), EHLO, AUTH PLAIN, then per message MAIL, RCPT (one recipient), DATA; QUIT"
    echo "- passwords: argon2id, 19 MiB, 2 passes, 1 lane on both sides (Postern's own; Dovecot's passwd-file with \`{ARGON2ID}\` hashes of the same parameters)"
    echo "- authentication caches: Postern \`[auth] cache_ttl = $AUTH_CACHE_TTL\` (0: off; a hit skips argon2id)${AUTH_SUMMARY:+; $AUTH_SUMMARY}; Dovecot \`auth_cache_size = 10M\`, \`auth_cache_ttl = 10 mins\`, \`auth_cache_negative_ttl = 0\`, \`auth_cache_verify_password_with_worker = yes\` (a hit skips the passdb lookup; the password is still verified against the cached argon2id hash, in the auth workers)"
    echo "- DKIM: one RSA-2048 key, selector $SELECTOR, imported into Postern and given to OpenDKIM; relaxed/relaxed, rsa-sha256"
    echo "- Postern: every account has limits on (far above the load) and every built-in content check on (GTUBE, the scorer, macros, dangerous attachments, encrypted archives, new sender domains from a local feed); the archive is on for every ${ARCHIVE_EVERY}th account; one instance for the whole benchmark (like Postfix)"
    echo "- the Postfix stack: smtpd with SASL through Dovecot's auth service, \`reject_authenticated_sender_login_mismatch\`, milters Rspamd (Debian's configuration, network checks off: no RBLs, no fuzzy, no DCC; DNS answered NXDOMAIN at once by a local responder; no Redis, so no Bayes) then OpenDKIM"
    [[ -n $RATE_FRACTION ]] && echo "- latency at a fraction of the peak: after each closed-loop run, the same case again in the load generator's open loop (\`--rate\`) at $RATE_FRACTION x that run's msg/s: message i is due at t0 + i/rate; the same $SESSIONS sessions keep their connections and take the next message due; latency is still from the final \`.\` to the \`250\`, and the lag of each message's MAIL behind its due time is reported (coordinated omission shows there; tokio's timer adds up to ~1 ms)"
    echo "- before each run the script waited (at most ${QUIET_WAIT} s) for at most ${MAX_BUSY}% of the CPUs to be busy"
    echo
    echo "**How it is measured.** \`bench/loadgen\` (Rust, tokio + rustls) runs the sessions; for"
    echo "each message it records the time from writing the final \`.\` to reading the \`250\`."
    echo "msg/s is end to end: from the first connection until smtp-sink's \`-c\` counter has grown"
    echo "by the run's message count. CPU is the user + system time of the setup's process trees"
    echo "over the run (Postern: its process; the Postfix stack: the Postfix master and every"
    echo "child, Dovecot, OpenDKIM, Rspamd and their workers, reaped children included), from"
    echo "/proc; peak RSS the largest sum of their resident sets sampled every 100 ms. On 2 shared"
    echo "cores msg/s and latency are noisy; CPU per message is the steadier figure."
    echo
    cat "$SMOKE_REPORT"
} >"$HEADER"
{
    echo "## Exact commands"
    echo
    echo '```sh'
    echo "${SINK_CMD[*]} > sink.count"
    echo "$LOADGEN_BIN run --server 127.0.0.1:PORT --users-file users.tsv --sessions $SESSIONS --messages N --per-connection K --size SIZE --to $TO --sink-count sink.count"
    echo "#   PORT: $POSTERN_PORT (Postern), $PF_PORT (Postfix)"
    if has postern; then printf '%q ' "${POSTERN_CMD[@]}"; echo; fi
    if has postfix; then
        echo "dovecot -F -c dovecot.conf"
        echo "opendkim -f -x opendkim.conf"
        printf '%q ' "${RSPAMD_CMD[@]}"; echo
        echo "postfix -c $PF_ETC start"
    fi
    echo '```'
    if has postern; then
        echo
        echo "## Postern: configuration file and the settings of every user account"
        echo
        echo '```toml'; cat "$TMP/postern.toml"; echo '```'
        echo
        echo '```json'; python3 -m json.tool <<<"$ACCOUNT_SETTINGS"; echo '```'
        echo
        echo "plus \`{\"archive\": {\"enabled\": true}}\` for every ${ARCHIVE_EVERY}th account ($(tail -n 1 "$TMP/postern-setup.log")); DKIM: \`postern dkim import $DOMAIN --selector $SELECTOR KEY.pem\`, \`postern dkim rotate $DOMAIN $SELECTOR --force\`."
    fi
    if has postfix; then
        echo
        echo "## Postfix (\`postconf -c DIR -n\`, master.cf, sender_login)"
        echo
        echo '```'; postconf -c "$PF_ETC" -n; echo '```'
        echo
        echo '```'; grep -v '^#' "$PF_ETC/master.cf"; echo '```'
        echo
        echo '```'; cat "$PF_ETC/sender_login"; echo '```'
        echo
        echo "## Dovecot (\`doveconf -n\`)"
        echo
        echo '```'; doveconf -n -c "$TMP/dovecot/dovecot.conf" 2>&1 | grep -v '^#'; echo '```'
        echo
        echo "## OpenDKIM"
        echo
        echo '```'; grep -v '^#' "$OD_DIR/opendkim.conf"; echo '```'
        echo
        echo "## Rspamd: Debian's /etc/rspamd with these local.d files"
        echo
        for f in "$TMP"/rspamd/etc/local.d/*; do
            echo "\`local.d/$(basename "$f")\`:"; echo; echo '```'; cat "$f"; echo '```'; echo
        done
    fi
} >"$FOOTER"
python3 "$HELPERS" report "$RESULTS" "$HEADER" "$FOOTER" --out "$OUT" \
    ${RATE_FRACTION:+--postern-db "$POSTERN_DATA/postern.db"}
[[ -n $OUT ]] && log "report written to $OUT"
((FAILED == 0)) || { log "$FAILED run(s) failed (see the per-run table)"; exit 1; }
