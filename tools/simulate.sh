#!/bin/bash
# The deterministic simulation of a federation over many seeds
# (tests/sim/simulation_test.cc), split over JOBS processes:
#   tools/simulate.sh BUILD_DIR SEEDS [FIRST_SEED] [STEPS]
# Stores live in /dev/shm (a tmpfs) when it exists. Prints each shard's
# summary and, for a failing seed, the line that replays it; exits non-zero
# if any seed broke an invariant.
set -u
build=${1:?usage: simulate.sh BUILD_DIR SEEDS [FIRST_SEED] [STEPS]}
seeds=${2:?usage: simulate.sh BUILD_DIR SEEDS [FIRST_SEED] [STEPS]}
first=${3:-1}
steps=${4:-250}
jobs=${JOBS:-$(nproc)}
bin="$build/tests/simulation_test"
[[ -x $bin ]] || { echo "simulate: $bin is not built (make build)" >&2; exit 2; }
[[ $seeds =~ ^[0-9]+$ && $first =~ ^[0-9]+$ && $steps =~ ^[0-9]+$ ]] ||
  { echo "simulate: SEEDS, FIRST_SEED and STEPS must be whole numbers" >&2; exit 2; }
tmp=/dev/shm
[[ -d $tmp && -w $tmp ]] || tmp=${TMPDIR:-/tmp}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
start=$(date +%s)
per=$(( (seeds + jobs - 1) / jobs ))
pids=()
for ((j = 0; j < jobs; j++)); do
  from=$(( first + j * per ))
  n=$(( seeds - j * per < per ? seeds - j * per : per ))
  (( n > 0 )) || break
  TEST_TMPDIR=$tmp TB_SIM_FIRST_SEED=$from TB_SIM_SEEDS=$n TB_SIM_STEPS=$steps TB_SIM_BUDGET_SECONDS=0 \
    "$bin" > "$logs/$j.log" 2>&1 &
  pids+=($!)
done
status=0
for j in "${!pids[@]}"; do
  wait "${pids[$j]}" || status=1
  grep -E '^simulated|broke an invariant|^replay:' "$logs/$j.log" || {
    echo "shard $j ended without a summary; its last lines:"; tail -20 "$logs/$j.log"; status=1; }
done
echo "simulate: $seeds seeds from $first, $steps steps each, $jobs processes," \
     "$(( $(date +%s) - start )) s, load average $(cut -d' ' -f1-3 /proc/loadavg):" \
     "$([[ $status == 0 ]] && echo 'every invariant held' || echo 'FAILED')"
exit $status
