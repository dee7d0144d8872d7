#!/usr/bin/env bash
# W5, TCP echo over loopback: every server x {64 B, 4 KiB} x {1, 50 connections}, N rounds,
# the servers interleaved within each round so that machine noise hits them alike; medians
# into docs/echo.md. The server runs pinned to one CPU, the load generator (bench/echo/
# echo_load.cpp, the same for every server) to another.
#
#   bench/run_echo.sh
#
# Environment:
#   EDDY_ECHO_BUILD_DIR     build directory                   (default: build/bench)
#   EDDY_ECHO_SKIP_BUILD=1  use the executables already built
#   EDDY_ECHO_BIN_DIR       where they are                    (default: <build dir>/bench)
#   EDDY_ECHO_ROUNDS        rounds                            (default: 5)
#   EDDY_ECHO_SECONDS       measured seconds per run          (default: 3; plus a 0.5 s warm-up)
#   EDDY_ECHO_SERVERS       servers to run                    (default: all built)
#   EDDY_ECHO_SERVER_CPU    CPU of the server                 (default: 0; -1: not pinned)
#   EDDY_ECHO_LOAD_CPU      CPU of the load generator         (default: 1; -1: not pinned)
#   EDDY_ECHO_REPORT        markdown written                  (default: docs/echo.md)
#   EDDY_ECHO_SUMMARY       also write the medians as JSON here (bench/run_all.sh puts them
#                           into docs/benchmarks.md)
#   EDDY_ECHO_QUICK=1       1 round of 1 s, 64 B x 50 connections only: proves that every
#                           server works (ctest bench.echo_quick); the report goes to the build
#                           directory unless EDDY_ECHO_REPORT says otherwise
# A full run (5 rounds) takes about 8 minutes.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${EDDY_ECHO_BUILD_DIR:-$root/build/bench}"
quick="${EDDY_ECHO_QUICK:-0}"
if [[ "$quick" == 1 ]]; then
    rounds=1 seconds=1 warmup=0.2 sizes=(64) conn_counts=(50)
    report="${EDDY_ECHO_REPORT:-$build/echo_quick.md}"
else
    rounds="${EDDY_ECHO_ROUNDS:-5}" seconds="${EDDY_ECHO_SECONDS:-3}" warmup=0.5
    sizes=(64 4096) conn_counts=(1 50)
    report="${EDDY_ECHO_REPORT:-$root/docs/echo.md}"
fi
server_cpu="${EDDY_ECHO_SERVER_CPU:-0}"
load_cpu="${EDDY_ECHO_LOAD_CPU:-1}"
if [[ "$(nproc)" -lt 2 ]]; then
    server_cpu=-1 load_cpu=-1 # one CPU: nothing to separate, leave both unpinned
fi

if [[ "${EDDY_ECHO_SKIP_BUILD:-0}" != 1 ]]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
        -DEDDY_BUILD_TESTS=OFF -DEDDY_BUILD_EXAMPLES=OFF -DEDDY_BUILD_BENCH=ON >/dev/null
    cmake --build "$build" -j "$(nproc)" --target eddy_echo
fi
bin="${EDDY_ECHO_BIN_DIR:-$build/bench}"

# label -> command line (without --cpu)
declare -A cmd=(
    [eddy_streams]="$bin/echo_eddy --server=streams"
    [eddy_socket]="$bin/echo_eddy --server=socket"
    [eddy_streams_epoll]="$bin/echo_eddy --server=streams-epoll"
    [asio_uring]="$bin/echo_asio_uring"
    [asio_epoll]="$bin/echo_asio_epoll"
    [uring_raw]="$bin/echo_uring_raw"
)
servers=()
for s in ${EDDY_ECHO_SERVERS:-eddy_streams eddy_socket eddy_streams_epoll asio_uring asio_epoll uring_raw}; do
    exe="${cmd[$s]%% *}"
    if [[ -x "$exe" ]]; then
        servers+=("$s")
    else
        echo "run_echo.sh: $s not built ($exe), skipped" >&2
    fi
done
[[ -x "$bin/echo_load" ]] || { echo "run_echo.sh: $bin/echo_load not built" >&2; exit 1; }

work="$(mktemp -d /tmp/eddy-echo.XXXXXX)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then kill -TERM "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
results="$work/results.txt"
: >"$results"
with_perf="" # set: run_one attaches `perf stat` with these events to the server
perf_events="raw_syscalls:sys_enter,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_epoll_wait,context-switches"

# One run: start the server, wait for its "port N" line, run the load, stop the server and
# append the load's line plus the server's allocation line (eddy's servers print one).
run_one() { # label size conns round
    local label="$1" size="$2" conns="$3" round="$4"
    # Fresh files before the server starts: its shell truncates them only after the fork, and
    # a stale "port" line of the previous server must not be read meanwhile.
    rm -f "$work/out" "$work/err"
    : >"$work/out"
    # shellcheck disable=SC2086  # the command line is meant to be split
    ${cmd[$label]} --cpu="$server_cpu" >"$work/out" 2>"$work/err" &
    server_pid=$!
    local port=""
    for _ in $(seq 200); do
        port="$(awk '/^port /{print $2; exit}' "$work/out")"
        [[ -n "$port" ]] && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.05
    done
    if [[ -z "$port" ]]; then
        echo "run_echo.sh: $label did not start:" >&2
        cat "$work/err" >&2
        exit 1
    fi
    local line perf_pid=""
    if [[ -n "$with_perf" ]]; then
        perf stat -x, -o "$work/perf" -e "$perf_events" -p "$server_pid" 2>/dev/null &
        perf_pid=$!
        sleep 0.2 # attached before the first message
    fi
    if ! line="$("$bin/echo_load" --port="$port" --conns="$conns" --size="$size" \
        --seconds="$seconds" --warmup="$warmup" --cpu="$load_cpu" \
        --server-pid="$server_pid" --label="$label")"; then
        echo "run_echo.sh: the load generator failed against $label:" >&2
        cat "$work/err" >&2
        exit 1
    fi
    if [[ -n "$perf_pid" ]]; then
        kill -INT "$perf_pid"
        wait "$perf_pid" || true
        # perf -x, lines: value,unit,event,...
        line+="$(awk -F, '$3 ~ /raw_syscalls:sys_enter/ {printf " syscalls=%s", $1}
            $3 ~ /io_uring_enter/ {printf " uring_enters=%s", $1}
            $3 ~ /sys_enter_epoll_wait/ {printf " epoll_waits=%s", $1}
            $3 ~ /context-switches/ {printf " ctx_switches=%s", $1}' "$work/perf")"
    fi
    kill -TERM "$server_pid"
    if ! wait "$server_pid"; then
        echo "run_echo.sh: $label did not exit cleanly on SIGTERM:" >&2
        cat "$work/err" >&2
        exit 1
    fi
    server_pid=""
    local allocs
    allocs="$(awk '/^allocs [0-9]/{printf " allocs=%s alloc_recvs=%s alloc_bytes=%s", $2, $4, $6}' "$work/err")"
    echo "$line round=$round$allocs" >>"$results"
    echo "  $line$allocs" >&2
}

cpu_sample() { awk '/^cpu /{print $2+$3+$4+$7+$8, $9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
before="$(cpu_sample)"
start_s=$SECONDS
for ((round = 0; round < rounds; round++)); do
    echo "== round $((round + 1))/$rounds" >&2
    config=0
    for size in "${sizes[@]}"; do
        for conns in "${conn_counts[@]}"; do
            # Rotate the servers' order each round and configuration: none always goes first.
            n=${#servers[@]}
            for ((k = 0; k < n; k++)); do
                run_one "${servers[$(((k + round + config) % n))]}" "$size" "$conns" "$((round + 1))"
            done
            config=$((config + 1))
        done
    done
done
after="$(cpu_sample)"
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

# Syscalls per message: one more run per server at 64 B with `perf stat` attached to the server
# (syscall tracepoints; a software counter, so it works in VMs without hardware counters). Not
# in quick mode; EDDY_ECHO_SYSCALLS=0 skips it. Throughput of these runs is not reported.
syscall_args=()
if [[ "$quick" != 1 && "${EDDY_ECHO_SYSCALLS:-1}" != 0 ]]; then
    if command -v perf >/dev/null && perf stat -x, -e "$perf_events" true >/dev/null 2>&1; then
        echo "== syscalls per message (perf stat on the server)" >&2
        results_main="$results"
        results="$work/syscalls.txt"
        : >"$results"
        with_perf=1
        for conns in "${conn_counts[@]}"; do
            for s in "${servers[@]}"; do
                run_one "$s" 64 "$conns" 0
            done
        done
        with_perf=""
        syscall_args=(--syscalls "$results")
        results="$results_main"
    else
        echo "run_echo.sh: perf with syscall tracepoints unavailable: no syscall counts" >&2
    fi
fi
read -r b0 s0 t0 <<<"$before"
read -r b1 s1 t1 <<<"$after"
machine="$(awk -v b="$((b1 - b0))" -v s="$((s1 - s0))" -v t="$((t1 - t0))" \
    'BEGIN{ if (t > 0) printf "%.0f%% busy, %.0f%% stolen by the hypervisor", 100*b/t, 100*s/t }')"

headers="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$root" status --porcelain -- include bench/echo 2>/dev/null)" ]]; then
    headers+=" + uncommitted changes under include/ or bench/echo/"
fi
compiler="$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)"
if [[ -n "$compiler" ]] && command -v "$compiler" >/dev/null; then
    compiler="$("$compiler" --version | head -n 1)"
fi
mkdir -p "$(dirname "$report")"
if ! command -v python3 >/dev/null; then
    # The runs above already checked every echoed byte; only the table needs python3.
    echo "run_echo.sh: python3 not found: every server echoed correctly; no report written" >&2
    exit 0
fi
summary_args=()
if [[ -n "${EDDY_ECHO_SUMMARY:-}" ]]; then
    mkdir -p "$(dirname "$EDDY_ECHO_SUMMARY")"
    summary_args=(--summary "$EDDY_ECHO_SUMMARY")
fi
python3 "$root/bench/echo_report.py" --out "$report" --results "$results" "${syscall_args[@]}" \
    "${summary_args[@]}" \
    --note "rounds: $rounds, $seconds s measured per run after a $warmup s warm-up; server on CPU $server_cpu, load generator on CPU $load_cpu" \
    --note "load average (1, 5, 15 min) at the start: $load_start; at the end: $load_end" \
    --note "all CPUs over the $((SECONDS - start_s)) s run: $machine" \
    --note "eddy commit measured: $headers; compiler: ${compiler:-unknown}; $(uname -sr)" \
    --note "command: ${EDDY_ECHO_QUICK:+EDDY_ECHO_QUICK=$quick }bench/run_echo.sh"
echo "run_echo.sh: wrote $report" >&2
