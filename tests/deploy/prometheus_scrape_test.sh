#!/usr/bin/env bash
# A real Prometheus (Debian's package) scrapes a running tongband and the
# series come back through Prometheus's HTTP API; the shipped alerting rules
# load and evaluate against them without error; every metric the rules and
# the Grafana dashboard name is one tongband exports.
#
#   tests/deploy/prometheus_scrape_test.sh TONGBAND TONGBANCTL SOURCE_DIR
#
# Everything listens on 127.0.0.1 with ports the system picks (port 0; the
# chosen ports are read back from the log and from ss), in a temporary
# folder removed at the end; both processes are stopped at the end.
set -euo pipefail
tongband=$1 tongbanctl=$2 src=$3
for tool in prometheus curl jq ss; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (tools/install-deps.sh)"; exit 1; }
done
dir=$(mktemp -d "${TMPDIR:-/tmp}/tongban-prom.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$dir"/*.log; do echo "--- $f"; tail -20 "$f"; done; exit 1; }
# Polls `cmd` every 0.1 s until it succeeds, for at most $1 seconds.
wait_for() {
  local seconds=$1; shift
  local until=$((SECONDS + seconds))
  until "$@"; do
    ((SECONDS < until)) || return 1
    sleep 0.1
  done
}

# A one-node federation (the national node), made by the setup script.
TONGBANCTL=$tongbanctl bash "$src/tools/federation-setup.sh" - "$dir/fed" intl 7443 000000 >/dev/null
conf=$dir/fed/000000/tongband.conf
sed -i 's/^listen = .*/listen = "127.0.0.1:0"/' "$conf"
printf '\n[metrics]\nlisten = "127.0.0.1:0"\n' >>"$conf"
"$tongband" --config "$conf" 2>"$dir/tongband.log" &
pids+=($!)
metrics_port() { grep -o 'metrics listening port=[0-9]*' "$dir/tongband.log" | cut -d= -f2; }
has_metrics_port() { [ -n "$(metrics_port)" ]; }
wait_for 30 has_metrics_port || fail "tongband did not start its metrics endpoint"
mport=$(metrics_port)
curl -sf "http://127.0.0.1:$mport/metrics" >"$dir/metrics.txt" || fail "no /metrics"

# Every metric the rules and the dashboard name is exported (histograms with
# their _bucket/_sum/_count; "up" is Prometheus's own).
exported=$(awk '/^# TYPE /{print $3; if ($4 == "histogram") {print $3 "_bucket"; print $3 "_sum"; print $3 "_count"}}' "$dir/metrics.txt" | sort -u)
named=$( (grep -h 'expr:' "$src/deploy/prometheus/tongban-alerts.yml"
          jq -r '.. | .expr? // empty, (.query? | objects | .query)? // empty' "$src/deploy/grafana/tongban-dashboard.json") |
        grep -oE '\b(tongban|process)_[a-z_]+' | sort -u)
[ -n "$named" ] || fail "no metric names found in the rules and the dashboard"
for name in $named; do
  grep -qx "$name" <<<"$exported" || fail "$name is named by the rules or the dashboard but tongband does not export it"
done
echo "the rules and the dashboard name $(wc -w <<<"$named") metrics, all exported"

# Prometheus on a port of its own choosing, scraping every second, with the
# shipped rules evaluated every second.
cp "$src/deploy/prometheus/tongban-alerts.yml" "$dir/"
cat >"$dir/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [tongban-alerts.yml]
scrape_configs:
  - job_name: tongban
    static_configs:
      - targets: ["127.0.0.1:$mport"]
YAML
prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/tsdb" \
  --web.listen-address=127.0.0.1:0 2>"$dir/prometheus.log" &
prom_pid=$!
pids+=($prom_pid)
prom_port() { ss -Hltnp 2>/dev/null | grep "pid=$prom_pid," | awk '{print $4}' | sed 's/.*://' | head -1; }
has_prom_port() { [ -n "$(prom_port)" ]; }
wait_for 30 has_prom_port || fail "Prometheus did not listen"
api="http://127.0.0.1:$(prom_port)/api/v1"
query() { curl -sf --get "$api/query" --data-urlencode "query=$1"; }
has_result() { [ "$(query "$1" | jq '.data.result | length')" -gt 0 ]; }
wait_for 60 has_result 'tongban_build_info' || fail "Prometheus never stored tongban_build_info"

version_line=$("$tongband" --version)  # "tongband 0.1.0 (commit abc)"
version=$(awk '{print $2}' <<<"$version_line")
commit=$(sed 's/.*(commit \(.*\))/\1/' <<<"$version_line")
build=$(query 'tongban_build_info{job="tongban"}')
[ "$(jq -r '.data.result[0].metric.version' <<<"$build")" = "$version" ] || fail "build_info version: $build"
[ "$(jq -r '.data.result[0].metric.commit' <<<"$build")" = "$commit" ] || fail "build_info commit: $build"
[ "$(jq -r '.data.result[0].value[1]' <<<"$build")" = 1 ] || fail "build_info value: $build"
[ "$(query 'up{job="tongban"}' | jq -r '.data.result[0].value[1]')" = 1 ] || fail "up is not 1"
[ "$(query 'tongban_ready' | jq -r '.data.result[0].value[1]')" = 1 ] || fail "tongban_ready is not 1"
[ "$(query 'tongban_node_info' | jq -r '.data.result[0].metric.role')" = national ] || fail "node_info role"
rss=$(query 'process_resident_memory_bytes{job="tongban"}' | jq -r '.data.result[0].value[1]')
awk -v v="$rss" 'BEGIN { exit !(v > 1048576) }' || fail "process_resident_memory_bytes $rss"
echo "Prometheus scraped tongband $version ($commit): up 1, ready 1, resident memory $rss bytes"

# The rules were loaded and each has been evaluated without error.
rules=$(grep -c '^ *- alert:' "$src/deploy/prometheus/tongban-alerts.yml")
rules_ok() {
  curl -sf "$api/rules" | jq -e --argjson n "$rules" '[.data.groups[].rules[]] | length == $n and
      all(.health == "ok" and .lastEvaluation != "0001-01-01T00:00:00Z")' >/dev/null
}
wait_for 30 rules_ok || fail "the alerting rules did not all evaluate: $(curl -sf "$api/rules")"
firing=$(curl -sf "$api/alerts" | jq -r '[.data.alerts[] | select(.state == "firing") | .labels.alertname] | join(",")')
[ -z "$firing" ] || fail "alerts firing on a healthy node: $firing"
echo "9 alerting rules evaluated on the live series; none firing"
echo "1 passed, 0 failed"
