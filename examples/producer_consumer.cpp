// producer_consumer — a bounded queue between a fast producer and slow workers.
//
// Seed idea (asyncio explained: producers and consumers connected by asyncio.Queue; "async
// shines when tasks wait"): a producer makes jobs faster than one worker can do them. With a
// bounded queue the producer waits whenever the queue is full (backpressure instead of an
// ever-growing backlog); three workers run the jobs concurrently; queue.join() waits until
// every job is marked done; shutdown() then stops the workers.
//
// Compared: one worker (the blocking-style pipeline) against three, same jobs.
//
//   producer_consumer [--scale F]   (F multiplies every duration; default 1.0)
#include <eddy/eddy.hpp>

#include "common.hpp"

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

namespace {

using namespace example; // --scale, say(), secs(), since(): examples/common.hpp

constexpr int jobs = 9;

eddy::task<> worker(int id, eddy::queue<int>& q, int& done) {
    while (true) {
        int job = 0;
        try {
            job = co_await q.get();
        } catch (const eddy::queue_shutdown&) {
            say("  worker %d: queue shut down, leaving\n", id);
            co_return;
        }
        say("  worker %d: job %d started\n", id, job);
        co_await eddy::sleep(secs(0.3)); // the job waits on "I/O"
        ++done;
        q.task_done();
    }
}

eddy::task<double> pipeline(int workers) {
    const auto start = std::chrono::steady_clock::now();
    eddy::queue<int> q(2); // at most 2 jobs waiting: the producer feels the backpressure
    int done = 0;
    co_await eddy::with_task_group([&](eddy::task_group& tg) -> eddy::task<> {
        for (int w = 1; w <= workers; ++w) {
            tg.create_task(worker(w, q, done));
        }
        for (int job = 1; job <= jobs; ++job) {
            co_await q.put(job); // waits while the queue is full
            say("producer: job %d queued (%zu waiting)\n", job, q.size());
        }
        co_await q.join(); // every job marked done
        say("all %d jobs done; shutting the queue down\n", done);
        q.shutdown();
    });
    co_return since(start);
}

} // namespace

int main(int argc, char** argv) try {
    if (!parse_args(argc, argv)) {
        std::fprintf(stderr, "usage: %s [--scale F]\n", argv[0]);
        return 2;
    }
    say("== one worker: the jobs run one after the other ==\n");
    const double one = eddy::run(pipeline(1));
    say("one worker: %.2f s\n\n", one);

    say("== three workers on the same bounded queue ==\n");
    const double three = eddy::run(pipeline(3));
    say("three workers: %.2f s\n", three);
    say("speed-up: %.1fx (each job waits %.1f s; three waits overlap)\n", one / three, 0.3 * scale);
    return 0;
} catch (const std::exception& e) { // e.g. std::system_error: io_uring is not available here
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
