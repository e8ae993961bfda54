#!/usr/bin/env bash
# Benchmark: `mailcanary run` with many members against the test bed on loopback.
# Prints the agent's CPU use (% of one core), peak RSS, probe start drift (median, p99)
# and state-store writes per result. Figures, not a pass/fail test.
# Usage (as root): bench/agent_scale.sh [MEMBERS=1000] [SECONDS=120] [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
members=${1:-1000}
duration=${2:-120}
build=${3:-$here/build-bench}
bin=$build/agent/mailcanary
[ -x "$bin" ] || { echo "no $bin: run bench/run.sh or scripts/build.sh $build first" >&2; exit 1; }

export MAILCANARY_TESTBED_DIR=${MAILCANARY_TESTBED_DIR:-/tmp/mailcanary-bench-testbed}
work=$(mktemp -d /tmp/mailcanary-scale.XXXXXX)
"$here/tests/testbed/testbed.sh" restart >/dev/null
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true
  "$here/tests/testbed/testbed.sh" stop >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# Every member is a target of its own pointing at the accepting Postfix listener: the
# agent sees $members distinct members, Postfix and Dovecot see the real mail flow.
{
  cat <<CFG
[agent]
listen = "127.0.0.1:0"
state_dir = "$work/state"
interval = "60s"
concurrency = 32
hmac_key_file = "$here/tests/testbed/secrets/hmac.key"

[smtp]
helo = "bench.example.test"
from = "bounces@example.test"
port = 2525
timeout = "10s"
attempts = 1

[[mailbox]]
name = "inbox"
server = "127.0.0.1:1143"
user = "canary"
password_file = "$here/tests/testbed/secrets/canary.pass"
poll_interval = "5s"

[slg]
latency_slo = "60s"
lost_after = "5m"
CFG
  for i in $(seq 1 "$members"); do
    printf '\n[[target]]\nname = "t%04d"\nrcpt = "canary@example.test"\nmailbox = "inbox"\nmembers = ["127.0.0.11:2525"]\n' "$i"
  done
} >"$work/scale.toml"
"$bin" check-config "$work/scale.toml" >/dev/null

"$bin" run --config "$work/scale.toml" 2>"$work/agent.log" &
pid=$!
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
sleep 5  # start-up (config, state database) is not what this measures
t0=$(date +%s.%N)
c0=$(ticks)
rss_max=0
end=$(($(date +%s) + duration))
while [ "$(date +%s)" -lt "$end" ]; do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  [ "$rss" -gt "$rss_max" ] && rss_max=$rss
  sleep 1
done
t1=$(date +%s.%N)
c1=$(ticks)
kill -TERM "$pid"
wait "$pid" || true
pid=
cpu=$(awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$hz" \
  'BEGIN { printf "%.2f", (c1 - c0) / hz / (t1 - t0) * 100 }')
results=$(grep -c -E ' (ok|late|lost|temp_fail|perm_fail|unreachable|timeout) stage=' "$work/agent.log" || true)
echo "agent scale: $members members, interval 60s, measured over ${duration}s"
echo "  cpu: ${cpu}% of one core"
echo "  peak rss: $((rss_max / 1024)) MiB"
echo "  results logged: $results"
grep 'figures:' "$work/agent.log" | sed 's/^.*figures: /  /'
