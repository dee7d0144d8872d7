// async_generator: lazy co_yield with awaits in between, cleanup, errors, cancellation.
#include "helpers.hpp"

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using eddy_test::tracked;

namespace {
eddy::async_generator<int> count_to(int n, std::vector<std::string>* log) {
    log->push_back("started");
    for (int i = 1; i <= n; ++i) {
        co_await eddy::sleep(1ms);
        log->push_back("yield " + std::to_string(i));
        co_yield i;
    }
    log->push_back("ended");
}
} // namespace

TEST_CASE("an async generator yields lazily, awaiting between values", "[async_generator]") {
    eddy::run([]() -> eddy::task<> {
        std::vector<std::string> log;
        auto gen = count_to(3, &log);
        CHECK(log.empty()); // lazy: nothing runs before the first next()
        std::vector<int> got;
        while (auto v = co_await gen.next()) {
            got.push_back(*v);
            log.push_back("got " + std::to_string(*v));
        }
        CHECK(got == std::vector<int>{1, 2, 3});
        CHECK(log == std::vector<std::string>{"started", "yield 1", "got 1", "yield 2", "got 2",
                                              "yield 3", "got 3", "ended"});
        CHECK(gen.done());
        const auto again = co_await gen.next();
        CHECK_FALSE(again.has_value());
    }());
}

TEST_CASE("destroying a generator early destroys its frame and runs its cleanups",
          "[async_generator]") {
    tracked::reset();
    const auto frames = eddy::live_frames();
    eddy::run([]() -> eddy::task<> {
        auto make = []() -> eddy::async_generator<int> {
            tracked guard(1); // destroyed with the frame
            for (int i = 0;; ++i) {
                co_yield i;
            }
        };
        {
            auto gen = make();
            const auto first = co_await gen.next();
            CHECK(first == 0);
            CHECK(tracked::live == 1);
        }
        CHECK(tracked::live == 0);
    }());
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("an exception thrown by a generator reaches the consumer", "[async_generator]") {
    eddy::run([]() -> eddy::task<> {
        auto failing = []() -> eddy::async_generator<int> {
            co_yield 1;
            throw std::runtime_error("source broke");
        };
        auto gen = failing();
        const auto first = co_await gen.next();
        CHECK(first == 1);
        CHECK_THROWS_AS(co_await gen.next(), std::runtime_error);
        CHECK(gen.done());
    }());
}

TEST_CASE("cancelling the consumer cancels the generator's await", "[async_generator][cancel]") {
    eddy::run([]() -> eddy::task<> {
        bool generator_saw_cancel = false;
        auto consumer = eddy::create_task([&]() -> eddy::task<> {
            auto slow = [&]() -> eddy::async_generator<int> {
                try {
                    co_await eddy::sleep(1h);
                } catch (const eddy::cancelled_error&) {
                    generator_saw_cancel = true;
                    throw;
                }
                co_yield 1;
            };
            auto gen = slow();
            (void)co_await gen.next();
        });
        co_await eddy::sleep(1ms);
        consumer.cancel();
        CHECK_THROWS_AS(co_await consumer, eddy::cancelled_error);
        CHECK(generator_saw_cancel);
    }());
}

TEST_CASE("generators yield move-only values", "[async_generator]") {
    eddy::run([]() -> eddy::task<> {
        auto make = []() -> eddy::async_generator<std::unique_ptr<int>> {
            co_yield std::make_unique<int>(1);
            auto p = std::make_unique<int>(2);
            co_yield std::move(p);
        };
        auto gen = make();
        int sum = 0;
        while (auto v = co_await gen.next()) {
            sum += **v;
        }
        CHECK(sum == 3);
    }());
}
