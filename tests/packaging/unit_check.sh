#!/usr/bin/env bash
# The systemd unit as systemd will read it: `systemd-analyze verify` finds no error in
# it (run against the built binary: the unit's /usr/bin/mailcanary is swapped for it),
# and `systemd-analyze security` rates its exposure 2.0 or lower.
#   tests/packaging/unit_check.sh UNIT_FILE MAILCANARY_BINARY
set -euo pipefail
unit=${1:?unit file}
binary=${2:?mailcanary binary}
command -v systemd-analyze >/dev/null || { echo "unit_check: systemd-analyze missing (package systemd)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed -e "s|/usr/bin/mailcanary|$binary|g" "$unit" >"$work/mailcanary.service"
# man: and file: documentation links are checked only when installed: not here.
if ! out=$(systemd-analyze verify --man=no "$work/mailcanary.service" 2>&1); then
  echo "$out" >&2
  echo "unit_check: systemd-analyze verify failed" >&2
  exit 1
fi
if [ -n "$out" ]; then
  echo "$out" >&2
  echo "unit_check: systemd-analyze verify complained" >&2
  exit 1
fi
score=$(systemd-analyze security --offline=true --threshold=20 "$work/mailcanary.service" 2>&1 |
  sed -n 's/.*Overall exposure level for mailcanary.service: \([0-9.]*\).*/\1/p')
[ -n "$score" ] || { echo "unit_check: no exposure level from systemd-analyze security" >&2; exit 1; }
echo "unit_check: verify clean, exposure level $score (goal <= 2.0)"
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || { echo "unit_check: exposure $score is over 2.0" >&2; exit 1; }
