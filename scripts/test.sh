#!/usr/bin/env bash
# Installs everything, builds, and runs every test: unit and integration tests in a
# warnings-as-errors build, the Debian package and its install check, then the tests
# again in an AddressSanitizer + UBSan build and in a ThreadSanitizer build, plus the
# clang-format check, then each libFuzzer harness briefly (fuzz smoke). This is what CI runs (.ci/run).
# The tests of a build run two at a time (ctest -j2): the integration tests (the test
# bed, one at a time) beside the hostile suite, which mostly waits for timeouts.
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
(cd "$here/build-ci" && ctest --output-on-failure -j2)

# The .deb as an operator installs it: lintian, dpkg -i, check-config and /-/ready as the
# mailcanary user, the installed unit's verify and security score, dpkg --purge.
echo "== Debian package"
deb=$("$here/scripts/package.sh" "$here/dist" | tail -n 1)
"$here/tests/packaging/deb_check.sh" "$deb"

# The sanitizer trees skip the benchmarks (build-ci compiles them; no test runs them).
echo "== build (ASan + UBSan)"
"$here/scripts/build.sh" "$here/build-asan" -DMAILCANARY_WERROR=ON -DMAILCANARY_SANITIZE=ON \
  -DCMAKE_BUILD_TYPE=Debug -DMAILCANARY_BENCH=OFF
echo "== tests under sanitizers"
(cd "$here/build-asan" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j2)

echo "== build (ThreadSanitizer)"
"$here/scripts/build.sh" "$here/build-tsan" -DMAILCANARY_WERROR=ON -DMAILCANARY_TSAN=ON \
  -DMAILCANARY_BENCH=OFF
echo "== tests under ThreadSanitizer"
# Reports are written to files, not stderr: the agent runs as a child of the integration
# tests with its stderr in a temporary log, so a race there might fail no test. Any report
# fails the stage. tests/tsan.supp: races inside uninstrumented libraries, each with why.
tsan_reports="$here/build-tsan/tsan-reports"
rm -rf "$tsan_reports"
mkdir -p "$tsan_reports"
tsan_status=0
(cd "$here/build-tsan" &&
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions='$here/tests/tsan.supp' log_path='$tsan_reports/tsan'" \
    ctest --output-on-failure -j2) || tsan_status=$?
if compgen -G "$tsan_reports/tsan.*" >/dev/null; then
  echo "== ThreadSanitizer reports" >&2
  cat "$tsan_reports"/tsan.* >&2
  tsan_status=1
fi

# Each harness for FUZZ_SECONDS (default 15) on its seeds plus what earlier runs in
# build-fuzz found; a crash, leak, timeout or broken invariant fails the stage.
echo "== fuzz smoke"
fuzz_status=0
"$here/scripts/fuzz.sh" "${FUZZ_SECONDS:-15}" || fuzz_status=$?
[ "$tsan_status" = 0 ] || exit "$tsan_status"
exit "$fuzz_status"
