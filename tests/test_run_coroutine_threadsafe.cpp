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
        const auto ran_on = co_await eddy::to_thread(
            [&loop] { return eddy::run_coroutine_threadsafe(where_am_i(), loop).get(); });
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
            auto f = eddy::run_coroutine_threadsafe(fails(), loop);
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
    eddy::run([&]() -> eddy::task<> {
        const eddy::loop_handle loop;
        const bool cancelled = co_await eddy::to_thread([&] {
            auto f = eddy::run_coroutine_threadsafe(
                [&]() -> eddy::task<int> {
                    try {
                        co_await eddy::sleep(1h);
                    } catch (const eddy::cancelled_error&) {
                        saw_cancel = true;
                        throw;
                    }
                    co_return 1;
                },
                loop);
            if (f.wait_for(20ms) != std::future_status::timeout) {
                return false;
            }
            if (!f.cancel()) {
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
    CHECK_THROWS_AS((void)eddy::run_coroutine_threadsafe(where_am_i(), *loop), eddy::loop_error);
    CHECK_FALSE(eddy::concurrent_future<int>().cancel());
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
