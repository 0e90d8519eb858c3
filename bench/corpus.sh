#!/usr/bin/env bash
# The corpus benchmark of the built-in scorer (docs/BENCHMARKS.md, "Spam scoring"):
#   1. 10-fold cross-validation of the scorer on the SpamAssassin groups easy-ham-1 and
#      spam-1 (rules + Bayes, threshold 5.0), and of Bayes and logistic regression alone;
#   2. the scoring speed on one core at the corpus' median message size;
#   3. the anchors on the same messages: SpamAssassin (spamd -L, default rules, no Bayes)
#      and Rspamd (packaged rules, network checks off), started here on loopback with a
#      temporary configuration and stopped at the end.
#
# Usage: bench/corpus.sh [--no-anchors]
# Needs: scripts/fetch-corpus.sh (npm), the Debian packages rspamd, spamassassin, spamc.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
CORPUS="$ROOT/corpus/spam-assassin"
SPAMD_PORT="${BENCH_SPAMD_PORT:-7933}"
RSPAMD_PORT="${BENCH_RSPAMD_PORT:-11533}"
ANCHORS=1
[ "${1:-}" = "--no-anchors" ] && ANCHORS=0

scripts/fetch-corpus.sh "$CORPUS"
CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}" cargo build --release -q -p postern-scorer --bin postern-train
TRAIN="$ROOT/target/release/postern-train"
SETS=(--ham "$CORPUS/easy-ham-1" --spam "$CORPUS/spam-1")

echo "== 10-fold cross-validation"
"$TRAIN" cv "${SETS[@]}" --classifier scorer
"$TRAIN" cv "${SETS[@]}" --classifier bayes --threshold 0.9
"$TRAIN" cv "${SETS[@]}" --classifier logistic --threshold 0.9
echo "== speed"
"$TRAIN" speed "${SETS[@]}"

[ "$ANCHORS" = 1 ] || exit 0
echo "== anchors"
WORK="$(mktemp -d)"
chmod 755 "$WORK" # the engines run as their own users
PIDS=()
cleanup() {
    for pidfile in "$WORK/rspamd/run/rspamd.pid" "$WORK/spamd/spamd.pid"; do
        if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
    done
    sleep 1
    rm -rf "$WORK"
}
trap cleanup EXIT

wait_port() { # port name log
    for _ in $(seq 600); do
        if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "$2 did not start; log:" >&2
    tail -n 30 "$3" >&2 || true
    return 1
}

user_for() { if [ "$(id -u)" -ne 0 ]; then id -un; elif id "$1" >/dev/null 2>&1; then echo "$1"; else echo nobody; fi; }

# Rspamd: the packaged rules, one worker on loopback, a resolver that never answers, and
# every module that would ask the network turned off.
r="$WORK/rspamd"
mkdir -p "$r/local.d" "$r/override.d" "$r/db" "$r/run" "$r/log"
cat >"$r/rspamd.conf" <<CONF
.include "\$CONFDIR/common.conf"
options {
    pidfile = "$r/run/rspamd.pid";
    .include "\$CONFDIR/options.inc"
    .include(try=true; priority=1,duplicate=merge) "\$LOCAL_CONFDIR/local.d/options.inc"
}
logging { type = "file"; filename = "$r/log/rspamd.log"; level = "warning"; }
worker "normal" {
    bind_socket = "127.0.0.1:$RSPAMD_PORT";
    count = 2;
    .include "\$CONFDIR/worker-normal.inc"
}
CONF
cat >"$r/local.d/options.inc" <<'CONF'
dns { nameserver = ["127.0.0.1:1"]; timeout = 0.1s; retransmits = 0; }
CONF
for module in asn arc bimi clickhouse dcc dkim dmarc elastic emails external_services fuzzy_check greylist \
    history_redis metadata_exporter metric_exporter mx_check neural p0f phishing ratelimit rbl replies \
    reputation rspamd_update spf surbl url_redirector antivirus; do
    echo "enabled = false;" >"$r/override.d/$module.conf"
done
ruser="$(user_for _rspamd)"
[ "$(id -u)" -eq 0 ] && chown -R "$ruser" "$r/db" "$r/run" "$r/log"
rargs=(-c "$r/rspamd.conf" --var "LOCAL_CONFDIR=$r" --var "DBDIR=$r/db" --var "RUNDIR=$r/run" --var "LOGDIR=$r/log")
[ "$(id -u)" -eq 0 ] && rargs+=(-u "$ruser" -g "$(id -gn "$ruser")")
rspamd "${rargs[@]}" >"$r/log/stdout.log" 2>&1
wait_port "$RSPAMD_PORT" rspamd "$r/log/rspamd.log"

# spamd: -L (local tests only), default rules, no Bayes, no user configuration.
s="$WORK/spamd"
mkdir -p "$s/site" "$s/home"
cp /etc/spamassassin/*.pre /etc/spamassassin/*.cf "$s/site/" 2>/dev/null || true
printf 'use_bayes 0\nbayes_auto_learn 0\ndns_available no\nskip_rbl_checks 1\n' >"$s/site/zz_bench.cf"
suser="$(user_for debian-spamd)"
[ "$(id -u)" -eq 0 ] && chown -R "$suser" "$s/home"
spamd -L -x --listen="127.0.0.1:$SPAMD_PORT" --allowed-ips=127.0.0.1 --max-children=2 \
    --siteconfigpath="$s/site" --helper-home-dir="$s/home" --username="$suser" \
    --pidfile="$s/spamd.pid" --syslog="$s/spamd.log" --daemonize
wait_port "$SPAMD_PORT" spamd "$s/spamd.log"

python3 bench/corpus.py --corpus "$CORPUS" --spamd "$SPAMD_PORT" --rspamd "$RSPAMD_PORT" ${BENCH_LIMIT:+--limit "$BENCH_LIMIT"}
