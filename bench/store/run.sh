#!/bin/sh
# bench/store/run.sh: builds bench_store (Release) and runs it on a directory of the real
# disk (fsync on; not /dev/shm). Usage: bench/store/run.sh [build-dir] [extra bench_store args]
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build-bench}
[ $# -gt 0 ] && shift
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
nice cmake --build "$build" -j2 --target bench_store
dir=$(mktemp -d "${TMPDIR:-/var/tmp}/tsubame-bench-XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$build/bin/bench_store" --dir "$dir" "$@"
