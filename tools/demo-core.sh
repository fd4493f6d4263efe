#!/usr/bin/env bash
# make demo: runs the node-core demonstration from the build folder.
set -euo pipefail
build=${1:-build}
exec "$build/tools/tongban_core_demo"
