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

stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  local failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
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
  [[ -n ${console[$code]:-} ]] || { echo "demo: node $code has no console" >&2; exit 1; }
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
