#!/usr/bin/env bash
# Runs the device bundle on the GPU machine: every GPU test binary, then `realizar bench kernels`.
# `cargo xtask device-bundle` copies this file to target/device/run.sh next to the tarball.
#
#   bash target/device/run.sh [all|tests|bench] [bench kernels arguments...]
#
# Logs go to $OUT (the device tool's folder that comes back; target/device/out when unset):
# tests.log, bench.log (the bench's markdown), bench-progress.log and summary.txt. Exits non-zero
# if any test binary or the bench failed; a failing binary does not stop the others.
#
# Paths: the binaries were built on another machine, so `env!("CARGO_MANIFEST_DIR")` inside them
# names that machine's checkout (BUILD_ROOT in bundle.env, e.g. /work/main). The device runs this
# in the repository root of a copy of the working tree, elsewhere; when BUILD_ROOT does not exist
# here it is made a symbolic link to this checkout (commands run as root there), so fixture paths
# baked in at build time resolve. Each test binary also runs from its crate folder, as cargo does.
set -u -o pipefail

mode=${1:-all}
case "$mode" in
  all | tests | bench) [ $# -gt 0 ] && shift ;;
  -*) mode=all ;;
  *) echo "usage: $0 [all|tests|bench] [bench kernels arguments...]" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${OUT:-$here/out}
mkdir -p "$out"
work=$(mktemp -d /tmp/realizar-device.XXXXXX)
tar -xzf "$here/realizar-device.tar.gz" -C "$work" --no-same-owner || { echo "cannot unpack the bundle" >&2; exit 1; }
# shellcheck source=/dev/null
. "$work/bundle.env"

if [ "$BUILD_ROOT" != "$repo" ]; then
  if [ ! -e "$BUILD_ROOT" ]; then
    mkdir -p "$(dirname "$BUILD_ROOT")" && ln -s "$repo" "$BUILD_ROOT" \
      && echo "linked $BUILD_ROOT -> $repo (paths baked in at build time)"
  elif [ "$(cd "$BUILD_ROOT" && pwd -P)" != "$(cd "$repo" && pwd -P)" ]; then
    echo "warning: $BUILD_ROOT exists and is not this checkout; baked-in fixture paths read it" >&2
  fi
fi

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv,noheader 2>/dev/null \
  | sed 's/^/gpu: /'

summary="$out/summary.txt"
: >"$summary"
failed=0

if [ "$mode" != bench ]; then
  : >"$out/tests.log"
  printf '| %-34s | %6s | %6s | %-9s | %7s |\n' "test binary" passed failed status seconds >>"$summary"
  printf '|%s|%s|%s|%s|%s|\n' "------------------------------------" "--------" "--------" "-----------" "---------" >>"$summary"
  while IFS=$'\t' read -r bin crate_dir; do
    [ -n "$bin" ] || continue
    log="$work/$bin.log"
    echo "=== $bin (in $crate_dir)" | tee -a "$out/tests.log"
    start=$(date +%s)
    (cd "$repo/$crate_dir" && "$work/bin/$bin" --ignored --test-threads=1) 2>&1 | tee "$log" >>"$out/tests.log"
    rc=${PIPESTATUS[0]}
    seconds=$(($(date +%s) - start))
    passed=$(grep '^test result:' "$log" | grep -o '[0-9]* passed' | awk '{s += $1} END {print s + 0}')
    nfailed=$(grep '^test result:' "$log" | grep -o '[0-9]* failed' | awk '{s += $1} END {print s + 0}')
    status=ok
    if [ "$rc" -ne 0 ]; then status="FAIL($rc)"; failed=1; fi
    grep -E '^test .* (FAILED|ok)$|^test result:' "$log"
    printf '| %-34s | %6s | %6s | %-9s | %7s |\n' "$bin" "$passed" "$nfailed" "$status" "$seconds" >>"$summary"
  done <"$work/manifest.tsv"
fi

if [ "$mode" != tests ]; then
  echo "=== realizar bench kernels $*"
  start=$(date +%s)
  # stdout (markdown, ready for docs/BENCHMARKS.md) to bench.log; progress and errors to
  # bench-progress.log.
  (cd "$repo" && "$work/bin/realizar" bench kernels "$@") 2>"$out/bench-progress.log" | tee "$out/bench.log"
  rc=${PIPESTATUS[0]}
  seconds=$(($(date +%s) - start))
  {
    echo
    echo "bench kernels: exit $rc after ${seconds} s (full tables in bench.log)"
    if [ "$rc" -ne 0 ]; then failed=1; grep -v ' µs, ' "$out/bench-progress.log" | tail -n 5; fi
    # The bench's last section: % of copy bandwidth at M = 1, one row per format.
    sed -n '/^## Summary/,$p' "$out/bench.log"
  } >>"$summary"
fi

echo
echo "======== summary"
cat "$summary"
rm -rf "$work"
exit "$failed"
