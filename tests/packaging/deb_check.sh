#!/usr/bin/env bash
# The Debian package as an operator gets it, on this machine (as root):
#   lintian finds no error; `dpkg -i` installs it; the binary answers --version; the
#   system user exists; the installed conffile passes check-config as that user; the
#   installed unit passes systemd-analyze verify with an exposure level of 2.0 or lower;
#   the agent, run as that user on the installed config, answers /-/ready; `dpkg --purge`
#   removes it all again (the system user stays, as Debian's policy advises).
#   tests/packaging/deb_check.sh PATH/mailcanary_VERSION_ARCH.deb
# Refuses to run where mailcanary is installed already: it would remove that install.
set -euo pipefail
deb=${1:?path of the .deb}
[ "$(id -u)" = 0 ] || { echo "deb_check: run as root (dpkg -i)" >&2; exit 1; }
if dpkg-query -W -f='${Status}' mailcanary 2>/dev/null | grep -q 'installed'; then
  echo "deb_check: mailcanary is installed already; not touching it" >&2
  exit 1
fi
fail() { echo "deb_check: $*" >&2; exit 1; }
conf=/etc/mailcanary/mailcanary.toml
agent_pid=
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  dpkg --purge mailcanary >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== lintian $(basename "$deb")"
lintian_out=$(lintian --display-info "$deb" 2>&1 | grep -v "running with root privileges") || true
echo "$lintian_out"
if grep -q '^E: ' <<<"$lintian_out"; then
  fail "lintian reports errors"
fi

echo "== dpkg -i"
# Where systemd runs, the package enables and starts the service; here (no systemd as
# PID 1) it installs the files and the user, and the start is skipped.
dpkg -i "$deb" >/dev/null
mailcanary --version
id mailcanary
[ "$(stat -c '%U:%G %a' /etc/mailcanary/hmac.key)" = "root:mailcanary 640" ] ||
  fail "hmac.key is $(stat -c '%U:%G %a' /etc/mailcanary/hmac.key), expected root:mailcanary 640"
grep -qx "$conf" /var/lib/dpkg/info/mailcanary.conffiles || fail "$conf is not a conffile"
for f in /usr/share/man/man1/mailcanary.1.gz /usr/share/mailcanary/grafana/mailcanary.json \
  /usr/share/mailcanary/prometheus/mailcanary-rules.yml /usr/share/mailcanary/examples/mailcanary.toml \
  /lib/systemd/system/mailcanary.service; do
  [ -f "$f" ] || fail "$f is missing"
done

echo "== check-config as mailcanary"
runuser -u mailcanary -- mailcanary check-config --config "$conf"

echo "== installed unit"
systemd-analyze verify /lib/systemd/system/mailcanary.service
systemd-analyze security --offline=true --threshold=20 /lib/systemd/system/mailcanary.service |
  tail -n 1

echo "== the agent as mailcanary on the installed config"
# What StateDirectory= does under systemd.
install -d -o mailcanary -g mailcanary -m 0750 /var/lib/mailcanary
# setpriv execs the agent itself (runuser would stay its parent and die by the signal).
setpriv --reuid=mailcanary --regid=mailcanary --init-groups \
  mailcanary run --config "$conf" 2>/tmp/deb_check.agent.log &
agent_pid=$!
ready=
for _ in $(seq 1 100); do  # at most 100 x 0.1 s
  if code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 http://127.0.0.1:9478/-/ready) &&
    [ "$code" = 200 ]; then
    ready=yes
    break
  fi
  kill -0 "$agent_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$ready" ] || { cat /tmp/deb_check.agent.log >&2; fail "the installed agent never answered /-/ready with 200"; }
curl -s --max-time 2 http://127.0.0.1:9478/metrics | grep '^mailcanary_build_info'
kill "$agent_pid"
wait "$agent_pid" || fail "the agent exited with $? on SIGTERM"
agent_pid=
[ -f /var/lib/mailcanary/mailcanary.db ] || fail "no state database in /var/lib/mailcanary"

echo "== dpkg --purge"
dpkg --purge mailcanary >/dev/null
for f in /usr/bin/mailcanary "$conf" /etc/mailcanary/hmac.key /var/lib/mailcanary; do
  [ ! -e "$f" ] || fail "$f is still there after the purge"
done
echo "deb_check: ok"
