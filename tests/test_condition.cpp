// condition: wait releases and re-takes the lock; notify wakes FIFO; no lost wake-up.
#include "helpers.hpp"

#include <vector>

using namespace std::chrono_literals;

TEST_CASE("notify wakes waiters one at a time in order, notify_all wakes the rest", "[condition]") {
    eddy::run([]() -> eddy::task<> {
        eddy::condition cv;
        std::vector<int> woke;
        std::vector<eddy::task_handle<void>> hs;
        hs.reserve(3);
        for (int i = 0; i < 3; ++i) {
            hs.push_back(eddy::create_task([&, i]() -> eddy::task<> {
                auto g = co_await cv.acquire();
                co_await cv.wait();
                CHECK(cv.locked()); // the lock is held again on return
                woke.push_back(i);
            }));
        }
        co_await eddy::sleep(1ms);
        {
            auto g = co_await cv.acquire();
            cv.notify();
        }
        co_await eddy::sleep(1ms);
        CHECK(woke == std::vector<int>{0});
        {
            auto g = co_await cv.acquire();
            cv.notify_all();
        }
        co_await eddy::gather(hs);
        CHECK(woke == std::vector<int>{0, 1, 2});
    }());
}

TEST_CASE("wait_for returns once the predicate holds", "[condition]") {
    eddy::run([]() -> eddy::task<> {
        eddy::condition cv;
        int stock = 0;
        auto consumer = eddy::create_task([&]() -> eddy::task<> {
            auto g = co_await cv.acquire();
            co_await cv.wait_for([&] { return stock >= 3; });
            stock -= 3;
        });
        for (int i = 0; i < 3; ++i) {
            co_await eddy::sleep(1ms);
            auto g = co_await cv.acquire();
            ++stock;
            cv.notify();
        }
        co_await consumer;
        CHECK(stock == 0);
    }());
}

TEST_CASE("wait and notify without the lock are invalid_state_errors", "[condition]") {
    eddy::run([]() -> eddy::task<> {
        eddy::condition cv;
        CHECK_THROWS_AS(cv.notify(), eddy::invalid_state_error);
        CHECK_THROWS_AS(co_await cv.wait(), eddy::invalid_state_error);
    }());
}

TEST_CASE("a wait cancelled while the lock is held elsewhere re-takes the lock before throwing",
          "[condition][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::condition cv;
        bool held_when_cancelled = false;
        auto waiter = eddy::create_task([&]() -> eddy::task<> {
            auto g = co_await cv.acquire();
            bool cancelled = false;
            try {
                co_await cv.wait();
            } catch (const eddy::cancelled_error&) {
                cancelled = true;
                held_when_cancelled = cv.locked();
            }
            REQUIRE(cancelled);
        });
        co_await eddy::sleep(1ms);
        auto g = co_await cv.acquire(); // hold the lock while cancelling the waiter
        waiter.cancel();
        co_await eddy::sleep(1ms);
        CHECK_FALSE(waiter.done()); // it must wait for the lock first
        g.unlock();
        co_await waiter;
        CHECK(held_when_cancelled);
        CHECK_FALSE(cv.locked());
    }());
}

TEST_CASE("a notified waiter cancelled before it resumes does not lose the wake-up",
          "[condition][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::condition cv;
        bool returned_normally = false;
        auto waiter = eddy::create_task([&]() -> eddy::task<> {
            auto g = co_await cv.acquire();
            co_await cv.wait();
            returned_normally = true; // the notification was delivered
            g.unlock();
            co_await eddy::sleep(1h); // the cancellation lands here
        });
        co_await eddy::sleep(1ms);
        {
            auto g = co_await cv.acquire();
            cv.notify();
        }
        waiter.cancel();
        CHECK_THROWS_AS(co_await waiter, eddy::cancelled_error);
        CHECK(returned_normally);
    }());
}

TEST_CASE("a notified waiter cancelled while re-taking the lock passes the notification on",
          "[condition][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::condition cv;
        int items = 0;
        bool second_got_item = false;
        auto consumer = [&](bool* got) -> eddy::task<> {
            auto g = co_await cv.acquire();
            auto pred = [&] { return items > 0; };
            co_await cv.wait_for(pred);
            --items;
            *got = true;
        };
        bool first_got_item = false;
        auto c1 = [&] { return consumer(&first_got_item); };
        auto c2 = [&] { return consumer(&second_got_item); };
        auto t1 = eddy::create_task(c1);
        auto t2 = eddy::create_task(c2);
        co_await eddy::sleep(1ms);
        {
            auto g = co_await cv.acquire();
            ++items;
            cv.notify(1); // to t1, which is then cancelled while it waits for the lock
            t1.cancel();
            co_await eddy::sleep(1ms);
        }
        CHECK_THROWS_AS(co_await t1, eddy::cancelled_error);
        co_await t2; // woken by the notification t1 passed on
        CHECK_FALSE(first_got_item);
        CHECK(second_got_item);
        CHECK(items == 0);
    }());
}
