#!/usr/bin/env bash
# Coverage-guided fuzzing with AFL++ (cargo-afl): builds one target of fuzz/ and fuzzes it
# for SECONDS, then prints AFL's figures (executions, corpus, coverage, crashes, hangs).
#
#   scripts/fuzz.sh TARGET SECONDS     e.g. scripts/fuzz.sh data 3600
#   scripts/fuzz.sh list               the targets
#
# Needs cargo-afl (`cargo install cargo-afl`; its install builds AFL++ for this rustc).
# The corpus and findings go to fuzz/target/afl/TARGET (FUZZ_OUT to move it); a second run
# resumes from there. Exits 1 when AFL saved a crash or a hang.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

if [[ "${1:-}" == list ]]; then
    ls src/bin | sed 's/\.rs$//'
    exit 0
fi
target=${1:?usage: scripts/fuzz.sh TARGET SECONDS (scripts/fuzz.sh list for the targets)}
seconds=${2:?usage: scripts/fuzz.sh TARGET SECONDS}
[[ -f "src/bin/$target.rs" ]] || { echo "no target $target; try: scripts/fuzz.sh list" >&2; exit 2; }
if ! cargo afl --version >/dev/null 2>&1; then
    echo "cargo-afl is not installed: cargo install cargo-afl" >&2
    exit 2
fi

CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} cargo afl build --release --bin "$target"

out=${FUZZ_OUT:-target/afl/$target}
mkdir -p "$out"
input=(-i "seeds/$target")
[[ -d "$out/default/queue" ]] && input=(-i -)          # resume the earlier corpus
dict=()
[[ -f "dict/$target.dict" ]] && dict=(-x "dict/$target.dict")

# No UI (logs instead of a screen); tolerate a core_pattern that pipes to a handler and
# a CPU governor we cannot change, and other processes on every core (shared machines).
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_AUTORESUME=1 AFL_NO_AFFINITY=1
cargo afl fuzz -V "$seconds" "${input[@]}" -o "$out" "${dict[@]}" "target/release/$target" >"$out/fuzz.log" 2>&1 || {
    tail -20 "$out/fuzz.log" >&2
    exit 1
}

stats="$out/default/fuzzer_stats"
field() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
echo "target=$target seconds=$seconds execs_done=$(field execs_done) execs_per_sec=$(field execs_per_sec)" \
    "corpus_count=$(field corpus_count) edges_found=$(field edges_found) bitmap_cvg=$(field bitmap_cvg)" \
    "saved_crashes=$(field saved_crashes) saved_hangs=$(field saved_hangs)"
if [[ "$(field saved_crashes)" != 0 || "$(field saved_hangs)" != 0 ]]; then
    echo "findings in $PWD/$out/default/crashes and hangs" >&2
    exit 1
fi
