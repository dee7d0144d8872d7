// blocking_the_loop — one blocking call freezes every task on the loop.
//
// Seed idea ("Blocking the Event Loop", time.sleep vs await asyncio.sleep): a coroutine that
// calls a blocking function (std::this_thread::sleep_for) never gives the thread back, so no
// other task runs meanwhile. A "ticker" task that should print every 0.5 s shows it: in A it
// stops ticking for the whole 2 s; in B, where the worker awaits eddy::sleep, it keeps ticking.
//
// Debug mode finds such a call: run it with EDDY_DEBUG=1 and eddy reports, for A, "task 'worker'
// blocked the loop for 2000 ms after resuming at blocking_the_loop.cpp:NN", NN being the await
// right before the blocking call (asyncio's debug mode does the same for slow callbacks).
//
//   blocking_the_loop [--scale F]   (F multiplies every duration; default 1.0)
#include <eddy/eddy.hpp>

#include "common.hpp"

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <thread>

namespace {

using namespace example; // --scale, say(), secs(), since(), timed(): examples/common.hpp

using steady = std::chrono::steady_clock;
double g_longest_gap = 0; // the ticker's longest gap between ticks, in seconds

// Ticks every 0.5 s until cancelled, printing the gap since the previous tick.
eddy::task<> ticker() {
    auto last = steady::now();
    for (int n = 1;; ++n) {
        co_await eddy::sleep(secs(0.5)); // cancel() ends the loop here (eddy::cancelled_error)
        const double gap = since(last);
        last = steady::now();
        g_longest_gap = std::max(g_longest_gap, gap);
        say("  tick %d (%.3f s since the last one)\n", n, gap);
    }
}

// The "work": a short await (say, a connection), then 2 s of waiting, done badly (blocking the
// thread) or well (awaiting the loop).
eddy::task<> worker(bool blocking) {
    say("  worker: start, waiting 2 s with %s\n",
        blocking ? "std::this_thread::sleep_for" : "co_await eddy::sleep");
    co_await eddy::sleep(secs(0.01)); // EDDY_DEBUG=1 names this line for A's blocking step
    if (blocking) {
        std::this_thread::sleep_for(secs(2)); // the loop is stuck in here: no task runs
    } else {
        co_await eddy::sleep(secs(2)); // suspends this coroutine only
    }
    say("  worker: done\n");
}

eddy::task<> scenario(bool blocking) {
    g_longest_gap = 0;
    eddy::task_handle<void> tick = eddy::create_task(ticker(), "ticker");
    co_await eddy::sleep(secs(0.75)); // the ticker ticks once
    co_await eddy::create_task(worker(blocking), "worker");
    co_await eddy::sleep(secs(0.6)); // and a little more afterwards
    tick.cancel();
    try {
        co_await tick;
    } catch (const eddy::cancelled_error&) {
        say("  ticker cancelled\n");
    }
}

double run_scenario(bool blocking) {
    const auto start = steady::now();
    eddy::run(scenario(blocking));
    return since(start);
}

} // namespace

int main(int argc, char** argv) try {
    if (!parse_args(argc, argv)) {
        std::fprintf(stderr, "usage: %s [--scale F]\n", argv[0]);
        return 2;
    }

    say("== A: the worker calls std::this_thread::sleep_for(2 s) inside a coroutine ==\n");
    const double a = run_scenario(true);
    say("A: longest gap between ticks: %.3f s -> the loop was frozen, the ticker starved\n",
        g_longest_gap);
    say("A total: %.2f s\n\n", a);

    say("== B: the worker awaits eddy::sleep(2 s) ==\n");
    const double b = run_scenario(false);
    say("B: longest gap between ticks: %.3f s -> the ticker kept ticking\n", g_longest_gap);
    say("B total: %.2f s\n\n", b);

    say("Never block inside a coroutine: await the loop's sleep/I-O instead.\n");
    return 0;
} catch (const std::exception& e) { // e.g. std::system_error: io_uring is not available here
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
