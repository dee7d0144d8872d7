// timeouts_and_cancellation — deadlines, task groups, shield and when_any, with timings.
//
// Seed idea (asyncio explained: "Task Lifecycle" and the task API's cancel()): a coroutine
// can be stopped at the await where it waits, it may clean up, and the code that stopped it
// learns what happened. eddy adds asyncio's structured tools on top:
//   1. wait_for: a slow download cancelled by a deadline; its cleanup runs before the caller
//      sees timeout_error.
//   2. timeout: one deadline over several steps, rescheduled once.
//   3. with_task_group: one download fails, its siblings are cancelled at once, and the group
//      reports the failure.
//   4. shield: a save that must finish even though the task awaiting it is cancelled.
//   5. when_any: two mirrors race; the loser is cancelled.
//
//   timeouts_and_cancellation [--scale F]   (F multiplies every duration; default 1.0)
#include <eddy/eddy.hpp>

#include "common.hpp"

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <variant>

namespace {

using namespace example; // --scale, say(), secs(), since(): examples/common.hpp

std::chrono::steady_clock::time_point t0;

/// Seconds since the current part started, in the scale the example was written in.
double at() {
    return since(t0) / scale;
}

eddy::task<std::string> download(std::string name, double seconds) {
    say("[%4.2fs] %s: started (%.1f s)\n", at(), name.c_str(), seconds);
    bool cancelled = false;
    try {
        co_await eddy::sleep(secs(seconds));
    } catch (const eddy::cancelled_error&) {
        cancelled = true; // co_await is not allowed in a catch handler: clean up below
    }
    if (cancelled) {
        say("[%4.2fs] %s: cancelled, cleaning up\n", at(), name.c_str());
        co_await eddy::sleep(secs(0.1)); // asynchronous cleanup (close a connection...)
        say("[%4.2fs] %s: cleanup done\n", at(), name.c_str());
        throw eddy::cancelled_error();
    }
    say("[%4.2fs] %s: done\n", at(), name.c_str());
    co_return name;
}

eddy::task<std::string> broken_download(std::string name, double seconds) {
    say("[%4.2fs] %s: started\n", at(), name.c_str());
    co_await eddy::sleep(secs(seconds));
    say("[%4.2fs] %s: server error\n", at(), name.c_str());
    throw std::runtime_error(name + ": HTTP 500");
}

eddy::task<> part_wait_for() {
    say("== 1. wait_for: a 3 s download, 1 s allowed ==\n");
    t0 = std::chrono::steady_clock::now();
    try {
        (void)co_await eddy::wait_for(download("big.iso", 3.0), secs(1.0));
    } catch (const eddy::timeout_error&) {
        say("[%4.2fs] caller: timeout_error (the download had finished cancelling)\n", at());
    }
}

eddy::task<> part_timeout() {
    say("== 2. timeout: one deadline over several steps ==\n");
    t0 = std::chrono::steady_clock::now();
    auto deadline = eddy::timeout(secs(1.0));
    auto steps = [&]() -> eddy::task<> {
        for (int i = 1; i <= 5; ++i) {
            co_await eddy::sleep(secs(0.4));
            say("[%4.2fs] step %d done\n", at(), i);
            if (i == 1 && !deadline.expired()) {
                // Rescheduling: the first step went well, grant half a second more.
                deadline.reschedule(*deadline.when() +
                                    std::chrono::duration_cast<eddy::clock::duration>(secs(0.5)));
                say("[%4.2fs] deadline moved to 1.5 s\n", at());
            }
        }
    };
    try {
        co_await deadline(steps);
    } catch (const eddy::timeout_error&) {
        say("[%4.2fs] timeout_error; expired()=%s\n", at(), deadline.expired() ? "true" : "false");
    }
}

eddy::task<> part_task_group() {
    say("== 3. task_group: one failure stops its siblings ==\n");
    t0 = std::chrono::steady_clock::now();
    try {
        co_await eddy::with_task_group([](eddy::task_group& tg) -> eddy::task<> {
            tg.create_task(download("a.txt", 1.5));
            tg.create_task(download("b.txt", 2.0));
            tg.create_task(broken_download("c.txt", 0.2));
            co_return;
        });
    } catch (const eddy::exception_group& g) {
        say("[%4.2fs] group failed: %s\n", at(), g.what());
    }
}

eddy::task<> part_shield() {
    say("== 4. shield: a save that a cancellation must not stop ==\n");
    t0 = std::chrono::steady_clock::now();
    auto save = eddy::create_task(download("save", 0.5), "save");
    auto request = eddy::create_task([&]() -> eddy::task<> {
        (void)co_await eddy::shield(save);
        say("[%4.2fs] request: saved\n", at());
    });
    co_await eddy::sleep(secs(0.2));
    request.cancel();
    try {
        co_await request;
    } catch (const eddy::cancelled_error&) {
        say("[%4.2fs] request: cancelled; the save goes on\n", at());
    }
    const std::string saved = co_await save;
    say("[%4.2fs] %s: finished anyway\n", at(), saved.c_str());
}

eddy::task<> part_when_any() {
    say("== 5. when_any: the fastest mirror wins ==\n");
    t0 = std::chrono::steady_clock::now();
    auto r = co_await eddy::when_any(download("mirror-eu", 1.5), download("mirror-us", 0.3));
    say("[%4.2fs] winner: %s (the other was cancelled and has cleaned up)\n", at(),
        std::visit([](const std::string& s) { return s.c_str(); }, r));
}

eddy::task<> amain() {
    const auto start = std::chrono::steady_clock::now();
    co_await part_wait_for();
    co_await part_timeout();
    co_await part_task_group();
    co_await part_shield();
    co_await part_when_any();
    say("total: %.2f s\n", since(start));
}

} // namespace

int main(int argc, char** argv) try {
    if (!parse_args(argc, argv)) {
        std::fprintf(stderr, "usage: %s [--scale F]\n", argv[0]);
        return 2;
    }
    eddy::run(amain());
    return 0;
} catch (const std::exception& e) { // e.g. std::system_error: io_uring is not available here
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
