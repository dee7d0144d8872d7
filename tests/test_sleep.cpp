// sleep, sleep_until, yield: timer order, FIFO for equal deadlines, fairness, no allocation.
#include "helpers.hpp"

#include <atomic>
#include <cmath>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("timers fire in deadline order", "[sleep]") {
    std::vector<int> order;
    eddy::run([&]() -> eddy::task<> {
        std::vector<eddy::task<>> ts;
        ts.reserve(50);
        std::mt19937 rng(12345);
        std::vector<int> delays;
        delays.reserve(50);
        for (int i = 0; i < 50; ++i) {
            delays.push_back(static_cast<int>(rng() % 40));
        }
        // One base for every deadline: sleep(d) from tasks started one after another would
        // let a preempted test thread reorder timers 1 ms apart.
        const auto base = eddy::time();
        for (int d : delays) {
            ts.push_back(
                [](eddy::clock::time_point when, int d, std::vector<int>& out) -> eddy::task<> {
                    co_await eddy::sleep_until(when);
                    out.push_back(d);
                }(base + std::chrono::milliseconds(d), d, order));
        }
        co_await eddy::gather(std::move(ts));
    }());
    REQUIRE(order.size() == 50);
    CHECK(std::is_sorted(order.begin(), order.end()));
}

TEST_CASE("timers with equal deadlines fire in the order they were set", "[sleep]") {
    std::vector<int> order;
    eddy::run([&]() -> eddy::task<> {
        const auto when = eddy::time() + 5ms;
        std::vector<eddy::task<>> ts;
        ts.reserve(100);
        for (int i = 0; i < 100; ++i) {
            ts.push_back(
                [](eddy::clock::time_point w, int i, std::vector<int>& out) -> eddy::task<> {
                    co_await eddy::sleep_until(w);
                    out.push_back(i);
                }(when, i, order));
        }
        co_await eddy::gather(std::move(ts));
    }());
    REQUIRE(order.size() == 100);
    CHECK(std::is_sorted(order.begin(), order.end()));
}

TEST_CASE("yield is fair: a task that yields goes behind the others", "[sleep]") {
    std::string trace;
    eddy::run([&]() -> eddy::task<> {
        auto worker = [&trace](char c) -> eddy::task<> {
            for (int i = 0; i < 3; ++i) {
                trace += c;
                co_await eddy::yield();
            }
        };
        co_await eddy::gather(worker('a'), worker('b'), worker('c'));
    }());
    CHECK(trace == "abcabcabc");
}

TEST_CASE("sleep(0) yields like asyncio.sleep(0)", "[sleep]") {
    std::string trace;
    eddy::run([&]() -> eddy::task<> {
        auto other = eddy::create_task([&]() -> eddy::task<> {
            trace += "other ";
            co_return;
        });
        co_await eddy::sleep(0s);
        trace += "main";
    }());
    CHECK(trace == "other main");
}

TEST_CASE("a sleep lasts at least its duration", "[sleep]") {
    eddy::run([]() -> eddy::task<> {
        const auto t0 = eddy::time();
        co_await eddy::sleep(20ms);
        const auto took = eddy::time() - t0;
        CHECK(took >= 20ms);
        CHECK(took < 2s); // generous: shared machines are noisy
    }());
}

TEST_CASE("a sleep_until in the past returns after one yield", "[sleep]") {
    eddy::run([]() -> eddy::task<> {
        co_await eddy::sleep_until(eddy::time() - 1h);
        co_return;
    }());
}

TEST_CASE("a cancelled sleep leaves the timer heap at once", "[sleep][cancel]") {
    eddy::run([]() -> eddy::task<> {
        auto h = eddy::create_task([]() -> eddy::task<> { co_await eddy::sleep(24h); });
        co_await eddy::yield();
        const auto t0 = eddy::time();
        h.cancel();
        CHECK_THROWS_AS(co_await h, eddy::cancelled_error);
        CHECK(eddy::time() - t0 < 5s);
    }());
}

TEST_CASE("sleeping allocates nothing in steady state", "[sleep][alloc]") {
    eddy::run([]() -> eddy::task<> {
        co_await eddy::sleep(1us); // warm-up: the timer heap grows once
        const auto allocs = eddy_test::allocations();
        const auto frames = eddy::live_frames();
        for (int i = 0; i < 1000; ++i) {
            co_await eddy::sleep(1us);
        }
        CHECK(eddy_test::allocations() == allocs);
        CHECK(eddy::live_frames() == frames);
    }());
}

TEST_CASE("sleeping for hours::max() waits until cancelled instead of overflowing",
          "[sleep][cancel]") {
    eddy::run([]() -> eddy::task<> {
        auto h = eddy::create_task(
            []() -> eddy::task<> { co_await eddy::sleep(std::chrono::hours::max()); });
        co_await eddy::sleep(20ms);
        CHECK_FALSE(h.done());
        h.cancel();
        CHECK_THROWS_AS(co_await h, eddy::cancelled_error);
    }());
}

TEST_CASE("deadlines at the clock's extremes neither hang nor fire early, and a NaN duration "
          "counts as zero",
          "[sleep]") {
    std::atomic<bool> finished{false};
    bool watchdog_fired = false;
    bool min_sleep_done = false;
    bool at_min_fired = false;
    bool nan_fired = false;
    int never_fired = 0;
    eddy::run([&]() -> eddy::task<> {
        auto work = eddy::create_task([&]() -> eddy::task<> {
            // A deadline near INT64_MIN is in the past: it must not wrap into a wait of centuries.
            co_await eddy::sleep_until(eddy::clock::time_point::min());
            min_sleep_done = true;
            auto a = eddy::call_at(eddy::clock::time_point::min(), [&] { at_min_fired = true; });
            // Too far for the clock: never (hours::max() * 3600e9 ns overflows int64).
            auto b = eddy::call_later(std::chrono::hours::max(), [&] { ++never_fired; });
            auto c = eddy::call_later(std::chrono::nanoseconds::max(), [&] { ++never_fired; });
            auto d =
                eddy::call_later(std::chrono::duration<double>(INFINITY), [&] { ++never_fired; });
            auto e =
                eddy::call_later(std::chrono::duration<double>(NAN), [&] { nan_fired = true; });
            co_await eddy::sleep(std::chrono::duration<double>(NAN)); // returns, like sleep(0)
            co_await eddy::sleep(20ms);
            b.cancel();
            c.cancel();
            d.cancel();
        });
        // If a timer makes the loop wait for centuries, cancel the work from another thread
        // after 10 s so that the test fails instead of hanging.
        eddy::loop_handle loop;
        std::thread watchdog([&, loop] {
            for (int i = 0; i < 100 && !finished; ++i) {
                std::this_thread::sleep_for(100ms);
            }
            if (!finished) {
                loop.call_soon_threadsafe([&] {
                    watchdog_fired = true;
                    work.cancel();
                });
            }
        });
        try {
            co_await work;
        } catch (const eddy::cancelled_error&) {
        }
        finished = true;
        watchdog.join(); // at most 100 ms of blocking the loop
    }());
    CHECK_FALSE(watchdog_fired);
    CHECK(min_sleep_done);
    CHECK(at_min_fired);
    CHECK(nan_fired);
    CHECK(never_fired == 0);
}
