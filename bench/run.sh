#!/usr/bin/env bash
# eddy benchmarks: Release build, full run of both executables, docs/benchmarks.md.
# bench/run_all.sh calls this after W5 (the echo servers) and adds their summary and the chart.
#
#   bench/run.sh [google-benchmark flags...]      e.g. --benchmark_filter=W1
#
# Environment:
#   EDDY_BENCH_BUILD_DIR    build directory             (default: build/bench)
#   EDDY_BENCH_REPETITIONS  repetitions per benchmark   (default: 5)
#   EDDY_BENCH_SKIP_BUILD=1 use the executables already built
#   EDDY_BENCH_REPORT       markdown written            (default: docs/benchmarks.md)
#   EDDY_BENCH_QUICK=1      shrink W2/W3/W6 (CI smoke run; the report says so; no chart)
#   EDDY_BENCH_W6_DIR       where W6's 256 MiB file is made and kept (default: the build dir)
#   EDDY_BENCH_ECHO_SUMMARY W5 medians (bench/echo_report.py --summary) to summarize
#   EDDY_BENCH_CHART        also draw this PNG with gnuplot (bench/run_all.sh: docs/benchmarks.png)
#   EDDY_BENCH_COMMAND      the command the report names (default: bench/run.sh ...)
# Takes about 3 minutes on a 2-core VM. The machine should be otherwise idle: the report
# records the load average at the start of each executable.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${EDDY_BENCH_BUILD_DIR:-$root/build/bench}"
reps="${EDDY_BENCH_REPETITIONS:-5}"
report="${EDDY_BENCH_REPORT:-$root/docs/benchmarks.md}"
results="$build/results"

if [[ "${EDDY_BENCH_SKIP_BUILD:-0}" != 1 ]]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
        -DEDDY_BUILD_TESTS=OFF -DEDDY_BUILD_EXAMPLES=OFF -DEDDY_BUILD_BENCH=ON >/dev/null
    cmake --build "$build" -j "$(nproc)"
fi

# CPU steal (hypervisor) and busy share of the whole machine while an executable runs, from
# /proc/stat: printed into the report, since both inflate wall-clock times on a shared VM.
cpu_sample() { awk '/^cpu /{print $2+$3+$4+$7+$8, $9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
cpu_note() { # before after exe
    read -r b0 s0 t0 <<<"$1"
    read -r b1 s1 t1 <<<"$2"
    awk -v b="$((b1 - b0))" -v s="$((s1 - s0))" -v t="$((t1 - t0))" -v e="$3" \
        'BEGIN{ if (t > 0) printf "while %s ran: all CPUs %.0f%% busy, %.0f%% stolen by the hypervisor\n", e, 100*b/t, 100*s/t }'
}

mkdir -p "$results"
rm -f "$results"/eddy_bench*.json
export EDDY_BENCH_W6_DIR="${EDDY_BENCH_W6_DIR:-$build}"
ran=()
notes=()
for exe in eddy_bench eddy_bench_asio_uring; do
    path="$build/bench/$exe"
    if [[ ! -x "$path" ]]; then
        echo "run.sh: $exe not built (Asio missing?), skipped" >&2
        continue
    fi
    echo "== $exe (repetitions: $reps)" >&2
    before="$(cpu_sample)"
    "$path" --benchmark_repetitions="$reps" \
        --benchmark_out="$results/$exe.json" --benchmark_out_format=json "$@"
    notes+=(--note "$(cpu_note "$before" "$(cpu_sample)" "$exe")")
    ran+=("$results/$exe.json")
done

# Which headers were measured: the commit, plus a digest of uncommitted changes under include/.
headers="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$root" status --porcelain -- include 2>/dev/null)" ]]; then
    digest="$( (git -C "$root" diff HEAD -- include; git -C "$root" ls-files --others --exclude-standard -z -- include | xargs -0r cat) | sha1sum | cut -c1-10)"
    headers+=" + uncommitted include/ changes (digest $digest)"
fi
notes+=(--note "eddy headers measured: $headers")

compiler="$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)"
if [[ -n "$compiler" ]] && command -v "$compiler" >/dev/null; then
    compiler="$("$compiler" --version | head -n 1)"
fi
extra=()
if [[ -n "${EDDY_BENCH_ECHO_SUMMARY:-}" ]]; then
    extra+=(--echo "$EDDY_BENCH_ECHO_SUMMARY")
fi
if [[ -n "${EDDY_BENCH_CHART:-}" ]]; then
    extra+=(--chart "$EDDY_BENCH_CHART")
fi
python3 "$root/bench/report.py" --out "$report" --compiler "$compiler" \
    --command "${EDDY_BENCH_COMMAND:-bench/run.sh${*:+ $*}}" "${extra[@]}" "${notes[@]}" "${ran[@]}"
echo "run.sh: wrote $report" >&2
