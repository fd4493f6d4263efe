#!/usr/bin/env bash
# Runs one fuzz target as a test: every input of its seed corpus once (the
# regressions), then fuzzing for SECONDS from that corpus (SECONDS 0: the
# regressions only). New inputs go to
# a temporary folder, never into the repository; a crash leaves its input
# (<target>-crash-*) in $FUZZ_ARTIFACTS (default: the current folder), is
# shown, and fails the run.
#   run.sh TARGET CORPUS_DIR SECONDS
set -uo pipefail
target=$1 corpus=$2 seconds=$3
artifacts=${FUZZ_ARTIFACTS:-$PWD}
mkdir -p "$artifacts"
work=$(mktemp -d "${TMPDIR:-/tmp}/tongban-fuzz-corpus-XXXXXX")
trap 'rm -rf "$work"' EXIT
# What a target makes under $TMPDIR (fuzz_admin's node, which lives as long
# as the process) goes with the rest when the run ends.
mkdir -p "$work/tmp"
export TMPDIR="$work/tmp"
name=$(basename "$target")
log="$work/log"
# A target's LeakSanitizer suppressions, where it has some (the file says why).
supp="$(dirname "$0")/${name#fuzz_}.lsan.supp"
if [ -f "$supp" ]; then
  export LSAN_OPTIONS="suppressions=$(cd "$(dirname "$supp")" && pwd)/$(basename "$supp")${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
fi
show() {  # the summary lines, or the whole log after a failure
  if [ "$1" -ne 0 ]; then cat "$log"; else
    grep -E '^(INFO: seed corpus|#[0-9]+ +(INITED|DONE)|stat::(number_of_executed_units|average_exec_per_sec|new_units_added))' "$log"
  fi
}
echo "$name: $(ls "$corpus" | wc -l) seeds in $corpus"
if [ "$seconds" -le 0 ]; then
  # Regressions only: the corpus loaded (each input run once), no mutation.
  "$target" -runs=0 -artifact_prefix="$artifacts/$name-" "$corpus" >"$log" 2>&1
  rc=$?; show $rc; exit $rc
fi
# Fuzzing from the corpus: libFuzzer first runs every seed once (the
# regressions; a crash there fails the run as any other), then mutates for
# the given time. The first folder receives what is new.
mkdir -p "$work/new"
"$target" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=4096 -print_final_stats=1 \
          -artifact_prefix="$artifacts/$name-" "$work/new" "$corpus" >"$log" 2>&1
rc=$?; show $rc; exit $rc
