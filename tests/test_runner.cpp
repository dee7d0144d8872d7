// runner: several main tasks on one loop (asyncio.Runner), what stays between runs, close().
#include "helpers.hpp"

#include <array>
#include <csignal>
#include <stdexcept>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;
using eddy_test::after;
using eddy_test::blocked_in_this_thread;
using eddy_test::default_sigint;
using eddy_test::pipe_pair;

namespace {
eddy::task<const eddy::event_loop*> which_loop() {
    co_return &eddy::get_running_loop();
}
} // namespace

TEST_CASE("a runner runs main tasks one after another on one loop and returns each value",
          "[runner]") {
    eddy::runner r;
    CHECK(r.run(after(1ms, 1)) == 1);
    CHECK(r.run(after(0ms, 2)) == 2);
    const eddy::event_loop* first = r.run(which_loop());
    const eddy::event_loop* second = r.run(which_loop());
    CHECK(first == &r.get_loop());
    CHECK(second == first);
    r.run([]() -> eddy::task<> { co_return; }());
    CHECK_FALSE(r.closed());
}

TEST_CASE("a runner takes a lambda coroutine and keeps its captures alive", "[runner]") {
    eddy::runner r;
    const std::string word(40, 'r');
    const std::size_t got = r.run([word]() -> eddy::task<std::size_t> {
        co_await eddy::sleep(std::chrono::milliseconds(1));
        co_return word.size();
    });
    CHECK(got == 40);
}

TEST_CASE("a task still pending when a run ends goes on during the next run", "[runner]") {
    eddy::runner r;
    eddy::queue<int> q;
    eddy::task_handle<int> consumer; // empty until the first run fills it
    r.run([&]() -> eddy::task<> {
        consumer = eddy::create_task([&]() -> eddy::task<int> {
            const int a = co_await q.get();
            const int b = co_await q.get();
            co_return a + b;
        });
        co_await eddy::sleep(0s); // it starts and waits for the queue
    }());
    REQUIRE(consumer.valid());
    CHECK_FALSE(consumer.done()); // not cancelled at the end of the run
    const int sum = r.run([&]() -> eddy::task<int> {
        q.put_nowait(20);
        q.put_nowait(22);
        co_return co_await consumer;
    }());
    CHECK(sum == 42);
    consumer = {};
}

TEST_CASE("a task created in a main task's last step starts in the next run, not cancelled",
          "[runner]") {
    eddy::runner r;
    bool started = false;
    r.run([&]() -> eddy::task<> {
        auto h = eddy::create_task([&]() -> eddy::task<> {
            started = true;
            co_return;
        });
        co_return;
    }());
    CHECK_FALSE(started); // run stops at the end of main's turn, as eddy::run does
    r.run([]() -> eddy::task<> { co_await eddy::sleep(0s); }());
    CHECK(started);
}

TEST_CASE("every run of an eager runner starts tasks eagerly, not only the first", "[runner]") {
    eddy::runner r({.eager_tasks = true});
    for (int i = 0; i < 3; ++i) {
        const bool done_on_return = r.run([]() -> eddy::task<bool> {
            auto h = eddy::create_task([]() -> eddy::task<int> { co_return 1; });
            co_return h.done();
        }());
        CHECK(done_on_return);
    }
}

TEST_CASE("a kernel read in flight at the end of a run completes in the next run", "[runner][io]") {
    pipe_pair p;
    eddy::runner r;
    std::array<std::byte, 8> buf{};
    eddy::task_handle<std::size_t> reader;
    r.run([&]() -> eddy::task<> {
        reader = eddy::create_task(eddy::read_some(p.r, buf));
        co_await eddy::sleep(0s);
        co_await eddy::sleep(0s); // the read is in the kernel now
    }());
    REQUIRE(reader.valid());
    CHECK_FALSE(reader.done());
    REQUIRE(::write(p.w, "hi", 2) == 2); // between runs: nothing runs, the data waits
    const std::size_t n = r.run([&]() -> eddy::task<std::size_t> { co_return co_await reader; }());
    CHECK(n == 2);
    CHECK(static_cast<char>(buf[0]) == 'h');
    reader = {};
}

TEST_CASE("done-callbacks of a future set between two runs run during the next run, as "
          "asyncio's Runner runs them",
          "[runner]") {
    eddy::runner r;
    eddy::future<int> f;
    std::vector<std::string> log;
    eddy::task_handle<int> waiter;
    r.run([&]() -> eddy::task<> {
        f.add_done_callback(
            [&](eddy::future<int>& g) { log.push_back("future " + std::to_string(g.result())); });
        waiter = eddy::create_task([&]() -> eddy::task<int> { co_return co_await f; });
        co_await eddy::sleep(0s); // the waiter waits for f
    }());
    REQUIRE(waiter.valid());
    f.set_result(7); // no loop runs now: the callback is queued on the runner's loop, not lost
    // Added between runs too, to a task still pending and then to one already done.
    waiter.add_done_callback(
        [&](eddy::task_handle<int>& t) { log.push_back("task " + std::to_string(t.result())); });
    CHECK(log.empty()); // callbacks never run inline
    r.run([]() -> eddy::task<> {
        co_await eddy::sleep(0s);
        co_await eddy::sleep(0s);
    }());
    CHECK(log == std::vector<std::string>{"future 7", "task 7"});
    REQUIRE(waiter.done());
    waiter.add_done_callback([&](const eddy::task_handle<int>&) { log.emplace_back("late"); });
    CHECK(log.size() == 2);
    r.run([]() -> eddy::task<> { co_await eddy::sleep(0s); }());
    CHECK(log.back() == "late");
    waiter = {};
    r.close();
    // No loop running or open on this thread any more: nothing could ever run a callback.
    eddy::future<int> g;
    CHECK_THROWS_AS(g.add_done_callback([](eddy::future<int>&) {}), eddy::loop_error);
}

TEST_CASE("close cancels the tasks still pending, runs their cleanup and leaves no frame behind",
          "[runner]") {
    const auto frames = eddy::live_frames();
    int cleaned = 0;
    {
        eddy::runner r;
        r.run([&]() -> eddy::task<> {
            for (int i = 0; i < 3; ++i) {
                auto h = eddy::create_task([&]() -> eddy::task<> {
                    try {
                        co_await eddy::sleep(1h);
                    } catch (const eddy::cancelled_error&) {
                        ++cleaned;
                        throw;
                    }
                });
            }
            co_await eddy::sleep(0s);
        }());
        CHECK(cleaned == 0);
        r.close();
        CHECK(cleaned == 3);
        CHECK(r.closed());
        CHECK(eddy::live_frames() == frames);
        r.close(); // a second close does nothing
        CHECK_THROWS_AS(r.run(after(0ms, 1)), eddy::loop_error);
        CHECK_THROWS_AS((void)r.get_loop(), eddy::loop_error);
    }
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("destroying an open runner closes it: pending tasks run their cleanup", "[runner]") {
    const auto frames = eddy::live_frames();
    bool cleaned = false;
    {
        eddy::runner r;
        r.run([&]() -> eddy::task<> {
            auto h = eddy::create_task([&]() -> eddy::task<> {
                try {
                    co_await eddy::sleep(1h);
                } catch (const eddy::cancelled_error&) {
                    cleaned = true;
                    throw;
                }
            });
            co_await eddy::sleep(0s);
        }());
        CHECK_FALSE(cleaned);
    }
    CHECK(cleaned);
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("a failing main task's exception reaches the caller and the runner stays usable",
          "[runner]") {
    eddy::runner r;
    CHECK_THROWS_WITH(r.run([]() -> eddy::task<> {
        co_await eddy::sleep(1ms);
        throw std::runtime_error("failed in main");
    }()),
                      "failed in main");
    CHECK(r.run(after(0ms, 5)) == 5);
}

TEST_CASE("a deadlocked run is a loop_error, the runner stays usable and close cancels the stuck "
          "main task",
          "[runner]") {
    eddy::future<int> never;
    eddy::runner r;
    CHECK_THROWS_AS(r.run([&]() -> eddy::task<int> { co_return co_await never; }()),
                    eddy::loop_error);
    CHECK_FALSE(never.cancelled()); // the main task still waits on it
    CHECK(r.run(after(0ms, 6)) == 6);
    r.close();
    CHECK(never.cancelled());
}

TEST_CASE("a deadlocked main task that ends during a later run does not stop that run's eager "
          "starts",
          "[runner]") {
    eddy::future<int> late;
    eddy::runner r({.eager_tasks = true});
    CHECK_THROWS_AS(r.run([&]() -> eddy::task<int> { co_return co_await late; }()),
                    eddy::loop_error);
    const bool eager_after = r.run([&]() -> eddy::task<bool> {
        late.set_result(1);
        co_await eddy::sleep(0s); // the old main task ends on this turn
        co_await eddy::sleep(0s);
        auto h = eddy::create_task([]() -> eddy::task<int> { co_return 1; });
        co_return h.done();
    }());
    CHECK(eager_after);
}

TEST_CASE("run and close from a running loop are loop_errors that leave the runner open",
          "[runner]") {
    eddy::runner r;
    r.run([&]() -> eddy::task<> {
        CHECK_THROWS_AS(r.run(after(0ms, 1)), eddy::loop_error);
        CHECK_THROWS_AS(r.close(), eddy::loop_error);
        co_return;
    }());
    eddy::run([&]() -> eddy::task<> {
        CHECK_THROWS_AS(r.run(after(0ms, 1)), eddy::loop_error);
        CHECK_THROWS_AS(r.close(), eddy::loop_error);
        co_return;
    }());
    CHECK_FALSE(r.closed());
    CHECK(r.run(after(0ms, 7)) == 7);
}

TEST_CASE("run and close on another thread are loop_errors", "[runner]") {
    eddy::runner r;
    bool run_refused = false;
    bool close_refused = false;
    std::thread other([&] {
        try {
            (void)r.run(after(0ms, 1));
        } catch (const eddy::loop_error&) {
            run_refused = true;
        }
        try {
            r.close();
        } catch (const eddy::loop_error&) {
            close_refused = true;
        }
    });
    other.join();
    CHECK(run_refused);
    CHECK(close_refused);
    CHECK(r.run(after(0ms, 8)) == 8);
}

TEST_CASE("Ctrl-C during a run cancels that run's main task, and between runs SIGINT is not caught",
          "[runner][signal]") {
    const default_sigint dfl;
    eddy::runner r;
    CHECK(r.run(after(0ms, 1)) == 1);
    CHECK_FALSE(blocked_in_this_thread(SIGINT)); // a Ctrl-C now would end the program
    bool interrupted = false;
    try {
        r.run([]() -> eddy::task<> {
            auto ctrl_c = eddy::create_task([]() -> eddy::task<> {
                co_await eddy::sleep(1ms);
                ::raise(SIGINT);
            });
            co_await eddy::sleep(1h);
        }());
    } catch (const eddy::keyboard_interrupt&) {
        interrupted = true;
    }
    CHECK(interrupted);
    CHECK_FALSE(blocked_in_this_thread(SIGINT));
    // The next run starts afresh: a cancellation of its own is not taken for a Ctrl-C.
    bool plain_cancel = false;
    try {
        r.run([]() -> eddy::task<> {
            eddy::current_task().cancel();
            co_await eddy::sleep(1h);
        }());
    } catch (const eddy::keyboard_interrupt&) {
    } catch (const eddy::cancelled_error&) {
        plain_cancel = true;
    }
    CHECK(plain_cancel);
}

TEST_CASE("a Ctrl-C in a main task's last step is that run's keyboard_interrupt, not the "
          "process's death or the next run's",
          "[runner][signal]") {
    const default_sigint dfl;
    eddy::runner r;
    bool first_interrupted = false;
    try {
        r.run([]() -> eddy::task<> {
            co_await eddy::sleep(0s);
            ::raise(SIGINT); // blocked: pending until the loop reads it, which it never does
            co_return;
        }());
    } catch (const eddy::keyboard_interrupt&) {
        first_interrupted = true;
    }
    CHECK(first_interrupted);
    bool second_interrupted = false;
    try {
        r.run([]() -> eddy::task<> { co_await eddy::sleep(1ms); }());
    } catch (const eddy::keyboard_interrupt&) {
        second_interrupted = true;
    }
    CHECK_FALSE(second_interrupted);
}

TEST_CASE("a loop whose construction fails is not taken for the thread's open loop", "[runner]") {
    {
        eddy_test::env_var bad("EDDY_BACKEND", "no-such-backend");
        CHECK_THROWS_AS(eddy::event_loop(), eddy::loop_error);
    }
    // Nothing is open on this thread: the callback cannot go anywhere (it went to the dead loop).
    eddy::future<int> f;
    CHECK_THROWS_AS(f.add_done_callback([](eddy::future<int>&) {}), eddy::loop_error);
    // And a runner made afterwards is the thread's only open loop.
    eddy::runner r;
    bool ran = false;
    f.add_done_callback([&](eddy::future<int>&) { ran = true; });
    f.set_result(1);
    r.run([]() -> eddy::task<> { co_await eddy::sleep(std::chrono::milliseconds(0)); }());
    CHECK(ran);
}
