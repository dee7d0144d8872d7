// event: a flag tasks wait for.
#include "helpers.hpp"

#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("waiting on a set event returns at once, set wakes every waiter in order", "[event]") {
    eddy::run([]() -> eddy::task<> {
        eddy::event ev;
        std::vector<int> order;
        std::vector<eddy::task_handle<void>> hs;
        hs.reserve(3);
        for (int i = 0; i < 3; ++i) {
            hs.push_back(eddy::create_task([&ev, &order, i]() -> eddy::task<> {
                co_await ev.wait();
                order.push_back(i);
            }));
        }
        co_await eddy::sleep(1ms);
        CHECK(order.empty());
        CHECK_FALSE(ev.is_set());
        ev.set();
        CHECK(ev.is_set());
        co_await eddy::gather(hs);
        CHECK(order == std::vector<int>{0, 1, 2});
        co_await ev.wait(); // set: no wait
        ev.clear();
        CHECK_FALSE(ev.is_set());
    }());
}

TEST_CASE("a waiter cancelled on an event leaves the others waiting", "[event][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::event ev;
        bool other_woke = false;
        auto cancelled = eddy::create_task([&]() -> eddy::task<> { co_await ev.wait(); });
        auto other = eddy::create_task([&]() -> eddy::task<> {
            co_await ev.wait();
            other_woke = true;
        });
        co_await eddy::sleep(1ms);
        cancelled.cancel();
        CHECK_THROWS_AS(co_await cancelled, eddy::cancelled_error);
        CHECK_FALSE(other_woke);
        ev.set();
        co_await other;
        CHECK(other_woke);
    }());
}

TEST_CASE("a task waiting on an event that is destroyed gets invalid_state_error", "[event]") {
    eddy::run([]() -> eddy::task<> {
        auto ev = std::make_unique<eddy::event>();
        auto waiter = eddy::create_task([&]() -> eddy::task<> { co_await ev->wait(); });
        co_await eddy::sleep(1ms);
        ev.reset();
        CHECK_THROWS_AS(co_await waiter, eddy::invalid_state_error);
    }());
}

TEST_CASE("waiting on an event allocates nothing", "[event][alloc]") {
    eddy::run([]() -> eddy::task<> {
        eddy::event ev;
        auto setter = eddy::create_task([&]() -> eddy::task<> {
            for (int i = 0; i < 1100; ++i) {
                co_await eddy::yield();
                ev.set();
            }
        });
        for (int i = 0; i < 100; ++i) {
            ev.clear();
            co_await ev.wait();
        }
        const auto allocs = eddy_test::allocations();
        for (int i = 0; i < 1000; ++i) {
            ev.clear();
            co_await ev.wait();
        }
        CHECK(eddy_test::allocations() == allocs);
        co_await setter;
    }());
}
