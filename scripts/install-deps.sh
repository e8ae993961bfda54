#!/usr/bin/env bash
# Installs every Debian 12 package mailcanary needs to build, test and run its demo
# (clang-14 and libclang-rt-14-dev, which has libFuzzer, for scripts/fuzz.sh;
# prometheus-blackbox-exporter as the reference of bench/confirm_cost.sh; debhelper and
# lintian for scripts/package.sh and its check; nagios4-core, the real Nagios Core 4
# that tests/plugin/nagios_run.sh runs the plugin under).
# Idempotent and non-interactive; fast when everything is already present.
# Usage (as root): scripts/install-deps.sh
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)

pkgs=(
  build-essential cmake pkg-config git ca-certificates clang-format
  libcurl4-openssl-dev libc-ares-dev prometheus-cpp-dev libtomlplusplus-dev
  libetpan20 catch2 libcli11-dev libsqlite3-dev sqlite3 libssl-dev zlib1g-dev libsystemd-dev nlohmann-json3-dev
  postfix dovecot-imapd dovecot-pop3d dnsmasq-base unbound haproxy
  prometheus prometheus-alertmanager swaks curl openssl iproute2 procps
  wrk apache2-utils ccache libhowardhinnant-date-dev systemd groff-base debhelper lintian
  clang-14 libclang-rt-14-dev prometheus-blackbox-exporter nagios4-core
)

if [ "$(id -u)" != 0 ]; then
  echo "install-deps: run as root (apt-get is needed)" >&2
  exit 1
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Packages such as postfix, dovecot and nagios4-core try to start their system
  # services on install; the test bed runs private instances instead, so forbid that.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    created_policy=1
  fi
  trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# libetpan-dev cannot be installed with apt next to prometheus-cpp-dev (it drags in
# libcurl4-gnutls-dev, which conflicts with libcurl4-openssl-dev). Its headers are
# unpacked into a folder the build owns; the runtime library comes from libetpan20.
etpan_dir="$here/.deps/libetpan-dev"
if [ ! -f "$etpan_dir/usr/include/libetpan/libetpan.h" ]; then
  mkdir -p "$here/.deps"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download libetpan-dev >/dev/null 2>&1 || { apt-get update -qq && apt-get download libetpan-dev >/dev/null; })
  rm -rf "$etpan_dir"
  dpkg-deb -x "$tmp"/libetpan-dev_*.deb "$etpan_dir"
  rm -rf "$tmp"
fi
echo "install-deps: all dependencies present"
