// blocking_work_offloaded — a blocking call moved to a thread keeps the loop responsive.
//
// Seed idea (the caveat "CPU-heavy work or blocking libraries": asyncio only helps while the
// coroutines await; a blocking library call freezes the loop, and asyncio.to_thread is the way
// out): a ticker prints every 0.5 s while a "legacy" blocking call (a 2 s sleep_for standing in
// for a blocking driver or a heavy computation) runs. In A it runs on the loop's thread and the
// ticker starves; in B it runs through eddy::to_thread and the ticker keeps ticking. C runs
// three such calls at once on the pool: about 2 s in all, not 6.
//
//   blocking_work_offloaded [--scale F]   (F multiplies every duration; default 1.0)
#include <eddy/eddy.hpp>

#include "common.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <thread>

namespace {

using namespace example; // --scale, say(), secs(), since(): examples/common.hpp

using steady = std::chrono::steady_clock;
double g_longest_gap = 0;

eddy::task<> ticker() {
    auto last = steady::now();
    for (int n = 1;; ++n) {
        co_await eddy::sleep(secs(0.5));
        const double gap = since(last);
        last = steady::now();
        g_longest_gap = std::max(g_longest_gap, gap);
        say("  tick %d (%.3f s since the last one)\n", n, gap);
    }
}

// A call we cannot make asynchronous: it blocks its thread for 2 s and returns a value.
int legacy_blocking_call(int id) {
    std::this_thread::sleep_for(secs(2));
    return id * 10;
}

eddy::task<> scenario(bool offload) {
    g_longest_gap = 0;
    auto tick = eddy::create_task(ticker(), "ticker");
    co_await eddy::sleep(secs(0.75));
    say("  calling the blocking function %s\n", offload ? "through eddy::to_thread" : "directly");
    const int result =
        offload ? co_await eddy::to_thread(legacy_blocking_call, 1) : legacy_blocking_call(1);
    say("  blocking call returned %d\n", result);
    co_await eddy::sleep(secs(0.6));
    tick.cancel();
    try {
        co_await tick;
    } catch (const eddy::cancelled_error&) {
        say("  ticker cancelled\n");
    }
}

eddy::task<> three_at_once() {
    auto one = [](int id) -> eddy::task<int> {
        co_return co_await eddy::to_thread(legacy_blocking_call, id);
    };
    auto [a, b, c] = co_await eddy::gather(one(1), one(2), one(3));
    say("  results: %d %d %d\n", a, b, c);
}

} // namespace

int main(int argc, char** argv) try {
    if (!parse_args(argc, argv)) {
        std::fprintf(stderr, "usage: %s [--scale F]\n", argv[0]);
        return 2;
    }
    say("== A: the blocking call runs on the loop's thread ==\n");
    auto start = steady::now();
    eddy::run(scenario(false));
    say("A: longest gap between ticks: %.3f s -> the loop was frozen\n", g_longest_gap);
    say("A total: %.2f s\n\n", since(start));

    say("== B: the same call through eddy::to_thread ==\n");
    start = steady::now();
    eddy::run(scenario(true));
    say("B: longest gap between ticks: %.3f s -> the loop stayed responsive\n", g_longest_gap);
    say("B total: %.2f s\n\n", since(start));

    say("== C: three blocking calls through to_thread, gathered ==\n");
    start = steady::now();
    eddy::run(three_at_once());
    say("C total: %.2f s (3 x 2 s of blocking work, run side by side on the pool)\n\n",
        since(start));
    say("Blocking calls belong on a thread: co_await eddy::to_thread(fn, args...).\n");
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
