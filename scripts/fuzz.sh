#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/, clang-14, ASan + UBSan) into build-fuzz and runs
# each for SECONDS (default 30), one after the other. Fails when a harness finds a crash,
# a leak, a timeout or a broken invariant, printing the reproducer's path.
# Usage: scripts/fuzz.sh [SECONDS] [HARNESS...]   (HARNESS: fuzz_dsn, ...; default all)
#   FUZZ_BUILD=DIR: another build tree; FUZZ_JOBS=N: build jobs (default: all cores).
# Each harness grows its own corpus in build-fuzz/corpus/HARNESS (kept between runs, so
# a long run resumes where the last stopped); the seeds in fuzz/corpus/HARNESS are only
# read. Crashes land in build-fuzz/crashes/HARNESS/, logs in build-fuzz/logs/.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD:-$here/build-fuzz}
seconds=30
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
  for f in "$here"/fuzz/fuzz_*.cpp; do
    harnesses+=("$(basename "$f" .cpp)")
  done
fi
for h in "${harnesses[@]}"; do
  if [ ! -f "$here/fuzz/$h.cpp" ]; then
    echo "fuzz: no harness $h (fuzz/$h.cpp)" >&2
    exit 2
  fi
done

launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$here"
fi
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DMAILCANARY_FUZZ=ON \
  -DMAILCANARY_TESTS=OFF -DMAILCANARY_BENCH=OFF >/dev/null
cmake --build "$build" -j "${FUZZ_JOBS:-$(nproc)}" --target "${harnesses[@]}"

export UBSAN_OPTIONS="print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
status=0
for h in "${harnesses[@]}"; do
  corpus="$build/corpus/$h"
  crashes="$build/crashes/$h"
  log="$build/logs/$h.log"
  mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
  seeds=()
  [ -d "$here/fuzz/corpus/$h" ] && seeds=("$here/fuzz/corpus/$h")
  dict=()
  [ -f "$here/fuzz/dict/$h.dict" ] && dict=("-dict=$here/fuzz/dict/$h.dict")
  echo "== $h: ${seconds}s"
  rc=0
  "$build/fuzz/$h" -max_total_time="$seconds" -rss_limit_mb=512 -timeout=5 \
    -print_final_stats=1 -artifact_prefix="$crashes/" "${dict[@]}" \
    "$corpus" "${seeds[@]}" </dev/null >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1 || true)
  echo "   execs=${execs:-?} ${cov:-} exit=$rc"
  if [ "$rc" != 0 ]; then
    status=1
    echo "!! $h failed; log $log" >&2
    grep -E 'ERROR: |runtime error|invariant failed|SUMMARY' "$log" | head -5 >&2 || true
    sed -n 's/.*Test unit written to /   reproducer: /p' "$log" >&2
    echo "   reproduce: $build/fuzz/$h REPRODUCER" >&2
  fi
done
exit "$status"
