// eddy benchmarks — main() of both executables: registers the contenders built in, per workload,
// so that each workload's results sit next to each other.
//
//   eddy_bench             eddy + Asio (epoll)      (EDDY_BENCH_HAS_EDDY, EDDY_BENCH_ASIO_BACKEND)
//   eddy_bench_asio_uring  Asio (io_uring) only     (EDDY_BENCH_ASIO_BACKEND=uring)
//
// Google Benchmark's flags apply (--benchmark_filter, --benchmark_min_time, ...). Environment:
//   EDDY_BENCH_QUICK=1               W2/W3 with 1,000 sleepers / 10,000 timers over 100 ms,
//                                    W6 with a 16 MiB file and 256 reads per round
//   EDDY_BENCH_EXPECT_ZERO_ALLOCS=1  exit status 1 when eddy allocates in steady state
//                                    (W1, W4, W6 on the ring)
//   EDDY_BENCH_W6_DIR                where W6's file is made and kept (default: $TMPDIR, /tmp)
#include "common.hpp"

#include <benchmark/benchmark.h>

#include <string>

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    using bench::workload;
    for (const workload w : bench::all_workloads) {
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
    benchmark::AddCustomContext("w6_file_mib", std::to_string(bench::w6_file_size() >> 20));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return bench::zero_alloc_failures() == 0 ? 0 : 1;
}
