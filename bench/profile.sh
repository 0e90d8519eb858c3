# shellcheck shell=bash
# perf record around one measured run, for bench/run.sh and bench/realpath.sh (sourced).
# Off unless PROFILE_DIR is set (bench/flamegraph.sh sets it):
#   PROFILE_DIR                where NAME.perf.data (and NAME.perf.log) go
#   PROFILE_FREQ [999]         samples per second per CPU (perf record -F)
#   PROFILE_CALL_GRAPH [dwarf,16384]  perf's unwinder: dwarf (works on the ordinary release
#                              binary: its .eh_frame and line tables) or fp (a build with
#                              RUSTFLAGS="-C force-frame-pointers=yes"; std's frames are then lost)
# The profiler samples only the given process (all its threads), on the CPU clock.
PROFILE_DIR=${PROFILE_DIR:-}
PROFILE_FREQ=${PROFILE_FREQ:-999}
PROFILE_CALL_GRAPH=${PROFILE_CALL_GRAPH:-dwarf,16384}
PERF_PID=

profile_start() { # pid name
    [[ -n $PROFILE_DIR ]] || return 0
    mkdir -p "$PROFILE_DIR"
    perf record -F "$PROFILE_FREQ" -g --call-graph "$PROFILE_CALL_GRAPH" -p "$1" \
        -o "$PROFILE_DIR/$2.perf.data" >"$PROFILE_DIR/$2.perf.log" 2>&1 &
    PERF_PID=$!
    # perf attaches to every thread (and maps its buffers) before the load starts; on a
    # busy machine that took more than the half second first given to it.
    sleep 2
}

profile_stop() {
    [[ -n $PERF_PID ]] || return 0
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
    PERF_PID=
}
