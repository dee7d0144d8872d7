// eddy benchmarks — workload sizes, the shared random deadlines, and per-benchmark counters.
#pragma once

#include "alloc_counter.hpp"

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace bench {

/// EDDY_BENCH_QUICK=1 (the ctest `bench.quick`): W2/W3/W6 shrink so that a run takes seconds.
inline bool quick() {
    const char* v = std::getenv("EDDY_BENCH_QUICK");
    return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
}

/// Tasks gathered at once in W1's gather variant.
inline constexpr std::size_t w1_gather_n = 10'000;
/// W2: concurrent sleepers, each sleeping this long.
inline std::size_t w2_n() {
    return quick() ? 1'000 : 100'000;
}
inline constexpr std::chrono::milliseconds w2_sleep{10};
/// W3: timers, deadlines uniformly spread over this span from the start of the round.
inline std::size_t w3_n() {
    return quick() ? 10'000 : 1'000'000;
}
inline std::chrono::nanoseconds w3_span() {
    return quick() ? std::chrono::nanoseconds(std::chrono::milliseconds(100))
                   : std::chrono::nanoseconds(std::chrono::seconds(1));
}
/// The untimed warm-up round of W3 spreads the same deadlines over the span divided by this.
/// 1: the warm-up is the timed round's twin. eddy's timer wheel keeps the buckets (chunks) a
/// round needed, so only a warm-up of the same shape leaves the timed rounds allocation-free;
/// squeezed into 1 ms (1000) it left 14 chunk blocks to allocate in the first timed round.
inline constexpr std::int64_t w3_warmup_divisor = 1;

/// W3's offsets from the round's start, identical for every contender (seeded mt19937).
inline const std::vector<std::int64_t>& w3_offsets() {
    static const std::vector<std::int64_t> offsets = [] {
        std::mt19937 rng(20240611u);
        std::uniform_int_distribution<std::int64_t> dist(0, w3_span().count() - 1);
        std::vector<std::int64_t> v(w3_n());
        for (auto& o : v) {
            o = dist(rng);
        }
        return v;
    }();
    return offsets;
}

/// Counts heap allocations over the timed loop (every operator new and malloc-family call,
/// eddy's frame pool chunks and Asio's recycling allocator included).
class alloc_scope {
  public:
    alloc_scope() : start_(bench::allocations()) {}

    [[nodiscard]] std::uint64_t allocations() const { return bench::allocations() - start_; }

    /// allocs_per_op: allocations per task (per create+await, sleeper or timer);
    /// allocs_per_iter: per benchmark iteration. Returns the count (read before the counters
    /// map itself allocates).
    std::uint64_t report(benchmark::State& state, std::size_t tasks_per_iter) const {
        const std::uint64_t count = allocations();
        const auto allocs = static_cast<double>(count);
        const auto iters = static_cast<double>(state.iterations());
        state.counters["allocs_per_op"] = allocs / (iters * static_cast<double>(tasks_per_iter));
        state.counters["allocs_per_iter"] = allocs / iters;
        return count;
    }

  private:
    std::uint64_t start_;
};

/// Set by benchmarks that must not allocate in steady state when they did; with
/// EDDY_BENCH_EXPECT_ZERO_ALLOCS=1 main() then exits with status 1 (the ctest bench.quick).
inline int& zero_alloc_failures() {
    static int n = 0;
    return n;
}
inline void expect_zero_allocs(benchmark::State& state, std::uint64_t n) {
    const char* v = std::getenv("EDDY_BENCH_EXPECT_ZERO_ALLOCS");
    if (v == nullptr || std::strcmp(v, "1") != 0) {
        return;
    }
    if (n != 0) {
        ++zero_alloc_failures();
        state.SkipWithError(
            ("expected 0 allocations in steady state, got " + std::to_string(n)).c_str());
    }
}

/// Peak heap bytes per sleeper, measured by a probe task once every sleeper is suspended.
struct sleeper_probe {
    std::size_t n = 0;
    std::size_t started = 0;
    std::size_t baseline = 0;
    std::size_t at_peak = 0;
    [[nodiscard]] double bytes_per_sleeper() const {
        return static_cast<double>(at_peak - baseline) / static_cast<double>(n);
    }
};

// ---------------------------------------------------------------- W6: random 4 KiB file reads
/// W6's block size and alignment.
inline constexpr std::size_t w6_block = 4096;
/// W6's file: 256 MiB (16 MiB in quick mode).
inline std::uint64_t w6_file_size() {
    return quick() ? std::uint64_t{16} << 20 : std::uint64_t{256} << 20;
}
/// Reads per benchmark iteration (one round: `in_flight` workers share them).
inline std::size_t w6_reads_per_round() {
    return quick() ? 256 : 4096;
}
/// W6's in-flight depths.
inline constexpr int w6_depths[] = {1, 64};
/// The path of W6's file, made (and read once, so that it sits in the page cache) by the first
/// call: EDDY_BENCH_W6_DIR, else $TMPDIR, else /tmp; reused while its size is right.
const std::string& w6_path();
/// W6's offsets, multiples of 4 KiB in [0, size), the same for every contender (seeded).
const std::vector<std::uint64_t>& w6_offsets();

// Registration hooks, one per contender. Each registers its variant of workload `w`.
enum class workload {
    w1_create_await,
    w1_gather,
    w2_sleep,
    w3_timers,
    w4_queue_ping_pong,
    w4_event_ping_pong,
    w6_file_read
};
inline constexpr workload all_workloads[] = {
    workload::w1_create_await, workload::w1_gather,          workload::w2_sleep,
    workload::w3_timers,       workload::w4_queue_ping_pong, workload::w4_event_ping_pong,
    workload::w6_file_read};
void register_eddy(workload w);
void register_asio(workload w, const char* backend);

} // namespace bench
