#!/usr/bin/env bash
# Installs the Debian 12 packages the build needs, only those missing.
set -euo pipefail
pkgs=(cmake g++ make pkg-config ccache libgrpc++-dev protobuf-compiler-grpc
      libprotobuf-dev protobuf-compiler librocksdb-dev libssl-dev libgtest-dev
      libgmock-dev libbenchmark-dev libabsl-dev libqrencode-dev libpng-dev
      libjemalloc-dev clang-format
      libpq-dev postgresql         # analytics: libpq, and the tests' own PostgreSQL 15 cluster
      clang                        # make thread-safety (clang 14's -Wthread-safety)
      prometheus curl jq iproute2  # the Prometheus tests (promtool, a real scrape)
      zsh                          # the zsh completion test
      debootstrap lintian          # make test-first-start (clean Debian 12, lintian)
      docker.io docker-compose     # make test-docker
      # the web console: its HTTP library, and the UI libraries it serves
      libcpp-httplib-dev libjs-bootstrap5 libjs-chart.js
      # the console's browser test: headless Chromium driven by Selenium,
      # CJK fonts for its screenshots, NSS tools for the operators'
      # certificates, openssl to bundle them
      chromium chromium-driver python3-selenium fonts-noto-cjk libnss3-tools openssl)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing missing Debian packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "error: packages missing and not root; run: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
