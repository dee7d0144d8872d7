// lock: mutual exclusion, FIFO hand-over, nothing lost to cancellation.
#include "helpers.hpp"

#include <algorithm>
#include <stdexcept>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("a lock keeps critical sections that await from interleaving", "[lock]") {
    eddy::run([]() -> eddy::task<> {
        eddy::lock lk;
        int inside = 0;
        int max_inside = 0;
        std::vector<int> order;
        std::vector<eddy::task_handle<void>> hs;
        hs.reserve(5);
        for (int i = 0; i < 5; ++i) {
            hs.push_back(eddy::create_task([&, i]() -> eddy::task<> {
                auto guard = co_await lk.acquire();
                ++inside;
                max_inside = std::max(max_inside, inside);
                order.push_back(i);
                co_await eddy::sleep(1ms); // hold the lock across an await
                --inside;
            }));
        }
        co_await eddy::gather(hs);
        CHECK(max_inside == 1);
        CHECK(order == std::vector<int>{0, 1, 2, 3, 4}); // FIFO
        CHECK_FALSE(lk.locked());
    }());
}

TEST_CASE("releasing a lock nobody holds is an invalid_state_error, try_acquire", "[lock]") {
    eddy::lock lk;
    CHECK_THROWS_AS(lk.release(), eddy::invalid_state_error);
    CHECK(lk.try_acquire());
    CHECK_FALSE(lk.try_acquire());
    CHECK(lk.locked());
    lk.release();
    CHECK_FALSE(lk.locked());
}

TEST_CASE("a task cancelled while waiting for a lock takes nothing, the next waiter gets it",
          "[lock][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::lock lk;
        auto held = co_await lk.acquire();
        bool second_got_it = false;
        auto first = eddy::create_task([&]() -> eddy::task<> { auto g = co_await lk.acquire(); });
        auto second = eddy::create_task([&]() -> eddy::task<> {
            auto g = co_await lk.acquire();
            second_got_it = true;
        });
        co_await eddy::sleep(1ms);
        first.cancel();
        CHECK_THROWS_AS(co_await first, eddy::cancelled_error);
        held.unlock();
        co_await second;
        CHECK(second_got_it);
        CHECK_FALSE(lk.locked());
    }());
}

TEST_CASE("a waiter handed the lock and cancelled before it resumes passes it on and its acquire "
          "throws, as asyncio's does",
          "[lock][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::lock lk;
        auto held = co_await lk.acquire();
        bool got = false;
        auto waiter = eddy::create_task([&]() -> eddy::task<> {
            auto g = co_await lk.acquire();
            got = true;
        });
        auto next = eddy::create_task([&]() -> eddy::task<bool> {
            auto g = co_await lk.acquire();
            co_return lk.locked();
        });
        co_await eddy::sleep(1ms);
        held.unlock(); // hands the lock to the waiter (woken, not yet resumed)
        waiter.cancel();
        CHECK_THROWS_AS(co_await waiter, eddy::cancelled_error);
        CHECK_FALSE(got);
        const bool next_held_it = co_await next; // not lost: passed on to the next waiter
        CHECK(next_held_it);
        CHECK_FALSE(lk.locked());
        CHECK(lk.try_acquire());
        lk.release();
    }());
}

TEST_CASE("a gather waiting for a lock, cancelled as the lock is handed to it, leaves it free",
          "[lock][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::lock lk;
        auto held = co_await lk.acquire();
        auto worker = eddy::create_task(
            [&]() -> eddy::task<> { (void)co_await eddy::gather(lk.acquire(), eddy::sleep(1h)); });
        co_await eddy::sleep(1ms);
        held.unlock(); // to the gather's hidden task, which nobody will read
        worker.cancel();
        CHECK_THROWS_AS(co_await worker, eddy::cancelled_error);
        CHECK_FALSE(lk.locked());
        CHECK(lk.try_acquire()); // free, not still handed to the gone task
        lk.release();
    }());
}

TEST_CASE("lock::with releases the lock however the body ends", "[lock]") {
    eddy::run([]() -> eddy::task<> {
        eddy::lock lk;
        const int v = co_await lk.with([&]() -> eddy::task<int> {
            CHECK(lk.locked());
            co_return 3;
        });
        CHECK(v == 3);
        CHECK_FALSE(lk.locked());
        CHECK_THROWS_AS(co_await lk.with([]() -> eddy::task<> {
            co_await eddy::yield();
            throw std::runtime_error("x");
        }),
                        std::runtime_error);
        CHECK_FALSE(lk.locked());
    }());
}

TEST_CASE("a lock passed to a waiter reads unlocked until the waiter resumes, as asyncio's, and "
          "nobody else can take it or release it meanwhile",
          "[lock]") {
    eddy::run([]() -> eddy::task<> {
        eddy::lock lk;
        auto held = co_await lk.acquire();
        bool locked_inside = false;
        auto waiter = eddy::create_task([&]() -> eddy::task<> {
            auto g = co_await lk.acquire();
            locked_inside = lk.locked();
        });
        co_await eddy::yield(); // the waiter queues
        held.unlock();          // passes the lock to it; it has not resumed yet
        CHECK_FALSE(lk.locked());
        CHECK_FALSE(lk.try_acquire());                            // it is the waiter's
        CHECK_THROWS_AS(lk.release(), eddy::invalid_state_error); // not held by this task
        co_await waiter;
        CHECK(locked_inside);
        CHECK_FALSE(lk.locked());
        CHECK(lk.try_acquire());
        lk.release();
    }());
}
