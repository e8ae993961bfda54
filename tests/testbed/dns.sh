#!/usr/bin/env bash
# mailcanary test bed DNS: a private unbound on 127.0.0.53:5353 (UDP and TCP) that
# serves the zone "test." from local data (tests/testbed/dns/unbound.conf.in) and never
# asks anyone else. No root, no systemd, no syslog.
#
# Usage: tests/testbed/dns.sh start|stop|status|restart
#
# State lives in $MAILCANARY_TESTBED_DIR/dns (default /tmp/mailcanary-testbed/dns):
# unbound.conf, unbound.log (one line per query), unbound.pid (the pid this script
# started; stop signals only that process) and env (DNS_SERVER=127.0.0.53:5353, ...).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN=${MAILCANARY_TESTBED_DIR:-/tmp/mailcanary-testbed}
RUN=${RUN%/}
DIR=$RUN/dns
CONF=$DIR/unbound.conf
LOG=$DIR/unbound.log
START_LOG=$DIR/start.log
PID_FILE=$DIR/unbound.pid
ENV_FILE=$DIR/env
LOCK=$DIR/lock
MARKER=$RUN/.mailcanary-testbed

ADDR=127.0.0.53
PORT=5353
# servfail.test is forwarded here over TCP; nothing may listen, so unbound answers
# SERVFAIL. 127.0.0.59:5353 must stay silent too: tests use it as a dead DNS server.
UPSTREAM_DEAD=127.0.0.58
DEAD_SERVER=127.0.0.59

READY_TIMEOUT=10 # seconds, start-up readiness
STOP_TIMEOUT=5   # seconds, before kill -9
POLL=0.05        # seconds between two checks

log() { printf 'dns: %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}

now_ms() {
  local t=${EPOCHREALTIME/[^0-9]/}
  echo $((t / 1000))
}

# ---------------------------------------------------------------- processes
# Alive = exists and is neither a zombie nor dead. PID 1 here does not reap
# orphans, so a stopped unbound can stay a zombie that kill -0 calls alive.
alive() {
  local pid=$1 stat state
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  { IFS= read -r stat <"/proc/$pid/stat"; } 2>/dev/null || return 1
  state=${stat##*) }
  state=${state%% *}
  [[ $state != Z && $state != X && $state != x ]]
}
# Is PID the unbound this script started (its binary, with our config file)?
ours() {
  local pid=$1 exe cmdline
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  [[ ${exe% (deleted)} == */unbound ]] || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$CONF"* ]]
}
recorded_pid() {
  local pid=
  [[ -r $PID_FILE ]] && pid=$(head -n1 "$PID_FILE" 2>/dev/null | tr -dc '0-9')
  echo "$pid"
}
running() { # sets PID
  PID=$(recorded_pid)
  alive "$PID" && ours "$PID"
}

# ---------------------------------------------------------------- queries
# A minimal DNS query without dig: "twomx.test MX IN", id 0x4d43, RD set.
QUERY='\115\103\001\000\000\001\000\000\000\000\000\000\005twomx\004test\000\000\017\000\001'
QUERY_LEN='\000\034' # 28 bytes, the TCP length prefix

# check_reply HEX: the first 12 bytes (hex, no spaces) of a reply. Succeeds for a
# response to our id with RCODE NOERROR and at least one answer.
check_reply() {
  local h=$1
  [[ ${#h} -ge 24 ]] || return 1
  [[ ${h:0:4} == 4d43 ]] || return 1
  (((16#${h:4:2} & 0x80) != 0)) || return 1 # QR: a response
  (((16#${h:6:2} & 0x0f) == 0)) || return 1 # RCODE NOERROR
  ((16#${h:12:4} >= 1))                     # ANCOUNT
}
# answers_udp / answers_tcp: one query, at most 1 s. (The inner scripts take their
# arguments as $1.. on purpose.)
# shellcheck disable=SC2016
answers_udp() {
  local hex
  hex=$(timeout 1 bash -c 'exec 3<>"/dev/udp/$1/$2" && printf "$3" >&3 && head -c 12 <&3' \
    _ "$ADDR" "$PORT" "$QUERY" 2>/dev/null | od -An -v -tx1 | tr -d ' \n') || return 1
  check_reply "$hex"
}
# shellcheck disable=SC2016
answers_tcp() {
  local hex
  hex=$(timeout 1 bash -c 'exec 3<>"/dev/tcp/$1/$2" && printf "$3$4" >&3 && head -c 14 <&3' \
    _ "$ADDR" "$PORT" "$QUERY_LEN" "$QUERY" 2>/dev/null | od -An -v -tx1 | tr -d ' \n') || return 1
  check_reply "${hex:4}"
}
# shellcheck disable=SC2016
tcp_open() { timeout 1 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null; }

# ---------------------------------------------------------------- helpers
check_run_dir() {
  [[ $RUN == /* ]] || die "MAILCANARY_TESTBED_DIR must be an absolute path (got '$RUN')"
  [[ $RUN != / && $RUN =~ ^/[^/]+/. ]] || die "refusing to use '$RUN' as test bed directory"
  case $RUN in *[[:space:]]*) die "MAILCANARY_TESTBED_DIR must not contain spaces" ;; esac
}

sed_escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }

have_ipv6() { grep -qi '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null; }

render() { # template output
  local ipv6_prefix='#'
  have_ipv6 && ipv6_prefix=''
  sed -e "s|@IPV6@|$ipv6_prefix|g" \
    -e "s|@RUN@|$(sed_escape "$DIR")|g" \
    -e "s|@ADDR@|$ADDR|g" \
    -e "s|@PORT@|$PORT|g" \
    -e "s|@DEAD@|$UPSTREAM_DEAD@$PORT|g" \
    "$1" >"$2"
}

show_logs() {
  local f
  for f in "$START_LOG" "$LOG"; do
    if [[ -s $f ]]; then
      log "---- tail of $f"
      tail -n 20 "$f" >&2
    fi
  done
}

# ---------------------------------------------------------------- commands
cmd_status() {
  local rc=0 PID
  if running; then echo "unbound: running (pid $PID)"; else
    echo "unbound: not running"
    rc=1
  fi
  if answers_udp; then echo "dns $ADDR:$PORT udp: answers"; else
    echo "dns $ADDR:$PORT udp: no answer"
    rc=1
  fi
  if answers_tcp; then echo "dns $ADDR:$PORT tcp: answers"; else
    echo "dns $ADDR:$PORT tcp: no answer"
    rc=1
  fi
  return $rc
}

cmd_stop() {
  local PID deadline
  if ! running; then
    rm -f "$PID_FILE" "$ENV_FILE"
    log "not running"
    return 0
  fi
  kill -TERM "$PID" 2>/dev/null || true
  deadline=$(($(now_ms) + STOP_TIMEOUT * 1000))
  while alive "$PID"; do
    if (($(now_ms) > deadline)); then
      log "unbound (pid $PID) still running after ${STOP_TIMEOUT}s, kill -9"
      kill -9 "$PID" 2>/dev/null || true
      deadline=$(($(now_ms) + 2000))
      while alive "$PID"; do
        (($(now_ms) > deadline)) && die "unbound (pid $PID) survives kill -9"
        sleep "$POLL"
      done
      break
    fi
    sleep "$POLL"
  done
  rm -f "$PID_FILE" "$ENV_FILE"
  log "stopped"
}

cmd_start() {
  local PID t0 deadline pid
  t0=$(now_ms)
  check_run_dir
  command -v unbound >/dev/null || die "unbound is not installed (scripts/install-deps.sh)"
  if running; then
    die "already running in $DIR (pid $PID); run '$0 stop' first"
  fi
  tcp_open "$ADDR" "$PORT" && die "something already listens on $ADDR:$PORT"
  tcp_open "$UPSTREAM_DEAD" "$PORT" &&
    die "something listens on $UPSTREAM_DEAD:$PORT, which must stay closed (servfail.test)"
  tcp_open "$DEAD_SERVER" "$PORT" &&
    die "something listens on $DEAD_SERVER:$PORT, which must stay closed (dead DNS server)"

  rm -f "$CONF" "$LOG" "$START_LOG" "$PID_FILE" "$ENV_FILE"
  render "$HERE/dns/unbound.conf.in" "$CONF"
  if command -v unbound-checkconf >/dev/null; then
    unbound-checkconf "$CONF" >"$START_LOG" 2>&1 || {
      show_logs
      die "bad unbound config $CONF"
    }
  fi

  # Foreground mode (-d), in the background of this script: $! is unbound itself.
  # No inherited descriptors, so callers that capture our output do not hang.
  unbound -d -c "$CONF" </dev/null >>"$START_LOG" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$PID_FILE"

  deadline=$(($(now_ms) + READY_TIMEOUT * 1000))
  until answers_udp && answers_tcp; do
    if ! alive "$pid"; then
      show_logs
      rm -f "$PID_FILE"
      die "unbound exited during start-up"
    fi
    if (($(now_ms) > deadline)); then
      show_logs
      cmd_stop || true
      die "unbound does not answer on $ADDR:$PORT after ${READY_TIMEOUT}s"
    fi
    sleep "$POLL"
  done

  cat >"$ENV_FILE" <<EOF
# Written by tests/testbed/dns.sh start; shell-sourceable.
DNS_SERVER=$ADDR:$PORT
DNS_ADDR=$ADDR
DNS_PORT=$PORT
DNS_SERVER6=$(have_ipv6 && echo "[::1]:$PORT")
DNS_DEAD_SERVER=$DEAD_SERVER:$PORT
DNS_PID=$pid
DNS_LOG=$LOG
EOF
  log "unbound pid $pid answers on $ADDR:$PORT (udp, tcp) in $(($(now_ms) - t0)) ms"
}

cmd_restart() {
  cmd_stop
  cmd_start
}

locked() { # command...
  if [[ ! -e $RUN ]]; then
    mkdir -p "$RUN"
    : >"$MARKER" # testbed.sh may wipe and reuse a test bed directory it recognises
  fi
  mkdir -p "$DIR"
  exec 9>"$LOCK"
  flock -w 30 9 || die "another dns.sh holds $LOCK"
  "$@"
}

case ${1:-} in
start) check_run_dir && locked cmd_start ;;
stop) check_run_dir && locked cmd_stop ;;
restart) check_run_dir && locked cmd_restart ;;
status) cmd_status ;;
*)
  echo "usage: $0 start|stop|status|restart" >&2
  exit 2
  ;;
esac
