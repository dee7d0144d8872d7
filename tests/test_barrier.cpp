// barrier: rounds of N tasks, abort and reset.
#include "helpers.hpp"

#include <algorithm>
#include <stdexcept>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("a barrier releases its parties together, round after round", "[barrier]") {
    eddy::run([]() -> eddy::task<> {
        eddy::barrier b(3);
        std::vector<std::size_t> indices;
        int released = 0;
        auto party = [&]() -> eddy::task<> {
            for (int round = 0; round < 2; ++round) {
                indices.push_back(co_await b.wait());
                ++released;
            }
        };
        auto a = eddy::create_task(party);
        auto c = eddy::create_task(party);
        co_await eddy::sleep(1ms);
        CHECK(released == 0);
        CHECK(b.n_waiting() == 2);
        auto d = eddy::create_task(party);
        co_await eddy::gather(a, c, d);
        CHECK(released == 6);
        std::sort(indices.begin(), indices.end());
        CHECK(indices == std::vector<std::size_t>{0, 0, 1, 1, 2, 2});
    }());
}

TEST_CASE("abort breaks a barrier for its waiters and later ones until reset", "[barrier]") {
    eddy::run([]() -> eddy::task<> {
        eddy::barrier b(2);
        auto waiter = eddy::create_task([&]() -> eddy::task<> { (void)co_await b.wait(); });
        co_await eddy::sleep(1ms);
        b.abort();
        CHECK(b.broken());
        CHECK_THROWS_AS(co_await waiter, eddy::broken_barrier_error);
        CHECK_THROWS_AS(co_await b.wait(), eddy::broken_barrier_error);
        b.reset();
        CHECK_FALSE(b.broken());
        auto other = eddy::create_task([&]() -> eddy::task<> { (void)co_await b.wait(); });
        (void)co_await b.wait();
        co_await other;
    }());
}

TEST_CASE("reset wakes the waiters of the round with broken_barrier_error", "[barrier]") {
    eddy::run([]() -> eddy::task<> {
        eddy::barrier b(3);
        auto waiter = eddy::create_task([&]() -> eddy::task<> { (void)co_await b.wait(); });
        co_await eddy::sleep(1ms);
        b.reset();
        CHECK_THROWS_AS(co_await waiter, eddy::broken_barrier_error);
        CHECK(b.n_waiting() == 0);
    }());
}

TEST_CASE("a task cancelled at a barrier leaves the round one short", "[barrier][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::barrier b(2);
        auto leaver = eddy::create_task([&]() -> eddy::task<> { (void)co_await b.wait(); });
        co_await eddy::sleep(1ms);
        CHECK(b.n_waiting() == 1);
        leaver.cancel();
        CHECK_THROWS_AS(co_await leaver, eddy::cancelled_error);
        CHECK(b.n_waiting() == 0);
        auto other = eddy::create_task([&]() -> eddy::task<> { (void)co_await b.wait(); });
        co_await eddy::sleep(1ms);
        CHECK_FALSE(other.done()); // still needs a second party
        (void)co_await b.wait();
        co_await other;
    }());
}

TEST_CASE("a barrier needs at least one party", "[barrier]") {
    CHECK_THROWS_AS(eddy::barrier(0), std::invalid_argument);
}
