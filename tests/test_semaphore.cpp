// semaphore and bounded_semaphore: permits, FIFO, nothing lost to cancellation.
#include "helpers.hpp"

#include <algorithm>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("a semaphore lets at most its value of tasks in, in arrival order", "[semaphore]") {
    eddy::run([]() -> eddy::task<> {
        eddy::semaphore sem(2);
        int inside = 0;
        int max_inside = 0;
        std::vector<int> order;
        std::vector<eddy::task_handle<void>> hs;
        hs.reserve(6);
        for (int i = 0; i < 6; ++i) {
            hs.push_back(eddy::create_task([&, i]() -> eddy::task<> {
                co_await sem.with([&]() -> eddy::task<> {
                    order.push_back(i);
                    max_inside = std::max(max_inside, ++inside);
                    co_await eddy::sleep(1ms);
                    --inside;
                });
            }));
        }
        co_await eddy::gather(hs);
        CHECK(max_inside == 2);
        CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5});
        CHECK(sem.value() == 2);
    }());
}

TEST_CASE("a task cancelled while waiting for a permit takes none", "[semaphore][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::semaphore sem(1);
        co_await sem.acquire();
        CHECK(sem.locked());
        auto waiter = eddy::create_task([&]() -> eddy::task<> { co_await sem.acquire(); });
        co_await eddy::sleep(1ms);
        waiter.cancel();
        CHECK_THROWS_AS(co_await waiter, eddy::cancelled_error);
        sem.release();
        CHECK(sem.value() == 1); // the permit was not handed to the cancelled waiter
        CHECK(sem.try_acquire());
        sem.release();
    }());
}

TEST_CASE("a permit handed to a waiter that is then cancelled is not lost", "[semaphore][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::semaphore sem(0);
        bool got = false;
        auto waiter = eddy::create_task([&]() -> eddy::task<> {
            co_await sem.acquire();
            got = true;
            sem.release(); // it got the permit; it gives it back in its cleanup path
            co_await eddy::sleep(1h);
        });
        co_await eddy::sleep(1ms);
        sem.release(); // straight to the waiter
        waiter.cancel();
        CHECK_THROWS_AS(co_await waiter, eddy::cancelled_error);
        CHECK(got); // it was served, then cancelled at its next await
        CHECK(sem.value() == 1);
    }());
}

TEST_CASE("a bounded semaphore refuses a release beyond its initial value", "[semaphore]") {
    eddy::bounded_semaphore sem(2);
    CHECK_THROWS_AS(sem.release(), eddy::invalid_state_error);
    CHECK(sem.try_acquire());
    sem.release();
    CHECK(sem.value() == 2);
}
