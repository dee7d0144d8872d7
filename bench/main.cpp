// eddy benchmarks — main() of both executables: registers the contenders built in, per workload,
// so that each workload's results sit next to each other.
//
//   eddy_bench             eddy + Asio (epoll)      (EDDY_BENCH_HAS_EDDY, EDDY_BENCH_ASIO_BACKEND)
//   eddy_bench_asio_uring  Asio (io_uring) only     (EDDY_BENCH_ASIO_BACKEND=uring)
//
// Google Benchmark's flags apply (--benchmark_filter, --benchmark_min_time, ...). Environment:
//   EDDY_BENCH_QUICK=1               W2/W3 with 1,000 sleepers / 10,000 timers over 100 ms
//   EDDY_BENCH_EXPECT_ZERO_ALLOCS=1  exit status 1 when eddy allocates in W1's steady state
#include "common.hpp"

#include <benchmark/benchmark.h>

#include <string>

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    using bench::workload;
    for (const workload w : {workload::w1_create_await, workload::w1_gather, workload::w2_sleep,
                             workload::w3_timers, workload::q1_ping_pong}) {
#ifdef EDDY_BENCH_HAS_EDDY
        bench::register_eddy(w);
#endif
#ifdef EDDY_BENCH_ASIO_BACKEND
        bench::register_asio(w, EDDY_BENCH_ASIO_BACKEND);
#endif
        (void)w;
    }
    benchmark::AddCustomContext("eddy_bench_quick", bench::quick() ? "1" : "0");
    benchmark::AddCustomContext("w2_sleepers", std::to_string(bench::w2_n()));
    benchmark::AddCustomContext("w3_timers", std::to_string(bench::w3_n()));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return bench::zero_alloc_failures() == 0 ? 0 : 1;
}
