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

namespace {
template <class... A>
concept when_any_accepts = requires(A&&... a) {
    eddy::when_any(std::forward<A>(a)...);
};
using queue_get = decltype(std::declval<eddy::queue<int>&>().get());
using sleep_for = decltype(eddy::sleep(std::chrono::milliseconds(1)));
// when_any yields only the winner: a losing awaiter that had already taken an item or a permit
// would lose it unseen, so plain awaiters are refused at compile time (tasks are fine: their
// handles can be kept and read).
static_assert(!when_any_accepts<queue_get, sleep_for>);
static_assert(!when_any_accepts<std::vector<queue_get>>);
static_assert(when_any_accepts<eddy::task<int>, eddy::task_handle<int>&>);
} // namespace

TEST_CASE("racing queue gets through kept task handles loses no item when both queues hold one",
          "[when_any][queue]") {
    eddy::run([]() -> eddy::task<> {
        eddy::queue<int> q1;
        eddy::queue<int> q2;
        q1.put_nowait(1);
        q2.put_nowait(2);
        auto g1 = eddy::create_task(q1.get());
        auto g2 = eddy::create_task(q2.get());
        auto r = co_await eddy::when_any(g1, g2);
        CHECK(r.index() == 0);
        // Both took their item before either could be cancelled; the kept handles have both.
        int sum = 0;
        for (auto* h : {&g1, &g2}) {
            if (h->done() && !h->cancelled()) {
                sum += h->result();
            }
        }
        CHECK(sum == 3);
        CHECK(q1.empty());
        CHECK(q2.empty());
    }());
}
