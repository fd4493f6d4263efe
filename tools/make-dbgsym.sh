#!/usr/bin/env bash
# Builds tongban-dbgsym_VERSION_ARCH.ddeb beside the .deb in BUILD_DIR, as
# dh_strip would: the symbols of tongband and tongbanctl (objcopy
# --only-keep-debug, compressed) at /usr/lib/debug/.build-id/XX/YYYY.debug,
# named by the GNU build-id the stripped binaries in the .deb keep, so that
# gdb and systemd-coredump find them.
#   tools/make-dbgsym.sh BUILD_DIR
set -euo pipefail
build=$1
deb=$(ls "$build"/tongban_*.deb | head -1)
version=$(dpkg-deb -f "$deb" Version)
arch=$(dpkg-deb -f "$deb" Architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
ids=()
for program in "$build/daemon/tongband" "$build/tongbanctl/tongbanctl"; do
  id=$(readelf -n "$program" | awk '/Build ID/ {print $3}')
  [ -n "$id" ] || { echo "make-dbgsym: $program has no build-id" >&2; exit 1; }
  dir="$stage/usr/lib/debug/.build-id/${id:0:2}"
  mkdir -p "$dir"
  objcopy --only-keep-debug --compress-debug-sections "$program" "$dir/${id:2}.debug"
  chmod 0644 "$dir/${id:2}.debug"
  ids+=("$id")
done
mkdir -p "$stage/usr/share/doc" "$stage/DEBIAN"
ln -s tongban "$stage/usr/share/doc/tongban-dbgsym"
cat >"$stage/DEBIAN/control" <<CONTROL
Package: tongban-dbgsym
Source: tongban
Version: $version
Architecture: $arch
Maintainer: $(dpkg-deb -f "$deb" Maintainer)
Installed-Size: $(du -sk "$stage/usr" | cut -f1)
Depends: tongban (= $version)
Section: debug
Priority: optional
Auto-Built-Package: debug-symbols
Description: debug symbols for tongban
Build-Ids: ${ids[*]}
CONTROL
dpkg-deb --root-owner-group --build "$stage" "$build/tongban-dbgsym_${version}_${arch}.ddeb" >/dev/null
echo "$build/tongban-dbgsym_${version}_${arch}.ddeb: build-ids ${ids[*]}"
