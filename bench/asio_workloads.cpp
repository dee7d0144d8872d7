// eddy benchmarks — the standalone Asio side of W1..W4 and W6, with C++20 coroutines (awaitable).
//
// Compiled twice: into eddy_bench with Asio's default epoll reactor, and into
// eddy_bench_asio_uring with -DASIO_HAS_IO_URING -DASIO_DISABLE_EPOLL (io_uring as Asio's
// default backend). The macros change Asio's types, so the two builds live in separate
// executables (one definition rule); bench/run.sh merges their results.
//
// Same shape as the eddy side: one io_context per benchmark run (concurrency hint 1, the
// single-threaded setting), the timed loop inside a coroutine, an untimed warm-up round first.
#include "common.hpp"

#include <asio.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/redirect_error.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace bench {
namespace {

using namespace std::chrono_literals;
using asio::awaitable;
using asio::use_awaitable;
using steady = std::chrono::steady_clock;

/// Runs one coroutine on a fresh single-threaded io_context; rethrows its exception.
template <class F> void run_asio(F make) {
    asio::io_context ctx(1);
    std::exception_ptr error;
    asio::co_spawn(ctx, make(), [&error](std::exception_ptr e) { error = std::move(e); });
    ctx.run();
    if (error) {
        std::rethrow_exception(error);
    }
}

/// gather for Asio 1.22 (it has no ranged parallel_group): co_spawns n coroutines whose
/// completion handlers count down; the last one cancels a timer the caller waits on.
template <class Make>
awaitable<void> gather_n(std::size_t n, Make make, std::vector<int>* results = nullptr) {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer done(ex, asio::steady_timer::time_point::max());
    std::size_t pending = n;
    std::exception_ptr first;
    auto finish = [&](std::exception_ptr& e) {
        if (e && !first) {
            first = e;
        }
        if (--pending == 0) {
            done.cancel();
        }
    };
    for (std::size_t i = 0; i < n; ++i) {
        using R = typename std::invoke_result_t<Make&, std::size_t>::value_type;
        if constexpr (std::is_void_v<R>) {
            asio::co_spawn(ex, make(i), [&finish](std::exception_ptr e) { finish(e); });
        } else {
            asio::co_spawn(ex, make(i), [&finish, results, i](std::exception_ptr e, R v) {
                (*results)[i] = v;
                finish(e);
            });
        }
    }
    if (pending != 0) {
        asio::error_code ec;
        co_await done.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    if (first) {
        std::rethrow_exception(first);
    }
}

awaitable<int> trivial() {
    co_return 1;
}

// ---------------------------------------------------------------- W1: co_spawn + await
awaitable<void> w1_create_await(benchmark::State& state) {
    auto ex = co_await asio::this_coro::executor;
    for (int i = 0; i < 1000; ++i) {
        int v = co_await asio::co_spawn(ex, trivial(), use_awaitable);
        benchmark::DoNotOptimize(v);
    }
    const alloc_scope allocs;
    for (auto _ : state) {
        int v = co_await asio::co_spawn(ex, trivial(), use_awaitable);
        benchmark::DoNotOptimize(v);
    }
    allocs.report(state, 1);
}

void bm_w1_create_await(benchmark::State& state) {
    run_asio([&state] { return w1_create_await(state); });
}

// ---------------------------------------------------------------- W1: gather 10,000
awaitable<void> gather_trivial(std::size_t n) {
    std::vector<int> r(n); // eddy's gather returns a fresh vector per round too
    co_await gather_n(
        n, [](std::size_t) { return trivial(); }, &r);
    benchmark::DoNotOptimize(r.data());
}

awaitable<void> w1_gather(benchmark::State& state) {
    co_await gather_trivial(w1_gather_n);
    const alloc_scope allocs;
    for (auto _ : state) {
        co_await gather_trivial(w1_gather_n);
    }
    allocs.report(state, w1_gather_n);
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(w1_gather_n));
}

void bm_w1_gather(benchmark::State& state) {
    run_asio([&state] { return w1_gather(state); });
}

// ---------------------------------------------------------------- W2: 100,000 x 10 ms timers
awaitable<void> sleeper() {
    asio::steady_timer t(co_await asio::this_coro::executor, w2_sleep);
    co_await t.async_wait(use_awaitable);
}

awaitable<void> w2_body(benchmark::State& state) {
    const std::size_t n = w2_n();
    co_await gather_n(n, [](std::size_t) { return sleeper(); });
    const alloc_scope allocs;
    for (auto _ : state) {
        co_await gather_n(n, [](std::size_t) { return sleeper(); });
    }
    allocs.report(state, n);
}

awaitable<void> counted_sleeper(sleeper_probe& p) {
    ++p.started;
    asio::steady_timer t(co_await asio::this_coro::executor, w2_sleep);
    co_await t.async_wait(use_awaitable);
}
awaitable<void> probe(sleeper_probe& p) {
    asio::steady_timer t(co_await asio::this_coro::executor);
    while (p.started < p.n) {
        t.expires_after(1ms);
        co_await t.async_wait(use_awaitable);
    }
    p.at_peak = heap_in_use();
}
awaitable<void> w2_memory(sleeper_probe& p) {
    auto ex = co_await asio::this_coro::executor;
    p.baseline = heap_in_use();
    asio::co_spawn(ex, probe(p), asio::detached);
    co_await gather_n(p.n, [&p](std::size_t) { return counted_sleeper(p); });
}
double asio_bytes_per_sleeper() {
    static const double bytes = [] {
        sleeper_probe p;
        p.n = w2_n();
        std::thread([&p] { run_asio([&p] { return w2_memory(p); }); }).join();
        return p.bytes_per_sleeper();
    }();
    return bytes;
}

void bm_w2_sleep(benchmark::State& state) {
    run_asio([&state] { return w2_body(state); });
    state.counters["bytes_per_sleeper"] = asio_bytes_per_sleeper();
}

// ---------------------------------------------------------------- W3: 1,000,000 random timers
awaitable<void> timer_waiter(steady::time_point when) {
    asio::steady_timer t(co_await asio::this_coro::executor, when);
    co_await t.async_wait(use_awaitable);
}

awaitable<void> gather_timers(std::int64_t divisor) {
    const std::vector<std::int64_t>& offsets = w3_offsets();
    const steady::time_point t0 = steady::now();
    co_await gather_n(offsets.size(), [&offsets, t0, divisor](std::size_t i) {
        return timer_waiter(t0 + std::chrono::nanoseconds(offsets[i] / divisor));
    });
}

awaitable<void> w3_timers(benchmark::State& state) {
    co_await gather_timers(w3_warmup_divisor);
    const alloc_scope allocs;
    for (auto _ : state) {
        co_await gather_timers(1);
    }
    allocs.report(state, w3_offsets().size());
}

void bm_w3_timers(benchmark::State& state) {
    run_asio([&state] { return w3_timers(state); });
}

// ---------------------------------------------------------------- W4: queue ping-pong (channel)
// Asio's nearest equivalent of a task queue: experimental::channel (capacity 1 each way).
using int_channel = asio::experimental::channel<void(asio::error_code, int)>;

awaitable<void> echo(int_channel& ping, int_channel& pong) {
    while (true) {
        const int v = co_await ping.async_receive(use_awaitable);
        co_await pong.async_send(asio::error_code{}, v, use_awaitable);
    }
}

awaitable<void> w4_queue_ping_pong(benchmark::State& state) {
    auto ex = co_await asio::this_coro::executor;
    int_channel ping(ex, 1);
    int_channel pong(ex, 1);
    asio::co_spawn(ex, echo(ping, pong), [](std::exception_ptr) {}); // ends when closed
    std::int64_t sum = 0;
    for (int i = 0; i < 1000; ++i) {
        co_await ping.async_send(asio::error_code{}, i, use_awaitable);
        sum += co_await pong.async_receive(use_awaitable);
    }
    const alloc_scope allocs;
    int i = 0;
    for (auto _ : state) {
        co_await ping.async_send(asio::error_code{}, i++, use_awaitable);
        sum += co_await pong.async_receive(use_awaitable);
    }
    allocs.report(state, 1);
    benchmark::DoNotOptimize(sum);
    ping.close();
    pong.close();
}

void bm_w4_queue_ping_pong(benchmark::State& state) {
    run_asio([&state] { return w4_queue_ping_pong(state); });
}

// ---------------------------------------------------------------- W4: event ping-pong
// Asio has no event. The idiom in its place: a flag plus a steady_timer that never expires;
// waiting = async_wait until the flag is up, set = raise the flag and cancel() the timer, which
// completes the pending wait with operation_aborted. The wait loop is written inline (as
// eddy's event::wait is an awaiter, not a coroutine) so that no extra coroutine is measured.
struct timer_event {
    explicit timer_event(const asio::any_io_executor& ex)
        : timer(ex, asio::steady_timer::time_point::max()) {}
    void set() {
        is_set = true;
        timer.cancel();
    }
    bool is_set = false;
    asio::steady_timer timer;
};

awaitable<void> event_partner(timer_event& ping, timer_event& pong, const bool& stop) {
    while (true) {
        while (!ping.is_set) {
            asio::error_code ec;
            co_await ping.timer.async_wait(asio::redirect_error(use_awaitable, ec));
        }
        if (stop) {
            co_return;
        }
        ping.is_set = false;
        pong.set();
    }
}

awaitable<void> w4_event_ping_pong(benchmark::State& state) {
    auto ex = co_await asio::this_coro::executor;
    timer_event ping(ex);
    timer_event pong(ex);
    bool stop = false;
    asio::co_spawn(ex, event_partner(ping, pong, stop), asio::detached);
    auto round_trip = [&]() -> awaitable<void> {
        ping.set();
        while (!pong.is_set) {
            asio::error_code ec;
            co_await pong.timer.async_wait(asio::redirect_error(use_awaitable, ec));
        }
        pong.is_set = false;
    };
    for (int i = 0; i < 1000; ++i) {
        co_await round_trip();
    }
    const alloc_scope allocs;
    for (auto _ : state) {
        ping.set();
        while (!pong.is_set) {
            asio::error_code ec;
            co_await pong.timer.async_wait(asio::redirect_error(use_awaitable, ec));
        }
        pong.is_set = false;
    }
    allocs.report(state, 1);
    stop = true;
    ping.set();
}

void bm_w4_event_ping_pong(benchmark::State& state) {
    run_asio([&state] { return w4_event_ping_pong(state); });
}

// ---------------------------------------------------------------- W6: random 4 KiB file reads
// asio::random_access_file exists only with an io_uring backend (ASIO_HAS_FILE): Asio's epoll
// build has no asynchronous file I/O. Same shape as eddy's: `depth` workers share a round.
#if defined(ASIO_HAS_FILE)
struct w6_round {
    const std::vector<std::uint64_t>* offsets = nullptr;
    std::size_t next = 0;
    std::size_t remaining = 0;
    std::uint64_t bytes = 0;
};

awaitable<void> w6_worker(asio::random_access_file& f, std::span<std::byte> buf, w6_round& r) {
    while (r.remaining > 0) {
        --r.remaining;
        const std::uint64_t offset = (*r.offsets)[r.next++ % r.offsets->size()];
        const std::size_t n = co_await f.async_read_some_at(
            offset, asio::buffer(buf.data(), buf.size()), use_awaitable);
        r.bytes += n;
    }
}

awaitable<void> w6_one_round(asio::random_access_file& f, std::vector<std::byte>& bufs,
                             w6_round& r) {
    r.remaining = w6_reads_per_round();
    co_await gather_n(bufs.size() / w6_block, [&f, &bufs, &r](std::size_t i) {
        return w6_worker(f, std::span<std::byte>(bufs.data() + i * w6_block, w6_block), r);
    });
}

awaitable<void> w6_file_read(benchmark::State& state, int depth) {
    auto ex = co_await asio::this_coro::executor;
    asio::random_access_file f(ex, w6_path(), asio::random_access_file::read_only);
    std::vector<std::byte> bufs(static_cast<std::size_t>(depth) * w6_block);
    w6_round r;
    r.offsets = &w6_offsets();
    co_await w6_one_round(f, bufs, r);
    r.bytes = 0;
    const alloc_scope allocs;
    for (auto _ : state) {
        co_await w6_one_round(f, bufs, r);
    }
    const std::size_t per_round = w6_reads_per_round();
    allocs.report(state, per_round);
    state.counters["ops_per_iter"] = static_cast<double>(per_round);
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(per_round));
    if (r.bytes != static_cast<std::uint64_t>(state.iterations()) * per_round * w6_block) {
        state.SkipWithError("W6: a read came back short");
    }
}

void bm_w6_file_read(benchmark::State& state, int depth) {
    run_asio([&state, depth] { return w6_file_read(state, depth); });
}
#endif

} // namespace

void register_asio(workload w, const char* backend) {
    const std::string tag = std::string("/asio_") + backend;
    switch (w) {
    case workload::w1_create_await:
        benchmark::RegisterBenchmark(("W1_create_await" + tag).c_str(), bm_w1_create_await)
            ->UseRealTime();
        break;
    case workload::w1_gather:
        benchmark::RegisterBenchmark(("W1_gather_10k" + tag).c_str(), bm_w1_gather)
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
        break;
    case workload::w2_sleep:
        benchmark::RegisterBenchmark(("W2_sleepers" + tag).c_str(), bm_w2_sleep)
            ->UseRealTime()
            ->Iterations(1)
            ->Unit(benchmark::kMillisecond);
        break;
    case workload::w3_timers:
        benchmark::RegisterBenchmark(("W3_timers" + tag).c_str(), bm_w3_timers)
            ->UseRealTime()
            ->Iterations(1)
            ->Unit(benchmark::kMillisecond);
        break;
    case workload::w4_queue_ping_pong:
        benchmark::RegisterBenchmark(("W4_queue_ping_pong" + tag).c_str(), bm_w4_queue_ping_pong)
            ->UseRealTime();
        break;
    case workload::w4_event_ping_pong:
        benchmark::RegisterBenchmark(("W4_event_ping_pong" + tag).c_str(), bm_w4_event_ping_pong)
            ->UseRealTime();
        break;
    case workload::w6_file_read:
#if defined(ASIO_HAS_FILE)
        for (const int depth : w6_depths) {
            const std::string name = "W6_file_read_qd" + std::to_string(depth) + tag;
            benchmark::RegisterBenchmark(name.c_str(), bm_w6_file_read, depth)
                ->UseRealTime()
                ->Unit(benchmark::kMicrosecond);
        }
#endif
        break;
    }
}

} // namespace bench
