#!/usr/bin/env bash
# Sets up a local federation on loopback in one folder, with nothing but
# tongbanctl: a federation root key and CA, one signing key, TLS certificate,
# data folder and config per node, a signed roster, and per county an
# operator CA with a clerk, an administrator and an auditor (password and
# TOTP secret). Used by `make demo` and the system test.
#
#   tools/federation-setup.sh BUILD_DIR DIR SUITE BASE_PORT CODE...
#
# Node i (from 0, in the order given) listens for peers on BASE_PORT+2i and
# for operators on BASE_PORT+2i+1, on 127.0.0.1. The first code must be
# 000000. With TB_HOST_PREFIX set (deploy/compose.yaml), node CODE is
# instead reached at host ${TB_HOST_PREFIX}CODE, port 7443 for peers and
# 7444 for operators, listening on every interface.
# Layout:
#   DIR/root.key, root.pub         federation root key (signs the roster)
#   DIR/ca/                        federation CA
#   DIR/roster.txt, roster.signed  the roster
#   DIR/CODE/tongband.conf         the node's config
#   DIR/CODE/data/                 its data folder (signing key inside)
#   DIR/CODE/tls/                  its TLS certificate and key
#   DIR/CODE/operators/            operator CA, accounts file, and for each
#                                  of clerk, admin, auditor: NAME.crt,
#                                  NAME.key, NAME.password, NAME.totp
set -euo pipefail

if [[ $# -lt 5 ]]; then
  echo "usage: $0 BUILD_DIR DIR SUITE BASE_PORT 000000 CODE..." >&2
  exit 2
fi
build=$1 dir=$2 suite=$3 base=$4
shift 4
codes=("$@")
ctl="${TONGBANCTL:-$build/tongbanctl/tongbanctl}"  # TONGBANCTL: an installed one
q() { "$ctl" "$@" >/dev/null; }

mkdir -p "$dir"
q keys generate --suite "$suite" --out "$dir/root"
q pki init --out "$dir/ca" --name "Tongban demo federation CA" --days 365
q roster create --out "$dir/roster.txt" --federation "demo"

declare -A names=([000000]="国家平台 national platform" [620102]="兰州市城关区 Chengguan, Lanzhou"
                  [440305]="深圳市南山区 Nanshan, Shenzhen" [330106]="杭州市西湖区 Xihu, Hangzhou")
i=0
for code in "${codes[@]}"; do
  peer_port=$((base + 2 * i))
  admin_port=$((base + 2 * i + 1))
  host=127.0.0.1 listen_host=127.0.0.1 name_flags=(--ip 127.0.0.1)
  if [[ -n ${TB_HOST_PREFIX:-} ]]; then
    host="${TB_HOST_PREFIX}${code}" listen_host=0.0.0.0 peer_port=7443 admin_port=7444
    name_flags=(--dns "$host")
  fi
  role=county
  [[ $code == 000000 ]] && role=national
  node="$dir/$code"
  mkdir -p "$node/data"
  chmod 700 "$node/data"
  q keys generate --suite "$suite" --out "$node/data/signing"
  # The node's TLS key is made in its own folder (as on the county's machine),
  # the CA signs only the request: the README's "Keys that stay home".
  q pki request --node "$code" --out "$node/tls" "${name_flags[@]}"
  q pki sign --ca "$dir/ca" --request "$node/tls/node.csr" --out "$node/tls/node.crt" --days 365
  cp "$dir/ca/ca.crt" "$node/tls/ca.crt"
  replace=()
  [[ $code == 000000 ]] && replace=(--replace)
  q roster add-node --in "$dir/roster.txt" --code "$code" --name "${names[$code]:-node $code}" \
    --role "$role" --endpoint "$host:$peer_port" --signing-pub "$node/data/signing.pub" \
    --suite "$suite" "${replace[@]}"
  # Operators: a CA of the county's own, and one account per role.
  ops="$node/operators"
  q operator init --out "$ops" --county "$code"
  for who in clerk:clerk admin:administrator auditor:auditor; do
    name=${who%%:*} role_name=${who##*:}
    q operator add --dir "$ops" --name "$name" --role "$role_name" --suite "$suite" --days 365
  done
  cat >"$node/tongband.conf" <<EOF
# tongband configuration of node $code ($role), made by tools/federation-setup.sh.
[node]
code = "$code"
role = "$role"
suite = "$suite"
data_dir = "data"

[federation]
roster = "../roster.signed"
root_public_key = "../root.pub"
ca = "tls/ca.crt"
certificate = "tls/node.crt"
private_key = "tls/node.key"

[peer]
listen = "$listen_host:$peer_port"

[admin]
listen = "$listen_host:$admin_port"
operator_ca = "operators/ca.crt"
operators = "operators/accounts"

[sync]
retry_initial = "200ms"
retry_max = "5s"
idle_close = "30s"
EOF
  i=$((i + 1))
done
q roster sign --in "$dir/roster.txt" --root-key "$dir/root.key" --suite "$suite" \
  --out "$dir/roster.signed"
