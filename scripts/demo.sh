#!/usr/bin/env bash
# Installs everything, builds, starts the demo mail stack (Postfix + Dovecot on
# loopback) and probes every demo member once, printing one result per member.
# Usage (as root): scripts/demo.sh [--keep]   (--keep leaves the mail stack running)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
keep=0
[ "${1:-}" = "--keep" ] && keep=1

"$here/scripts/install-deps.sh"
"$here/scripts/build.sh" "$here/build"

export MAILCANARY_TESTBED_DIR=${MAILCANARY_TESTBED_DIR:-/tmp/mailcanary-testbed}
"$here/tests/testbed/testbed.sh" restart
if [ "$keep" = 0 ]; then
  trap '"$here/tests/testbed/testbed.sh" stop' EXIT
fi

config="$here/config/examples/demo.toml"
echo
echo "== mailcanary probe --config $config"
echo "   (the discarding member is reported lost after the demo's lost_after of 10s)"
set +e
"$here/build/agent/mailcanary" probe --config "$config"
rc=$?
set -e
echo
echo "probe exit code: $rc (0 ok, 1 warning, 2 critical, 3 unknown; the demo has failing members on purpose)"
echo "JSON output: $here/build/agent/mailcanary probe --config $config --json"
