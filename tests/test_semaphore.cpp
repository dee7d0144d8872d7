// semaphore and bounded_semaphore: permits, FIFO, nothing lost to cancellation.
#include "helpers.hpp"

#include <memory>

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

TEST_CASE("a permit handed to a waiter that is then cancelled goes back and the acquire throws",
          "[semaphore][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::semaphore sem(0);
        bool got = false;
        auto waiter = eddy::create_task([&]() -> eddy::task<> {
            co_await sem.acquire();
            got = true; // never reached: asyncio's acquire raises here too
        });
        co_await eddy::sleep(1ms);
        sem.release(); // straight to the waiter
        waiter.cancel();
        CHECK_THROWS_AS(co_await waiter, eddy::cancelled_error);
        CHECK_FALSE(got);
        CHECK(sem.value() == 1);
    }());
}

TEST_CASE("a permit handed to the next waiter after a cancelled one reaches it",
          "[semaphore][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::semaphore sem(0);
        auto first = eddy::create_task([&]() -> eddy::task<> { co_await sem.acquire(); });
        auto second = eddy::create_task([&]() -> eddy::task<int> {
            co_await sem.acquire();
            co_return 2;
        });
        co_await eddy::sleep(1ms);
        sem.release(); // to `first`
        first.cancel();
        CHECK_THROWS_AS(co_await first, eddy::cancelled_error);
        const int got = co_await second;
        CHECK(got == 2);
        CHECK(sem.value() == 0); // `second` holds it
    }());
}

TEST_CASE("permits handed to cancelled wrappers (gather, create_task, task_group) are not lost",
          "[semaphore][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::semaphore sem(0);
        auto in_gather = eddy::create_task(
            [&]() -> eddy::task<> { (void)co_await eddy::gather(sem.acquire(), eddy::sleep(1h)); });
        auto wrapped = eddy::create_task(sem.acquire());
        auto in_group = eddy::create_task([&]() -> eddy::task<> {
            co_await eddy::with_task_group([&](eddy::task_group& tg) -> eddy::task<> {
                (void)tg.create_task(sem.acquire());
                (void)tg.create_task(eddy::sleep(1h));
                co_return;
            });
        });
        co_await eddy::sleep(1ms);
        sem.release();
        sem.release();
        sem.release(); // one to each waiter, none resumed yet
        in_gather.cancel();
        wrapped.cancel();
        in_group.cancel();
        CHECK_THROWS_AS(co_await in_gather, eddy::cancelled_error);
        CHECK_THROWS_AS(co_await wrapped, eddy::cancelled_error);
        CHECK_THROWS_AS(co_await in_group, eddy::cancelled_error);
        CHECK(sem.value() == 3);
    }());
}

TEST_CASE("bounded_semaphore::with refuses a body that released the permit itself", "[semaphore]") {
    eddy::run([]() -> eddy::task<> {
        eddy::bounded_semaphore b(1);
        CHECK_THROWS_AS(co_await b.with([&]() -> eddy::task<> {
            b.release();
            co_return;
        }),
                        eddy::invalid_state_error);
        CHECK(b.value() == 1); // not 2: the bound holds
        const int v = co_await b.with([&]() -> eddy::task<int> {
            CHECK(b.value() == 0);
            co_return 5;
        });
        CHECK(v == 5);
        CHECK(b.value() == 1);
        CHECK_THROWS_AS(co_await b.with([]() -> eddy::task<> {
            throw std::runtime_error("body");
            co_return;
        }),
                        std::runtime_error);
        CHECK(b.value() == 1);
    }());
}

TEST_CASE("a bounded semaphore refuses a release beyond its initial value", "[semaphore]") {
    eddy::bounded_semaphore sem(2);
    CHECK_THROWS_AS(sem.release(), eddy::invalid_state_error);
    CHECK(sem.try_acquire());
    sem.release();
    CHECK(sem.value() == 2);
}

TEST_CASE("a semaphore destroyed after handing a permit to a waiter that is then cancelled is not "
          "touched again",
          "[semaphore][cancel]") {
    eddy::run([]() -> eddy::task<> {
        auto sem = std::make_unique<eddy::semaphore>(0);
        auto waiter =
            eddy::create_task([s = sem.get()]() -> eddy::task<> { co_await s->acquire(); });
        co_await eddy::sleep(1ms);
        sem->release(); // handed to the waiter
        waiter.cancel();
        sem.reset(); // gone before the waiter resumes: it must not give the permit back to it
        const bool cancelled = co_await eddy_test::ends_cancelled(waiter);
        CHECK_FALSE(cancelled); // it keeps the permit of the dead semaphore; the cancel waits
    }());
}

TEST_CASE("releasing a bounded semaphore whose permit went to a waiter that has not run yet, "
          "one time too many, is an error as in asyncio",
          "[semaphore]") {
    eddy::run([]() -> eddy::task<> {
        eddy::bounded_semaphore b(1);
        CHECK(b.try_acquire());
        auto waiter = eddy::create_task([&]() -> eddy::task<> { co_await b.acquire(); });
        co_await eddy::sleep(1ms);
        b.release(); // handed to the waiter, which has not run yet
        CHECK_THROWS_AS(b.release(), eddy::invalid_state_error); // a second holder otherwise
        co_await waiter;
        b.release(); // the waiter's permit: fine
        CHECK(b.value() == 1);
    }());
}
