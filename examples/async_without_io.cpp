// async_without_io — coroutines that never wait get no speed-up.
//
// Seed idea ("Async without I/O"): a coroutine gives the thread back only at a co_await on
// something that really waits (a timer, I/O). CPU-bound coroutines run start to finish, one
// after the other, even under eddy::gather: one thread does all the work, so the total time
// stays the sum. (co_await eddy::yield() in the loop would interleave them, still with no
// speed-up.) For CPU-bound work, use threads or processes.
//
//   async_without_io [--scale F]   (F multiplies every duration; default 1.0)
#include <eddy/eddy.hpp>

#include "common.hpp"

#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <vector>

namespace {

using namespace example; // --scale, say(), secs(), since(), timed(): examples/common.hpp

using steady = std::chrono::steady_clock;

// The seed's add(): a coroutine with no await at all runs like a plain function call.
eddy::task<int> add(int a, int b) {
    say("Adding %d + %d\n", a, b);
    co_return a + b;
}

// Pure CPU work for `s` seconds: arithmetic in a loop, not a single co_await.
eddy::task<std::uint64_t> crunch(int id, double s) {
    say("job %d start\n", id);
    const auto deadline = steady::now() + std::chrono::duration_cast<steady::duration>(secs(s));
    std::uint64_t x = static_cast<std::uint64_t>(id) + 1;
    while (steady::now() < deadline) {
        for (int i = 0; i < 10'000; ++i) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL; // an LCG step
        }
    }
    say("job %d done\n", id);
    co_return x;
}

eddy::task<> seed_example() {
    const int x = co_await add(1, 2);
    const int y = co_await add(3, 4);
    say("%d %d\n", x, y);
}

eddy::task<> one_by_one() {
    for (int i = 0; i < 3; ++i) {
        (void)co_await crunch(i, 1);
    }
}

eddy::task<> with_gather() {
    std::vector<eddy::task<std::uint64_t>> jobs;
    jobs.reserve(3);
    for (int i = 0; i < 3; ++i) {
        jobs.push_back(crunch(i, 1));
    }
    (void)co_await eddy::gather(std::move(jobs));
}

double timed_run(eddy::task<> (*scenario)()) {
    const auto start = steady::now();
    eddy::run(scenario());
    return std::chrono::duration<double>(steady::now() - start).count();
}

} // namespace

int main(int argc, char** argv) try {
    if (!parse_args(argc, argv)) {
        std::fprintf(stderr, "usage: %s [--scale F]\n", argv[0]);
        return 2;
    }

    say("== the seed: x = co_await add(1, 2); y = co_await add(3, 4) ==\n");
    eddy::run(seed_example());
    say("(runs line by line, exactly like plain function calls)\n\n");

    say("== sequential: co_await three 1 s CPU-bound jobs one by one ==\n");
    const double sequential = timed_run(one_by_one);
    say("sequential: %.2f s\n\n", sequential);

    say("== eddy gather: the same three jobs under eddy::gather ==\n");
    const double gathered = timed_run(with_gather);
    say("eddy gather: %.2f s\n\n", gathered);

    say("speed-up: %.1fx -> no waiting to overlap: each job ran start to finish in turn\n",
        sequential / gathered);
    return 0;
} catch (const std::exception& e) { // e.g. std::system_error: io_uring is not available here
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
