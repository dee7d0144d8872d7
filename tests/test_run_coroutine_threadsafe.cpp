// run_coroutine_threadsafe and concurrent_future: another thread submits coroutines to a loop,
// gets their values and exceptions, cancels them, and is told when the loop is gone.
// Tagged [to_thread] too: the TSan preset runs them.
#include "helpers.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {
eddy::task<std::thread::id> where_am_i() {
    co_await eddy::sleep(1ms);
    co_return std::this_thread::get_id();
}

eddy::task<int> fails() {
    co_await eddy::yield();
    throw std::runtime_error("failed on the loop");
}
} // namespace

TEST_CASE("a thread submits a coroutine, which runs on the loop's thread, and gets its value",
          "[run_coroutine_threadsafe][to_thread]") {
    const auto loop_thread = std::this_thread::get_id();
    eddy::run([&]() -> eddy::task<> {
        const eddy::loop_handle loop;
        const auto ran_on = co_await eddy::to_thread([&loop] {
            return eddy::run_coroutine_threadsafe([] { return where_am_i(); }, loop).get();
        });
        CHECK(ran_on == loop_thread);
        // A capturing lambda: called on the loop's thread, kept alive while its coroutine runs.
        const std::string got = co_await eddy::to_thread([&loop] {
            auto f = eddy::run_coroutine_threadsafe(
                [text = std::string(100, 'x')]() -> eddy::task<std::string> {
                    co_await eddy::sleep(1ms);
                    co_return text + "!";
                },
                loop);
            return f.get();
        });
        CHECK(got == std::string(100, 'x') + "!");
    }());
}

TEST_CASE("a submitted coroutine's exception is rethrown by get on the submitting thread",
          "[run_coroutine_threadsafe][to_thread]") {
    eddy::run([&]() -> eddy::task<> {
        const eddy::loop_handle loop;
        const std::string what = co_await eddy::to_thread([&loop] {
            auto f = eddy::run_coroutine_threadsafe([] { return fails(); }, loop);
            try {
                (void)f.get();
            } catch (const std::runtime_error& e) {
                return std::string(e.what());
            }
            return std::string("no exception");
        });
        CHECK(what == "failed on the loop");
    }());
}

TEST_CASE("cancel from the submitting thread cancels the task, and get throws cancelled_error",
          "[run_coroutine_threadsafe][to_thread]") {
    bool saw_cancel = false;
    std::atomic<bool> started{false};
    eddy::run([&]() -> eddy::task<> {
        const eddy::loop_handle loop;
        const bool cancelled = co_await eddy::to_thread([&] {
            auto f = eddy::run_coroutine_threadsafe(
                [&]() -> eddy::task<int> {
                    started = true;
                    try {
                        co_await eddy::sleep(1h);
                    } catch (const eddy::cancelled_error&) {
                        saw_cancel = true;
                        throw;
                    }
                    co_return 1;
                },
                loop);
            while (!started.load()) { // the body waits in its sleep (or is about to)
                std::this_thread::sleep_for(100us);
            }
            if (f.wait_for(0s) != std::future_status::timeout || !f.cancel()) {
                return false;
            }
            try {
                (void)f.get();
            } catch (const eddy::cancelled_error&) {
                return true;
            }
            return false;
        });
        CHECK(cancelled);
    }());
    CHECK(saw_cancel);
}

TEST_CASE("a submission the loop never finished fails with an error, and a submission after "
          "the loop shut down throws loop_error",
          "[run_coroutine_threadsafe][to_thread]") {
    std::optional<eddy::loop_handle> loop;
    eddy::concurrent_future<int> pending;
    std::atomic<bool> submitted{false};
    std::thread t;
    eddy::run([&]() -> eddy::task<> {
        loop.emplace();
        t = std::thread([&] {
            pending = eddy::run_coroutine_threadsafe(
                []() -> eddy::task<int> {
                    co_await eddy::sleep(1h);
                    co_return 1;
                },
                *loop);
            submitted = true;
        });
        while (!submitted.load()) {
            co_await eddy::sleep(1ms);
        }
        co_await eddy::sleep(5ms); // the task starts, then main ends: run cancels it
    }());
    t.join();
    REQUIRE(pending.valid());
    CHECK(pending.wait_for(0s) == std::future_status::ready);
    CHECK_THROWS_AS(pending.get(), eddy::cancelled_error);
    CHECK_FALSE(pending.valid());
    CHECK_FALSE(pending.cancel()); // consumed by get()
    CHECK_THROWS_AS((void)eddy::run_coroutine_threadsafe([] { return where_am_i(); }, *loop),
                    eddy::loop_error);
    CHECK_FALSE(eddy::concurrent_future<int>().cancel());
}

TEST_CASE("a submission the loop never took fails get with loop_error instead of blocking it",
          "[run_coroutine_threadsafe][to_thread]") {
    // Posted to a runner's loop between runs, then the runner closes: the post is dropped
    // unrun, and so is the completer it carried.
    std::optional<eddy::loop_handle> loop;
    bool body_ran = false;
    eddy::runner r;
    r.run([&]() -> eddy::task<> {
        loop.emplace();
        co_return;
    });
    auto f = eddy::run_coroutine_threadsafe(
        [&]() -> eddy::task<int> {
            body_ran = true;
            co_return 1;
        },
        *loop);
    r.close();
    REQUIRE(f.wait_for(0s) == std::future_status::ready);
    CHECK_THROWS_AS(f.get(), eddy::loop_error);
    CHECK_FALSE(body_ran);
}

TEST_CASE("cancel returns false once the submitted coroutine has finished",
          "[run_coroutine_threadsafe][to_thread]") {
    eddy::run([&]() -> eddy::task<> {
        const eddy::loop_handle loop;
        const bool cancel_after_finish = co_await eddy::to_thread([&loop] {
            auto f = eddy::run_coroutine_threadsafe([]() -> eddy::task<int> { co_return 5; }, loop);
            f.wait();
            return f.cancel();
        });
        CHECK_FALSE(cancel_after_finish);
    }());
}

TEST_CASE("a coroutine submitted while run waits for its pool threads at shutdown is cancelled, "
          "not left running",
          "[run_coroutine_threadsafe][to_thread]") {
    // main ends while a to_thread call still runs; that call then submits a coroutine that
    // would sleep for an hour. Shutdown must cancel it like any pending task.
    std::atomic<bool> call_started{false};
    std::atomic<bool> main_done{false};
    std::string outcome;
    eddy::run([&]() -> eddy::task<> {
        const eddy::loop_handle loop;
        auto worker = eddy::create_task(eddy::to_thread([&, loop] {
            call_started = true;
            while (!main_done.load()) {
                std::this_thread::sleep_for(100us);
            }
            std::this_thread::sleep_for(10ms); // the shutdown is under way
            auto f = eddy::run_coroutine_threadsafe(
                []() -> eddy::task<int> {
                    co_await eddy::sleep(1h);
                    co_return 1;
                },
                loop);
            try {
                (void)f.get();
                outcome = "value";
            } catch (const eddy::cancelled_error&) {
                outcome = "cancelled";
            } catch (const eddy::loop_error&) {
                outcome = "loop closed";
            }
        }));
        while (!call_started.load()) { // a call not started yet would be withdrawn, not run
            co_await eddy::sleep(1ms);
        }
        main_done = true;
    }());
    CHECK(outcome == "cancelled");
}

TEST_CASE("dropping the concurrent_future does not stop the submitted task",
          "[run_coroutine_threadsafe][to_thread]") {
    int finished = 0;
    eddy::run([&]() -> eddy::task<> {
        const eddy::loop_handle loop;
        co_await eddy::to_thread([&] {
            (void)eddy::run_coroutine_threadsafe(
                [&]() -> eddy::task<> {
                    co_await eddy::sleep(2ms);
                    ++finished;
                },
                loop);
        });
        for (int i = 0; i < 1000 && finished == 0; ++i) {
            co_await eddy::sleep(1ms);
        }
        CHECK(finished == 1);
    }());
}

TEST_CASE("a submitted coroutine that finishes in the turn main ends still delivers its value",
          "[run_coroutine_threadsafe][to_thread]") {
    // Its done-callback is posted after main's last step: run's shutdown turns the loop once more
    // for it rather than dropping it.
    std::optional<eddy::concurrent_future<int>> f;
    std::thread t;
    eddy::run([&]() -> eddy::task<> {
        eddy::event ev;
        const eddy::loop_handle h;
        t = std::thread([&, h] {
            f = eddy::run_coroutine_threadsafe(
                [&]() -> eddy::task<int> {
                    ev.set(); // wakes main, which ends in this turn
                    co_return 42;
                },
                h);
        });
        co_await ev.wait();
    }());
    t.join();
    REQUIRE(f.has_value());
    CHECK(f->get() == 42);
}

TEST_CASE("a callable returning an awaiter is submitted as create_task(aw) would run it: made and "
          "awaited on the loop's thread",
          "[run_coroutine_threadsafe][to_thread]") {
    eddy::run([]() -> eddy::task<> {
        const eddy::loop_handle loop;
        eddy::queue<int> q;
        auto got = eddy::to_thread([&loop, &q] {
            // asyncio: run_coroutine_threadsafe(q.get(), loop)
            return eddy::run_coroutine_threadsafe([&q] { return q.get(); }, loop).get();
        });
        auto sleeper = eddy::to_thread([&loop] {
            auto f = eddy::run_coroutine_threadsafe([] { return eddy::sleep(1h); }, loop);
            const bool cancelled = f.cancel();
            bool threw = false;
            try {
                f.get();
            } catch (const eddy::cancelled_error&) {
                threw = true;
            }
            return cancelled && threw;
        });
        co_await eddy::sleep(5ms);
        q.put_nowait(42);
        // Awaited outside CHECK: g++ 12 awaits a co_await inside CHECK twice (README, compiler
        // notes), and the second await of the offloaded call hung.
        const int value = co_await std::move(got);
        const bool sleeper_cancelled = co_await std::move(sleeper);
        CHECK(value == 42);
        CHECK(sleeper_cancelled);
    }());
}
