#!/usr/bin/env bash
# The shipped Prometheus files: the alerting rules parse (promtool check
# rules), behave as their unit tests say (promtool test rules: each alert
# fires on the series that should fire it, after its `for`, with its
# annotations), and the example configuration is valid.
#   tests/deploy/promtool_check.sh SOURCE_DIR
set -euo pipefail
cd "$1/deploy/prometheus"
command -v promtool >/dev/null || { echo "FAIL: promtool is not installed (Debian package prometheus)"; exit 1; }
promtool check rules tongban-alerts.yml
promtool test rules tongban-alerts_test.yml
promtool check config prometheus.yml
echo "1 passed, 0 failed"
