// task_lifecycle — the states of a task, seen through its handle.
//
// Seed idea ("Task Lifecycle": PENDING, RUNNING, SUSPENDED, DONE; task.done(),
// task.cancelled()): create_task schedules a coroutine; it starts on a later loop turn, runs
// until an await suspends it, and ends done: with a result, with an exception (kept in the task
// until someone asks: co_await, result() or exception()), or cancelled.
//
//   task_lifecycle [--scale F]   (F multiplies every duration; default 1.0)
#include <eddy/eddy.hpp>

#include "common.hpp"

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>

namespace {

using namespace example; // --scale, say(), secs(), since(), timed(): examples/common.hpp

const char* yes_no(bool b) {
    return b ? "true" : "false";
}

eddy::task<int> compute(int x) {
    say("  running: inside task '%s'\n", eddy::current_task_name().c_str());
    co_await eddy::sleep(secs(0.5)); // suspended here; the loop runs others
    say("  running again after the sleep, returning %d\n", x * 2);
    co_return x * 2;
}

eddy::task<int> charge_card() {
    co_await eddy::sleep(secs(0.2));
    throw std::runtime_error("payment service unavailable");
}

eddy::task<> lifecycle() {
    say("-- a task that returns a value --\n");
    auto t = eddy::create_task(compute(21), "compute");
    say("created:   done()=%s  (pending: scheduled, not started yet)\n", yes_no(t.done()));
    try {
        (void)t.result();
    } catch (const eddy::invalid_state_error& e) {
        say("           result() throws invalid_state_error: %s\n", e.what());
    }
    co_await eddy::yield(); // let the loop run the task's first step
    say("suspended: done()=%s  (it started, and now waits at its co_await)\n", yes_no(t.done()));
    const int value = co_await t;
    say("finished:  done()=%s  result()=%d  (co_await gave %d)\n", yes_no(t.done()), t.result(),
        value);

    say("-- a task that throws --\n");
    auto f = eddy::create_task(charge_card(), "charge_card");
    co_await eddy::sleep(secs(0.4)); // wait without awaiting the task: its error stays in it
    say("failed:    done()=%s  cancelled()=%s\n", yes_no(f.done()), yes_no(f.cancelled()));
    try {
        std::rethrow_exception(f.exception());
    } catch (const std::exception& e) {
        say("           exception() holds: %s\n", e.what());
    }
    try {
        (void)f.result();
    } catch (const std::runtime_error& e) {
        say("           result() rethrows it: %s\n", e.what());
    }

    say("-- a task that is cancelled --\n");
    auto c = eddy::create_task(compute(1), "doomed");
    co_await eddy::yield();
    c.cancel();
    try {
        co_await c;
    } catch (const eddy::cancelled_error&) {
        say("cancelled: done()=%s  cancelled()=%s  (eddy::cancelled_error at its co_await)\n",
            yes_no(c.done()), yes_no(c.cancelled()));
    }
}

} // namespace

int main(int argc, char** argv) try {
    if (!parse_args(argc, argv)) {
        std::fprintf(stderr, "usage: %s [--scale F]\n", argv[0]);
        return 2;
    }
    const auto start = std::chrono::steady_clock::now();
    eddy::run(lifecycle());
    const double t =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    say("total: %.2f s\n", t);
    return 0;
} catch (const std::exception& e) { // e.g. std::system_error: io_uring is not available here
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
