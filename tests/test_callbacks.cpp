// call_soon, call_later, call_at: ordering, cancellation, errors, shutdown.
#include "helpers.hpp"

#include <string>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("call_soon callbacks run in FIFO order on a later turn", "[callbacks]") {
    std::vector<int> order;
    eddy::run([&]() -> eddy::task<> {
        for (int i = 0; i < 5; ++i) {
            (void)eddy::call_soon([&order, i] { order.push_back(i); });
        }
        CHECK(order.empty());
        co_await eddy::yield();
    }());
    CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
}

TEST_CASE("call_later and call_at run by deadline, equal deadlines in scheduling order",
          "[callbacks]") {
    std::vector<std::string> order;
    eddy::run([&]() -> eddy::task<> {
        // Deadlines from one time base (a preempted test thread cannot reorder them); the
        // relative call_later is scheduled last with the longest delay for the same reason.
        const auto base = eddy::time();
        (void)eddy::call_at(base + 5ms, [&] { order.emplace_back("a"); });
        (void)eddy::call_at(base + 5ms, [&] { order.emplace_back("b"); });
        (void)eddy::call_at(base + 1ms, [&] { order.emplace_back("early"); });
        (void)eddy::call_later(8ms, [&] { order.emplace_back("late"); });
        while (order.size() < 4) {
            co_await eddy::sleep(1ms);
        }
    }());
    CHECK(order == std::vector<std::string>{"early", "a", "b", "late"});
}

TEST_CASE("a cancelled callback never runs, cancel after it ran returns false", "[callbacks]") {
    int ran = 0;
    eddy::run([&]() -> eddy::task<> {
        auto soon = eddy::call_soon([&] { ran += 1; });
        auto later = eddy::call_later(1ms, [&] { ran += 10; });
        auto kept = eddy::call_soon([&] { ran += 100; });
        CHECK(soon.cancel());
        CHECK(later.cancel());
        CHECK_FALSE(later.cancel());
        CHECK(later.cancelled());
        co_await eddy::sleep(10ms);
        CHECK(kept.done());
        CHECK_FALSE(kept.cancel());
    }());
    CHECK(ran == 100);
}

TEST_CASE("an exception escaping a callback is reported and the loop goes on", "[callbacks]") {
    bool after = false;
    const std::string err = eddy_test::capture_stderr([&] {
        eddy::run([&]() -> eddy::task<> {
            (void)eddy::call_soon([] { throw std::runtime_error("callback broke"); });
            (void)eddy::call_soon([&] { after = true; });
            co_await eddy::yield();
        }());
    });
    CHECK(after);
    CHECK(err.find("callback broke") != std::string::npos);
}

TEST_CASE("a call_soon from main's last step still runs at shutdown, a timer not yet due is "
          "dropped without leaking, and a callback posting itself again cannot hold run",
          "[callbacks]") {
    const auto frames = eddy::live_frames();
    bool timer_ran = false;
    bool soon_ran = false;
    int reposts = 0;
    eddy::run([&]() -> eddy::task<> {
        (void)eddy::call_later(1h, [&] { timer_ran = true; });
        (void)eddy::call_soon([&] { soon_ran = true; }); // as asyncio.run runs it
        struct again {
            int* n;
            void operator()() const {
                ++*n;
                (void)eddy::call_soon(again{n});
            }
        };
        (void)eddy::call_soon(again{&reposts});
        co_return;
    }());
    CHECK(soon_ran);
    CHECK_FALSE(timer_ran);
    CHECK(reposts == 1); // one more turn at shutdown, not one per repost
    CHECK(eddy::live_frames() == frames);
}
