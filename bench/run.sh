#!/usr/bin/env bash
# Relay benchmark: messages/s end to end ("until the sink has everything") for
#   (a) ceiling   smtp-source -> smtp-sink
#   (b) postern   smtp-source -> Postern -> smtp-sink        (Postern with --relay-host)
#   (c) postfix   smtp-source -> Postfix (plain relay) -> smtp-sink
#   (d) cluster   2 x smtp-source -> two Postern nodes sharing PostgreSQL and Redis -> smtp-sink
#                 (optional: SETUPS="ceiling postern cluster postfix")
# for each message size x concurrent sessions, repeated; prints medians and ratios and
# writes them with the exact commands and settings to bench/results-<date>.md.
#
# Usage (as root: Postfix needs it):  bench/run.sh
# Environment (defaults in brackets):
#   REPS [3]                 repetitions of every case (interleaved a, b, c per case)
#   SIZES ["1024 102400"]    message payload sizes in bytes (smtp-source -l)
#   SESSIONS ["10 50"]       concurrent sessions (smtp-source -s)
#   MSGS_SMALL [5000]        messages per run for sizes <= 10240 bytes
#   MSGS_LARGE [2000]        messages per run for larger sizes
#   SETUPS ["ceiling postern postfix"]   which of (a) (b) (c) (d) to run
#   PG_URL ["host=127.0.0.1 user=postgres dbname=test"]   cluster: the PostgreSQL server; each
#                            run gets a schema of its own, dropped after it
#   REDIS_URL [redis://127.0.0.1:6379]   cluster: the counters' Redis; each run gets a key
#                            prefix of its own, deleted after it
#   PG_POOL [8]              cluster: [store] pool_size of each node
#   SOURCE_OPTS [""]         extra smtp-source options, e.g. "-d" (reuse connections)
#   WARMUP [500]             unrecorded warm-up messages for ceiling and Postfix (0: none)
#   TIMEOUT [180]            seconds before one measurement is abandoned
#   GRACE [5]                seconds after smtp-source finished with nothing at the sink
#                            before a run counts as acceptance-only (Postern not delivering)
#   STALL [15]               seconds without progress at the sink before a run is incomplete
#   PAUSE [1]                seconds of rest (after sync) between measurements
#   MAX_BUSY [15]            before each run wait until at most this % of the CPUs is busy
#   QUIET_WAIT [10]          ... for at most this many seconds (0: do not wait); the % seen
#                            is reported per run (other work on the machine skews figures)
#   PF_CONCURRENCY [20]      Postfix *_destination_concurrency_limit
#   PF_PROCESS_LIMIT [100]   Postfix default_process_limit
#   POSTERN_BIN              use this binary instead of `cargo build --release -p postern`
#   POSTERN_EXTRA_ARGS [""]  extra arguments for `postern serve`
#   BASELINE_BIN             a second Postern binary (e.g. a build before a change): adds the
#                            setup 'baseline', run like 'postern' and interleaved with it, and
#                            the ratio Postern/baseline to the report, in messages/s and in
#                            CPU time per message (the instance's user + system time over the
#                            run, which other work on the machine does not inflate)
#   RATE_FRACTION [""]       latency at a fraction of the peak (issue 17: 0.5): after each
#                            Postern run, a fresh Postern gets the same case from
#                            postern-loadgen in its open loop (no TLS, no AUTH, RELAY_PER_CONN
#                            messages per connection) at RATE_FRACTION x that run's msg/s;
#                            p50/p90/p99/max of the 250 after DATA in the report ("" : off)
#   RELAY_PER_CONN [1]       messages per connection of those open-loop runs (smtp-source: 1)
#   LOADGEN_BIN              postern-loadgen (built if unset and RATE_FRACTION is set)
#   PROFILE_DIR [""]         perf record Postern during each of its runs (bench/profile.sh;
#                            bench/flamegraph.sh draws them)
#   CHECKS [default]         default: the clients are a trusted network (GTUBE and the
#                            built-in scorer run); all: an ip account for 127.0.0.1 with
#                            every built-in content check on (scorer, macros, dangerous
#                            attachments, encrypted archives, new sender domains from a
#                            local feed, no RDAP); the external engines are not part of it
#   OUT [bench/results-<date>-<time>.md]   Markdown report ("" : stdout only)
#   KEEP_TMP [0]             1: keep the temporary directory (logs, queues) for inspection
#   STOP_SYSTEM_POSTFIX [0]  1: stop an already running system Postfix (it competes for CPU)
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
# shellcheck source=profile.sh
source "$BENCH_DIR/profile.sh"

REPS=${REPS:-3}
SIZES=${SIZES:-"1024 102400"}
SESSIONS=${SESSIONS:-"10 50"}
MSGS_SMALL=${MSGS_SMALL:-5000}
MSGS_LARGE=${MSGS_LARGE:-2000}
SETUPS=${SETUPS:-"ceiling postern postfix"}
if [[ -n ${BASELINE_BIN:-} && $SETUPS != *baseline* ]]; then SETUPS="$SETUPS baseline"; fi
SOURCE_OPTS=${SOURCE_OPTS:-}
WARMUP=${WARMUP:-500}
TIMEOUT=${TIMEOUT:-180}
GRACE=${GRACE:-5}
STALL=${STALL:-15}
PAUSE=${PAUSE:-1}
MAX_BUSY=${MAX_BUSY:-15}
QUIET_WAIT=${QUIET_WAIT:-10}
PF_CONCURRENCY=${PF_CONCURRENCY:-20}
PF_PROCESS_LIMIT=${PF_PROCESS_LIMIT:-100}
POSTERN_EXTRA_ARGS=${POSTERN_EXTRA_ARGS:-}
CHECKS=${CHECKS:-default}
PG_URL=${PG_URL:-"host=127.0.0.1 user=postgres dbname=test"}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
PG_POOL=${PG_POOL:-8}
KEEP_TMP=${KEEP_TMP:-0}
STOP_SYSTEM_POSTFIX=${STOP_SYSTEM_POSTFIX:-0}
STAMP=$(date +%Y-%m-%d-%H%M%S)
OUT=${OUT-$BENCH_DIR/results-$STAMP.md}

FROM=bench@example.com
RATE_FRACTION=${RATE_FRACTION:-}
RELAY_PER_CONN=${RELAY_PER_CONN:-1}
TO=rcpt@example.net

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[[ $CHECKS == default || $CHECKS == all ]] || die "CHECKS must be default or all, not $CHECKS"
has() { [[ " $SETUPS " == *" $1 "* ]]; }

# ---------------------------------------------------------------- prerequisites
[[ $EUID -eq 0 ]] || ! has postfix || die "run as root: Postfix (setup 'postfix') needs it (or SETUPS=\"ceiling postern\")"
command -v python3 >/dev/null || die "python3 is required"
if has cluster; then
    command -v psql >/dev/null || die "setup 'cluster' needs psql (apt-get install postgresql-client)"
    command -v redis-cli >/dev/null || die "setup 'cluster' needs redis-cli (apt-get install redis-tools)"
    [[ $CHECKS == default ]] || die "setup 'cluster' runs with CHECKS=default only"
    psql "$PG_URL" -qAtc 'SELECT 1' >/dev/null 2>&1 || die "PostgreSQL does not answer at PG_URL=$PG_URL"
    redis-cli -u "$REDIS_URL" PING >/dev/null 2>&1 || die "Redis does not answer at REDIS_URL=$REDIS_URL"
fi

installed_postfix=0
if ! command -v smtp-source >/dev/null || ! command -v smtp-sink >/dev/null || ! command -v postfix >/dev/null; then
    [[ $EUID -eq 0 ]] || die "smtp-source/smtp-sink/postfix missing and not root: apt-get install postfix"
    log "installing Postfix (smtp-source, smtp-sink) from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
    installed_postfix=1
fi

# The system's own Postfix instance (/etc/postfix) is left configured as the package made
# it; we only make sure it is not running alongside the benchmark.
if postfix status >/dev/null 2>&1; then
    if [[ $installed_postfix -eq 1 || $STOP_SYSTEM_POSTFIX -eq 1 ]]; then
        log "stopping the system Postfix instance (it would compete for CPU)"
        if [[ -d /run/systemd/system ]]; then systemctl stop postfix || true; fi
        timeout 30 postfix stop >/dev/null 2>&1 || true
    else
        log "WARNING: the system Postfix is running and competes for CPU; figures will be low" \
            "(STOP_SYSTEM_POSTFIX=1 stops it). Our ports are separate, so it does not interfere otherwise."
    fi
fi

# The revision being built (recorded now: others may commit while the benchmark runs).
postern_rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$REPO" diff --quiet HEAD -- . ':!bench' 2>/dev/null || postern_rev="$postern_rev (+ uncommitted changes)"
if [[ -z ${POSTERN_BIN:-} ]] && { has postern || has cluster; }; then
    log "building Postern: cargo build --release -p postern"
    (cd "$REPO" && cargo build --release -p postern) || die "build failed (set POSTERN_BIN to use an existing binary)"
    POSTERN_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/postern
fi
if [[ -n $RATE_FRACTION && -z ${LOADGEN_BIN:-} ]]; then
    log "building the load generator: cargo build --release -p postern-loadgen"
    (cd "$REPO" && cargo build --release -p postern-loadgen) || die "build failed (set LOADGEN_BIN)"
    LOADGEN_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/postern-loadgen
fi
if has postern || has cluster; then
    [[ -x $POSTERN_BIN ]] || die "POSTERN_BIN=$POSTERN_BIN is not executable"
    POSTERN_BIN=$(cd "$(dirname "$POSTERN_BIN")" && pwd)/$(basename "$POSTERN_BIN")
fi

# ---------------------------------------------------------------- temp dir, cleanup
TMP=$(mktemp -d /tmp/postern-bench.XXXXXX)
chmod 755 "$TMP" # the Postfix daemons (user postfix) must traverse it
SINK_PID=
POSTERN_PID=
MEASURE_PID=
PF_STARTED=0
PF_ETC=$TMP/postfix/etc

stop_postern() {
    [[ -n $POSTERN_PID ]] || return 0
    if kill -0 "$POSTERN_PID" 2>/dev/null; then
        kill -TERM "$POSTERN_PID" 2>/dev/null || true
        for _ in $(seq 1 400); do kill -0 "$POSTERN_PID" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$POSTERN_PID" 2>/dev/null; then
            log "Postern did not stop within 40 s of SIGTERM; killing it"
            kill -KILL "$POSTERN_PID" 2>/dev/null || true
        fi
    fi
    wait "$POSTERN_PID" 2>/dev/null || true
    POSTERN_PID=
}

stop_postfix() {
    [[ $PF_STARTED -eq 1 ]] || return 0
    local pidfile=$TMP/postfix/queue/pid/master.pid master=
    [[ -f $pidfile ]] && master=$(tr -dc 0-9 <"$pidfile")
    timeout 30 postfix -c "$PF_ETC" stop >/dev/null 2>&1 || true
    # `postfix stop` signals the master and returns; the master then stops its children.
    if [[ -n $master ]]; then
        for _ in $(seq 1 100); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$master" 2>/dev/null; then
            log "Postfix master $master still running 10 s after 'postfix stop'; killing it"
            kill -KILL "$master" 2>/dev/null || true
        fi
    fi
    PF_STARTED=0
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    profile_stop
    if [[ -n $MEASURE_PID ]]; then kill -TERM "$MEASURE_PID" 2>/dev/null || true; wait "$MEASURE_PID" 2>/dev/null || true; fi
    stop_postern
    stop_cluster
    stop_postfix
    if [[ -n $SINK_PID ]]; then kill "$SINK_PID" 2>/dev/null || true; wait "$SINK_PID" 2>/dev/null || true; fi
    if [[ $rc -ne 0 ]]; then
        for f in "$TMP"/postern.log "$TMP"/postfix/maillog "$TMP"/sink.err "$TMP"/source.log; do
            [[ -s $f ]] && { log "last lines of $f:"; tail -n 15 "$f" >&2; }
        done
    fi
    if [[ $KEEP_TMP -eq 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers
free_ports() { # N free loopback TCP ports
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

wait_port() { # port seconds: until something listens on 127.0.0.1:port
    local deadline=$((SECONDS + $2))
    until timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

messages_for() { if (($1 <= 10240)); then echo "$MSGS_SMALL"; else echo "$MSGS_LARGE"; fi; }

read -r SINK_PORT POSTERN_PORT PF_PORT NODE_A_PORT NODE_B_PORT < <(free_ports 5)
SINK_USER=(); [[ $EUID -eq 0 ]] && SINK_USER=(-u nobody)
SINK_CMD=(smtp-sink -c "${SINK_USER[@]}" "127.0.0.1:$SINK_PORT" 1024)
COUNT_FILE=$TMP/sink.count

source_cmd() { # port sessions messages size
    # shellcheck disable=SC2086 # SOURCE_OPTS is a list of options
    echo smtp-source -s "$2" -m "$3" -l "$4" -f "$FROM" -t "$TO" -M bench.example.com $SOURCE_OPTS "127.0.0.1:$1"
}

# ---------------------------------------------------------------- the sink
# smtp-sink -c writes "sess=N quit=N mesg=N\r" to stdout whenever a session ends, a QUIT is
# executed or a message's final "." is received; mesg is the count of messages received.
# It runs for the whole benchmark; measure.py reads the counter before and during each run.
log "sink: ${SINK_CMD[*]} > sink.count"
"${SINK_CMD[@]}" >"$COUNT_FILE" 2>"$TMP/sink.err" &
SINK_PID=$!
wait_port "$SINK_PORT" 10 || die "smtp-sink did not start"

# ---------------------------------------------------------------- Postfix (c)
PF_CMDS=""
if has postfix; then
    mkdir -p "$PF_ETC" "$TMP/postfix/queue" "$TMP/postfix/data"
    chown postfix:postfix "$TMP/postfix/data"
    subst=(-e "s|@QUEUE_DIR@|$TMP/postfix/queue|g" -e "s|@DATA_DIR@|$TMP/postfix/data|g"
        -e "s|@SINK_PORT@|$SINK_PORT|g" -e "s|@LOG_FILE@|$TMP/postfix/maillog|g"
        -e "s|@TMP_DIR@|$TMP/postfix|g" -e "s|@DEST_CONCURRENCY@|$PF_CONCURRENCY|g"
        -e "s|@PROCESS_LIMIT@|$PF_PROCESS_LIMIT|g" -e "s|@SMTPD_ADDR@|127.0.0.1:$PF_PORT|g")
    sed "${subst[@]}" "$BENCH_DIR/postfix/main.cf.in" >"$PF_ETC/main.cf"
    sed "${subst[@]}" "$BENCH_DIR/postfix/master.cf.in" >"$PF_ETC/master.cf"
    # `postfix check` prints its errors only to a terminal: give it one with script(1).
    if ! out=$(script -qec "postfix -c $PF_ETC check" /dev/null 2>&1); then
        die "postfix -c $PF_ETC check failed: $out"
    fi
    log "Postfix: postfix -c $PF_ETC start (smtpd on 127.0.0.1:$PF_PORT)"
    PF_STARTED=1
    if ! out=$(script -qec "postfix -c $PF_ETC start" /dev/null 2>&1); then
        die "postfix start failed: $out"
    fi
    wait_port "$PF_PORT" 20 || die "Postfix smtpd is not listening on 127.0.0.1:$PF_PORT"
    PF_CMDS="postfix -c $PF_ETC start   # ... postfix -c $PF_ETC stop"
fi

# ---------------------------------------------------------------- Postern (b)
POSTERN_RUN=0
# shellcheck disable=SC2206 # POSTERN_EXTRA_ARGS is a list of arguments
POSTERN_CMD=("${POSTERN_BIN:-postern}" serve --data-dir "$TMP/postern-data" --smtp "127.0.0.1:$POSTERN_PORT"
    --submission "" --smtps "" --relay-host "127.0.0.1:$SINK_PORT" $POSTERN_EXTRA_ARGS)
# CHECKS=all: the age of the sender's domain comes from a local feed (no RDAP on loopback),
# in which the sender's domain is old.
if [[ $CHECKS == all ]]; then
    printf '%s 2001-01-01\n' "${FROM#*@}" >"$TMP/new-domains.txt"
    printf '[domain_age]\nrdap = false\nfeed = "%s"\n' "$TMP/new-domains.txt" >"$TMP/postern.toml"
    POSTERN_CMD+=(--config "$TMP/postern.toml")
fi
ALL_CHECKS=(--set checks.spam=true --set checks.block_macros=true --set checks.block_dangerous_attachments=true
    --set checks.block_encrypted_archives=true --set checks.block_new_domains=true)
start_postern() { # [binary] A fresh instance (empty data dir) for every measurement.
    POSTERN_RUN=$((POSTERN_RUN + 1))
    rm -rf "$TMP/postern-data"
    local -a cmd=("${POSTERN_CMD[@]}")
    [[ -n ${1:-} ]] && cmd[0]=$1
    "${cmd[@]}" >"$TMP/postern.log" 2>&1 &
    POSTERN_PID=$!
    local deadline=$((SECONDS + 30))
    until grep -q "^listening: smtp 127.0.0.1:$POSTERN_PORT" "$TMP/postern.log" 2>/dev/null; do
        kill -0 "$POSTERN_PID" 2>/dev/null || die "Postern exited at start-up"
        ((SECONDS < deadline)) || die "Postern did not print 'listening: smtp 127.0.0.1:$POSTERN_PORT' within 30 s"
        sleep 0.05
    done
    if [[ $CHECKS == all ]]; then # the clients become an ip account with every check on
        local cli=("${1:-${POSTERN_BIN:-postern}}")
        "${cli[@]}" domain add "${FROM#*@}" --enable --data-dir "$TMP/postern-data" >>"$TMP/postern-cli.log" 2>&1 ||
            die "postern domain add failed: $(tail -n 3 "$TMP/postern-cli.log")"
        "${cli[@]}" account add ip --domain "${FROM#*@}" 127.0.0.1 --cover-trusted "${ALL_CHECKS[@]}" \
            --data-dir "$TMP/postern-data" >>"$TMP/postern-cli.log" 2>&1 ||
            die "postern account add ip failed: $(tail -n 3 "$TMP/postern-cli.log")"
    fi
}
# CPU time (user + system, ms) the running Postern has used so far: read after a run, it is
# the instance's whole cost of the run (start-up included), whatever else the machine did.
postern_cpu_ms() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print int(($12 + $13) * 1000 / hz) }' \
        "/proc/$POSTERN_PID/stat" 2>/dev/null || echo ""
}
finish_postern() {
    # Events still waiting for their batch are part of the run's cost.
    sleep 0.5
    POSTERN_CPU_MS=$(postern_cpu_ms)
    STORES_CPU_MS=$(($(stores_cpu_ms) - STORES_CPU_BEFORE))
    stop_postern
    cat "$TMP/postern.log" >>"$TMP/postern-all.log"
    rm -rf "$TMP/postern-data"
}

# ---------------------------------------------------------------- two nodes (d)
# Node A and node B: the same binary and the same file but a data dir (spool) and a relay
# listener each; one PostgreSQL schema and one Redis prefix, both new for every run. The
# load is split in two halves, one smtp-source per node, each with half the sessions.
NODE_PIDS=()
CLUSTER_SCHEMA=
CLUSTER_PREFIX=
cluster_config() { # schema prefix
    printf '[store]\nbackend = "postgres"\nurl = "%s options=%s-c search_path=%s%s"\npool_size = %s\n\n' \
        "$PG_URL" "'" "$1" "'" "$PG_POOL"
    printf '[counters]\nbackend = "redis"\nredis_url = "%s"\nredis_prefix = "%s"\n' "$REDIS_URL" "$2"
}
node_cmd() { # name port
    echo "$POSTERN_BIN" serve --config "$TMP/cluster.toml" --data-dir "$TMP/node-$1" --smtp "127.0.0.1:$2" \
        --submission '""' --smtps '""' --admin '""' --relay-host "127.0.0.1:$SINK_PORT"
}
start_node() { # name port
    local log=$TMP/node-$1.log
    rm -rf "$TMP/node-$1"
    "$POSTERN_BIN" serve --config "$TMP/cluster.toml" --data-dir "$TMP/node-$1" --smtp "127.0.0.1:$2" \
        --submission "" --smtps "" --admin "" --relay-host "127.0.0.1:$SINK_PORT" >"$log" 2>&1 &
    NODE_PIDS+=($!)
    local pid=$! deadline=$((SECONDS + 60))
    until grep -q "^listening: smtp 127.0.0.1:$2" "$log" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || die "cluster node $1 exited at start-up"
        ((SECONDS < deadline)) || die "cluster node $1 did not print 'listening: smtp 127.0.0.1:$2' within 60 s"
        sleep 0.05
    done
}
start_cluster() {
    POSTERN_RUN=$((POSTERN_RUN + 1))
    CLUSTER_SCHEMA=postern_bench_$$_$POSTERN_RUN
    CLUSTER_PREFIX=postern-bench-$$-$POSTERN_RUN
    psql "$PG_URL" -qc "CREATE SCHEMA $CLUSTER_SCHEMA" >/dev/null || die "cannot create schema $CLUSTER_SCHEMA"
    cluster_config "$CLUSTER_SCHEMA" "$CLUSTER_PREFIX" >"$TMP/cluster.toml"
    # A first (it applies the migrations), then B.
    start_node a "$NODE_A_PORT"
    start_node b "$NODE_B_PORT"
}
# CPU time (ms) of the PostgreSQL and Redis server processes so far (their children's
# reaped time included): shared servers, so other work on them is counted too.
stores_cpu_ms() {
    local hz total=0 pid stat
    hz=$(getconf CLK_TCK)
    for pid in $(pgrep -x postgres) $(pgrep -x redis-server); do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        total=$((total + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' <<<"$stat")))
    done
    echo $((total * 1000 / hz))
}
stop_cluster() {
    local pid
    for pid in "${NODE_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${NODE_PIDS[@]}"; do
        for _ in $(seq 1 400); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            log "cluster node $pid did not stop within 40 s of SIGTERM; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    NODE_PIDS=()
    if [[ -n $CLUSTER_SCHEMA ]]; then
        psql "$PG_URL" -qc "DROP SCHEMA IF EXISTS $CLUSTER_SCHEMA CASCADE" >/dev/null 2>&1 ||
            log "WARNING: could not drop schema $CLUSTER_SCHEMA"
        CLUSTER_SCHEMA=
    fi
    if [[ -n $CLUSTER_PREFIX ]]; then
        redis-cli -u "$REDIS_URL" --scan --pattern "$CLUSTER_PREFIX:*" 2>/dev/null |
            xargs -r -n 500 redis-cli -u "$REDIS_URL" DEL >/dev/null 2>&1 || true
        CLUSTER_PREFIX=
    fi
}
finish_cluster() {
    sleep 0.5
    local pid ms total=0
    for pid in "${NODE_PIDS[@]}"; do
        ms=$(awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print int(($12 + $13) * 1000 / hz) }' \
            "/proc/$pid/stat" 2>/dev/null) || ms=0
        total=$((total + ${ms:-0}))
    done
    POSTERN_CPU_MS=$total
    STORES_CPU_MS=$(($(stores_cpu_ms) - STORES_CPU_BEFORE))
    stop_cluster
    for n in a b; do cat "$TMP/node-$n.log" >>"$TMP/cluster-all.log"; rm -rf "$TMP/node-$n"; done
}
# Two smtp-source, half the messages and half the sessions each (at least one).
cluster_source_cmd() { # sessions messages size
    local sa=$((($1 + 1) / 2)) sb=$(($1 / 2)) ma=$((($2 + 1) / 2)) mb=$(($2 / 2))
    ((sb > 0)) || sb=1
    echo "$(source_cmd "$NODE_A_PORT" "$sa" "$ma" "$3") & a=\$!; $(source_cmd "$NODE_B_PORT" "$sb" "$mb" "$3") & b=\$!; wait \$a; ra=\$?; wait \$b; exit \$((ra | \$?))"
}

# ---------------------------------------------------------------- one measurement
RESULTS=$TMP/results.tsv
printf 'rep\tsize\tsessions\tmessages\tsetup\tstatus\trate\tdelivered\taccept_s\tdone_s\tbusy_before\tcpu_ms\tstores_cpu_ms\n' >"$RESULTS"
EXPECTED_SINK=0 # messages the sink should have so far (warm-ups and deliveries)

sink_count() { tail -c 200 "$COUNT_FILE" | tr '\r' '\n' | grep -o 'mesg=[0-9]*' | tail -n 1 | cut -d= -f2; }

# measure.py runs in the background and we `wait` for it, so that a signal to this script
# is handled at once (bash runs traps only after a foreground command returns).
run_measure() { # messages smtp-source command...
    local messages=$1 rc=0
    shift
    python3 "$BENCH_DIR/measure.py" --count-file "$COUNT_FILE" --messages "$messages" \
        --timeout "$TIMEOUT" --grace "$GRACE" --stall "$STALL" --source-log "$TMP/source.log" \
        --max-busy "$(awk -v p="$MAX_BUSY" 'BEGIN { print p / 100 }')" --quiet-wait "$QUIET_WAIT" \
        -- "$@" >"$TMP/measure.out" &
    MEASURE_PID=$!
    wait "$MEASURE_PID" || rc=$?
    MEASURE_PID=
    return "$rc"
}

measure() { # setup rep size sessions messages -> appends to RESULTS, prints a line
    local setup=$1 rep=$2 size=$3 sessions=$4 messages=$5 port line
    case $setup in
        ceiling) port=$SINK_PORT ;;
        postern) port=$POSTERN_PORT; start_postern ;;
        baseline) port=$POSTERN_PORT; start_postern "$BASELINE_BIN" ;;
        postfix) port=$PF_PORT ;;
        cluster) start_cluster ;;
    esac
    local -a cmd
    if [[ $setup == cluster ]]; then
        cmd=(bash -c "$(cluster_source_cmd "$sessions" "$messages" "$size")")
    else
        read -r -a cmd <<<"$(source_cmd "$port" "$sessions" "$messages" "$size")"
    fi
    echo "== $setup rep=$rep size=$size sessions=$sessions: ${cmd[*]}" >>"$TMP/source.log"
    STORES_CPU_BEFORE=$(stores_cpu_ms)
    [[ $setup == postern ]] && profile_start "$POSTERN_PID" "relay-$size-s$sessions-rep$rep"
    run_measure "$messages" "${cmd[@]}" || true
    profile_stop
    line=$(cat "$TMP/measure.out")
    POSTERN_CPU_MS=
    STORES_CPU_MS=
    [[ $setup == postern || $setup == baseline ]] && finish_postern
    [[ $setup == cluster ]] && finish_cluster
    [[ -n $line ]] || die "measure.py failed for $setup"
    local status rate delivered baseline accept_s done_s source_rc busy_before
    eval "$line" # status= rate= delivered= baseline= source_rc= accept_s= done_s= busy_before=
    if [[ $baseline -ne $EXPECTED_SINK ]]; then
        log "WARNING: sink had $baseline messages before this run, expected $EXPECTED_SINK" \
            "(a late or duplicate delivery from an earlier run)"
    fi
    local after_run=$((baseline + delivered))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$size" "$sessions" "$messages" \
        "$setup" "$status" "$rate" "$delivered" "$accept_s" "$done_s" "$busy_before" "$POSTERN_CPU_MS" \
        "$STORES_CPU_MS" >>"$RESULTS"
    log "$(printf '%-8s rep %s %6s B x %2s sessions: %-12s %8s msg/s  (delivered %s/%s, accepted in %ss, smtp-source rc %s, CPU busy before %s%%%s)' \
        "$setup" "$rep" "$size" "$sessions" "$status" "$rate" "$delivered" "$messages" "$accept_s" "$source_rc" "$busy_before" \
        "${POSTERN_CPU_MS:+, Postern used $POSTERN_CPU_MS ms of CPU}${STORES_CPU_MS:+, PostgreSQL + Redis $STORES_CPU_MS ms}")"
    if [[ $source_rc != 0 ]]; then
        log "smtp-source reported errors; last lines of its output:"; tail -n 3 "$TMP/source.log" >&2
    fi
    sync
    sleep "$PAUSE"
    # Messages that reach the sink after a run (late or duplicate deliveries) would inflate
    # the next run's count if unnoticed: report them and move the baseline past them.
    EXPECTED_SINK=$(sink_count)
    if [[ $EXPECTED_SINK -ne $after_run ]]; then
        log "WARNING: $((EXPECTED_SINK - after_run)) message(s) reached the sink after the $setup run ended"
    fi
    if [[ -n $RATE_FRACTION && $setup == postern && $status == delivered ]]; then
        measure_open "$rep" "$size" "$sessions" "$messages" "$rate"
    fi
}

# The same case at a fraction of the peak, open loop (RATE_FRACTION): a fresh Postern,
# postern-loadgen without TLS or AUTH (the relay's clients are a trusted network).
LATENCY=$TMP/latency.tsv
measure_open() { # rep size sessions messages peak_rate
    local rep=$1 size=$2 sessions=$3 messages=$4 peak=$5 offered busy line
    offered=$(awk -v r="$peak" -v f="$RATE_FRACTION" 'BEGIN { printf "%.1f", r * f }')
    [[ -s $TMP/users.tsv ]] || "$LOADGEN_BIN" users --count 1 --domain "${FROM#*@}" >"$TMP/users.tsv"
    start_postern
    busy=$(python3 "$BENCH_DIR/realpath/helpers.py" busy --max "$MAX_BUSY" --wait "$QUIET_WAIT")
    line=$("$LOADGEN_BIN" run --server "127.0.0.1:$POSTERN_PORT" --users-file "$TMP/users.tsv" --no-tls --no-auth \
        --sessions "$sessions" --messages "$messages" --per-connection "$RELAY_PER_CONN" --size "$size" --to "$TO" \
        --rate "$offered" --sink-count "$COUNT_FILE" --timeout "$TIMEOUT" 2>>"$TMP/loadgen.err") ||
        line="status=loadgen-failed"
    STORES_CPU_BEFORE=$(stores_cpu_ms)
    finish_postern
    local status= rate= p50_ms= p90_ms= p99_ms= max_ms= lag_p50_ms= lag_p99_ms= lag_max_ms= first_error=
    local messages_= ok= failed= connections= accept_s= done_s= accept_rate= mean_ms= setup_p50_ms= setup_p99_ms=
    local offered_rate= due_p50_ms= due_p99_ms= due_max_ms=
    eval "${line/messages=/messages_=}"
    [[ -s $LATENCY ]] || printf 'rep\tsize\tsessions\tpeak\toffered\tstatus\trate\tp50_ms\tp90_ms\tp99_ms\tmax_ms\tlag_p50_ms\tlag_p99_ms\tlag_max_ms\tbusy_before\n' >"$LATENCY"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$size" "$sessions" "$peak" "$offered" \
        "$status" "$rate" "$p50_ms" "$p90_ms" "$p99_ms" "$max_ms" "$lag_p50_ms" "$lag_p99_ms" "$lag_max_ms" "$busy" >>"$LATENCY"
    log "$(printf 'postern  rep %s %6s B x %2s sessions: open loop at %s msg/s (%s x %s): %s, p50 %s  p90 %s  p99 %s  max %s ms; lag p50 %s  p99 %s  max %s ms%s' \
        "$rep" "$size" "$sessions" "$offered" "$RATE_FRACTION" "$peak" "$status" "$p50_ms" "$p90_ms" "$p99_ms" "$max_ms" \
        "$lag_p50_ms" "$lag_p99_ms" "$lag_max_ms" "${first_error:+ first error: $first_error}")"
    sync
    sleep "$PAUSE"
    EXPECTED_SINK=$(sink_count)
}

# ---------------------------------------------------------------- run
log "ports: sink $SINK_PORT, Postern $POSTERN_PORT, Postfix $PF_PORT; temp dir $TMP"
if ((WARMUP > 0)); then
    for setup in ceiling postfix; do
        has "$setup" || continue
        log "warm-up: $WARMUP messages through $setup (not recorded)"
        port=$SINK_PORT; [[ $setup == postfix ]] && port=$PF_PORT
        read -r -a cmd <<<"$(source_cmd "$port" 10 "$WARMUP" 1024)"
        run_measure "$WARMUP" "${cmd[@]}" || die "warm-up through $setup failed: $(cat "$TMP/measure.out")"
        sleep "$PAUSE"
        EXPECTED_SINK=$(sink_count)
    done
fi

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
if awk -v l="${load_before%% *}" 'BEGIN { exit !(l > 0.5) }'; then
    log "WARNING: load average is $load_before before the benchmark: other work on this machine" \
        "will distort the figures"
fi
started=$SECONDS
for rep in $(seq 1 "$REPS"); do
    for size in $SIZES; do
        for sessions in $SESSIONS; do
            for setup in $SETUPS; do
                measure "$setup" "$rep" "$size" "$sessions" "$(messages_for "$size")"
            done
        done
    done
done
elapsed=$((SECONDS - started))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
busy_runs=$(awk -F'\t' -v m="$MAX_BUSY" 'NR > 1 && $11 > m { n++ } END { print n + 0 }' "$RESULTS")
if ((busy_runs > 0)); then
    log "WARNING: $busy_runs run(s) started while more than $MAX_BUSY% of the CPUs were busy with other work"
fi

# ---------------------------------------------------------------- report
HEADER=$TMP/header.md
FOOTER=$TMP/footer.md
{
    echo "# Relay benchmark $STAMP"
    echo
    echo "- machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), $(df -hT "$TMP" | awk 'NR==2 {print $2 " on " $1}') (spools and queues)"
    echo "- Postfix $(postconf -h mail_version) (Debian); Postern ${POSTERN_BIN:+$POSTERN_BIN, }repo at $postern_rev when the benchmark started"
    [[ -n ${BASELINE_BIN:-} ]] && echo "- baseline: $BASELINE_BIN (setup 'baseline', run like 'postern', interleaved)"
    echo "- $REPS repetitions; cases interleaved (ceiling, Postern, Postfix) within each repetition; measuring took ${elapsed} s"
    echo "- load average (1, 5, 15 min) before: $load_before; after: $load_after (includes the benchmark's own processes)"
    echo "- before each run the script waited (at most ${QUIET_WAIT} s) for at most ${MAX_BUSY}% of the CPUs to be busy; the % it last saw is in the per-run table; $busy_runs run(s) started above it"
    echo "- message payload sizes (smtp-source -l): $SIZES bytes; sessions: $SESSIONS; messages per run: $MSGS_SMALL (<= 10 KiB), $MSGS_LARGE (larger)"
    echo "- one connection per message unless SOURCE_OPTS has -d (SOURCE_OPTS=\"$SOURCE_OPTS\")"
    echo "- Postern content checks: CHECKS=$CHECKS ($([[ $CHECKS == all ]] && echo "an ip account for 127.0.0.1 with ${ALL_CHECKS[*]}; sender domain age from a local feed" || echo "trusted network: GTUBE and the built-in scorer"))"
    echo
    echo "**How it is measured.** t0 is taken just before smtp-source starts. One smtp-sink runs"
    echo "for the whole benchmark with \`-c\`, which writes a running counter"
    echo "(\`sess=N quit=N mesg=N\\r\`) to a file each time a message's final \`.\` arrives;"
    echo "\`bench/measure.py\` reads the counter before the run and then only the newly"
    echo "appended bytes (every 1 ms near the end, 5 ms before), and stops the clock when the"
    echo "counter has grown by the run's message count. msg/s = messages / that time."
    echo "(\`smtp-sink -M\` is not used: it exits on the last message before answering 250.)"
    echo "The acceptance time is when smtp-source exited, i.e. every message had its \`250\`."
    echo "Sizes are smtp-source's payload; it adds a few header lines."
} >"$HEADER"
{
    if [[ -s $LATENCY ]]; then
        echo "## Latency at $RATE_FRACTION x the peak (open loop)"
        echo
        echo "After each Postern run, a fresh Postern got the same size and sessions from"
        echo "\`postern-loadgen\` in its open loop: message i due at t0 + i/rate, rate = $RATE_FRACTION x that"
        echo "run's msg/s; no TLS, no AUTH, $RELAY_PER_CONN message(s) per connection (the loadgen's corpus,"
        echo "not smtp-source's). Latency: from the final \`.\` to the \`250\`; lag: how late each MAIL"
        echo "went out against its due time (tokio's timer adds up to ~1 ms)."
        echo
        echo "| rep | size | sessions | peak msg/s | offered msg/s | status | msg/s | p50 ms | p90 ms | p99 ms | max ms | lag p50 / p99 / max ms | CPU busy before % |"
        echo "|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"
        tail -n +2 "$LATENCY" | while IFS=$'\t' read -r r sz se pk of st ra p50 p90 p99 mx l50 l99 lmx bu; do
            echo "| $r | $sz | $se | $pk | $of | $st | $ra | $p50 | $p90 | **$p99** | $mx | $l50 / $l99 / $lmx | $bu |"
        done
        echo
        echo '```sh'
        echo "$LOADGEN_BIN run --server 127.0.0.1:$POSTERN_PORT --users-file users.tsv --no-tls --no-auth --sessions S --messages M --per-connection $RELAY_PER_CONN --size SIZE --to $TO --rate R --sink-count sink.count"
        echo '```'
        echo
    fi
    echo "## Exact commands"
    echo
    echo '```sh'
    echo "${SINK_CMD[*]} > sink.count          # ports are chosen free at start"
    echo "$(source_cmd PORT SESSIONS MESSAGES SIZE)"
    echo "#   PORT: $SINK_PORT (ceiling), $POSTERN_PORT (Postern), $PF_PORT (Postfix)"
    if has postern; then
        printf '%q ' "${POSTERN_CMD[@]}"
        echo "  # a fresh data dir for every run; SIGTERM after it"
    fi
    if has cluster; then
        echo "# cluster: node A on $NODE_A_PORT, node B on $NODE_B_PORT; per run a new schema and Redis prefix:"
        echo "$(node_cmd a "$NODE_A_PORT")"
        echo "$(node_cmd b "$NODE_B_PORT")"
        echo "bash -c 'smtp-source -s S/2 -m M/2 ... 127.0.0.1:$NODE_A_PORT & smtp-source -s S/2 -m M/2 ... 127.0.0.1:$NODE_B_PORT & wait'   # the same options as above; halves rounded up for node A"
    fi
    [[ -n $PF_CMDS ]] && echo "$PF_CMDS"
    echo '```'
    if has cluster; then
        echo
        echo "## The cluster nodes' configuration (\`cluster.toml\`, schema and prefix of the last run)"
        echo
        echo '```toml'
        cluster_config "postern_bench_$$_N" "postern-bench-$$-N"
        echo '```'
        echo
        echo "- PostgreSQL $(psql "$PG_URL" -qAtc 'SHOW server_version' 2>/dev/null), shared_buffers $(psql "$PG_URL" -qAtc 'SHOW shared_buffers' 2>/dev/null), synchronous_commit $(psql "$PG_URL" -qAtc 'SHOW synchronous_commit' 2>/dev/null); Redis $(redis-cli -u "$REDIS_URL" INFO server 2>/dev/null | tr -d '\r' | awk -F: '/^redis_version/ {print $2}'); both on this machine, shared"
    fi
    if has postfix; then
        echo
        echo "## Postfix settings (\`postconf -c DIR -n\`, and master.cf)"
        echo
        echo '```'
        postconf -c "$PF_ETC" -n
        echo '```'
        echo
        echo '```'
        grep -v '^#' "$PF_ETC/master.cf"
        echo '```'
    fi
} >"$FOOTER"

REPORT=${OUT:-$TMP/report.md}
echo
cat "$HEADER"
echo
python3 "$BENCH_DIR/report.py" "$RESULTS" "$HEADER" "$FOOTER" "$REPORT"
cat "$FOOTER"
if [[ -n $OUT ]]; then log "report written to $OUT"; fi
if grep -qE $'\t(timeout|incomplete|source-failed)\t' "$RESULTS"; then
    log "some runs failed (see the per-run table)"
    exit 1
fi
