#!/usr/bin/env bash
# mailcanary real-mail test bed: private Postfix + Dovecot instances on loopback.
#
# Usage (as root): tests/testbed/testbed.sh start|stop|status|restart
#
# All state lives in $MAILCANARY_TESTBED_DIR (default /tmp/mailcanary-testbed).
# /etc/postfix, /etc/dovecot and the system services are never touched; no
# systemd, no syslog. See tests/testbed/README.md for the addresses and users.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN=${MAILCANARY_TESTBED_DIR:-/tmp/mailcanary-testbed}
RUN=${RUN%/}

DOMAIN=example.test
SMTP_PORT=2525
SMTP_ACCEPT=127.0.0.11
SMTP_TEMPFAIL=127.0.0.12
SMTP_PERMFAIL=127.0.0.13
SMTP_DISCARD=127.0.0.14
SMTP_CLOSED=127.0.0.15
SMTP_ACCEPT6=::1
# TLS and AUTH listeners (certificates from make-certs.sh in RUN/tls/)
SMTP_STARTTLS=127.0.0.16
SMTP_TLS_WRONG_NAME=127.0.0.17
SMTP_NO_STARTTLS=127.0.0.18
SMTP_IMPLICIT=127.0.0.19
SMTPS_PORT=2465
SMTP_TLS_EXPIRED=127.0.0.20
SMTP_TLS_SELF_SIGNED=127.0.0.21
SMTP_AUTH=127.0.0.22
SUBMISSION_PORT=2587
SUBMISSION_LOGIN_PORT=2588
# accepts unknown users at RCPT, then Postfix bounces a DSN to the envelope sender
SMTP_BOUNCE=127.0.0.23
MX_HOSTNAME=mx.$DOMAIN
IMAP_HOST=127.0.0.1
IMAP_PORT=1143
POP3_HOST=127.0.0.1
POP3_PORT=1110
# Dovecot TLS: STARTTLS/STLS on the ports above; implicit TLS here. Certificate
# mailbox.example.test + IP 127.0.0.1; the wrong-name IMAPS (wrong.example.test, no IP
# SAN) needs an address of its own (Dovecot chooses certificates by local address).
MAILBOX_HOSTNAME=mailbox.$DOMAIN
IMAPS_PORT=1993
IMAPS_WRONG_NAME=127.0.0.24
IMAPS_WRONG_NAME_PORT=1994
POP3S_PORT=1995
MAIL_UID=65534
MAIL_GID=65534
USERS=(canary bounces)
SECRETS=$HERE/secrets

PF_ETC=$RUN/postfix/etc
PF_SPOOL=$RUN/postfix/spool
PF_DATA=$RUN/postfix/data
PF_LOG=$RUN/postfix/maillog
PF_PIDFILE=$PF_SPOOL/pid/master.pid
DC_DIR=$RUN/dovecot
DC_CONF=$DC_DIR/dovecot.conf
DC_LOG=$DC_DIR/dovecot.log
DC_PIDFILE=$DC_DIR/run/master.pid
TLS_DIR=$RUN/tls
SASL_SOCKET=$DC_DIR/auth-postfix
PIDS_FILE=$RUN/pids
MARKER=$RUN/.mailcanary-testbed

READY_TIMEOUT=15 # seconds, start-up readiness
STOP_TIMEOUT=10  # seconds, before kill -9
POLL=0.05        # seconds between two checks of a condition

log() { printf 'testbed: %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}

now_ms() {
  local t=${EPOCHREALTIME/[^0-9]/}
  echo $((t / 1000))
}

# ---------------------------------------------------------------- processes
# State of a process from /proc/PID/stat (fails if it does not exist). PID 1 on
# this machine does not reap orphans, so a dead daemon can stay a zombie (Z):
# kill -0 would call it alive.
# Sets STAT_STATE and STAT_SESSION (no subshell: this runs for every /proc
# entry when stopping).
STAT_STATE='' STAT_SESSION=''
proc_stat() {
  local stat rest
  { IFS= read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  rest=${stat##*) }
  # fields after "(comm) ": state ppid pgrp session ...
  read -r STAT_STATE _ _ STAT_SESSION _ <<<"$rest"
}
proc_session() { proc_stat "$1" && echo "$STAT_SESSION"; }
# Alive = exists and is not a zombie (nor dead).
alive() {
  local pid=$1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  proc_stat "$pid" || return 1
  [[ $STAT_STATE != Z && $STAT_STATE != X && $STAT_STATE != x ]]
}
# Is PID a live program of this test bed's kind (postfix or dovecot binary)?
is_mail_daemon() {
  local exe
  exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
  exe=${exe% (deleted)}
  case $exe in
  /usr/lib/postfix/* | /usr/sbin/dovecot | /usr/lib/dovecot/*) return 0 ;;
  esac
  return 1
}
read_pidfile() {
  local pid=
  [[ -r $1 ]] && pid=$(head -n1 "$1" 2>/dev/null | tr -dc '0-9')
  echo "$pid"
}
# Live, non-zombie postfix/dovecot processes in the given session id.
session_members() {
  local sid=$1 p
  [[ $sid =~ ^[0-9]+$ ]] || return 0
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    alive "$p" || continue
    [[ $STAT_SESSION == "$sid" ]] || continue
    is_mail_daemon "$p" && echo "$p"
  done
  return 0
}

# Recorded pids (written by start) with the pid files as fallback.
POSTFIX_PID='' POSTFIX_SID='' DOVECOT_PID='' DOVECOT_SID=''
load_pids() {
  POSTFIX_PID='' POSTFIX_SID='' DOVECOT_PID='' DOVECOT_SID=''
  if [[ -r $PIDS_FILE ]]; then
    local k v
    while IFS='=' read -r k v; do
      case $k in
      POSTFIX_PID) POSTFIX_PID=$v ;;
      POSTFIX_SID) POSTFIX_SID=$v ;;
      DOVECOT_PID) DOVECOT_PID=$v ;;
      DOVECOT_SID) DOVECOT_SID=$v ;;
      esac
    done <"$PIDS_FILE"
  fi
  [[ -n $POSTFIX_PID ]] || POSTFIX_PID=$(read_pidfile "$PF_PIDFILE")
  [[ -n $DOVECOT_PID ]] || DOVECOT_PID=$(read_pidfile "$DC_PIDFILE")
  [[ -n $POSTFIX_SID ]] || POSTFIX_SID=$POSTFIX_PID
  [[ -n $DOVECOT_SID ]] || DOVECOT_SID=$DOVECOT_PID
}
postfix_running() { alive "$POSTFIX_PID" && is_mail_daemon "$POSTFIX_PID"; }
dovecot_running() { alive "$DOVECOT_PID" && is_mail_daemon "$DOVECOT_PID"; }

# ---------------------------------------------------------------- listeners
# probe HOST PORT EXPECTED-PREFIX GOODBYE: connect, read the greeting, say
# goodbye. Succeeds if the greeting starts with EXPECTED-PREFIX.
probe() {
  local host=$1 port=$2 want=$3 bye=$4
  (
    exec 3<>"/dev/tcp/$host/$port" || exit 1
    line=
    IFS= read -r -t 1 line <&3 || exit 1
    printf '%s\r\n' "$bye" >&3 || true
    IFS= read -r -t 1 _ <&3 || true
    exec 3>&-
    [[ $line == "$want"* ]]
  ) 2>/dev/null
}
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# probe_implicit_tls HOST PORT: TLS handshake, verified against the test CA and
# mx.example.test, then the 220 greeting inside TLS.
probe_implicit_tls() {
  local line
  line=$(printf 'QUIT\r\n' | timeout 3 openssl s_client -connect "$1:$2" -servername "$MX_HOSTNAME" \
    -CAfile "$TLS_DIR/ca.crt" -verify_hostname "$MX_HOSTNAME" -verify_return_error -quiet \
    2>/dev/null | head -n1) || true
  [[ $line == 220* ]]
}
# probe_tls_greeting HOST PORT WANT BYE [VERIFY-IP]: a TLS handshake (verified against
# the test CA for the IP address VERIFY-IP when given), then a greeting that starts with
# WANT inside TLS.
probe_tls_greeting() {
  local host=$1 port=$2 want=$3 bye=$4 ip=${5:-} line verify=()
  [[ -n $ip ]] && verify=(-CAfile "$TLS_DIR/ca.crt" -verify_ip "$ip" -verify_return_error)
  line=$(printf '%s\r\n' "$bye" | timeout 3 openssl s_client -connect "$host:$port" \
    "${verify[@]}" -quiet 2>/dev/null | head -n1) || true
  [[ $line == "$want"* ]]
}
# probe_starttls HOST PORT: greeting, EHLO, STARTTLS and a TLS handshake,
# verified like probe_implicit_tls, then QUIT inside TLS must get its 221.
probe_starttls() {
  local line
  line=$(printf 'QUIT\r\n' | timeout 3 openssl s_client -starttls smtp -connect "$1:$2" \
    -servername "$MX_HOSTNAME" -CAfile "$TLS_DIR/ca.crt" -verify_hostname "$MX_HOSTNAME" \
    -verify_return_error -quiet 2>/dev/null | head -n1) || true
  [[ $line == 221* ]]
}
# probe_ehlo HOST PORT KEYWORD: greeting, then the EHLO reply must list KEYWORD
# (e.g. AUTH: Postfix got its SASL mechanisms from Dovecot).
probe_ehlo() {
  local host=$1 port=$2 want=$3
  (
    exec 3<>"/dev/tcp/$host/$port" || exit 1
    line=
    IFS= read -r -t 1 line <&3 || exit 1
    [[ $line == 220* ]] || exit 1
    printf 'EHLO testbed.%s\r\n' "$DOMAIN" >&3 || exit 1
    found=1
    while IFS= read -r -t 1 line <&3; do
      line=${line%$'\r'}
      [[ ${line:4} == "$want" || ${line:4} == "$want "* ]] && found=0
      [[ $line == 250-* ]] || break
    done
    printf 'QUIT\r\n' >&3 || true
    IFS= read -r -t 1 _ <&3 || true
    exec 3>&-
    exit $found
  ) 2>/dev/null
}

have_ipv6() { ip -6 addr show dev lo 2>/dev/null | grep -q 'inet6 ::1/128'; }

# name host port expected goodbye
listeners() {
  echo "smtp-accept $SMTP_ACCEPT $SMTP_PORT 220 QUIT"
  if have_ipv6; then echo "smtp-accept6 $SMTP_ACCEPT6 $SMTP_PORT 220 QUIT"; fi
  echo "smtp-tempfail $SMTP_TEMPFAIL $SMTP_PORT 220 QUIT"
  echo "smtp-permfail $SMTP_PERMFAIL $SMTP_PORT 220 QUIT"
  echo "smtp-discard $SMTP_DISCARD $SMTP_PORT 220 QUIT"
  # TLS: a full handshake, verified against the test CA and mx.example.test.
  echo "smtp-starttls $SMTP_STARTTLS $SMTP_PORT @starttls"
  echo "smtp-implicit-tls $SMTP_IMPLICIT $SMTPS_PORT @implicit"
  # The bad-certificate listeners only greet: their handshakes fail on purpose,
  # and they share everything else with the one checked above.
  echo "smtp-tls-wrong-name $SMTP_TLS_WRONG_NAME $SMTP_PORT 220 QUIT"
  echo "smtp-tls-expired $SMTP_TLS_EXPIRED $SMTP_PORT 220 QUIT"
  echo "smtp-tls-self-signed $SMTP_TLS_SELF_SIGNED $SMTP_PORT 220 QUIT"
  echo "smtp-no-starttls $SMTP_NO_STARTTLS $SMTP_PORT 220 QUIT"
  # AUTH: the EHLO reply lists AUTH (Postfix reaches Dovecot's auth socket).
  echo "smtp-auth $SMTP_AUTH $SUBMISSION_PORT @auth"
  echo "smtp-auth-login $SMTP_AUTH $SUBMISSION_LOGIN_PORT @auth"
  echo "smtp-bounce $SMTP_BOUNCE $SMTP_PORT 220 QUIT"
  echo "imap $IMAP_HOST $IMAP_PORT * OK a LOGOUT"
  echo "pop3 $POP3_HOST $POP3_PORT +OK QUIT"
  # Implicit TLS, verified for 127.0.0.1; the wrong-name one only has to greet.
  echo "imaps $IMAP_HOST $IMAPS_PORT @imaps"
  echo "pop3s $POP3_HOST $POP3S_PORT @pop3s"
  echo "imaps-wrong-name $IMAPS_WRONG_NAME $IMAPS_WRONG_NAME_PORT @imaps-unverified"
}
# Reads "name host port want bye" (want has no spaces except "* OK"), or
# "name host port @kind" for the TLS and AUTH checks above.
probe_line() {
  local name host port rest want bye
  read -r name host port rest <<<"$1"
  case $rest in
  @implicit) probe_implicit_tls "$host" "$port" ;;
  @starttls) probe_starttls "$host" "$port" ;;
  @auth) probe_ehlo "$host" "$port" AUTH ;;
  @imaps) probe_tls_greeting "$host" "$port" '* OK' 'a LOGOUT' "$host" ;;
  @pop3s) probe_tls_greeting "$host" "$port" '+OK' 'QUIT' "$host" ;;
  @imaps-unverified) probe_tls_greeting "$host" "$port" '* OK' 'a LOGOUT' ;;
  *)
    case $rest in
    '* OK '*) want='* OK' bye=${rest#\* OK } ;;
    *) want=${rest%% *} bye=${rest#* } ;;
    esac
    probe "$host" "$port" "$want" "$bye"
    ;;
  esac
}

# ---------------------------------------------------------------- helpers
show_logs() {
  local f
  for f in "$PF_LOG" "$DC_LOG" "$RUN/postfix/start.log" "$RUN/dovecot/start.log"; do
    if [[ -s $f ]]; then
      log "---- tail of $f"
      tail -n 25 "$f" >&2
    fi
  done
}

read_secret() { # file -> password without the trailing newline
  local f=$1 v
  [[ -r $f ]] || die "missing secret file $f"
  v=$(head -n1 "$f")
  v=${v%$'\r'}
  [[ -n $v && $v != *:* ]] || die "bad secret in $f (empty or contains ':')"
  printf '%s' "$v"
}

sed_escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }

render() { # template output
  local ipv6_prefix='#' inet_protocols=ipv4 mynetworks='127.0.0.0/8'
  if have_ipv6; then
    ipv6_prefix='' inet_protocols=all mynetworks='127.0.0.0/8 [::1]/128'
  fi
  sed -e "s|@RUN@|$(sed_escape "$RUN")|g" \
    -e "s|@IPV6@|$ipv6_prefix|g" \
    -e "s|@INET_PROTOCOLS@|$inet_protocols|g" \
    -e "s|@MYNETWORKS@|$(sed_escape "$mynetworks")|g" \
    "$1" >"$2"
}

check_run_dir() {
  [[ $RUN == /* ]] || die "MAILCANARY_TESTBED_DIR must be an absolute path (got '$RUN')"
  [[ $RUN != / && $RUN =~ ^/[^/]+/. ]] || die "refusing to use '$RUN' as test bed directory"
  case $RUN in *[[:space:]]*) die "MAILCANARY_TESTBED_DIR must not contain spaces" ;; esac
}

wipe_run_dir() {
  if [[ -e $RUN ]]; then
    if [[ ! -e $MARKER ]] && [[ -n $(ls -A "$RUN" 2>/dev/null) ]]; then
      die "$RUN exists, is not empty and is not a test bed directory (no $MARKER); refusing to wipe it"
    fi
    rm -rf -- "$RUN"
  fi
}

# ---------------------------------------------------------------- commands
cmd_status() {
  local rc=0 l name host port addr
  if [[ ! -d $RUN ]]; then
    echo "postfix: not running"
    echo "dovecot: not running"
    return 1
  fi
  load_pids
  if postfix_running; then echo "postfix: running (pid $POSTFIX_PID)"; else
    echo "postfix: not running"
    rc=1
  fi
  if dovecot_running; then echo "dovecot: running (pid $DOVECOT_PID)"; else
    echo "dovecot: not running"
    rc=1
  fi
  dns status || rc=1
  while IFS= read -r l; do
    read -r name host port _ <<<"$l"
    addr=$host:$port
    [[ $host == *:* ]] && addr="[$host]:$port"
    if probe_line "$l"; then echo "listener $name $addr: up"; else
      echo "listener $name $addr: down"
      rc=1
    fi
  done < <(listeners)
  return $rc
}

# The DNS server (unbound) has its own script; it keeps its state in $RUN/dns.
dns() { MAILCANARY_TESTBED_DIR=$RUN "$HERE/dns.sh" "$@" 9>&-; }

cmd_stop() {
  if [[ ! -d $RUN ]]; then
    log "not running (no $RUN)"
    return 0
  fi
  dns stop >/dev/null 2>&1 || log "dns.sh stop failed"
  load_pids
  local pf_pids=() dc_pids=() all=() p deadline killed=0 termed=0
  if postfix_running; then
    mapfile -t pf_pids < <(session_members "$POSTFIX_SID")
    [[ " ${pf_pids[*]} " == *" $POSTFIX_PID "* ]] || pf_pids+=("$POSTFIX_PID")
  fi
  if dovecot_running; then
    mapfile -t dc_pids < <(session_members "$DOVECOT_SID")
    [[ " ${dc_pids[*]} " == *" $DOVECOT_PID "* ]] || dc_pids+=("$DOVECOT_PID")
  fi
  all=("${pf_pids[@]}" "${dc_pids[@]}")
  if [[ ${#all[@]} -eq 0 ]]; then
    # Maybe master died but children survived: clean them up anyway.
    mapfile -t all < <(session_members "$POSTFIX_SID"; session_members "$DOVECOT_SID")
    if [[ ${#all[@]} -eq 0 ]]; then
      log "not running"
      return 0
    fi
  fi
  # Postfix: "postfix stop" signals the master and returns at once when it is
  # gone (otherwise it polls once a second; our own wait below covers that).
  if [[ ${#pf_pids[@]} -gt 0 && -f $PF_ETC/main.cf ]]; then
    postfix -c "$PF_ETC" stop >>"$RUN/postfix/stop.log" 2>&1 9>&- &
  fi
  # Dovecot: "dovecot stop" only sends SIGTERM to the pid in master.pid and
  # then waits with kill -0, which a zombie master (PID 1 does not reap here)
  # defeats; signal the recorded master ourselves and wait zombie-aware.
  if [[ ${#dc_pids[@]} -gt 0 ]]; then
    kill -TERM "$DOVECOT_PID" 2>/dev/null || true
  fi
  # Wait (bounded) until every recorded process is gone or a zombie.
  deadline=$(($(now_ms) + STOP_TIMEOUT * 1000))
  while :; do
    local left=()
    for p in "${all[@]}"; do alive "$p" && is_mail_daemon "$p" && left+=("$p"); done
    [[ ${#left[@]} -eq 0 ]] && break
    # Once both masters are gone, their leftover helpers (Dovecot's log and
    # stats linger ~1.5 s after their master) get a TERM of their own.
    if ((!termed)) && ! postfix_running && ! dovecot_running; then
      kill -TERM "${left[@]}" 2>/dev/null || true
      termed=1
    fi
    if (($(now_ms) > deadline)); then
      if ((killed)); then
        log "processes still alive after kill -9: ${left[*]}"
        wait || true
        return 1
      fi
      log "still running after ${STOP_TIMEOUT}s, kill -9 ${left[*]}"
      kill -9 "${left[@]}" 2>/dev/null || true
      killed=1
      deadline=$(($(now_ms) + 2000))
    fi
    sleep "$POLL"
  done
  # Reap our background "postfix stop" (bounded: it returns within ~1 s).
  wait 2>/dev/null || true
  rm -f "$PIDS_FILE"
  log "stopped"
}

cmd_start() {
  local t0 t1
  t0=$(now_ms)
  check_run_dir
  [[ $(id -u) == 0 ]] || die "must run as root"
  command -v postfix >/dev/null || die "postfix is not installed (scripts/install-deps.sh)"
  command -v dovecot >/dev/null || die "dovecot is not installed (scripts/install-deps.sh)"
  command -v openssl >/dev/null || die "openssl is not installed (scripts/install-deps.sh)"
  if [[ -d $RUN ]]; then
    load_pids
    local what=()
    if postfix_running; then what+=("postfix pid $POSTFIX_PID"); fi
    if dovecot_running; then what+=("dovecot pid $DOVECOT_PID"); fi
    if [[ ${#what[@]} -gt 0 ]]; then
      local list
      list=$(printf '%s, ' "${what[@]}")
      die "a test bed is already running in $RUN (${list%, }); run '$0 stop' first"
    fi
    local stray
    stray=$(session_members "$POSTFIX_SID"; session_members "$DOVECOT_SID")
    [[ -z $stray ]] || die "leftover test bed processes in $RUN: $(echo "$stray" | tr '\n' ' ')- run '$0 stop' first"
  fi
  port_open "$SMTP_CLOSED" "$SMTP_PORT" &&
    die "something already listens on $SMTP_CLOSED:$SMTP_PORT, which must stay closed"

  local u
  for u in "${USERS[@]}"; do read_secret "$SECRETS/$u.pass" >/dev/null; done

  dns stop >/dev/null 2>&1 || true  # a DNS server left from an earlier run here
  wipe_run_dir
  umask 022
  mkdir -p "$RUN" "$PF_ETC" "$PF_SPOOL" "$PF_DATA" "$DC_DIR" "$DC_DIR/state" "$RUN/mail"
  chmod 755 "$RUN"
  : >"$MARKER"
  chown postfix: "$PF_DATA"
  chown "$MAIL_UID:$MAIL_GID" "$RUN/mail"
  for u in "${USERS[@]}"; do
    mkdir -p "$RUN/mail/$u/Maildir/cur" "$RUN/mail/$u/Maildir/new" "$RUN/mail/$u/Maildir/tmp"
    # the Junk folder (Maildir++), where Postfix files junk@ for the canary user
    [[ $u == canary ]] && mkdir -p "$RUN/mail/$u/Maildir/.Junk/"{cur,new,tmp}
    chown -R "$MAIL_UID:$MAIL_GID" "$RUN/mail/$u"
    chmod -R 700 "$RUN/mail/$u"
  done

  # Test CA and server certificates (smtpd reads the keys as root, before it
  # drops privileges).
  if ! "$HERE/make-certs.sh" "$TLS_DIR"; then
    log "could not make the test certificates"
    exit 1
  fi

  # Postfix
  render "$HERE/postfix-main.cf.in" "$PF_ETC/main.cf"
  render "$HERE/postfix-master.cf.in" "$PF_ETC/master.cf"
  # Postfix waits (up to 1.5 s) for a main.cf younger than one second to
  # settle, in case it is still being edited: backdate the fresh files.
  touch -d '-2 seconds' "$PF_ETC/main.cf" "$PF_ETC/master.cf"
  # The queue layout (as postfix-files wants it): quick-start skips the
  # checks that would create it, which saves 1-3 s.
  local d
  mkdir -m 755 "$PF_SPOOL/pid"
  for d in active bounce corrupt defer deferred flush hold incoming private saved trace; do
    mkdir -m 700 "$PF_SPOOL/$d"
    chown postfix: "$PF_SPOOL/$d"
  done
  mkdir -m 730 "$PF_SPOOL/maildrop"
  mkdir -m 710 "$PF_SPOOL/public"
  chown postfix:postdrop "$PF_SPOOL/maildrop" "$PF_SPOOL/public"
  chmod 730 "$PF_SPOOL/maildrop"
  chmod 710 "$PF_SPOOL/public"
  touch "$PF_SPOOL/quick-start"
  : >"$PF_LOG"
  if ! postfix -c "$PF_ETC" start >"$RUN/postfix/start.log" 2>&1 9>&-; then
    log "postfix failed to start"
    show_logs
    exit 1
  fi

  # Dovecot
  render "$HERE/dovecot.conf.in" "$DC_CONF"
  render "$HERE/dovecot-oauth2.conf.ext.in" "$DC_DIR/oauth2.conf.ext"
  {
    for u in "${USERS[@]}"; do
      printf '%s:{PLAIN}%s:%s:%s::%s::\n' "$u" "$(read_secret "$SECRETS/$u.pass")" \
        "$MAIL_UID" "$MAIL_GID" "$RUN/mail/$u"
    done
  } >"$DC_DIR/users"
  chown root:dovecot "$DC_DIR/users"
  chmod 640 "$DC_DIR/users"
  if ! dovecot -c "$DC_CONF" >"$DC_DIR/start.log" 2>&1 9>&-; then
    log "dovecot failed to start"
    show_logs
    cmd_stop || true
    exit 1
  fi

  # DNS (waits for its own readiness)
  if ! dns start >"$RUN/dns-start.log" 2>&1; then
    log "the DNS server failed to start"
    cat "$RUN/dns-start.log" >&2
    cmd_stop || true
    exit 1
  fi

  # Readiness: every listener must greet, bounded. The checks of one round run
  # at once (the TLS ones take some 10-30 ms each).
  local deadline pending=() next=() checks=() i
  mapfile -t pending < <(listeners)
  deadline=$(($(now_ms) + READY_TIMEOUT * 1000))
  while [[ ${#pending[@]} -gt 0 ]]; do
    next=() checks=()
    for i in "${!pending[@]}"; do
      probe_line "${pending[i]}" 9>&- &
      checks[i]=$!
    done
    for i in "${!pending[@]}"; do wait "${checks[i]}" || next+=("${pending[i]}"); done
    pending=("${next[@]}")
    [[ ${#pending[@]} -eq 0 ]] && break
    if (($(now_ms) > deadline)); then
      log "not ready after ${READY_TIMEOUT}s; no greeting from:"
      printf '  %s\n' "${pending[@]}" >&2
      show_logs
      cmd_stop || true
      exit 1
    fi
    sleep "$POLL"
  done
  if port_open "$SMTP_CLOSED" "$SMTP_PORT"; then
    log "something listens on $SMTP_CLOSED:$SMTP_PORT, which must stay closed"
    cmd_stop || true
    exit 1
  fi

  # Record what we started (master pid and session id of each daemon).
  load_pids
  postfix_running || die "postfix master is not running after start"
  dovecot_running || die "dovecot master is not running after start"
  write_pids

  write_env
  t1=$(now_ms)
  echo "testbed: running in $RUN (smtp accept $SMTP_ACCEPT:$SMTP_PORT$(have_ipv6 && echo " [$SMTP_ACCEPT6]:$SMTP_PORT"), tempfail $SMTP_TEMPFAIL, permfail $SMTP_PERMFAIL, discard $SMTP_DISCARD, closed $SMTP_CLOSED; tls: starttls $SMTP_STARTTLS, wrong name $SMTP_TLS_WRONG_NAME, no starttls $SMTP_NO_STARTTLS, implicit $SMTP_IMPLICIT:$SMTPS_PORT, expired $SMTP_TLS_EXPIRED, self-signed $SMTP_TLS_SELF_SIGNED, CA $TLS_DIR/ca.crt; auth $SMTP_AUTH:$SUBMISSION_PORT (login only :$SUBMISSION_LOGIN_PORT); bounce $SMTP_BOUNCE; imap $IMAP_HOST:$IMAP_PORT (imaps :$IMAPS_PORT, wrong name $IMAPS_WRONG_NAME:$IMAPS_WRONG_NAME_PORT), pop3 $POP3_HOST:$POP3_PORT (pop3s :$POP3S_PORT); users canary, bounces; env $RUN/env; $((t1 - t0)) ms)"
}

write_pids() {
  {
    echo "POSTFIX_PID=$POSTFIX_PID"
    echo "POSTFIX_SID=$(proc_session "$POSTFIX_PID")"
    echo "DOVECOT_PID=$DOVECOT_PID"
    echo "DOVECOT_SID=$(proc_session "$DOVECOT_PID")"
  } >"$PIDS_FILE"
}

# A mailbox outage: Dovecot alone stops, with every session it serves (stopping only
# the master leaves live IMAP sessions serving); Postfix keeps delivering to Maildir.
cmd_dovecot_stop() {
  load_pids
  local all=() left=() p deadline termed=0
  mapfile -t all < <(session_members "$DOVECOT_SID")
  dovecot_running && kill -TERM "$DOVECOT_PID" 2>/dev/null
  deadline=$(($(now_ms) + STOP_TIMEOUT * 1000))
  while :; do
    left=()
    for p in "${all[@]}"; do alive "$p" && is_mail_daemon "$p" && left+=("$p"); done
    [[ ${#left[@]} -eq 0 ]] && break
    if ((!termed)) && ! dovecot_running; then
      kill -TERM "${left[@]}" 2>/dev/null || true
      termed=1
    fi
    if (($(now_ms) > deadline)); then
      log "dovecot still running after ${STOP_TIMEOUT}s, kill -9 ${left[*]}"
      kill -9 "${left[@]}" 2>/dev/null || true
      break
    fi
    sleep "$POLL"
  done
  port_open "$IMAP_HOST" "$IMAP_PORT" && die "IMAP still answers after dovecot-stop"
  return 0
}

cmd_dovecot_start() {
  load_pids
  if ! dovecot_running; then
    dovecot -c "$DC_CONF" >"$DC_DIR/start.log" 2>&1 9>&- || die "dovecot failed to start"
  fi
  local deadline=$(($(now_ms) + READY_TIMEOUT * 1000))
  until probe "$IMAP_HOST" "$IMAP_PORT" "* OK" "a LOGOUT"; do
    (($(now_ms) > deadline)) && die "dovecot not ready after ${READY_TIMEOUT}s"
    sleep "$POLL"
  done
  DOVECOT_PID=$(read_pidfile "$DC_PIDFILE")
  DOVECOT_SID=$DOVECOT_PID
  dovecot_running || die "dovecot master is not running after dovecot-start"
  write_pids
}

write_env() {
  local accept6=
  have_ipv6 && accept6=$SMTP_ACCEPT6
  {
    echo "# mailcanary test bed (generated by tests/testbed/testbed.sh); source me"
    local kv
    for kv in \
      "TESTBED_RUN=$RUN" \
      "TESTBED_DOMAIN=$DOMAIN" \
      "TESTBED_SMTP_PORT=$SMTP_PORT" \
      "TESTBED_SMTP_ACCEPT=$SMTP_ACCEPT" \
      "TESTBED_SMTP_ACCEPT6=$accept6" \
      "TESTBED_SMTP_TEMPFAIL=$SMTP_TEMPFAIL" \
      "TESTBED_SMTP_PERMFAIL=$SMTP_PERMFAIL" \
      "TESTBED_SMTP_DISCARD=$SMTP_DISCARD" \
      "TESTBED_SMTP_CLOSED=$SMTP_CLOSED" \
      "TESTBED_MX_HOSTNAME=$MX_HOSTNAME" \
      "TESTBED_TLS_DIR=$TLS_DIR" \
      "TESTBED_CA_FILE=$TLS_DIR/ca.crt" \
      "TESTBED_SMTP_STARTTLS=$SMTP_STARTTLS" \
      "TESTBED_SMTP_TLS_WRONG_NAME=$SMTP_TLS_WRONG_NAME" \
      "TESTBED_SMTP_NO_STARTTLS=$SMTP_NO_STARTTLS" \
      "TESTBED_SMTP_IMPLICIT=$SMTP_IMPLICIT" \
      "TESTBED_SMTPS_PORT=$SMTPS_PORT" \
      "TESTBED_SMTP_TLS_EXPIRED=$SMTP_TLS_EXPIRED" \
      "TESTBED_SMTP_TLS_SELF_SIGNED=$SMTP_TLS_SELF_SIGNED" \
      "TESTBED_SMTP_AUTH=$SMTP_AUTH" \
      "TESTBED_SUBMISSION_PORT=$SUBMISSION_PORT" \
      "TESTBED_SUBMISSION_LOGIN_PORT=$SUBMISSION_LOGIN_PORT" \
      "TESTBED_SASL_SOCKET=$SASL_SOCKET" \
      "TESTBED_IMAP_HOST=$IMAP_HOST" \
      "TESTBED_IMAP_PORT=$IMAP_PORT" \
      "TESTBED_POP3_HOST=$POP3_HOST" \
      "TESTBED_POP3_PORT=$POP3_PORT" \
      "TESTBED_MAILBOX_HOSTNAME=$MAILBOX_HOSTNAME" \
      "TESTBED_IMAPS_PORT=$IMAPS_PORT" \
      "TESTBED_IMAPS_WRONG_NAME=$IMAPS_WRONG_NAME" \
      "TESTBED_IMAPS_WRONG_NAME_PORT=$IMAPS_WRONG_NAME_PORT" \
      "TESTBED_POP3S_PORT=$POP3S_PORT" \
      "TESTBED_SMTP_BOUNCE=$SMTP_BOUNCE" \
      "TESTBED_RCPT_BOUNCE=nosuchuser@$DOMAIN" \
      "TESTBED_RCPT_JUNK=junk@$DOMAIN" \
      "TESTBED_CANARY_JUNK_FOLDER=Junk" \
      "TESTBED_CANARY_JUNK_MAILDIR=$RUN/mail/canary/Maildir/.Junk" \
      "TESTBED_CANARY_USER=canary" \
      "TESTBED_CANARY_ADDRESS=canary@$DOMAIN" \
      "TESTBED_CANARY_PASSWORD_FILE=$SECRETS/canary.pass" \
      "TESTBED_CANARY_MAILDIR=$RUN/mail/canary/Maildir" \
      "TESTBED_BOUNCES_USER=bounces" \
      "TESTBED_BOUNCES_ADDRESS=bounces@$DOMAIN" \
      "TESTBED_BOUNCES_PASSWORD_FILE=$SECRETS/bounces.pass" \
      "TESTBED_BOUNCES_MAILDIR=$RUN/mail/bounces/Maildir" \
      "TESTBED_POSTMASTER_ADDRESS=postmaster@$DOMAIN" \
      "TESTBED_RCPT_TEMPFAIL=tempfail@$DOMAIN" \
      "TESTBED_RCPT_PERMFAIL=permfail@$DOMAIN" \
      "TESTBED_RCPT_DISCARD=discard@$DOMAIN" \
      "TESTBED_HMAC_KEY_FILE=$SECRETS/hmac.key" \
      "TESTBED_MAILLOG=$PF_LOG" \
      "TESTBED_DOVECOT_LOG=$DC_LOG"; do
      printf '%s=%q\n' "${kv%%=*}" "${kv#*=}"
    done
  } >"$RUN/env"
}

main() {
  local cmd=${1:-}
  case $cmd in
  start | stop | status | restart | dovecot-stop | dovecot-start) ;;
  *)
    echo "usage: $0 start|stop|status|restart|dovecot-stop|dovecot-start" >&2
    exit 2
    ;;
  esac
  [[ $cmd == status ]] || check_run_dir
  # Serialise start/stop/restart on the same directory.
  if [[ $cmd != status ]]; then
    exec 9>"$RUN.lock"
    flock -w 30 9 || die "another testbed.sh is busy with $RUN"
  fi
  case $cmd in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  dovecot-stop) cmd_dovecot_stop ;;
  dovecot-start) cmd_dovecot_start ;;
  restart)
    cmd_stop
    cmd_start
    ;;
  esac
}

main "$@"
