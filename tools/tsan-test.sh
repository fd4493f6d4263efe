#!/bin/bash
# make test TSAN=1: the tests of what runs threads in one process (the
# writer's appender, committer and signer threads, the store under them,
# sessions beside the writer, and the simulation's federation), built with
# ThreadSanitizer and run against abseil built the same way
# (tools/tsan-abseil.sh), with the suppressions of tools/tsan.supp (which
# match only where the earlier access's stack is kept: history_size=7).
#   tools/tsan-test.sh BUILD_DIR TEST...
# Any report fails the run (halt_on_error). Not covered: the gRPC
# transport and the daemon (README, "ThreadSanitizer").
set -u
build=${1:?usage: tsan-test.sh BUILD_DIR TEST...}
shift
here=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH=$(cd "$build" && pwd)/absl/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export TSAN_OPTIONS="suppressions=$here/tsan.supp halt_on_error=1 second_deadlock_stack=1 history_size=7 ${TSAN_OPTIONS:-}"
# The simulation: 20 seeds (each about 3 s under ThreadSanitizer).
export TB_SIM_SEEDS=${TB_SIM_SEEDS:-20}
[[ -d /dev/shm && -w /dev/shm ]] && export TEST_TMPDIR=${TEST_TMPDIR:-/dev/shm}
status=0
for t in "$@"; do
  start=$(date +%s)
  log=$(mktemp)
  if "$build/tests/$t" > "$log" 2>&1; then
    echo "tsan: $t passed with no report ($(( $(date +%s) - start )) s)"
  else
    echo "tsan: $t FAILED; its report:"
    grep -A60 -m1 'WARNING: ThreadSanitizer' "$log" || tail -40 "$log"
    grep -E '^\[  FAILED' "$log"
    status=1
  fi
  rm -f "$log"
done
exit $status
