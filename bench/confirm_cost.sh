#!/usr/bin/env bash
# Benchmark: what an end-to-end canary costs in CPU, against a plain SMTP EHLO probe.
#   1. reference: prometheus-blackbox-exporter's tcp prober (greeting, EHLO, QUIT) on the
#      test bed's accepting Postfix; its CPU (utime+stime) per /probe request;
#   2. `mailcanary run` with 20 members probed every second: the agent's CPU (with its
#      mailbox-reader child) and Dovecot's imap session CPU per probe decided ok, IMAP
#      commands per confirmed canary, and, from inotify on the Maildir, how long a canary
#      stayed in new/ and until it was deleted.
# Figures, not a pass/fail test. The test bed's ports are machine-wide: hold its lock,
#   flock /tmp/mc-testbed.lock bench/confirm_cost.sh [BUILD_DIR] [SECONDS=60] [EHLO_PROBES=500]
# (as root; the script does not take the lock itself, a nested flock would deadlock).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build-bench}
[ -d "$build" ] || [[ $build == /* ]] || build=$here/$build
build=$(cd "$build" 2>/dev/null && pwd) || { echo "confirm_cost: no build dir ${1:-}" >&2; exit 1; }
duration=${2:-60}
ehlo_probes=${3:-500}
members=20
warmup=5
bin=$build/agent/mailcanary
watch_bin=$build/bench/bench_maildir_watch
exporter=/usr/bin/prometheus-blackbox-exporter
smtp_target=127.0.0.11:2525

die() {
  echo "confirm_cost: $*" >&2
  exit 1
}
[ "$(id -u)" = 0 ] || die "run as root (the test bed needs it)"
[ -x "$bin" ] || die "no $bin: scripts/build.sh $build first"
[ -x "$watch_bin" ] || die "no $watch_bin: build the bench_maildir_watch target"
[ -x "$exporter" ] || die "no $exporter: scripts/install-deps.sh"
[[ $duration =~ ^[0-9]+$ && $duration -ge 10 ]] || die "SECONDS must be a number >= 10"
[[ $ehlo_probes =~ ^[0-9]+$ && $ehlo_probes -ge 10 ]] || die "EHLO_PROBES must be >= 10"

export MAILCANARY_TESTBED_DIR=${MAILCANARY_TESTBED_DIR:-/tmp/mailcanary-bench-testbed}
work=$(mktemp -d /tmp/mailcanary-confirm.XXXXXX)
agent_pid='' bb_pid='' watch_pid=''
cleanup() {
  local p
  for p in "$watch_pid" "$bb_pid" "$agent_pid"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
  done
  "$here/tests/testbed/testbed.sh" stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"$here/tests/testbed/testbed.sh" restart >/dev/null 2>"$work/testbed.log" ||
  { cat "$work/testbed.log" >&2; die "the test bed did not start"; }
# shellcheck disable=SC1091
. "$MAILCANARY_TESTBED_DIR/env"
dovecot_sid=$(sed -n 's/^DOVECOT_SID=//p' "$TESTBED_RUN/pids")
[[ $dovecot_sid =~ ^[0-9]+$ ]] || die "no Dovecot session id in $TESTBED_RUN/pids"
maildir=$TESTBED_CANARY_MAILDIR

hz=$(getconf CLK_TCK)
ms() { awk -v t="$1" -v hz="$hz" 'BEGIN { printf "%.0f", t * 1000 / hz }'; }
per() { awk -v t="$1" -v n="$2" -v hz="$hz" 'BEGIN { printf "%.3f", (n > 0 ? t * 1000 / hz / n : 0) }'; }

# Fields of /proc/PID/stat after "(comm) " into ST: ST[0] state, ST[1] ppid, ST[3]
# session, ST[11] utime, ST[12] stime, ST[13] cutime, ST[14] cstime. Fails for a process
# that is gone or a zombie (PID 1 here does not reap orphans).
ST=()
read_stat() {
  local s
  { IFS= read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
  read -r -a ST <<<"${s##*) }"
  [[ ${ST[0]} != Z && ${ST[0]} != X ]]
}
# One pass over /proc, "GROUP PID TICKS" lines: agent (utime+stime of the agent and of
# the children it has reaped, cutime+cstime), child (live processes whose PPid is the
# agent: its mailbox-reader), imap (Dovecot's imap sessions of the test bed:
# /usr/lib/dovecot/imap in its session), dovecot (the rest of the test bed's Dovecot).
snapshot() {
  local p exe
  read_stat "$agent_pid" || die "the agent (pid $agent_pid) is gone; log: $work/agent.log"
  echo "agent $agent_pid $((ST[11] + ST[12] + ST[13] + ST[14]))"
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    read_stat "$p" || continue
    if [[ ${ST[1]} == "$agent_pid" ]]; then
      echo "child $p $((ST[11] + ST[12]))"
      continue
    fi
    [[ ${ST[3]} == "$dovecot_sid" ]] || continue
    exe=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
    case ${exe% (deleted)} in
    /usr/lib/dovecot/imap) echo "imap $p $((ST[11] + ST[12]))" ;;
    /usr/sbin/dovecot | /usr/lib/dovecot/*) echo "dovecot $p $((ST[11] + ST[12]))" ;;
    esac
  done
}
# sum_ticks / pids_of FILE GROUP
sum_ticks() { awk -v g="$2" '$1 == g { s += $3 } END { print s + 0 }' "$1"; }
pids_of() { awk -v g="$2" '$1 == g { print $2 }' "$1" | sort -n | paste -sd ' ' -; }
# Ticks of GROUP at the end minus at the start.
ticks_delta() { echo $(($(sum_ticks "$work/cpu1" "$1") - $(sum_ticks "$work/cpu0" "$1"))); }

free_port() {
  local p i
  for i in $(seq 1 50); do
    p=$((20000 + (RANDOM + i) % 20000))
    [ -z "$(ss -Hltn "sport = :$p")" ] && { echo "$p"; return 0; }
  done
  return 1
}

# ------------------------------------------------------------- 1. blackbox reference
cat >"$work/blackbox.yml" <<'YML'
modules:
  smtp_ehlo:
    prober: tcp
    timeout: 5s
    tcp:
      query_response:
        - expect: "^220"
        - send: "EHLO bench.example.test"
        - expect: "^250 "
        - send: "QUIT"
YML
bb_port=$(free_port) || die "no free port for the blackbox exporter"
"$exporter" --config.file="$work/blackbox.yml" --web.listen-address="127.0.0.1:$bb_port" \
  --log.level=warn >"$work/blackbox.log" 2>&1 &
bb_pid=$!
bb_url="http://127.0.0.1:$bb_port"
for _ in $(seq 1 100); do
  curl -sf -o /dev/null "$bb_url/-/healthy" && break
  read_stat "$bb_pid" || { cat "$work/blackbox.log" >&2; die "the blackbox exporter exited"; }
  sleep 0.1
done
curl -sf -o /dev/null "$bb_url/-/healthy" || die "the blackbox exporter is not up on $bb_url"
probe_url="$bb_url/probe?module=smtp_ehlo&target=$smtp_target"
bb_probe() {
  if curl -sf -o "$work/probe.txt" "$probe_url" && grep -qx 'probe_success 1' "$work/probe.txt"; then
    return 0
  fi
  echo "confirm_cost: blackbox probe failed; its answer and debug transcript:" >&2
  cat "$work/probe.txt" >&2 2>/dev/null || true
  curl -s "$probe_url&debug=true" >&2 || true
  die "the reference probe does not succeed"
}
for _ in 1 2 3 4 5; do bb_probe; done # warm-up (first connections, GC)
read_stat "$bb_pid" || die "the blackbox exporter exited"
bb_c0=$((ST[11] + ST[12]))
bb_t0=$EPOCHREALTIME
for _ in $(seq 1 "$ehlo_probes"); do bb_probe; done
bb_t1=$EPOCHREALTIME
read_stat "$bb_pid" || die "the blackbox exporter exited"
bb_c1=$((ST[11] + ST[12]))
kill "$bb_pid"
wait "$bb_pid" 2>/dev/null || true
bb_pid=''
bb_ticks=$((bb_c1 - bb_c0))
bb_per=$(per "$bb_ticks" "$ehlo_probes")
bb_version=$("$exporter" --version 2>&1 | awk 'NR == 1 { print $3 }')

# ------------------------------------------------------------- 2. the agent
{
  cat <<CFG
[agent]
listen = "127.0.0.1:0"
state_dir = "$work/state"
interval = "1s"
concurrency = 32
hmac_key_file = "$TESTBED_HMAC_KEY_FILE"

[smtp]
helo = "bench.example.test"
from = "bounces@example.test"
port = 2525
timeout = "10s"
attempts = 1

[[mailbox]]
name = "inbox"
server = "$TESTBED_IMAP_HOST:$TESTBED_IMAP_PORT"
user = "canary"
password_file = "$TESTBED_CANARY_PASSWORD_FILE"
poll_interval = "5s"

[slg]
latency_slo = "60s"
lost_after = "5m"
CFG
  for i in $(seq 1 "$members"); do
    printf '\n[[target]]\nname = "t%02d"\nrcpt = "canary@example.test"\nmailbox = "inbox"\nmembers = ["%s"]\n' \
      "$i" "$smtp_target"
  done
} >"$work/confirm.toml"
"$bin" check-config "$work/confirm.toml" >/dev/null

"$bin" run --config "$work/confirm.toml" 2>"$work/agent.log" &
agent_pid=$!
http=''
for _ in $(seq 1 200); do
  http=$(grep -o -m1 -E 'HTTP endpoints on 127\.0\.0\.1:[0-9]+' "$work/agent.log" | awk '{ print $4 }') || true
  [ -n "$http" ] && break
  read_stat "$agent_pid" || { cat "$work/agent.log" >&2; die "the agent exited"; }
  sleep 0.1
done
[ -n "$http" ] || { cat "$work/agent.log" >&2; die "the agent logged no HTTP address"; }
scrape() { curl -sf "http://$http/metrics" >"$1" || die "cannot read http://$http/metrics"; }
# Sum of a family's samples whose line matches a regular expression.
metric() { awk -v n="$2{" -v re="$3" 'index($0, n) == 1 && $0 ~ re { s += $NF } END { printf "%.0f", s + 0 }' "$1"; }
sleep "$warmup" # start-up, first login and first sends are not what this measures

# The inotify watch runs for the window; it says when its watches are in place.
"$watch_bin" "$maildir" "$duration" >"$work/watch.out" 2>"$work/watch.err" &
watch_pid=$!
for _ in $(seq 1 100); do
  grep -q watching "$work/watch.err" && break
  read_stat "$watch_pid" || { cat "$work/watch.err" >&2; die "bench_maildir_watch exited"; }
  sleep 0.05
done
grep -q watching "$work/watch.err" || die "bench_maildir_watch did not start"

# CPU first, then the counters, at both ends: both windows have the same length.
snapshot >"$work/cpu0"
scrape "$work/m0"
t0=$EPOCHREALTIME
if [ -n "${PERF_DATA:-}" ]; then
  # Profile: PERF_DATA=/tmp/agent.perf bench/confirm_cost.sh ...; then perf report -i it.
  perf record -q -g -o "$PERF_DATA" -p "$agent_pid" -- sleep "$duration" >/dev/null 2>&1 || true
else
  sleep "$duration"
fi
t1=$EPOCHREALTIME
snapshot >"$work/cpu1"
scrape "$work/m1"
wait "$watch_pid" || die "bench_maildir_watch failed: $(cat "$work/watch.err")"
watch_pid=''

kill -TERM "$agent_pid"
wait "$agent_pid" || echo "confirm_cost: the agent exited with status $? on SIGTERM" >&2
agent_pid=''
sleep 1 # let Postfix finish a delivery it accepted just before the stop
left_new=$(grep -l -r -s X-Mailcanary-Id "$maildir/new" | wc -l) || true
left_cur=$(grep -l -r -s X-Mailcanary-Id "$maildir/cur" | wc -l) || true

# ------------------------------------------------------------- figures
delta() { echo $(($(metric "$work/m1" "$1" "$2") - $(metric "$work/m0" "$1" "$2"))); }
ok=$(delta mailcanary_probes_total 'class="ok"')
late=$(delta mailcanary_probes_total 'class="late"')
lost=$(delta mailcanary_probes_total 'class="lost"')
mberr=$(delta mailcanary_probes_total 'class="mailbox_error"')
all=$(delta mailcanary_probes_total '.')
commands=$(delta mailcanary_mailbox_commands_total 'mailbox="inbox"')
[ "$ok" -gt 0 ] || { tail -n 30 "$work/agent.log" >&2; die "no probe decided ok in the window"; }

agent_self=$(ticks_delta agent)
child_ticks=$(ticks_delta child)
agent_total=$((agent_self + child_ticks))
imap_ticks=$(ticks_delta imap)
dovecot_other=$(ticks_delta dovecot)
agent_per=$(per "$agent_total" "$ok")
imap_per=$(per "$imap_ticks" "$ok")
note_set() { # NAME GROUP
  local p0 p1
  p0=$(pids_of "$work/cpu0" "$2") p1=$(pids_of "$work/cpu1" "$2")
  if [ "$p0" != "$p1" ]; then
    echo "    NOTE: the $1 processes changed during the window ([$p0] -> [$p1]);" \
      "CPU of one that ended is not counted"
  fi
}

elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
bb_elapsed=$(awk -v a="$bb_t0" -v b="$bb_t1" 'BEGIN { printf "%.1f", b - a }')
echo "confirmation cost: $members members every 1s, window ${elapsed} s after a ${warmup} s warm-up; build $build"
echo "reference: prometheus-blackbox-exporter $bb_version, tcp module smtp_ehlo (220, EHLO, 250, QUIT) on $smtp_target"
echo "  $ehlo_probes sequential probes in ${bb_elapsed} s, all probe_success 1:" \
  "$(ms "$bb_ticks") ms CPU, ${bb_per} ms per EHLO probe (clock tick $(ms 1) ms)"
echo "agent: probes decided in the window: ok $ok, late $late, lost $lost, mailbox_error $mberr" \
  "(all classes $all)"
echo "  agent CPU per ok probe: ${agent_per} ms (agent $(ms "$agent_self") ms incl. reaped children," \
  "mailbox-reader child(ren) $(ms "$child_ticks") ms, pids [$(pids_of "$work/cpu1" child)])"
note_set "agent child" child
echo "  state store: $(grep -o -m1 '[0-9.]* state writes per result' "$work/agent.log" ||
  echo 'no figures line in the agent log') (transactions over the whole run)"
echo "  Dovecot imap CPU per ok probe: ${imap_per} ms ($(ms "$imap_ticks") ms," \
  "imap pids [$(pids_of "$work/cpu1" imap)])"
note_set "Dovecot imap" imap
echo "  (rest of Dovecot, not in the ratio: $(per "$dovecot_other" "$ok") ms per ok probe)"
# Commands serve several canaries at once (a NOOP, a batched STORE/EXPUNGE), so they are
# counted per window, not per canary. The goal is on the median: for counts that cannot be
# negative, Markov's inequality bounds the median by twice the mean.
echo "  IMAP commands per confirmed canary: $(awk -v c="$commands" -v n="$ok" \
  'BEGIN { printf "mean %.1f, so median <= %.1f (2 x mean, Markov)", c / n, 2 * c / n }') ($commands commands)"
sed 's/^/  /' "$work/watch.out"
echo "  canaries left in the Maildir after SIGTERM: $((left_new + left_cur))" \
  "(new/ $left_new, cur/ $left_cur; a few in flight at the stop are expected)"
awk -v a="$agent_per" -v d="$imap_per" -v b="$bb_per" 'BEGIN {
  if (b <= 0) { print "ratio: blackbox CPU per probe below one clock tick; use more EHLO_PROBES"; exit }
  printf "ratio (agent + Dovecot imap CPU per probe) / (blackbox CPU per EHLO probe): %.2f (goal <= 0.5)\n",
    (a + d) / b }'
