#!/usr/bin/env bash
# Installs everything, builds, and runs every test: unit and integration tests in a
# warnings-as-errors build, then again in an AddressSanitizer + UBSan build, plus the
# clang-format check. This is what CI runs (.ci/run).
# Usage (as root): scripts/test.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

"$here/scripts/install-deps.sh"

echo "== clang-format check"
git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run --Werror

echo "== build (warnings are errors)"
"$here/scripts/build.sh" "$here/build-ci" -DMAILCANARY_WERROR=ON
echo "== tests"
(cd "$here/build-ci" && ctest --output-on-failure)

echo "== build (ASan + UBSan)"
"$here/scripts/build.sh" "$here/build-asan" -DMAILCANARY_WERROR=ON -DMAILCANARY_SANITIZE=ON \
  -DCMAKE_BUILD_TYPE=Debug
echo "== tests under sanitizers"
(cd "$here/build-asan" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure)
