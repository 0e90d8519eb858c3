#!/usr/bin/env bash
# Flame graphs of Postern under load (issue 17): perf records Postern's process during a
# real-path run (bench/realpath.sh: STARTTLS, AUTH, checks, DKIM, archive) and a plain relay
# run (bench/run.sh: smtp-source -> Postern -> smtp-sink), then folds the stacks and draws
# one SVG per case with bench/flamegraph.py (no other tool needed), plus the top self-time
# functions of each.
#
# Usage (as root):  POSTERN_BIN=... LOADGEN_BIN=... bench/flamegraph.sh
# Environment (defaults in brackets):
#   WHAT ["realpath relay"]   which benchmarks to profile
#   SIZES ["1024 102400"]     message sizes; the SVGs are named realpath-1k.svg, relay-100k.svg ...
#   PER_CONN [20]             real path: messages per connection
#   RP_WARMUP [3000]          real path: unrecorded messages first (10 per connection: every
#                             one of the 300 accounts once, so its AUTH is cached after)
#   RELAY_SESSIONS [10]       plain relay: smtp-source sessions
#   CHECKS [default]          plain relay: bench/run.sh's CHECKS
#   PROFILE_FREQ [999] PROFILE_CALL_GRAPH [dwarf,16384]   see bench/profile.sh
#   OUT_DIR [docs/flamegraphs]  SVGs and NAME.top.txt (self time, top 25)
#   KEEP_PERF [0]             1: keep the perf.data files (their directory is printed)
# POSTERN_BIN/LOADGEN_BIN are passed on (else the benchmarks build them). The release profile
# keeps line tables; perf unwinds with DWARF (.eh_frame), which gives whole stacks for Rust
# code and std without a special build. perf's own cost is in the figures these runs print:
# use them for where the time goes, not for msg/s.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
WHAT=${WHAT:-"realpath relay"}
SIZES=${SIZES:-"1024 102400"}
PER_CONN=${PER_CONN:-20}
RELAY_SESSIONS=${RELAY_SESSIONS:-10}
RP_WARMUP=${RP_WARMUP:-3000}
CHECKS=${CHECKS:-default}
OUT_DIR=${OUT_DIR:-$REPO/docs/flamegraphs}
KEEP_PERF=${KEEP_PERF:-0}
export PROFILE_FREQ=${PROFILE_FREQ:-999} PROFILE_CALL_GRAPH=${PROFILE_CALL_GRAPH:-dwarf,16384}

log() { printf '[flamegraph %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
[[ $EUID -eq 0 ]] || { log "run as root"; exit 1; }
command -v perf >/dev/null || { log "installing linux-perf"; apt-get install -y -qq linux-perf >/dev/null; }

PROFILE_DIR=$(mktemp -d /tmp/postern-flamegraph.XXXXXX)
export PROFILE_DIR
[[ $KEEP_PERF -eq 1 ]] || trap 'rm -rf "$PROFILE_DIR"' EXIT
mkdir -p "$OUT_DIR"

if [[ " $WHAT " == *" realpath "* ]]; then
    log "real path: bench/realpath.sh, Postern only, sizes $SIZES, $PER_CONN messages per connection"
    # Warm-up: 10 messages per connection, so USERS x 10 messages log every account in once
    # and the AUTH cache answers in the profiled run, as in a benchmark's later repetitions.
    SETUPS=postern REPS=1 SIZES=$SIZES PER_CONN=$PER_CONN WARMUP=$RP_WARMUP OUT="" \
        "$BENCH_DIR/realpath.sh" >"$PROFILE_DIR/realpath.out"
fi
if [[ " $WHAT " == *" relay "* ]]; then
    log "plain relay: bench/run.sh, Postern only, sizes $SIZES, $RELAY_SESSIONS sessions, CHECKS=$CHECKS"
    SETUPS=postern REPS=1 SIZES=$SIZES SESSIONS=$RELAY_SESSIONS CHECKS=$CHECKS OUT="" WARMUP=0 \
        "$BENCH_DIR/run.sh" >"$PROFILE_DIR/relay.out"
fi

size_name() { if (($1 >= 1024)); then echo "$(($1 / 1024))k"; else echo "$1b"; fi; }
for data in "$PROFILE_DIR"/*.perf.data; do
    [[ -e $data ]] || continue
    base=$(basename "$data" .perf.data) # realpath-1024-20-peak-rep1, relay-102400-s10-rep1
    [[ $base == *-open-* ]] && continue
    kind=${base%%-*}
    size=$(cut -d- -f2 <<<"$base")
    name=$kind-$(size_name "$size")
    case $kind in
        realpath) what="the real path (STARTTLS, AUTH, every check, DKIM RSA-2048, archive 1/10), $PER_CONN msgs/conn" ;;
        relay) what="plain relay (smtp-source, $RELAY_SESSIONS sessions, CHECKS=$CHECKS)" ;;
        *) what=$kind ;;
    esac
    log "$name: folding $(du -h "$data" | cut -f1) of perf data"
    { perf script -i "$data" --no-inline -F comm,tid,ip,sym,dso 2>/dev/null || true; } |
        python3 "$BENCH_DIR/flamegraph.py" fold >"$PROFILE_DIR/$name.folded"
    if [[ ! -s $PROFILE_DIR/$name.folded ]]; then
        log "$name: no samples in $data (perf: $(tr '\n' ' ' <"${data%.data}.log")); skipped"
        continue
    fi
    python3 "$BENCH_DIR/flamegraph.py" svg "$PROFILE_DIR/$name.folded" \
        --title "Postern: $what, $(size_name "$size")B messages" \
        --subtitle "perf record -F $PROFILE_FREQ --call-graph $PROFILE_CALL_GRAPH -p POSTERN; $(date -u +%Y-%m-%d), $(git -C "$REPO" rev-parse --short HEAD);" \
        >"$OUT_DIR/$name.svg"
    python3 "$BENCH_DIR/flamegraph.py" top "$PROFILE_DIR/$name.folded" -n 25 >"$OUT_DIR/$name.top.txt"
    log "$name: $OUT_DIR/$name.svg ($(du -h "$OUT_DIR/$name.svg" | cut -f1)); self time:"
    head -n 11 "$OUT_DIR/$name.top.txt" >&2
done
[[ $KEEP_PERF -eq 1 ]] && log "perf data kept in $PROFILE_DIR"
exit 0
