#!/usr/bin/env bash
# deploy/Dockerfile and deploy/compose.yaml, built and run: the image from
# the .deb on a debian:12 base imported from the debootstrap root (no image
# registry is reachable here), then the compose federation (a national node
# and two counties on the host's loopback), each node healthy, answering
# tongbanctl status, the counties connected to the national node.
#
#   tests/deploy/docker_test.sh BUILD_DIR        (root; make test-docker)
#
# Uses a running Docker daemon, or starts one as this machine allows
# (dockerd --bridge=none --iptables=false) and stops it at the end. The
# compose project is removed at the end, volume included.
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
started=$SECONDS
fail() { echo "FAIL: $*"; exit 1; }
[[ $(id -u) == 0 ]] || fail "needs root (Docker)"
for tool in dockerd docker docker-compose curl; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (docker.io, docker-compose)"
done
[[ -f $build/tongban_0.1.0-1_amd64.deb ]] || fail "no .deb: make deb"
wait_for() {  # wait_for SECONDS CMD...: poll every 0.2 s
  local until=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do ((SECONDS < until)) || return 1; sleep 0.2; done
}

dockerd_pid=""
project=tongbantest
compose=(docker-compose -p "$project" -f "$src/deploy/compose.yaml")
cleanup() {
  "${compose[@]}" down -v >/dev/null 2>&1 || true
  if [[ -n $dockerd_pid ]]; then kill "$dockerd_pid" 2>/dev/null || true; wait "$dockerd_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT
if ! docker info >/dev/null 2>&1; then
  dockerd --bridge=none --iptables=false >"$build/dockerd.log" 2>&1 &
  dockerd_pid=$!
  wait_for 60 docker info || fail "dockerd did not start (see $build/dockerd.log)"
  echo "started dockerd --bridge=none --iptables=false"
fi
# Host networking: the nodes bind loopback ports of the host. Pick nine
# free ones at random (six consecutive for the peers and operators, three
# for metrics), passed to compose.yaml through its variables.
free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_ports() {
  local tries base p ok
  for tries in $(seq 50); do
    base=$((20000 + RANDOM % 40000)); ok=1
    for p in $(seq "$base" $((base + 8))); do free "$p" || { ok=0; break; }; done
    if ((ok)); then echo "$base"; return 0; fi
  done
  return 1
}
base=$(pick_ports) || fail "no nine free loopback ports found"
export TB_BASE_PORT=$base TB_METRICS_PORT_0=$((base + 6)) TB_METRICS_PORT_1=$((base + 7)) \
       TB_METRICS_PORT_2=$((base + 8))
echo "ports: peers and operators $base..$((base + 5)), metrics $((base + 6))..$((base + 8))"

# debian:12 from the clean root of make test-first-start (made here if absent).
if ! docker image inspect debian:12 >/dev/null 2>&1; then
  root=$build/first-start/root-pristine
  if [[ ! -f $root/etc/debian_version ]]; then
    mkdir -p "$build/first-start"
    debootstrap --arch=amd64 bookworm "$root.tmp" http://deb.debian.org/debian >/dev/null
    chroot "$root.tmp" apt-get update -qq
    mv "$root.tmp" "$root"
  fi
  tar -C "$root" -c . | docker import - debian:12 >/dev/null
  echo "imported debian:12 from $root"
fi
docker build --network host -q -f "$src/deploy/Dockerfile" -t tongban "$src" >/dev/null ||
  fail "docker build"
echo "built image tongban ($(docker image inspect tongban --format '{{.Size}}') bytes, $((SECONDS - started)) s)"

"${compose[@]}" up -d 2>&1 | sed 's/^/  compose: /'
codes=(000000 620102 440305)
for i in 0 1 2; do
  metrics=$((TB_METRICS_PORT_0 + i))
  healthy() { [[ $(curl -s "http://127.0.0.1:$1/healthz") == ok ]]; }
  wait_for 60 healthy "$metrics" || { "${compose[@]}" logs; fail "node ${codes[$i]}: /healthz not ok"; }
  # The image's own HEALTHCHECK command, run in the container.
  container=$("${compose[@]}" ps -q "node-${codes[$i]}")
  check=$(docker inspect "$container" --format '{{index .Config.Healthcheck.Test 3}}')  # CMD bash -c SCRIPT
  docker exec "$container" /bin/bash -c "$check" || fail "node ${codes[$i]}: the image's HEALTHCHECK fails"
done
ctl() {  # ctl CODE ARGS...: tongbanctl as the node's clerk, in a container
  local code=$1 i=$2; shift 2
  docker run --rm --network host -v "${project}_federation:/federation" --entrypoint tongbanctl tongban \
    "$@" --node "127.0.0.1:$((TB_BASE_PORT + 1 + 2 * i))" --ca "/federation/$code/tls/ca.crt" \
    --cert "/federation/$code/operators/clerk.crt" --key "/federation/$code/operators/clerk.key" \
    --password-file "/federation/$code/operators/clerk.password"
}
for i in 0 1 2; do
  ctl "${codes[$i]}" "$i" status | grep -q "^node  *${codes[$i]}\$" || fail "status of ${codes[$i]}"
done
connected() { ctl 000000 0 peers | grep -E "^(620102|440305) " | awk '{print $0}' | grep -c ' yes ' | grep -qx 2; }
wait_for 60 connected || { ctl 000000 0 peers; fail "the counties did not connect to the national node"; }
ctl 000000 0 peers | sed 's/^/  /'
echo "compose federation: 3 nodes healthy, tongbanctl status answers on each, both counties connected ($((SECONDS - started)) s)"
echo "1 passed, 0 failed"
