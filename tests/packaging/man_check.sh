#!/usr/bin/env bash
# The man page is well-formed (groff has no warning) and says every option that
# `mailcanary COMMAND --help` offers, so the two cannot drift apart.
#   tests/packaging/man_check.sh MAN_PAGE MAILCANARY_BINARY
set -euo pipefail
page=${1:?man page}
binary=${2:?mailcanary binary}
warnings=$(groff -man -ww -z "$page" 2>&1) || true
if [ -n "$warnings" ]; then
  echo "$warnings" >&2
  echo "man_check: groff warns about $page" >&2
  exit 1
fi
source_text=$(sed 's/\\-/-/g' "$page")
missing=0
for command in run probe check-config; do
  grep -q -- "mailcanary $command" <<<"$source_text" || { echo "man_check: no '$command' in $page" >&2; missing=1; }
  for option in $("$binary" "$command" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
    if ! grep -q -- "$option" <<<"$source_text"; then
      echo "man_check: $command $option is in --help but not in $page" >&2
      missing=1
    fi
  done
done
[ "$missing" = 0 ] || exit 1
echo "man_check: $page is clean and names every option of run, probe and check-config"
