#!/usr/bin/env bash
# Installs everything, builds, starts the demo mail stack (Postfix, Dovecot, unbound on
# loopback), probes every demo member once, then runs the agent on it in the foreground.
# Ctrl-C stops the agent and the mail stack.
# Usage (as root): scripts/demo.sh [--once]   (--once: the single probe only)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
once=0
[ "${1:-}" = "--once" ] && once=1

"$here/scripts/install-deps.sh"
"$here/scripts/build.sh" "$here/build"

export MAILCANARY_TESTBED_DIR=${MAILCANARY_TESTBED_DIR:-/tmp/mailcanary-testbed}
"$here/tests/testbed/testbed.sh" restart
trap '"$here/tests/testbed/testbed.sh" stop' EXIT

bin="$here/build/agent/mailcanary"
config="$here/config/examples/demo.toml"
echo
echo "== mailcanary probe --config $config"
echo "   (one canary through each member; the discarding member is reported lost after"
echo "    the demo's lost_after of 10s)"
set +e
"$bin" probe --config "$config"
rc=$?
set -e
echo "probe exit code: $rc (0 ok, 1 warning, 2 critical, 3 unknown; the demo fails on purpose)"
[ "$once" = 1 ] && exit 0

echo
echo "== mailcanary run --config $config   (Ctrl-C stops the agent and the mail stack)"
echo "   every member is probed every 15 s; failing members turn DOWN after 2 failures"
echo "   and raise an alarm after failing for 1 minute. Look at:"
echo "     curl http://127.0.0.1:9478/status"
echo "     curl http://127.0.0.1:9478/metrics"
echo "     curl -i http://127.0.0.1:9478/health/vip1/127.0.0.11:2525   (UP)"
echo "     curl -i http://127.0.0.1:9478/health/vip1/127.0.0.14:2525   (DOWN lost ...)"
echo
rm -rf /tmp/mailcanary-demo-state
set +e
"$bin" run --config "$config"
set -e
