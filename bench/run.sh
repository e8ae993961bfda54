#!/usr/bin/env bash
# Builds and runs the benchmarks against the test bed; prints figures.
# Usage (as root): bench/run.sh [COUNT]
# On a shared machine hold the test bed's lock: flock /tmp/mc-testbed.lock bench/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
count=${1:-200}
"$here/scripts/install-deps.sh"
"$here/scripts/build.sh" "$here/build-bench" -DCMAKE_BUILD_TYPE=Release
export MAILCANARY_TESTBED_DIR=${MAILCANARY_TESTBED_DIR:-/tmp/mailcanary-bench-testbed}
"$here/tests/testbed/testbed.sh" restart >/dev/null
trap '"$here/tests/testbed/testbed.sh" stop >/dev/null' EXIT
echo "== mailbox detection latency"
"$here/build-bench/bench/bench_detect_latency" "$count" "$MAILCANARY_TESTBED_DIR"
"$here/tests/testbed/testbed.sh" stop >/dev/null
echo "== agent at scale (1000 members)"
"$here/bench/agent_scale.sh" 1000 120 "$here/build-bench"
echo "== confirmation cost per canary against a blackbox_exporter EHLO probe (20 members, 1s)"
"$here/bench/confirm_cost.sh" "$here/build-bench" 60
echo "== HTTP endpoints at scale (/metrics, /health)"
for members in 1000 10000; do
  for histograms in member target; do
    "$here/build-bench/bench/bench_http_scale" "$members" 20 5 "$histograms"
  done
done
