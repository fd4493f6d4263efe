#!/usr/bin/env bash
# make demo: a local federation on loopback (a national node and three
# counties) with a generated CA, roster and operator credentials in a
# temporary folder, and one person's story through it (DOMAIN.md): the
# origin issues a certificate and registers the departure; the residence
# registers the arrival and receives the history; it records a service and
# sends an inquiry, which the origin answers; the person moves on to a third
# county, then returns home. Each step prints the tongbanctl command an
# operator would run and what it shows; it ends with every node's peers,
# status and statistics. Every node also serves the web console; the demo
# prints each console's address and how to sign in, and, run from a
# terminal, keeps the federation up until Enter so that it can be opened in
# a browser. Every process started is stopped.
#
#   tools/demo-federation.sh [BUILD_DIR] [SUITE]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
suite=${2:-gm}
ctl="$build/tongbanctl/tongbanctl"
tongband="$build/daemon/tongband"
dir=$(mktemp -d -t tongban-demo.XXXXXX)
pids=()

pg=""  # the analytics database's folder, when there is one
as_pg=()
stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  local failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  if [[ -n $pg ]]; then
    "${as_pg[@]}" "$pgbin/pg_ctl" -D "$pg/data" -m fast -w stop >/dev/null 2>&1 || failed=1
    rm -rf "$pg"
  fi
  rm -rf "$dir"
  return $failed
}
trap 'stop_all || true' EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# A free block of 8 loopback ports.
base=$((20000 + (RANDOM % 2000) * 8))
while (exec 3<>/dev/tcp/127.0.0.1/$base) 2>/dev/null; do base=$((base + 8)); done

declare -A port name
codes=(000000 620102 440305 330106)
name=([000000]="national platform" [620102]="Chengguan, Lanzhou (origin)"
      [440305]="Nanshan, Shenzhen (residence)" [330106]="Xihu, Hangzhou (next residence)")
for i in "${!codes[@]}"; do port[${codes[$i]}]=$((base + 2 * i + 1)); done

say "Setting up a federation in $dir (suite $suite)"
bash "$(dirname "$0")/federation-setup.sh" "$build" "$dir" "$suite" "$base" "${codes[@]}"
echo "federation CA, signed roster (v1), node keys and certificates, and per county an"
echo "operator CA with a clerk, an administrator and an auditor."

# The web console of every node, on a port the system picks.
assets=$(cd "$(dirname "$0")/../console/assets" && pwd)
for code in "${codes[@]}"; do
  printf '\n[console]\nlisten = "127.0.0.1:0"\nassets = "%s"\n' "$assets" >>"$dir/$code/tongband.conf"
done

# The national platform's analytics database (README "Analytics"): a
# PostgreSQL 15 cluster of the demo's own (Debian's postgresql-15; a Unix
# socket in its folder, no TCP), which the national node's mirror fills.
# Without PostgreSQL installed the demo runs without it.
pgbin=/usr/lib/postgresql/15/bin
if [[ -x $pgbin/initdb ]]; then
  pg=$(mktemp -d -t tongban-demo-pg.XXXXXX)
  if [[ $(id -u) == 0 ]]; then
    chown postgres: "$pg"
    as_pg=(runuser -u postgres --)
  fi
  "${as_pg[@]}" "$pgbin/initdb" -D "$pg/data" -U postgres --auth=trust -E UTF8 --locale=C \
    --no-instructions >"$pg/initdb.log"
  "${as_pg[@]}" "$pgbin/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w \
    -o "-c listen_addresses='' -c unix_socket_directories='$pg' -p $((base + 7))" start >/dev/null
  analytics="host=$pg port=$((base + 7)) dbname=postgres user=postgres"
  printf '\n[analytics]\nconnection = "%s"\npoll = "1s"\n' "$analytics" >>"$dir/000000/tongband.conf"
  echo "the national node mirrors into PostgreSQL ($pg)"
fi

for code in "${codes[@]}"; do
  "$tongband" --config "$dir/$code/tongband.conf" 2>"$dir/$code/tongband.log" &
  pids+=($!)
done

declare -A console
# How to open each node's console: its address, and the operators'
# certificates as PKCS#12 files a browser imports (no password on the file).
show_consoles() {
  say "The web console (通办管理台) of each node"
  echo "Trust the federation CA $dir/ca/ca.crt in the browser (it signed each node's"
  echo "certificate), import an operator's certificate, open the address, then sign in"
  echo "with that operator's password (the .password file; no TOTP is enrolled here)."
  for code in "${codes[@]}"; do
    local ops="$dir/$code/operators"
    printf '\n  %s %s: https://127.0.0.1:%s/\n' "$code" "${name[$code]}" "${console[$code]}"
    for who in clerk admin auditor; do
      openssl pkcs12 -export -in "$ops/$who.crt" -inkey "$ops/$who.key" -out "$ops/$who.p12" \
        -passout pass: 2>/dev/null
      printf '    %-8s certificate %s  password file %s\n' "$who" "$ops/$who.p12" "$ops/$who.password"
    done
  done
}

# tongbanctl as OPERATOR (clerk, admin, auditor) of node CODE.
as() {
  local code=$1 who=$2
  shift 2
  local ops="$dir/$code/operators"
  "$ctl" "$@" --node "127.0.0.1:${port[$code]}" --ca "$dir/$code/tls/ca.crt" \
    --cert "$ops/$who.crt" --key "$ops/$who.key" --password-file "$ops/$who.password"
}
# Prints the command as an operator types it, then runs it.
run() {
  local code=$1 who=$2
  shift 2
  local shown=()
  for a in "$@"; do
    if [[ $a == *[[:space:]]* ]]; then shown+=("\"$a\""); else shown+=("$a"); fi
  done
  printf '\n[%s, %s] $ tongbanctl %s\n' "${name[$code]}" "$who" "${shown[*]}"
  as "$code" "$who" "$@"
}
# Waits (up to 30 s) until `person show` at CODE mentions TEXT.
wait_for() {
  local code=$1 person=$2 text=$3
  for _ in $(seq 300); do
    if as "$code" clerk person show "$person" --reason "demo: wait for sync" 2>/dev/null |
      grep -q -- "$text"; then
      return 0
    fi
    sleep 0.1
  done
  echo "demo: $text did not reach node $code" >&2
  return 1
}

for code in "${codes[@]}"; do
  for _ in $(seq 300); do as "$code" clerk status >/dev/null 2>&1 && break; sleep 0.1; done
done
for code in "${codes[@]}"; do
  for _ in $(seq 300); do
    p=$(sed -n 's/.*console listening port=\([0-9]*\).*/\1/p' "$dir/$code/tongband.log")
    [[ -n $p ]] && { console[$code]=$p; break; }
    sleep 0.1
  done
  if [[ -z ${console[$code]:-} ]]; then
    echo "demo: node $code has no console; the end of its log:" >&2
    tail -5 "$dir/$code/tongband.log" >&2
    exit 1
  fi
done
say "Four nodes are up"
show_consoles
run 620102 admin status

person=620102199003070026
say "1. The origin registers the person, issues a certificate and registers the departure"
run 620102 clerk person register $person --name "Wang Fang" --sex female \
  --birth-date 1990-03-07 --hukou-region 620102 --hukou-address "Chengguan, Lanzhou"
run 620102 clerk certificate issue $person --type marriage-fertility --number HY-620102-0001 \
  --issuer 620102 --valid-from 2026-03-01 --valid-to 2027-02-28 --fact marital_status=married
run 620102 clerk register outflow $person --to 440305 --left-on 2026-03-01 --why work

say "2. The residence registers the arrival and receives the person's history"
run 440305 clerk register inflow $person --origin 620102 --arrived-on 2026-03-02 \
  --registered-on 2026-03-10 --address "Nanshan, Shenzhen"
wait_for 440305 $person CERTIFICATE
run 440305 clerk person show $person --reason "arrival: check the history"
run 440305 clerk certificate show $person --reason "arrival: check the certificate"

say "3. The residence records a service; the origin sees it"
run 440305 clerk service record $person --type prenatal-check --delivered-on 2026-04-01 \
  --provider 440305 --period 2026-04
wait_for 620102 $person "SERVICE "
run 620102 clerk person show $person --reason "case follow-up"

say "4. The residence sends an inquiry (协查); the origin replies"
inquiry_out=$(as 440305 clerk inquiry send $person --to 620102 --type normal \
  --question "Is the marriage certificate still current?" --id inq-0001)
printf '\n[%s, clerk] $ tongbanctl inquiry send %s --to 620102 --type normal --question "..." --id inq-0001\n%s\n' \
  "${name[440305]}" $person "$inquiry_out"
wait_for 620102 $person "INQUIRY "
run 620102 clerk inquiry list --due --within-days 31
run 620102 clerk inquiry reply $person --inquiry inq-0001 --inquiry-county 440305 \
  --answer "Current; valid until 2027-02-28" --matched
wait_for 440305 $person INQUIRY_REPLY
run 440305 clerk inquiry list | tee "$dir/inquiries"
grep -q " answered " "$dir/inquiries" || { echo "demo: the inquiry is not answered" >&2; exit 1; }

say "4b. The origin sends a notice (通报) asking for a receipt; the residence acknowledges"
notice_out=$(as 620102 clerk notice send $person --to 440305 --subject "Entitlement review" \
  --needs-receipt --id notice-0001)
printf '\n[%s, clerk] $ tongbanctl notice send %s --to 440305 --subject "..." --needs-receipt --id notice-0001\n%s\n' \
  "${name[620102]}" $person "$notice_out"
wait_for 440305 $person "NOTICE "
run 440305 clerk notice list --due --within-days 31
run 440305 clerk notice ack $person --notice notice-0001 --notice-county 620102
wait_for 620102 $person RECEIPT
run 620102 clerk notice list | tee "$dir/notices"
grep -q " acknowledged " "$dir/notices" || { echo "demo: the notice is not acknowledged" >&2; exit 1; }

say "4c. The origin sets an entitlement; the residence helps deliver it"
run 620102 clerk entitlement set $person --programme reward --status active \
  --from 2026-01-01 --to 2026-12-31 --amount-fen 10000
wait_for 440305 $person "ENTITLEMENT "
run 440305 clerk entitlement deliver $person --entitlement ent-reward \
  --delivered-on 2026-04-20 --provider 440305 --period 2026-04

say "5. The person moves on to a third county, which receives the history"
run 330106 clerk register inflow $person --origin 620102 --previous 440305 \
  --arrived-on 2026-07-01 --registered-on 2026-07-05 --address "Xihu, Hangzhou"
wait_for 330106 $person "SERVICE "
run 330106 clerk person where $person --reason "who holds this person's records"

say "6. The person returns home"
run 620102 clerk register return $person --type home --effective-on 2026-11-01 --from 330106
wait_for 330106 $person RETURN
run 620102 clerk person history $person --reason "case closed: review"

say "7. Every node: peers, status and statistics"
for code in "${codes[@]}"; do
  run "$code" admin peers
done
for code in "${codes[@]}"; do
  run "$code" admin status
done
# The registrations fall in the statistical year 2026 (2025-10-01 to
# 2026-09-30); the inquiry was sent this month.
for code in "${codes[@]}"; do
  run "$code" admin stats --year 2026
done
run 000000 admin stats
run 000000 admin ledger export --year 2026 --out "$dir/ledger-2026.csv"
printf '(first lines of %s)\n' "$dir/ledger-2026.csv"
head -c 600 "$dir/ledger-2026.csv"; echo
say "8. The auditor of the residence reads who touched the person's data"
run 440305 auditor audit --person $person --limit 8

if [[ -n $pg ]]; then
  say "9. The national platform's staff ask their questions of the analytics database"
  for _ in $(seq 300); do
    as 000000 admin status 2>/dev/null | grep -q "analytics *connected, 0 behind" && break
    sleep 0.1
  done
  run 000000 admin status | grep -E "tongbanctl|analytics"
  # The measures computed by PostgreSQL are the national node's own.
  printf '\n[staff] $ tongbanctl stats --year 2026 --from analytics --db "%s"\n' "$analytics"
  "$ctl" stats --year 2026 --from analytics --db "$analytics" | tee "$dir/stats-sql"
  as 000000 admin stats --year 2026 >"$dir/stats-node"
  if ! diff <(grep -v "computed by" "$dir/stats-node") <(grep -v "computed by" "$dir/stats-sql"); then
    echo "demo: the analytics database's measures differ from the national node's" >&2
    exit 1
  fi
  # The README's ten typical questions, as written there.
  readme="$(dirname "$0")/../README.md"
  # One question a line, its lines joined by \n (printf %b splits them).
  awk '/^```/ { if (q != "") print q; sql = ($0 == "```sql"); q = ""; next }
       sql && /^-- [0-9]+\. / { if (q != "") print q; q = $0; next }
       sql && q != "" { q = q "\\n" $0 }' "$readme" >"$dir/questions"
  asked=0
  while IFS= read -r q; do
    printf '\n[staff] $ psql\n%b\n' "$q"
    printf '%b\n' "$q" | psql -X -q -v ON_ERROR_STOP=1 -h "$pg" -p $((base + 7)) -U postgres \
      -d postgres
    asked=$((asked + 1))
  done <"$dir/questions"
  [[ $asked -eq 10 ]] || { echo "demo: $asked questions in README.md, not 10" >&2; exit 1; }
fi

show_consoles
if [[ -t 0 ]]; then
  printf '\nThe federation stays up for the consoles above; press Enter to stop it. '
  read -r
fi

say "Stopping the nodes"
trap - EXIT
if stop_all; then
  echo "all four nodes stopped cleanly"
else
  echo "demo: a node did not stop cleanly" >&2
  exit 1
fi
