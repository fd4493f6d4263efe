#!/usr/bin/env bash
# The README's first start, followed word for word on a clean Debian 12 with
# the .deb: ends with a running county node that `tongbanctl status` reaches.
#
#   tests/deploy/first_start_test.sh BUILD_DIR          the test (root; make test-first-start)
#   tests/deploy/first_start_test.sh --print-readme     the README's text of the steps
#
# The clean Debian 12 is a debootstrap root of bookworm from the apt mirror
# this machine uses, made once and kept in BUILD_DIR/first-start/ (with the
# .deb's dependencies, downloaded once, in an apt archive folder there); each
# run copies it afresh. The steps run in that copy with chroot, inside a
# network namespace of their own (loopback only, so the node's default ports
# collide with nothing): part A as the county's administrator, part B as the
# federation's administrators (whose root key, CA and roster the test makes
# first, as an existing federation has them), part C as the county again.
# Two commands cannot run in a chroot, which has no systemd; the test stands
# in for them and says so:
#   systemctl start tongband   runs the unit's ExecStartPre and ExecStart
#                              lines, read from the installed unit, as its
#                              User= and Group= (tongban), the latter in the
#                              background;
#   systemctl ...              anything else is not run.
# The installed unit is also checked by systemd-analyze verify, the package
# by lintian (nothing but the overrides it ships), and that the package
# enabled the unit (systemctl is-enabled, which reads the links).
# When README.md holds the steps between <!-- first-start:A --> ... markers,
# they must be the ones below.
set -euo pipefail

# --- The steps (README "First start of a county node"); the README text is
# --- printed by --print-readme.
read -r -d '' PART_A <<'STEPS' || true
apt-get install --yes ./tongban_0.1.0-1_amd64.deb
runuser -u tongban -- tongbanctl keys generate --suite gm --out /var/lib/tongban/signing
install -d -o root -g tongban -m 0750 /etc/tongban/tls
tongbanctl pki request --node 440305 --out /etc/tongban/tls --dns tongban.nanshan.example.gov.cn --ip 127.0.0.1
chown tongban:tongban /etc/tongban/tls/node.key
STEPS
read -r -d '' PART_B <<'STEPS' || true
tongbanctl roster add-node --in roster.txt --code 440305 --name "深圳市南山区 Nanshan" --role county --endpoint tongban.nanshan.example.gov.cn:7443 --signing-pub signing.pub --suite gm
tongbanctl roster sign --in roster.txt --root-key root.key --suite gm --out roster.signed
tongbanctl pki sign --ca ca --request node.csr --out node.crt
STEPS
read -r -d '' PART_C <<'STEPS' || true
install -o tongban -g tongban -m 0644 roster.signed /var/lib/tongban/roster.signed
install -o root -g tongban -m 0644 root.pub /etc/tongban/federation-root.pub
install -o root -g tongban -m 0644 ca.crt node.crt /etc/tongban/tls/
tongbanctl operator init --out /etc/tongban/operators --county 440305
tongbanctl operator add --dir /etc/tongban/operators --name li.wei --role clerk --suite gm
chgrp tongban /etc/tongban/operators && chmod 0750 /etc/tongban/operators
chown tongban:tongban /etc/tongban/operators/accounts
sed -i 's/^code = .*/code = "440305"/; s/^suite = .*/suite = "gm"/' /etc/tongban/tongband.conf
tongband --config /etc/tongban/tongband.conf --check-config
systemctl start tongband
tongbanctl profile add nanshan --node 127.0.0.1:7444 --ca /etc/tongban/tls/ca.crt --cert /etc/tongban/operators/li.wei.crt --key /etc/tongban/operators/li.wei.key --password-file /etc/tongban/operators/li.wei.password
tongbanctl status
STEPS

if [[ ${1:-} == --print-readme ]]; then
  printf '<!-- first-start:A -->\n```\n%s\n```\n<!-- /first-start:A -->\n\n' "$PART_A"
  printf '<!-- first-start:B -->\n```\n%s\n```\n<!-- /first-start:B -->\n\n' "$PART_B"
  printf '<!-- first-start:C -->\n```\n%s\n```\n<!-- /first-start:C -->\n' "$PART_C"
  exit 0
fi

build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
started=$SECONDS
fail() { echo "FAIL: $*"; exit 1; }
[[ $(id -u) == 0 ]] || fail "needs root (debootstrap, chroot, network namespaces)"
for tool in debootstrap unshare lintian; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (tools/install-deps.sh)"
done
deb=$build/tongban_0.1.0-1_amd64.deb
[[ -f $deb ]] || fail "$deb is missing: make deb"

# The README's steps, if it holds them, are these.
for part in A B C; do
  var=PART_$part
  readme=$(awk "/<!-- first-start:$part -->/{f=1; next} /<!-- \\/first-start:$part -->/{f=0} f" \
             "$src/README.md" | sed '/^```/d')
  if [[ -n $readme ]]; then
    [[ $readme == "${!var}" ]] || fail "README.md's first-start part $part differs from this test's"
    echo "README.md part $part: the same steps"
  else
    echo "README.md has no first-start part $part yet (paste: $0 --print-readme)"
  fi
done

# The clean Debian 12, made once: debootstrap of bookworm from this machine's
# mirror, with apt's package lists (as an installed system has them).
cache=$build/first-start
mkdir -p "$cache/apt-archives/partial"
mirror=$(awk '/^URIs:/ {print $2; exit} /^deb / {print $2; exit}' \
           /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list 2>/dev/null | head -1)
mirror=${mirror:-http://deb.debian.org/debian}
if [[ ! -f $cache/root-pristine/etc/debian_version ]]; then
  echo "debootstrap bookworm from $mirror into $cache/root-pristine (once)"
  rm -rf "$cache/root-pristine.tmp"
  debootstrap --arch=amd64 bookworm "$cache/root-pristine.tmp" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
    fail "debootstrap failed: see $cache/debootstrap.log"
  chroot "$cache/root-pristine.tmp" apt-get update -qq || fail "apt-get update in the new root"
  mv "$cache/root-pristine.tmp" "$cache/root-pristine"
fi
echo "clean Debian $(cat "$cache/root-pristine/etc/debian_version") root ready ($((SECONDS - started)) s)"

root=$cache/run
rm -rf "$root"
cp -a "$cache/root-pristine" "$root"
mkdir -p "$root/root/county" "$root/root/federation"
cp "$deb" "$root/root/county/"

# In a mount namespace of our own, so that every mount goes when it ends.
in_root() {  # in_root NET SCRIPT: run SCRIPT in the chroot (NET: host or none)
  local net=()
  [[ $1 == none ]] && net=(--net)
  unshare --mount "${net[@]}" --fork bash -euo pipefail -c '
    root=$1 archives=$2 script=$3
    mount -t proc proc "$root/proc"
    mount --bind /dev "$root/dev"
    mount --bind "$archives" "$root/var/cache/apt/archives"
    ip link set lo up 2>/dev/null || true
    chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
      DEBIAN_FRONTEND=noninteractive /bin/bash -euo pipefail -c "$script"
  ' in_root "$root" "$cache/apt-archives" "$2"
}

# The .deb's dependencies into the archive cache (network; kept for next
# time), so that the steps themselves run without a network.
in_root host "cd /root/county && apt-get install --yes --download-only ./tongban_0.1.0-1_amd64.deb >/dev/null" ||
  fail "downloading the .deb's dependencies"
echo "dependencies in the apt cache ($((SECONDS - started)) s)"

# Runs the lines of a part one by one, echoing each; `systemctl start
# tongband` becomes the unit's own command lines as its user.
as_script() {
  local steps=$1 out="" line
  while IFS= read -r line; do
    [[ -z $line ]] && continue
    out+="echo '+ ${line//\'/\'\\\'\'}'"$'\n'
    if [[ $line == "systemctl start tongband" ]]; then
      out+='unit=/lib/systemd/system/tongband.service
user=$(sed -n "s/^User=//p" $unit); group=$(sed -n "s/^Group=//p" $unit)
pre=$(sed -n "s/^ExecStartPre=//p" $unit); main=$(sed -n "s/^ExecStart=//p" $unit)
echo "  (no systemd in a chroot: $pre; then $main; as $user:$group)"
setpriv --reuid="$user" --regid="$group" --init-groups $pre
setpriv --reuid="$user" --regid="$group" --init-groups $main 2>/root/tongband.log &
echo $! >/root/tongband.pid
for i in $(seq 300); do grep -q "admin service listening" /root/tongband.log && break; sleep 0.1; done
grep -q "admin service listening" /root/tongband.log || { cat /root/tongband.log; exit 1; }
'
    elif [[ $line == systemctl* ]]; then
      out+="echo '  (not run: no systemd in a chroot)'"$'\n'
    else
      out+="$line"$'\n'
    fi
  done <<<"$steps"
  printf '%s' "$out"
}

# The federation that exists already: root key, CA, roster with the national
# node (whose endpoint answers nothing here: the county starts without it).
federation_setup='cd /root/federation
tongbanctl keys generate --suite gm --out root >/dev/null
tongbanctl keys generate --suite gm --out national >/dev/null
tongbanctl pki init --out ca --name "Federation CA" >/dev/null
tongbanctl roster create --out roster.txt --federation "test federation" >/dev/null
tongbanctl roster add-node --in roster.txt --code 000000 --name "国家平台 national platform" --role national --endpoint 127.0.0.1:17443 --signing-pub national.pub --suite gm --replace >/dev/null
'
script="set -euo pipefail
cd /root/county
echo '== A: the county installs the package and makes its signing key, TLS key and certificate request'
$(as_script "$PART_A")
systemctl is-enabled tongband | grep -qx enabled || { echo 'the package did not enable tongband.service'; exit 1; }
echo '  (tongband.service is enabled)'
$federation_setup
cp /var/lib/tongban/signing.pub /etc/tongban/tls/node.csr /root/federation/
echo '== B: the federation administrators add the node, sign the roster and the certificate request'
cd /root/federation
$(as_script "$PART_B")
cp roster.signed root.pub node.crt ca/ca.crt /root/county/
echo '== C: the county installs what it was sent, adds an operator, checks and starts the node'
cd /root/county
$(as_script "$PART_C")
tongbanctl status | grep -q '^node  *440305\$'
tongbanctl status | grep -q '^you are  *li.wei (clerk)\$'
echo '== the node answers; stopping it with SIGTERM'
kill \$(cat /root/tongband.pid)
for i in \$(seq 300); do kill -0 \$(cat /root/tongband.pid) 2>/dev/null || break; sleep 0.1; done
grep -q 'node stopped code=440305' /root/tongband.log
systemd-analyze verify --man=no /lib/systemd/system/tongband.service
test -f /usr/share/man/man8/tongband.8.gz && test -f /usr/share/man/man1/tongbanctl.1.gz && test -f /usr/share/man/man5/tongband.conf.5.gz
echo '  (systemd-analyze verify: the unit is valid; its man pages are installed, man-db is not in a debootstrap root)'
"
in_root none "$script" 2>&1 | tee "$cache/first-start.log" | sed 's/^/  /'
[[ ${PIPESTATUS[0]} == 0 ]] || fail "the first start did not end with a running node (log: $cache/first-start.log)"

# lintian: nothing but the overrides the package ships.
lintian -I -E --pedantic --show-overrides "$deb" 2>&1 | grep -v 'running with root privileges' |
  tee "$cache/lintian.txt" | sed 's/^/  lintian: /'
if grep -qE '^[EWIXP]: ' "$cache/lintian.txt"; then
  fail "lintian reports tags that are not overridden"
fi
rm -rf "$root"
echo "first start on a clean Debian 12: a running node tongbanctl status reaches ($((SECONDS - started)) s)"
echo "1 passed, 0 failed"
