#!/usr/bin/env bash
# Enforces the layering of the README's "Layout and layering": dependencies
# point down only.
#
#   common <- proto <- records <- storage <- sync <- workflows <- analytics <- node <- admin <- console <- daemon
#
# analytics/ (the national node's mirror into PostgreSQL) reads the store
# only; analytics/pg.cc is the one file that includes libpq.
#
# console/ (the web console) sits beside admin/'s gRPC server: it calls the
# Admin logic over HTTPS and includes neither gRPC nor RocksDB.
#
# with three libraries that must stay free of the store, so that tongbanctl
# (which talks to a running node only through the Admin service) links
# neither RocksDB nor the sync transport:
#   sync/roster.*                      (tongban_roster)   common, proto
#   workflows/{certificate_payload,csv,import_csv,ledger,measures}.*
#                                      (tongban_formats)  + records, sync/roster.h
#   admin/{operators,totp}.*           (tongban_accounts) common
#   analytics/{pg,stats_sql}.*         (tongban_analytics_client) + formats, libpq
# and tongbanctl/ itself, which may use those, records, common, proto and
# sync/grpc_status.h only (tongbanctl stats --from analytics reads the
# analytics database with the client). RocksDB appears in storage's .cc
# files only; gRPC never in common/, records/ or storage/.
#
# tests/, bench/ and fuzz/ (the libFuzzer targets, built with -DTB_FUZZ=ON)
# are top-level consumers: they may include any room, and no room includes
# them.
#
# Keys are built only by storage/keys.{h,cc}: above storage/, writes go
# through Batch methods and reads use storage's key functions.
#
# Usage: layering_check.sh [TONGBANCTL_BINARY [ROSTER_LIBRARY]]: with the
# built tongbanctl, also checks that it links no RocksDB and no symbol of
# storage/ or sync/ beyond the roster library. Prints every violation.
set -u
cd "$(dirname "$0")/.."
fail=0
upper() {  # the include pattern of every room above $1
  local rooms=(records storage sync workflows analytics node admin console daemon tongbanctl) out="" seen=0
  for r in "${rooms[@]}"; do
    [ $seen -eq 1 ] && out="$out|$r"
    [ "$r" = "$1" ] && seen=1
  done
  echo "#include \"(${out#|})/"
}
check() {  # files (a folder or globs), forbidden include pattern, why
  local hits
  hits=$(grep -rnE "$2" $1 --include='*.h' --include='*.cc' 2>/dev/null || true)
  if [ -n "$hits" ]; then echo "layering: $3"; echo "$hits"; fail=1; fi
}
grpc='#include <grpcpp?/'
rocks='#include <rocksdb/'
check common "#include \"(proto|records|storage|sync|workflows|analytics|node|admin|console|daemon|tongbanctl)/|$grpc|$rocks" \
  "common/ includes a room above it, RocksDB or gRPC"
check records "$(upper records)|$grpc|$rocks" "records/ includes a room above it, RocksDB or gRPC"
check storage "$(upper storage)|$grpc" "storage/ includes a room above it or gRPC"
check "storage/*.h" "$rocks" "a storage header includes RocksDB"
check sync "$(upper sync)|$rocks" "sync/ includes a room above it or RocksDB"
check workflows "$(upper workflows)|$grpc|$rocks" "workflows/ includes a room above it, RocksDB or gRPC"
check analytics "$(upper analytics)|$grpc|$rocks" "analytics/ includes a room above it, RocksDB or gRPC"
hits=$(grep -rn '#include <libpq' common proto records storage sync workflows analytics node admin \
       console daemon tongbanctl tests bench tools --include='*.h' --include='*.cc' |
       grep -v '^analytics/pg.cc:' || true)
[ -n "$hits" ] && { echo "layering: libpq outside analytics/pg.cc"; echo "$hits"; fail=1; }
check node "$(upper node)|$rocks" "node/ includes a room above it or RocksDB"
check admin "$(upper admin)|$rocks" "admin/ includes a room above it or RocksDB"
check console "$(upper console)|$grpc|$rocks" "console/ includes a room above it, RocksDB or gRPC"
check daemon "$(upper daemon)|$rocks" "daemon/ includes tongbanctl/ or RocksDB"
check "common records storage sync workflows node admin analytics console daemon tongbanctl" \
  '#include "(tests|bench|fuzz)/' "a room includes tests/, bench/ or fuzz/ (top-level consumers)"
# The store-free libraries.
check "sync/roster.h sync/roster.cc" '#include "(records|storage|workflows|node|admin|console|daemon|tongbanctl)/' \
  "tongban_roster (sync/roster.*) includes more than common and proto"
hits=$(grep -nE '#include "sync/' sync/roster.h sync/roster.cc | grep -v 'sync/roster.h' || true)
[ -n "$hits" ] && { echo "layering: tongban_roster includes sync/ beyond roster.h"; echo "$hits"; fail=1; }
formats="workflows/certificate_payload.h workflows/certificate_payload.cc workflows/csv.h
         workflows/csv.cc workflows/import_csv.h workflows/import_csv.cc workflows/ledger.h
         workflows/ledger.cc workflows/measures.h workflows/measures.cc"
check "$formats" '#include "(storage|node|admin|console|daemon|tongbanctl)/|#include "workflows/(deadlines|stats|import_batch)\.h' \
  "tongban_formats includes the store or a store-bound workflow"
hits=$(grep -nE '#include "sync/' $formats | grep -v 'sync/roster.h' || true)
[ -n "$hits" ] && { echo "layering: tongban_formats includes sync/ beyond roster.h"; echo "$hits"; fail=1; }
check "analytics/pg.h analytics/pg.cc analytics/stats_sql.h analytics/stats_sql.cc" \
  '#include "(storage|sync|node|admin|console|daemon|tongbanctl)/|#include "analytics/(mirror|rows)\.h|#include "workflows/(deadlines|stats|import_batch)\.h' \
  "tongban_analytics_client (analytics/pg.*, analytics/stats_sql.*) includes the store"
check "admin/operators.h admin/operators.cc admin/totp.h admin/totp.cc" \
  '#include "(proto|records|storage|sync|workflows|node|console|daemon|tongbanctl)/|#include "admin/(admin|auth|admin_server)\.h' \
  "tongban_accounts (admin/operators.*, admin/totp.*) includes more than common"
check tongbanctl "#include \"(storage|node|console|daemon)/|#include \"analytics/(mirror|rows)\\.h|#include \"workflows/(deadlines|stats|import_batch)\\.h|#include \"admin/(admin|auth|admin_server)\\.h|$rocks" \
  "tongbanctl/ includes the store, the node or the daemon"
hits=$(grep -rnE '#include "sync/' tongbanctl --include='*.h' --include='*.cc' |
       grep -vE 'sync/(roster|grpc_status)\.h' || true)
[ -n "$hits" ] && { echo "layering: tongbanctl/ includes sync/ beyond roster.h and grpc_status.h"; echo "$hits"; fail=1; }

# Keys: storage/keys.h lists every key any layer writes, and only storage/
# builds them. Above storage/, a write names no column family (it calls a
# Batch method of storage), and a read gives no key spelled out by hand.
hits=$(grep -rnE '\.(Put|Delete)\((storage::)?Cf::|(Get|Scan|ScanFrom)\((storage::)?Cf::k[A-Za-z]+, *("[^"]|absl::StrCat|std::string\()' \
       records sync workflows analytics node admin console daemon tongbanctl --include='*.h' --include='*.cc' || true)
[ -n "$hits" ] && { echo "layering: a key built outside storage/ (use storage/keys.h and a Batch method)"; echo "$hits"; fail=1; }

# The binary: no RocksDB, and nothing of storage/ or sync/ but the roster.
if [ $# -ge 2 ] && [ -x "$1" ]; then
  if ldd "$1" | grep -q rocksdb; then
    echo "layering: $1 links RocksDB"; fail=1
  fi
  allowed=$(nm -C --defined-only "$2" 2>/dev/null | awk '{ $1=""; $2=""; print }' | sort -u)
  extra=$(nm -C --defined-only "$1" | awk '{ $1=""; $2=""; print }' |
          grep -E '^ *tongban::(storage|sync)::' | sort -u | comm -23 - <(echo "$allowed") | head)
  if [ -n "$extra" ]; then
    echo "layering: $1 holds storage/ or sync/ code beyond the roster:"; echo "$extra"; fail=1
  fi
fi
[ $fail -eq 0 ] && echo "layering: ok"
exit $fail
