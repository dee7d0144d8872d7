#!/usr/bin/env bash
# Every benchmark in one command: a Release build, W5 (TCP echo, bench/run_echo.sh ->
# docs/echo.md), then the Google Benchmark workloads W1-W4 and W6 (bench/run.sh), and
# docs/benchmarks.md with W5's summary plus the chart docs/benchmarks.png.
#
#   bash bench/run_all.sh [google-benchmark flags...]
#
# Needs python3 and gnuplot (Debian/Ubuntu: apt-get install -y gnuplot-nox). Environment: what
# bench/run.sh and bench/run_echo.sh take (EDDY_BENCH_REPETITIONS, EDDY_ECHO_ROUNDS, ...), and
#   EDDY_BENCH_BUILD_DIR  build directory      (default: build/bench)
#   EDDY_BENCH_CHART      the PNG drawn        (default: docs/benchmarks.png)
# Takes about 11 minutes on a 2-core VM (630 s measured: echo ~8, the rest ~3). Run it on an otherwise idle
# machine: the reports record the load and the CPU time stolen by the hypervisor.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${EDDY_BENCH_BUILD_DIR:-$root/build/bench}"
chart="${EDDY_BENCH_CHART:-$root/docs/benchmarks.png}"

# Check the tools first, not after a quarter of an hour of measuring.
command -v python3 >/dev/null || { echo "run_all.sh: python3 is needed for the reports" >&2; exit 1; }
if ! command -v gnuplot >/dev/null; then
    echo "run_all.sh: gnuplot is needed for the chart: apt-get install -y gnuplot-nox" >&2
    echo "            (or run bench/run.sh and bench/run_echo.sh, which make no chart)" >&2
    exit 1
fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DEDDY_BUILD_TESTS=OFF -DEDDY_BUILD_EXAMPLES=OFF -DEDDY_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target eddy_bench eddy_echo
if [[ -f "$build/CMakeCache.txt" ]] && grep -q '^EDDY_ASIO_INCLUDE_DIR:PATH=/' "$build/CMakeCache.txt"; then
    cmake --build "$build" -j "$(nproc)" --target eddy_bench_asio_uring
fi

start=$SECONDS
summary="$build/results/echo.json"
mkdir -p "$build/results"
rm -f "$summary"
echo "== W5: TCP echo (bench/run_echo.sh)" >&2
EDDY_ECHO_SKIP_BUILD=1 EDDY_ECHO_BUILD_DIR="$build" EDDY_ECHO_SUMMARY="$summary" \
    bash "$root/bench/run_echo.sh"
echo "== W1-W4, W6 (bench/run.sh)" >&2
EDDY_BENCH_SKIP_BUILD=1 EDDY_BENCH_BUILD_DIR="$build" EDDY_BENCH_ECHO_SUMMARY="$summary" \
    EDDY_BENCH_CHART="$chart" EDDY_BENCH_COMMAND="bench/run_all.sh${*:+ $*}" \
    bash "$root/bench/run.sh" "$@"
echo "run_all.sh: done in $((SECONDS - start)) s: docs/benchmarks.md, $chart, docs/echo.md" >&2
