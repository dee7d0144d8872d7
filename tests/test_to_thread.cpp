// to_thread, run_in_executor, call_soon_threadsafe and loop_handle: results and exceptions come
// back, cancellation withdraws or abandons, completions arrive batched, nothing leaks.
#include "helpers.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {
// Spins until `flag` is set (threads in these tests wait for each other briefly).
void wait_for_flag(const std::atomic<bool>& flag) {
    while (!flag.load()) {
        std::this_thread::sleep_for(100us);
    }
}
} // namespace

TEST_CASE("to_thread returns the call's value computed on another thread", "[to_thread]") {
    const auto loop_thread = std::this_thread::get_id();
    eddy::run([&]() -> eddy::task<> {
        const auto id = co_await eddy::to_thread([] { return std::this_thread::get_id(); });
        CHECK(id != loop_thread);
        const int sum = co_await eddy::to_thread([](int a, int b) { return a + b; }, 2, 3);
        CHECK(sum == 5);
    }());
}

TEST_CASE("to_thread rethrows the exception the call threw", "[to_thread]") {
    eddy::run([]() -> eddy::task<> {
        bool caught = false;
        try {
            co_await eddy::to_thread([] { throw std::out_of_range("deep in a thread"); });
        } catch (const std::out_of_range& e) {
            caught = std::string(e.what()) == "deep in a thread";
        }
        CHECK(caught);
    }());
}

TEST_CASE("to_thread handles void, reference and move-only results and arguments", "[to_thread]") {
    static int shared_value = 0;
    eddy::run([]() -> eddy::task<> {
        int& ref = co_await eddy::to_thread([]() -> int& { return shared_value; });
        CHECK(&ref == &shared_value);
        co_await eddy::to_thread([](int v) { shared_value = v; }, 7);
        CHECK(shared_value == 7);
        auto p = co_await eddy::to_thread(
            [](std::unique_ptr<int> q) {
                *q += 1;
                return q;
            },
            std::make_unique<int>(41));
        CHECK(*p == 42);
    }());
}

TEST_CASE("10,000 offloaded calls all complete, sequentially and concurrently", "[to_thread]") {
    const auto frames = eddy::live_frames();
    std::atomic<int> ran{0};
    eddy::run([&]() -> eddy::task<> {
        for (int i = 0; i < 5000; ++i) {
            const int v = co_await eddy::to_thread([&ran, i] {
                ran.fetch_add(1);
                return i;
            });
            if (v != i) {
                FAIL("wrong result");
            }
        }
        auto one = [&ran](int i) -> eddy::task<int> {
            co_return co_await eddy::to_thread([&ran, i] {
                ran.fetch_add(1);
                return i * 2;
            });
        };
        std::vector<eddy::task<int>> tasks;
        tasks.reserve(5000);
        for (int i = 0; i < 5000; ++i) {
            tasks.push_back(one(i));
        }
        const auto results = co_await eddy::gather(std::move(tasks));
        long long sum = 0;
        for (int r : results) {
            sum += r;
        }
        CHECK(sum == 2LL * 4999 * 5000 / 2);
        CHECK(eddy::get_running_loop().default_pool().thread_count() <=
              eddy::thread_pool::default_max_threads());
    }());
    CHECK(ran.load() == 10000);
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("run_in_executor runs on the given pool and never exceeds its threads", "[to_thread]") {
    eddy::thread_pool pool(2);
    std::atomic<int> running{0};
    std::atomic<int> peak{0};
    eddy::run([&]() -> eddy::task<> {
        auto one = [&]() -> eddy::task<> {
            co_await eddy::run_in_executor(pool, [&] {
                const int now = running.fetch_add(1) + 1;
                int seen = peak.load();
                while (now > seen && !peak.compare_exchange_weak(seen, now)) {
                }
                std::this_thread::sleep_for(2ms);
                running.fetch_sub(1);
            });
        };
        std::vector<eddy::task<>> tasks;
        tasks.reserve(12);
        for (int i = 0; i < 12; ++i) {
            tasks.push_back(one());
        }
        co_await eddy::gather(std::move(tasks));
    }());
    CHECK(peak.load() >= 1);
    CHECK(peak.load() <= 2);
    CHECK(pool.thread_count() <= 2);
}

TEST_CASE("cancelling a queued offload withdraws it and it never runs", "[to_thread]") {
    eddy::thread_pool pool(1);
    std::atomic<bool> release{false};
    std::atomic<bool> second_ran{false};
    const auto frames = eddy::live_frames();
    eddy::run([&]() -> eddy::task<> {
        auto blocker = eddy::create_task([&]() -> eddy::task<> {
            co_await eddy::run_in_executor(pool, [&] { wait_for_flag(release); });
        });
        auto queued = eddy::create_task([&]() -> eddy::task<> {
            co_await eddy::run_in_executor(pool, [&] { second_ran = true; });
        });
        co_await eddy::sleep(5ms); // both submitted; the only thread runs the first
        queued.cancel();
        const bool cancelled = co_await eddy_test::ends_cancelled(queued);
        CHECK(cancelled);
        release = true;
        co_await blocker;
    }());
    CHECK_FALSE(second_ran.load());
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("cancelling a running offload stops the wait and the call finishes in the background",
          "[to_thread]") {
    std::atomic<bool> started{false};
    std::atomic<bool> release{false};
    std::atomic<bool> finished{false};
    const auto frames = eddy::live_frames();
    bool cancelled = false;
    eddy::run([&]() -> eddy::task<> {
        auto h = eddy::create_task([&]() -> eddy::task<std::string> {
            co_return co_await eddy::to_thread([&] {
                started = true;
                wait_for_flag(release);
                finished = true;
                return std::string(100, 'x'); // a result that must be freed, not leaked
            });
        });
        while (!started.load()) {
            co_await eddy::sleep(1ms);
        }
        h.cancel();
        try {
            (void)co_await h;
        } catch (const eddy::cancelled_error&) {
            cancelled = true;
        }
        CHECK_FALSE(finished.load()); // the wait ended while the call still ran
        release = true;
    }());
    CHECK(cancelled);
    CHECK(finished.load()); // run() waited for the pool before returning
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("a cancel that arrives after the result came back keeps the result", "[to_thread]") {
    eddy::run([]() -> eddy::task<> {
        auto h = eddy::create_task([]() -> eddy::task<int> {
            const int v = co_await eddy::to_thread([] { return 5; });
            co_return v;
        });
        // Let the result arrive, then cancel: the handle's task is already done or gets the
        // value; either way no value is lost to a cancel that came too late.
        while (!h.done()) {
            co_await eddy::sleep(1ms);
        }
        h.cancel();
        const int v = co_await h;
        CHECK(v == 5);
    }());
}

TEST_CASE("call_soon_threadsafe from 4 threads runs every callback on the loop thread",
          "[to_thread][threadsafe]") {
    constexpr int per_thread = 1000;
    int count = 0; // touched only on the loop thread
    bool wrong_thread = false;
    const auto loop_thread = std::this_thread::get_id();
    eddy::run([&]() -> eddy::task<> {
        eddy::event all_done;
        std::vector<std::thread> threads;
        {
            eddy::loop_handle handle;
            for (int t = 0; t < 4; ++t) {
                threads.emplace_back([&, handle] {
                    for (int i = 0; i < per_thread; ++i) {
                        handle.call_soon_threadsafe([&] {
                            wrong_thread =
                                wrong_thread || std::this_thread::get_id() != loop_thread;
                            if (++count == 4 * per_thread) {
                                all_done.set();
                            }
                        });
                    }
                });
            }
        }
        co_await all_done.wait();
        for (auto& t : threads) {
            t.join();
        }
    }());
    CHECK(count == 4 * per_thread);
    CHECK_FALSE(wrong_thread);
}

TEST_CASE("a loop_handle keeps an otherwise idle loop waiting for a thread's post",
          "[to_thread][threadsafe]") {
    eddy::run([]() -> eddy::task<> {
        eddy::future<int> answer;
        std::thread t([&answer, handle = eddy::loop_handle()] {
            std::this_thread::sleep_for(20ms);
            handle.call_soon_threadsafe([&answer] { answer.set_result(42); });
        });
        // Nothing else is pending: without the handle this would be reported as a deadlock.
        const int v = co_await answer;
        CHECK(v == 42);
        t.join();
    }());
}

TEST_CASE("call_soon_threadsafe after the loop shut down throws loop_error",
          "[to_thread][threadsafe]") {
    std::optional<eddy::loop_handle> kept;
    eddy::run([&]() -> eddy::task<> {
        kept.emplace();
        co_return;
    }());
    CHECK_THROWS_AS(kept->call_soon_threadsafe([] {}), eddy::loop_error);
}

TEST_CASE("a burst of posts from another thread costs one wake-up", "[to_thread][threadsafe]") {
    std::uint64_t wakes = 0;
    eddy::run([&]() -> eddy::task<> {
        auto& loop = eddy::get_running_loop();
        const std::uint64_t before = loop.inbox()->wakes();
        std::atomic<bool> posted{false};
        int ran = 0;
        eddy::event done;
        std::thread t([&, handle = eddy::loop_handle()] {
            for (int i = 0; i < 500; ++i) {
                handle.call_soon_threadsafe([&] {
                    if (++ran == 500) {
                        done.set();
                    }
                });
            }
            posted = true;
        });
        // The loop thread is busy (blocked here) while all 500 arrive: they form one batch.
        wait_for_flag(posted);
        co_await done.wait();
        t.join();
        wakes = loop.inbox()->wakes() - before;
        CHECK(ran == 500);
    }());
    CHECK(wakes == 1);
}

TEST_CASE("an exception thrown by a threadsafe callback is reported and the loop goes on",
          "[to_thread][threadsafe]") {
    const std::string err = eddy_test::capture_stderr([] {
        eddy::run([]() -> eddy::task<> {
            eddy::event done;
            std::thread t([&done, handle = eddy::loop_handle()] {
                handle.call_soon_threadsafe([] { throw std::runtime_error("boom from thread"); });
                handle.call_soon_threadsafe([&done] { done.set(); });
            });
            co_await done.wait();
            t.join();
        }());
    });
    CHECK(err.find("boom from thread") != std::string::npos);
}
