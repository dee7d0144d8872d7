// when_any: the first to finish wins; the losers are cancelled and finished before it returns.
#include "helpers.hpp"

#include <stdexcept>
#include <variant>
#include <vector>

using namespace std::chrono_literals;

namespace {
eddy::task<int> after(std::chrono::milliseconds d, int v, int* cleaned = nullptr) {
    try {
        co_await eddy::sleep(d);
    } catch (const eddy::cancelled_error&) {
        if (cleaned != nullptr) {
            ++*cleaned;
        }
        throw;
    }
    co_return v;
}
} // namespace

TEST_CASE("when_any yields the first result after the losers were cancelled and finished",
          "[when_any][cancel]") {
    eddy::run([]() -> eddy::task<> {
        int cleaned = 0;
        auto slow = eddy::create_task(after(10s, 1, &cleaned));
        auto r = co_await eddy::when_any(slow, after(1ms, 2, &cleaned), after(10s, 3, &cleaned));
        REQUIRE(r.index() == 1);
        CHECK(std::get<1>(r) == 2);
        CHECK(cleaned == 2);
        CHECK(slow.done()); // no loser outlives the call
        CHECK(slow.cancelled());
    }());
}

TEST_CASE("when_any over a range yields the winner's index and value", "[when_any]") {
    eddy::run([]() -> eddy::task<> {
        std::vector<eddy::task<int>> ts;
        ts.push_back(after(30ms, 10));
        ts.push_back(after(20ms, 11));
        ts.push_back(after(1ms, 12));
        auto r = co_await eddy::when_any(std::move(ts));
        CHECK(r.index == 2);
        CHECK(r.value == 12);
    }());
}

TEST_CASE("when_any rethrows the winner's failure", "[when_any]") {
    eddy::run([]() -> eddy::task<> {
        auto boom = []() -> eddy::task<int> {
            co_await eddy::sleep(1ms);
            throw std::runtime_error("first and failed");
        };
        auto b = boom();
        CHECK_THROWS_AS(co_await eddy::when_any(std::move(b), after(10s, 0)), std::runtime_error);
    }());
}

TEST_CASE("cancelling the task awaiting when_any cancels every contender", "[when_any][cancel]") {
    eddy::run([]() -> eddy::task<> {
        int cleaned = 0;
        auto racer = eddy::create_task([&]() -> eddy::task<> {
            (void)co_await eddy::when_any(after(10s, 0, &cleaned), after(10s, 1, &cleaned));
        });
        co_await eddy::sleep(2ms);
        racer.cancel();
        CHECK_THROWS_AS(co_await racer, eddy::cancelled_error);
        CHECK(cleaned == 2);
    }());
}

TEST_CASE("when_any with void and value contenders", "[when_any]") {
    eddy::run([]() -> eddy::task<> {
        auto v = []() -> eddy::task<> { co_await eddy::sleep(1ms); };
        auto r = co_await eddy::when_any(v(), after(10s, 1));
        CHECK(r.index() == 0);
        CHECK(std::holds_alternative<std::monostate>(r));
    }());
}

TEST_CASE("when_any accepts awaiters: a sleep beats a queue get, whose withdrawn getter takes no "
          "item",
          "[when_any][queue]") {
    eddy::run([]() -> eddy::task<> {
        eddy::queue<int> q;
        auto r = co_await eddy::when_any(q.get(), eddy::sleep(1ms));
        CHECK(r.index() == 1);
        q.put_nowait(3);
        CHECK(q.size() == 1);
        auto r2 = co_await eddy::when_any(q.get(), eddy::sleep(10s));
        REQUIRE(r2.index() == 0);
        CHECK(std::get<0>(r2) == 3);
    }());
}
