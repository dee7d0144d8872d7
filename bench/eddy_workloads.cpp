// eddy benchmarks — the eddy side of W1..W4 and W6.
//
// Each benchmark run is one eddy::run(); Google Benchmark's `for (auto _ : state)` loop runs
// inside the main coroutine (it is plain C++). An untimed warm-up round first grows the frame
// pool, the ready queue and the timer heap, so the timed loop measures steady state.
#include "common.hpp"

#include <eddy/eddy.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace bench {
namespace {

using namespace std::chrono_literals;

eddy::task<int> trivial() {
    co_return 1;
}

// ---------------------------------------------------------------- W1: create_task + await
eddy::task<void> w1_create_await(benchmark::State& state) {
    for (int i = 0; i < 1000; ++i) {
        int v = co_await eddy::create_task(trivial());
        benchmark::DoNotOptimize(v);
    }
    const alloc_scope allocs;
    for (auto _ : state) {
        int v = co_await eddy::create_task(trivial());
        benchmark::DoNotOptimize(v);
    }
    expect_zero_allocs(state, allocs.report(state, 1));
}

void bm_w1_create_await(benchmark::State& state, bool eager) {
    eddy::run(w1_create_await(state), {.eager_tasks = eager});
}

// ---------------------------------------------------------------- W1: gather 10,000
eddy::task<void> gather_trivial(std::vector<eddy::task<int>>& v, std::size_t n) {
    v.clear(); // keeps its capacity (gather only moves the tasks out): no allocation per round
    for (std::size_t i = 0; i < n; ++i) {
        v.push_back(trivial());
    }
    std::vector<int> r = co_await eddy::gather(std::move(v));
    benchmark::DoNotOptimize(r.data());
}

eddy::task<void> w1_gather(benchmark::State& state) {
    std::vector<eddy::task<int>> v;
    v.reserve(w1_gather_n);
    co_await gather_trivial(v, w1_gather_n);
    const alloc_scope allocs;
    for (auto _ : state) {
        co_await gather_trivial(v, w1_gather_n);
    }
    allocs.report(state, w1_gather_n);
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(w1_gather_n));
}

void bm_w1_gather(benchmark::State& state, bool eager) {
    eddy::run(w1_gather(state), {.eager_tasks = eager});
}

// ---------------------------------------------------------------- W2: 100,000 x sleep(10 ms)
eddy::task<void> sleeper() {
    co_await eddy::sleep(w2_sleep);
}

eddy::task<void> gather_sleepers(std::vector<eddy::task<void>>& v, std::size_t n) {
    v.clear();
    for (std::size_t i = 0; i < n; ++i) {
        v.push_back(sleeper());
    }
    auto r = co_await eddy::gather(std::move(v));
    benchmark::DoNotOptimize(r.data());
}

eddy::task<void> w2_body(benchmark::State& state) {
    const std::size_t n = w2_n();
    std::vector<eddy::task<void>> v;
    v.reserve(n);
    co_await gather_sleepers(v, n);
    const alloc_scope allocs;
    for (auto _ : state) {
        co_await gather_sleepers(v, n);
    }
    allocs.report(state, n);
}

// Memory: a fresh thread (fresh frame pool), a fresh loop; a probe task reads the heap once
// every sleeper is suspended.
eddy::task<void> counted_sleeper(sleeper_probe& p) {
    ++p.started;
    co_await eddy::sleep(w2_sleep);
}
eddy::task<void> probe(sleeper_probe& p) {
    while (p.started < p.n) {
        co_await eddy::sleep(1ms);
    }
    p.at_peak = heap_in_use();
}
eddy::task<void> w2_memory(sleeper_probe& p) {
    std::vector<eddy::task<void>> v;
    v.reserve(p.n); // the input vector is the benchmark's, not eddy's: outside the baseline
    p.baseline = heap_in_use();
    auto h = eddy::create_task(probe(p));
    for (std::size_t i = 0; i < p.n; ++i) {
        v.push_back(counted_sleeper(p));
    }
    co_await eddy::gather(std::move(v));
    co_await h;
}
double bytes_per_sleeper(bool eager) {
    sleeper_probe p;
    p.n = w2_n();
    std::thread([&p, eager] { eddy::run(w2_memory(p), {.eager_tasks = eager}); }).join();
    return p.bytes_per_sleeper();
}
double eddy_bytes_per_sleeper(bool eager) {
    static const double lazy_bytes = bytes_per_sleeper(false);
    static const double eager_bytes = bytes_per_sleeper(true);
    return eager ? eager_bytes : lazy_bytes;
}

void bm_w2_sleep(benchmark::State& state, bool eager) {
    eddy::run(w2_body(state), {.eager_tasks = eager});
    state.counters["bytes_per_sleeper"] = eddy_bytes_per_sleeper(eager);
}

// ---------------------------------------------------------------- W3: 1,000,000 random timers
eddy::task<void> timer_waiter(eddy::clock::time_point when) {
    co_await eddy::sleep_until(when);
}

eddy::task<void> gather_timers(std::vector<eddy::task<void>>& v, std::int64_t divisor) {
    const std::vector<std::int64_t>& offsets = w3_offsets();
    const eddy::clock::time_point t0 = eddy::clock::now();
    v.clear();
    for (const std::int64_t o : offsets) {
        v.push_back(timer_waiter(t0 + std::chrono::nanoseconds(o / divisor)));
    }
    auto r = co_await eddy::gather(std::move(v));
    benchmark::DoNotOptimize(r.data());
}

eddy::task<void> w3_timers(benchmark::State& state) {
    std::vector<eddy::task<void>> v;
    v.reserve(w3_offsets().size());
    co_await gather_timers(v, w3_warmup_divisor);
    const alloc_scope allocs;
    for (auto _ : state) {
        co_await gather_timers(v, 1);
    }
    allocs.report(state, w3_offsets().size());
}

void bm_w3_timers(benchmark::State& state) {
    eddy::run(w3_timers(state));
}

// ---------------------------------------------------------------- W4: queue ping-pong
// One round trip: put a value on `ping`, an echo task gets it and puts it on `pong`, get it
// back. Two hand-offs and two task switches through the ready queue per iteration.
eddy::task<void> w4_queue_ping_pong(benchmark::State& state) {
    eddy::queue<int> ping;
    eddy::queue<int> pong;
    auto echo = eddy::create_task([&]() -> eddy::task<> {
        while (true) {
            const int v = co_await ping.get();
            co_await pong.put(v);
        }
    });
    std::int64_t sum = 0;
    for (int i = 0; i < 1000; ++i) {
        co_await ping.put(i);
        sum += co_await pong.get();
    }
    const alloc_scope allocs;
    int i = 0;
    for (auto _ : state) {
        co_await ping.put(i++);
        sum += co_await pong.get();
    }
    expect_zero_allocs(state, allocs.report(state, 1));
    benchmark::DoNotOptimize(sum);
    echo.cancel();
    try {
        co_await echo;
    } catch (const eddy::cancelled_error&) {
    }
}

void bm_w4_queue_ping_pong(benchmark::State& state) {
    eddy::run(w4_queue_ping_pong(state));
}

// ---------------------------------------------------------------- W4: event ping-pong
// One round trip: set `ping` and wait for `pong`; the partner, waiting for `ping`, clears it
// and sets `pong`. Two wake-ups and two task switches per iteration, no value carried.
eddy::task<void> event_partner(eddy::event& ping, eddy::event& pong) {
    while (true) {
        co_await ping.wait();
        ping.clear();
        pong.set();
    }
}

eddy::task<void> w4_event_ping_pong(benchmark::State& state) {
    eddy::event ping;
    eddy::event pong;
    auto partner = eddy::create_task(event_partner(ping, pong));
    for (int i = 0; i < 1000; ++i) {
        ping.set();
        co_await pong.wait();
        pong.clear();
    }
    const alloc_scope allocs;
    for (auto _ : state) {
        ping.set();
        co_await pong.wait();
        pong.clear();
    }
    expect_zero_allocs(state, allocs.report(state, 1));
    partner.cancel();
    try {
        co_await partner;
    } catch (const eddy::cancelled_error&) {
    }
}

void bm_w4_event_ping_pong(benchmark::State& state) {
    eddy::run(w4_event_ping_pong(state));
}

// ---------------------------------------------------------------- W6: random 4 KiB file reads
// One round = w6_reads_per_round() reads at the shared seeded offsets, shared by `depth` worker
// tasks that each keep one read in flight; ns per read = round time / reads.
struct w6_round {
    const std::vector<std::uint64_t>* offsets = nullptr;
    std::size_t next = 0;      // index into offsets, carried over from round to round
    std::size_t remaining = 0; // reads left in this round
    std::uint64_t bytes = 0;
};

eddy::task<void> w6_worker(eddy::file& f, std::span<std::byte> buf, w6_round& r) {
    while (r.remaining > 0) {
        --r.remaining;
        const std::uint64_t offset = (*r.offsets)[r.next++ % r.offsets->size()];
        const std::size_t n = co_await f.read_at(buf, offset);
        r.bytes += n;
    }
}

eddy::task<void> w6_one_round(eddy::file& f, std::vector<std::byte>& bufs,
                              std::vector<eddy::task_handle<void>>& workers, w6_round& r) {
    r.remaining = w6_reads_per_round();
    workers.clear(); // keeps its capacity: no allocation per round
    const std::size_t depth = bufs.size() / w6_block;
    for (std::size_t i = 0; i < depth; ++i) {
        const std::span<std::byte> buf(bufs.data() + i * w6_block, w6_block);
        workers.push_back(eddy::create_task(w6_worker(f, buf, r)));
    }
    for (auto& w : workers) {
        co_await w;
    }
}

eddy::task<void> w6_file_read(benchmark::State& state, int depth, bool check_allocs) {
    const std::string& path = w6_path();
    eddy::file f = co_await eddy::file::open(path, "r");
    std::vector<std::byte> bufs(static_cast<std::size_t>(depth) * w6_block);
    std::vector<eddy::task_handle<void>> workers;
    workers.reserve(static_cast<std::size_t>(depth));
    w6_round r;
    r.offsets = &w6_offsets();
    co_await w6_one_round(f, bufs, workers, r); // warm-up: the frame pool, the ring
    r.bytes = 0;
    const alloc_scope allocs;
    for (auto _ : state) {
        co_await w6_one_round(f, bufs, workers, r);
    }
    const std::size_t per_round = w6_reads_per_round();
    const std::uint64_t n = allocs.report(state, per_round);
    if (check_allocs) {
        expect_zero_allocs(state, n);
    }
    state.counters["ops_per_iter"] = static_cast<double>(per_round);
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(per_round));
    const std::uint64_t expected =
        static_cast<std::uint64_t>(state.iterations()) * per_round * w6_block;
    workers.clear();
    co_await f.close();
    if (r.bytes != expected) {
        state.SkipWithError("W6: a read came back short");
    }
}

void bm_w6_file_read(benchmark::State& state, int depth, eddy::backend_kind backend) {
    eddy::loop_options o;
    o.backend = backend;
    // The epoll backend may hand a read that would block to a worker thread (it should not
    // here: the file is in the page cache); only the ring's count is held to zero.
    eddy::run(w6_file_read(state, depth, backend != eddy::backend_kind::epoll), o);
}

} // namespace

void register_eddy(workload w) {
    switch (w) {
    case workload::w1_create_await:
        // eddy_eager: the same code on a loop with loop_options::eager_tasks (asyncio's
        // eager_task_factory), an opt-in that changes the order tasks run in.
        for (const auto& [tag, eager] : {std::pair{"eddy", false}, std::pair{"eddy_eager", true}}) {
            benchmark::RegisterBenchmark((std::string("W1_create_await/") + tag).c_str(),
                                         bm_w1_create_await, eager)
                ->UseRealTime();
        }
        break;
    case workload::w1_gather:
        for (const auto& [tag, eager] : {std::pair{"eddy", false}, std::pair{"eddy_eager", true}}) {
            benchmark::RegisterBenchmark((std::string("W1_gather_10k/") + tag).c_str(),
                                         bm_w1_gather, eager)
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond);
        }
        break;
    case workload::w2_sleep:
        for (const auto& [tag, eager] : {std::pair{"eddy", false}, std::pair{"eddy_eager", true}}) {
            benchmark::RegisterBenchmark((std::string("W2_sleepers/") + tag).c_str(), bm_w2_sleep,
                                         eager)
                ->UseRealTime()
                ->Iterations(1)
                ->Unit(benchmark::kMillisecond);
        }
        break;
    case workload::w3_timers:
        benchmark::RegisterBenchmark("W3_timers/eddy", bm_w3_timers)
            ->UseRealTime()
            ->Iterations(1)
            ->Unit(benchmark::kMillisecond);
        break;
    case workload::w4_queue_ping_pong:
        benchmark::RegisterBenchmark("W4_queue_ping_pong/eddy", bm_w4_queue_ping_pong)
            ->UseRealTime();
        break;
    case workload::w4_event_ping_pong:
        benchmark::RegisterBenchmark("W4_event_ping_pong/eddy", bm_w4_event_ping_pong)
            ->UseRealTime();
        break;
    case workload::w6_file_read:
        for (const int depth : w6_depths) {
            for (const auto& [tag, backend] :
                 {std::pair{"eddy", eddy::backend_kind::automatic},
                  std::pair{"eddy_epoll", eddy::backend_kind::epoll}}) {
                const std::string name = "W6_file_read_qd" + std::to_string(depth) + "/" + tag;
                benchmark::RegisterBenchmark(name.c_str(), bm_w6_file_read, depth, backend)
                    ->UseRealTime()
                    ->Unit(benchmark::kMicrosecond);
            }
        }
        break;
    }
}

} // namespace bench
