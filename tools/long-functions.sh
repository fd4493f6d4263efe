#!/usr/bin/env bash
# Lists the C++ functions longer than N lines (signature and body), so that
# none grows past "about 100 lines" unnoticed (STYLE.md; issue #12).
#
#   tools/long-functions.sh [-n N] [-x EXCLUDED_FILE]... [--check] PATH...
#
# PATH is a folder (every .cc and .h under it) or a file. Prints
# "file:line: N lines: signature" for each, longest first. With --check it
# exits 1 if any of them lacks a justification: a comment line containing
# "long-function:" (say why it must be one) in the comment block right above
# the signature.
#
# It reads the layout clang-format gives the tree (.clang-format): a function
# defined at namespace level starts at a line in column 0 and its body ends
# at a line that is exactly "}" in column 0; class, struct, enum and array
# definitions end with "};", and namespaces with "}  // namespace". Member
# functions defined inside a class body are not measured (keep them short).
set -u
max=100
check=0
excluded=()
paths=()
while [ $# -gt 0 ]; do
  case "$1" in
    -n) max=$2; shift 2 ;;
    -x) excluded+=("$2"); shift 2 ;;
    --check) check=1; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) paths+=("$1"); shift ;;
  esac
done
[ ${#paths[@]} -eq 0 ] && { echo "usage: $0 [-n N] [-x FILE]... [--check] PATH..." >&2; exit 2; }

mapfile -t files < <(find "${paths[@]}" -type f \( -name '*.cc' -o -name '*.h' \) | sort)
report=$(
  for f in "${files[@]}"; do
    skip=0
    for x in "${excluded[@]+"${excluded[@]}"}"; do [ "$f" = "$x" ] && skip=1; done
    [ $skip -eq 1 ] && continue
    awk -v max="$max" -v file="$f" '
      function reset() { start = 0; body = 0; sig = "" }
      BEGIN { reset(); comment = "" }
      start == 0 {
        if ($0 ~ /^\/\//) { comment = comment "\n" $0; next }   # comment at column 0
        if ($0 !~ /^[A-Za-z_~]/ || $0 ~ /^(namespace|class|struct|enum|union|using|typedef|extern|static_assert|friend)[ \t]/) {
          comment = ""; next
        }
        start = NR; sig = $0; justified = (comment ~ /long-function:/); comment = ""
      }
      start != 0 {
        if (!body) {
          if ($0 ~ /\{/) {
            body = 1
            if ($0 ~ /\}[ \t]*;?[ \t]*(\/\/.*)?$/) { reset(); next }   # one line
          } else if ($0 ~ /;[ \t]*(\/\/.*)?$/) { reset(); next }       # a declaration
          next
        }
        if ($0 ~ /^\};/) { reset(); next }              # a class, struct, enum or table
        if ($0 ~ /^\}[ \t]*(\/\/.*)?$/) {
          n = NR - start + 1
          if (n > max) {
            gsub(/[ \t]+/, " ", sig)
            printf "%d\t%s:%d: %d lines%s: %s\n", n, file, start, n,
                   justified ? " (justified)" : "", substr(sig, 1, 90)
          }
          reset()
        }
      }
    ' "$f"
  done | sort -t$'\t' -k1,1nr | cut -f2-
)
[ -n "$report" ] && echo "$report"
if [ $check -eq 1 ]; then
  bad=$(echo "$report" | grep -v '(justified)' | grep -c . || true)
  if [ "$bad" -gt 0 ]; then
    echo "long-functions: $bad function(s) over $max lines without a \"long-function:\" comment saying why"
    exit 1
  fi
  echo "long-functions: ok (none over $max lines unjustified)"
fi
exit 0
