#!/usr/bin/env bash
# make bench-compare (issue #19): PostgreSQL 15 logical replication and
# Tongban's peer sync on this machine, in the same run, interleaved, and the
# ratios of their medians.
#
# Each round runs both sides once, alternating which goes first (odd rounds
# PostgreSQL, even rounds Tongban), so a machine that gets busier or quieter
# during the run weighs on both:
#   PostgreSQL  bench/pg-logical-replication.sh (a copy of the shared reference
#               script, unchanged) with ROUNDS=1, TESTS="b c": catch-up of
#               EVENTS rows after the subscription was disabled, the
#               subscriber's peak memory (its processes' RSS, shared memory
#               counted once), and single-row delivery latency at 100 rows/s;
#               for each of the subscription's synchronous_commit values in
#               PG_SUB_SYNC ("off", PostgreSQL's default for a subscription,
#               is the reference of the aims; "on" flushes at every apply, as
#               Tongban's receiver does before it reports an event stored).
#   Tongban     build/bench/tongban_sync_bench --trials=1: catch-up of a backlog
#               of EVENTS events over mutual TLS with every signature checked,
#               the receiver's peak memory (VmHWM of its own process) and
#               delivery latency at 100 events/s, for each suite and receiver.
# Then bench/compare_summary.py prints medians (min-max) of the rounds, the
# ratios Tongban / PostgreSQL, and the load average before and after each
# step. Everything is kept in OUT_DIR (raw samples, each step's log).
#
# Knobs: ROUNDS [3] EVENTS [1000000] SUITES [intl,gm] MODES [national,routed]
#        PG_SUB_SYNC ["off on"] OUT_DIR [BUILD_DIR/bench-compare/STAMP]
# Runs as root (the PostgreSQL script acts as the postgres user through
# runuser and installs PostgreSQL 15 if it is missing). Takes about 5 minutes
# a round at the defaults.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD_DIR=${1:-build}
ROUNDS=${ROUNDS:-3}
EVENTS=${EVENTS:-1000000}
SUITES=${SUITES:-intl,gm}
MODES=${MODES:-national,routed}
PG_SUB_SYNC=${PG_SUB_SYNC:-off on}
OUT=${OUT_DIR:-$BUILD_DIR/bench-compare/$(date +%Y%m%d-%H%M%S)}
SYNC_BENCH=$BUILD_DIR/bench/tongban_sync_bench

die() { echo "bench-compare: $*" >&2; exit 1; }
[ -x "$SYNC_BENCH" ] || die "$SYNC_BENCH not built (make build)"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS=$ROUNDS: a positive number of rounds"
[[ "$EVENTS" =~ ^[1-9][0-9]*$ ]] || die "EVENTS=$EVENTS: a positive number of events"
[ "$(id -u)" = 0 ] || die "run as root (the PostgreSQL side acts as the postgres user)"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
: >"$OUT/pg.tsv"
: >"$OUT/tongban.tsv"
printf 'round\tstep\tload_before\tload_after\tseconds\n' >"$OUT/load.tsv"

step() {  # round name command...: run one side, logging its load and time
  local round=$1 name=$2; shift 2
  local before t0
  before=$(loadavg); t0=$(date +%s)
  echo "[$(date +%H:%M:%S)] round $round/$ROUNDS: $name (load average $before)" >&2
  if ! "$@" >"$OUT/$name-$round.log" 2>&1; then
    tail -n 30 "$OUT/$name-$round.log" >&2
    die "$name failed in round $round; its log: $OUT/$name-$round.log"
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$name" "$before" "$(loadavg)" \
    "$(($(date +%s) - t0))" >>"$OUT/load.tsv"
}

postgresql() {  # round
  local dir="$OUT/pg-$1"
  ROUNDS=1 ROWS=$EVENTS TESTS="b c" SUB_SYNC="$PG_SUB_SYNC" OUT_DIR="$dir" \
    bash "$HERE/pg-logical-replication.sh" || return 1
  # round variant test metric value, with this round's number
  tail -q -n +2 "$dir"/raw-*.tsv | awk -F'\t' -v OFS='\t' -v r="$1" '{ $1 = r; print }' \
    >>"$OUT/pg.tsv"
}

tongban() {  # round
  local tsv="$OUT/tongban-$1.tsv"
  "$SYNC_BENCH" --events="$EVENTS" --trials=1 --suites="$SUITES" --modes="$MODES" \
    --tsv="$tsv" || return 1
  # round suite mode metric value
  awk -F'\t' -v OFS='\t' -v r="$1" '{ print r, $0 }' "$tsv" >>"$OUT/tongban.tsv"
}

echo "bench-compare: $ROUNDS rounds of $EVENTS; results in $OUT" >&2
for ((r = 1; r <= ROUNDS; r++)); do
  if ((r % 2)); then
    step "$r" postgresql postgresql "$r"
    step "$r" tongban tongban "$r"
  else
    step "$r" tongban tongban "$r"
    step "$r" postgresql postgresql "$r"
  fi
done

python3 "$HERE/compare_summary.py" "$OUT" "$EVENTS" | tee "$OUT/summary.md"
