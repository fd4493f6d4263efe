#!/usr/bin/env bash
# Fails on a C++ file that clang-format (.clang-format at the root) would
# change, naming each; `make format` rewrites them. Every tracked source is
# checked, so a changed file that is not formatted fails CI. Without
# clang-format it fails too (tools/install-deps.sh installs it).
set -u
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null; then
  echo "format: clang-format not installed (apt-get install clang-format)"; exit 1
fi
if git rev-parse --git-dir >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.cc' '*.h')
else
  mapfile -t files < <(find . -path ./build -prune -o -path './build-*' -prune -o \
                          \( -name '*.cc' -o -name '*.h' \) -print)
fi
bad=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  clang-format --style=file --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "format: ${#bad[@]} file(s) differ from .clang-format (run: make format):"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "format: ok (${#files[@]} files)"
