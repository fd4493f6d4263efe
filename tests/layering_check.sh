#!/usr/bin/env bash
# Enforces the layering of DESIGN.md section 2: dependencies point down only.
# common <- proto <- storage <- sync <- node. Prints every violation.
set -u
cd "$(dirname "$0")/.."
fail=0
check() {  # folder, forbidden include pattern, why
  local hits
  hits=$(grep -rnE "$2" $1 --include='*.h' --include='*.cc' 2>/dev/null || true)
  if [ -n "$hits" ]; then echo "layering: $3"; echo "$hits"; fail=1; fi
}
check common '#include "(proto|storage|sync|node)/|#include "tongban/v1/|#include <(rocksdb|grpcpp?)/' "common/ includes an upper layer, RocksDB or gRPC"
check storage '#include "(sync|node)/|#include <grpcpp?/' "storage/ includes sync/, node/ or gRPC"
check sync '#include "node/|#include <rocksdb/' "sync/ includes node/ or RocksDB"
check node '#include <rocksdb/' "node/ includes RocksDB"
# RocksDB headers stay out of storage's public headers.
check "storage/*.h" '#include <rocksdb/' "a storage header includes RocksDB"
[ $fail -eq 0 ] && echo "layering: ok"
exit $fail
