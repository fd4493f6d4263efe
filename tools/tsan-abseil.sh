#!/bin/bash
# Debian's own abseil, built with ThreadSanitizer, for make test TSAN=1.
#   tools/tsan-abseil.sh OUT_DIR
# ThreadSanitizer sees a lock only where the code that takes it is
# instrumented (or intercepted, as pthread's are). Debian's libabsl is not:
# absl::Mutex, which the tree and gRPC lock with, is invisible to it, and
# every variable an absl::Mutex guards is reported as a race. So this
# fetches the source package of the installed libabsl-dev (apt-get source,
# from the deb-src of the same mirror, in a private apt state under OUT_DIR),
# builds its shared libraries with -fsanitize=thread, and leaves them in
# OUT_DIR/lib with Debian's file names and sonames: run the tests with
# LD_LIBRARY_PATH=OUT_DIR/lib and every user of abseil (the tree, gRPC)
# takes them. Done once per build folder (OUT_DIR/lib/.done).
set -euo pipefail
out=${1:?usage: tsan-abseil.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
[[ -f $out/lib/.done ]] && exit 0
version=$(dpkg-query -W -f='${Version}' libabsl-dev)
command -v dpkg-source >/dev/null || {
  echo "tsan-abseil: dpkg-source is missing (apt-get install dpkg-dev)" >&2; exit 1; }
echo "tsan-abseil: building abseil $version with ThreadSanitizer in $out (once)"
apt=$out/apt
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/sources"
# The mirror and suite the system's own sources name, as deb-src.
uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null ||
      true)
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
cat > "$apt/sources/src.sources" <<SRC
Types: deb-src
URIs: ${uri:-http://deb.debian.org/debian}
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
opts=(-o Dir::Etc::sourcelist=/dev/null -o "Dir::Etc::sourceparts=$apt/sources"
      -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache")
apt-get "${opts[@]}" update -qq
rm -rf "$out/src"
mkdir -p "$out/src"
(cd "$out/src" && apt-get "${opts[@]}" source -qq "abseil=$version" >/dev/null 2>&1)
srcdir=$(find "$out/src" -mindepth 1 -maxdepth 1 -type d -name 'abseil-*' | head -1)
[[ -n $srcdir ]] || { echo "tsan-abseil: apt-get source abseil=$version gave no source" >&2; exit 1; }
# As debian/rules configures its shared build, plus the sanitizer.
cmake -S "$srcdir" -B "$out/build" -DCMAKE_CXX_STANDARD=17 -DBUILD_SHARED_LIBS=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS="-fsanitize=thread" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" >/dev/null
cmake --build "$out/build" -j"${JOBS:-2}" >/dev/null
mkdir -p "$out/lib"
find "$out/build" -name 'libabsl_*.so*' -exec cp -P {} "$out/lib/" \;
touch "$out/lib/.done"
