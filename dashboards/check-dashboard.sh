#!/usr/bin/env bash
# Checks a mailcanary Grafana dashboard: valid JSON, data source variable, target and
# member variables, unique panel ids, and every PromQL expression parses, evaluates
# and returns data in promtool (see check-dashboard.cmake for the details).
# Needs only cmake and promtool (both installed by scripts/install-deps.sh).
# Usage: dashboards/check-dashboard.sh [DASHBOARD.json]   (default: grafana/mailcanary.json)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dashboard=${1:-$here/grafana/mailcanary.json}
promtool=${PROMTOOL:-$(command -v promtool || true)}
if [ -z "$promtool" ]; then
  echo "check-dashboard: promtool not found (Debian package prometheus; scripts/install-deps.sh)" >&2
  exit 1
fi
command -v cmake >/dev/null || { echo "check-dashboard: cmake not found" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake -DDASHBOARD="$dashboard" -DSERIES="$here/grafana/check-series.yml" \
      -DPROMTOOL="$promtool" -DOUT="$tmp/dashboard-exprs.test.yml" \
      -P "$here/check-dashboard.cmake"
