// sequential_vs_concurrent — the flagship example.
//
// Seed idea ("normal (blocking) code" vs "same with asyncio"): three 2-second "downloads".
// Blocking code waits for each one in turn (about 6 s); coroutines that await eddy::sleep
// overlap their waits on one thread (about 2 s). Blocking waits add up; async waits overlap.
//
//   sequential_vs_concurrent [--scale F]   (F multiplies every duration; default 1.0)
#include <eddy/eddy.hpp>

#include "common.hpp"

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <thread>
#include <vector>

namespace {

using namespace example; // --scale, say(), secs(), since(), timed(): examples/common.hpp

// ---- 1. Blocking: a plain function. sleep_for holds the only thread; nothing else can run.
void download_blocking(int n) {
    say("Start %d\n", n);
    std::this_thread::sleep_for(secs(2));
    say("Done %d\n", n);
}

// ---- 2. eddy: a coroutine. co_await eddy::sleep suspends only this coroutine; the loop runs
// the others meanwhile.
eddy::task<> download(int n) {
    say("Start %d\n", n);
    co_await eddy::sleep(secs(2));
    say("Done %d\n", n);
}

eddy::task<> main_async() {
    std::vector<eddy::task<>> tasks;
    tasks.reserve(3);
    for (int i = 0; i < 3; ++i) {
        tasks.push_back(download(i)); // lazy: nothing runs yet
    }
    co_await eddy::gather(std::move(tasks)); // schedules all three, waits for all three
}

} // namespace

int main(int argc, char** argv) try {
    if (!parse_args(argc, argv)) {
        std::fprintf(stderr, "usage: %s [--scale F]\n", argv[0]);
        return 2;
    }

    say("== blocking: a for loop calling std::this_thread::sleep_for(2 s) ==\n");
    const double blocking = timed([] {
        for (int i = 0; i < 3; ++i) {
            download_blocking(i);
        }
    });
    say("blocking: %.2f s\n\n", blocking);

    say("== eddy: eddy::gather of three coroutines awaiting eddy::sleep(2 s) ==\n");
    const double concurrent = timed([] { eddy::run(main_async()); });
    say("eddy gather: %.2f s\n\n", concurrent);

    say("speed-up: %.1fx (the waits overlapped instead of adding up)\n", blocking / concurrent);
    return 0;
} catch (const std::exception& e) { // e.g. std::system_error: io_uring is not available here
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
