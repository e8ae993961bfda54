#!/usr/bin/env bash
# shellcheck disable=SC2317,SC2046  # cleanup runs from the EXIT trap; pid lists split on purpose
# nagios_run.sh - run ONE command as a service check under the real Nagios Core 4
# (Debian package nagios4-core, /usr/sbin/nagios4) and print what Nagios recorded.
#
# Usage: tests/plugin/nagios_run.sh [--check-timeout SECONDS] -- COMMAND [ARGS...]
#
# A private Nagios (config, status, log, command pipe, query socket all in a fresh
# mktemp -d directory, removed at exit; no network, no system nagios4 daemon touched)
# checks host "mc-host" (127.0.0.1, /bin/true) and service "mailcanary", whose check
# execs COMMAND ARGS... verbatim in the caller's working directory and environment.
# service_check_timeout = --check-timeout (default 60); timeout state = Nagios default
# (CRITICAL). After the first service check it prints, as stored in status.dat
# (long_plugin_output keeps Nagios's "\n" escapes), one per line:
#   current_state=N  plugin_output=...  long_plugin_output=...
#   performance_data=...  check_execution_time=...
# Exit: 0 once Nagios recorded a result (any state); 2 on usage error, nagios4
# missing, config rejected, or no result within check-timeout + 30 s.
set -euo pipefail

nagios=/usr/sbin/nagios4
timeout_s=60
usage() { echo "usage: $0 [--check-timeout SECONDS] -- COMMAND [ARGS...]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --check-timeout) [ $# -ge 2 ] || usage; timeout_s=$2; shift 2 ;;
    --) shift; break ;;
    *) usage ;;
  esac
done
[ $# -ge 1 ] || usage
[[ "$timeout_s" =~ ^[1-9][0-9]*$ ]] || { echo "nagios_run: bad --check-timeout '$timeout_s'" >&2; exit 2; }
if [ ! -x "$nagios" ]; then
  echo "nagios_run: $nagios not found; install the Debian package nagios4-core" \
       "(scripts/install-deps.sh does)" >&2
  exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nagios_run.XXXXXX")
pid=""
# Live = exists and is not a zombie (kill -0 also succeeds on an unreaped child).
alive() { local st; read -r _ _ st _ 2>/dev/null <"/proc/$1/stat" || return 1; [ "$st" != Z ]; }
tree() { local c; for c in "$@"; do echo "$c"; tree $(pgrep -P "$c" || true); done; }
cleanup() {
  if [ -n "$pid" ]; then
    # The core forks check workers, which fork the plugin (each in its own process
    # group): note them all (workers by their unique socket path, in case the core
    # died), stop the core, then signal whatever is left (pid and group: a worker
    # does not stop a still running plugin when the core goes away).
    local kids k left sig _
    kids=$(tree $(pgrep -P "$pid" || true) $(pgrep -f -- "--worker $tmp/nagios.qh" || true))
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for sig in TERM KILL; do
      for _ in $(seq 20); do
        left=""; for k in $kids; do alive "$k" && left+=" $k"; done
        [ -z "$left" ] && break
        for k in $left; do kill -s "$sig" -- "$k" "-$k" 2>/dev/null || true; done
        sleep 0.1
      done
    done
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 2' INT TERM HUP

# The check: a wrapper that execs the exact argv (so spaces/quotes survive).
{ printf '#!/bin/bash\ncd %q || exit 3\nexec' "$PWD"; printf ' %q' "$@"; printf '\n'; } >"$tmp/check.sh"
chmod 755 "$tmp/check.sh"
mkdir "$tmp/checkresults"

# Object config: obj TYPE KEY VALUE... writes one "define TYPE { ... }".
obj() { printf 'define %s {\n' "$1"; shift; while [ $# -gt 0 ]; do printf '  %s %s\n' "$1" "$2"; shift 2; done; echo '}'; }
common=(check_period 24x7 max_check_attempts 1 check_interval 3600 retry_interval 3600
        notifications_enabled 0 notification_interval 0 notification_period 24x7 contact_groups mc-nobody)
{
  obj timeperiod timeperiod_name 24x7 alias 24x7 sunday 00:00-24:00 monday 00:00-24:00 \
    tuesday 00:00-24:00 wednesday 00:00-24:00 thursday 00:00-24:00 friday 00:00-24:00 saturday 00:00-24:00
  obj command command_name mc-true command_line /bin/true
  obj command command_name mc-check command_line "$tmp/check.sh"
  obj contact contact_name mc-nobody host_notifications_enabled 0 service_notifications_enabled 0 \
    host_notification_period 24x7 service_notification_period 24x7 \
    host_notification_commands mc-true service_notification_commands mc-true
  obj contactgroup contactgroup_name mc-nobody alias mc-nobody members mc-nobody
  obj host host_name mc-host address 127.0.0.1 check_command mc-true "${common[@]}"
  obj service host_name mc-host service_description mailcanary check_command mc-check "${common[@]}"
} >"$tmp/objects.cfg"

# Main config: every path inside $tmp; no retention, update check, syslog or
# notifications. nagios_user = the caller (4.4.6 accepts root). interval_length=1
# with no inter-check delay schedules the first checks "now"; the 3600 s interval
# means exactly one service check before we stop the core.
cfg=$tmp/nagios.cfg
printf '%s\n' >"$cfg" \
  "cfg_file=$tmp/objects.cfg" "log_file=$tmp/nagios.log" "debug_file=$tmp/nagios.debug" \
  "status_file=$tmp/status.dat" status_update_interval=1 \
  "object_cache_file=$tmp/objects.cache" "precached_object_file=$tmp/objects.precache" \
  "temp_file=$tmp/nagios.tmp" "temp_path=$tmp" "lock_file=$tmp/nagios.lock" \
  "command_file=$tmp/nagios.cmd" "query_socket=$tmp/nagios.qh" check_external_commands=0 \
  "check_result_path=$tmp/checkresults" check_result_reaper_frequency=1 \
  "state_retention_file=$tmp/retention.dat" retain_state_information=0 \
  use_retained_program_state=0 use_retained_scheduling_info=0 \
  "nagios_user=$(id -un)" "nagios_group=$(id -gn)" \
  check_for_updates=0 use_syslog=0 enable_notifications=0 enable_flap_detection=0 \
  check_service_freshness=0 check_host_freshness=0 "service_check_timeout=$timeout_s" \
  interval_length=1 max_service_check_spread=1 max_host_check_spread=1 \
  service_inter_check_delay_method=n host_inter_check_delay_method=n

if ! out=$("$nagios" -v "$cfg" 2>&1); then
  printf '%s\n' "$out" >&2
  echo "nagios_run: nagios4 -v rejected the generated config" >&2
  exit 2
fi

# Foreground mode (no -d): $! is the core's pid (4.4.6 writes lock_file only with -d).
(cd "$tmp" && exec "$nagios" "$cfg") </dev/null >"$tmp/nagios.out" 2>&1 &
pid=$!

deadline=$(( $(date +%s) + timeout_s + 30 ))
block=""
while :; do
  if [ -f "$tmp/status.dat" ]; then
    block=$(awk '/^servicestatus \{/{b=""; s=1} s{b=b $0 "\n"}
      s && /^\t\}/{s=0; if (b ~ /\n\tservice_description=mailcanary\n/) printf "%s", b}' "$tmp/status.dat")
    grep -q $'^\thas_been_checked=1$' <<<"$block" && break
  fi
  if ! alive "$pid"; then
    cat "$tmp/nagios.out" >&2; echo "nagios_run: nagios4 exited early" >&2; exit 2
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "nagios_run: no service check result within $((timeout_s + 30)) s" >&2; exit 2
  fi
  sleep 0.2
done

for key in current_state plugin_output long_plugin_output performance_data check_execution_time; do
  line=$(grep -m1 "^	$key=" <<<"$block" || true)
  printf '%s\n' "${line#	}"
done
exit 0
