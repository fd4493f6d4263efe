#!/usr/bin/env bash
# Clang's thread-safety analysis over every C++ file of the tree (make
# thread-safety; CI runs it). GCC, which builds the node, ignores the lock
# annotations (ABSL_GUARDED_BY, ABSL_EXCLUSIVE_LOCKS_REQUIRED, ...); clang
# checks them: a read or write of a guarded member without its lock, a call
# that needs a lock not held, a lock not released. Any such finding, and any
# file clang cannot compile (its analysis would be skipped), fails the run.
#
#   tools/thread-safety.sh [BUILD_DIR [REGEX]]
#
# BUILD_DIR defaults to build; REGEX (jq's test()) limits the run to the
# files whose path matches it, e.g. 'sync/' while working there.
#
# Uses BUILD_DIR/compile_commands.json (CMake writes it) and the generated
# headers of that build (.pb.h), so run it after a normal build. Each
# translation unit is parsed with `clang++ -fsyntax-only`, no code generated
# (about two to three minutes on two cores); the compile command's own flags
# are kept but its warnings are replaced by -Wthread-safety alone, so that
# only the analysis can fail the run. Generated sources (protobuf) are
# skipped. JOBS (default 2) sets the parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
only=${2:-.}
db="$build/compile_commands.json"
[ -f "$db" ] || { echo "thread-safety: $db missing (run make build first)" >&2; exit 2; }
clangxx=$(command -v clang++-14 || command -v clang++ || true)
[ -n "$clangxx" ] || { echo "thread-safety: clang++ not installed (apt-get install clang)" >&2; exit 2; }
command -v jq >/dev/null || { echo "thread-safety: jq not installed (apt-get install jq)" >&2; exit 2; }
root=$(pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Three lines per translation unit of the tree: directory, file, command
# (as written: @tsv would escape the command's backslashes).
jq -r --arg root "$root/" --arg build "$root/$build/" --arg only "$only" \
  '.[] | select((.file | startswith($root)) and (.file | startswith($build) | not))
       | select(.file | test($only))
       | .directory, .file, .command' "$db" > "$out/units"
count=$(( $(wc -l < "$out/units") / 3 ))

check_one() {  # N: the Nth unit of the units file
  local dir file cmd args=() skip=0 x words
  { read -r dir; read -r file; read -r cmd; } < <(sed -n "$(( $1 * 3 - 2 )),$(( $1 * 3 ))p" "$OUT/units")
  eval "words=($cmd)"  # CMake quotes the command for a shell (-DX=\"...\")
  for x in "${words[@]:1}"; do
    if [ $skip -eq 1 ]; then skip=0; continue; fi
    case "$x" in
      -o) skip=1 ;;
      -c | -W* | -O* | -fsanitize* | -fno-sanitize* | -fno-omit-frame-pointer) ;;
      *) args+=("$x") ;;
    esac
  done
  (cd "$dir" && "$CLANGXX" -fsyntax-only -Wno-everything -Wthread-safety -Werror=thread-safety \
     "${args[@]}") > "$OUT/$1.log" 2>&1 || echo "$file" >> "$OUT/failed"
}
export -f check_one
export CLANGXX=$clangxx OUT=$out
start=$(date +%s)
seq 1 "$count" | xargs -P "${JOBS:-2}" -I{} bash -c 'check_one {}'
seconds=$(( $(date +%s) - start ))
if [ -s "$out/failed" ]; then
  cat "$out"/*.log
  echo "thread-safety: $(sort -u "$out/failed" | wc -l) of $count file(s) fail clang's -Wthread-safety:"
  sort -u "$out/failed" | sed "s|^$root/|  |"
  exit 1
fi
echo "thread-safety: ok ($count files, ${seconds} s, $(basename "$clangxx"))"
