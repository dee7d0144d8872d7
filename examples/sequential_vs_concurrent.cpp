// sequential_vs_concurrent — the flagship example.
//
// Seed idea ("normal (blocking) code" vs "same with asyncio"): three 2-second "downloads".
// Blocking code waits for each one in turn (about 6 s); coroutines that await eddy::sleep
// overlap their waits on one thread (about 2 s). Blocking waits add up; async waits overlap.
//
//   sequential_vs_concurrent [--scale F]   (F multiplies every duration; default 1.0)
#include <eddy/eddy.hpp>

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <thread>
#include <vector>

namespace {

double g_scale = 1.0;

// `s` seconds, times --scale.
std::chrono::duration<double> secs(double s) {
    return std::chrono::duration<double>(s * g_scale);
}

// printf + fflush: every line is out before the next one, whatever stdout is connected to.
[[gnu::format(printf, 1, 2)]] void say(const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    std::vprintf(fmt, args);
    va_end(args);
    std::fflush(stdout);
}

bool parse_args(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--scale") == 0 && i + 1 < argc) {
            g_scale = std::strtod(argv[++i], nullptr);
        } else {
            return false;
        }
    }
    return g_scale > 0;
}

// Wall time of a call, in seconds.
template <class F> double timed(F&& f) {
    const auto start = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

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
