// shield: the inner work goes on when the awaiting task is cancelled.
#include "helpers.hpp"

#include <memory>
#include <stdexcept>
#include <string>

using namespace std::chrono_literals;

namespace {
eddy::task<int> after(std::chrono::milliseconds d, int v, bool* finished = nullptr) {
    co_await eddy::sleep(d);
    if (finished != nullptr) {
        *finished = true;
    }
    co_return v;
}
} // namespace

TEST_CASE("shield yields the inner value when nobody cancels", "[shield]") {
    const int v =
        eddy::run([]() -> eddy::task<int> { co_return co_await eddy::shield(after(1ms, 9)); }());
    CHECK(v == 9);
}

TEST_CASE("a cancelled await of a shielded task ends at once while the task runs to its end",
          "[shield][cancel]") {
    bool inner_finished = false;
    bool inner_finished_when_outer_resumed = true;
    eddy::run([&]() -> eddy::task<> {
        auto outer = eddy::create_task([&]() -> eddy::task<> {
            try {
                (void)co_await eddy::shield(after(30ms, 1, &inner_finished));
            } catch (const eddy::cancelled_error&) {
                inner_finished_when_outer_resumed = inner_finished;
                throw;
            }
        });
        co_await eddy::sleep(2ms);
        outer.cancel();
        CHECK_THROWS_AS(co_await outer, eddy::cancelled_error);
        CHECK_FALSE(inner_finished_when_outer_resumed);
        co_await eddy::sleep(60ms);
        CHECK(inner_finished); // nobody cancelled it
    }());
}

TEST_CASE("a shielded handle is not cancelled with its awaiter and keeps its result",
          "[shield][cancel]") {
    eddy::run([]() -> eddy::task<> {
        auto inner = eddy::create_task(after(20ms, 5));
        auto outer =
            eddy::create_task([&]() -> eddy::task<> { (void)co_await eddy::shield(inner); });
        co_await eddy::sleep(2ms);
        outer.cancel();
        CHECK_THROWS_AS(co_await outer, eddy::cancelled_error);
        CHECK_FALSE(inner.cancelled());
        const auto got = co_await inner;
        CHECK(got == 5);
        // A shielded lvalue handle is shared, not moved from.
        const auto got2 = co_await eddy::shield(inner);
        CHECK(got2 == 5);
        CHECK(inner.result() == 5);
    }());
}

TEST_CASE("a shielded future is not cancelled with its awaiter", "[shield][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::future<int> f;
        auto outer = eddy::create_task([&]() -> eddy::task<> { (void)co_await eddy::shield(f); });
        co_await eddy::sleep(1ms);
        outer.cancel();
        CHECK_THROWS_AS(co_await outer, eddy::cancelled_error);
        CHECK_FALSE(f.done());
        f.set_result(3);
        const auto got3 = co_await eddy::shield(f);
        CHECK(got3 == 3);
    }());
}

TEST_CASE("a failure of a shielded task whose awaiter was cancelled is reported, not lost",
          "[shield][cancel]") {
    const std::string err = eddy_test::capture_stderr([] {
        eddy::run([]() -> eddy::task<> {
            auto outer = eddy::create_task([]() -> eddy::task<> {
                (void)co_await eddy::shield([]() -> eddy::task<int> {
                    co_await eddy::sleep(10ms);
                    throw std::runtime_error("late failure");
                }());
            });
            co_await eddy::sleep(1ms);
            outer.cancel();
            CHECK_THROWS_AS(co_await outer, eddy::cancelled_error);
            co_await eddy::sleep(30ms);
        }());
    });
    CHECK(err.find("late failure") != std::string::npos);
}

TEST_CASE("shield moves a move-only value out of a task it created", "[shield]") {
    eddy::run([]() -> eddy::task<> {
        auto make = []() -> eddy::task<std::unique_ptr<int>> {
            co_return std::make_unique<int>(4);
        };
        std::unique_ptr<int> p = co_await eddy::shield(make());
        REQUIRE(p != nullptr);
        CHECK(*p == 4);
    }());
}

TEST_CASE("shield accepts a gather: a cancelled await leaves its children running to their end",
          "[shield][cancel][gather]") {
    eddy::run([]() -> eddy::task<> {
        auto a = eddy::create_task(after(20ms, 1));
        auto b = eddy::create_task(after(20ms, 2));
        auto outer = eddy::create_task(
            [&]() -> eddy::task<> { (void)co_await eddy::shield(eddy::gather(a, b)); });
        co_await eddy::sleep(2ms);
        outer.cancel();
        CHECK_THROWS_AS(co_await outer, eddy::cancelled_error);
        const int first = co_await a;
        const int second = co_await b;
        CHECK(first == 1);
        CHECK(second == 2);
        CHECK_FALSE(a.cancelled());
        auto [x, y] = co_await eddy::shield(eddy::gather(after(1ms, 3), after(0ms, 4)));
        CHECK(x == 3);
        CHECK(y == 4);
    }());
}

TEST_CASE("shield accepts a queue's get: after its awaiter is cancelled the shielded getter "
          "still takes the next item, as asyncio's would",
          "[shield][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::queue<int> q;
        auto outer =
            eddy::create_task([&]() -> eddy::task<> { (void)co_await eddy::shield(q.get()); });
        co_await eddy::sleep(0s);
        outer.cancel();
        CHECK_THROWS_AS(co_await outer, eddy::cancelled_error);
        q.put_nowait(1);
        co_await eddy::sleep(0s); // the inner task takes it and ends before q dies
        co_await eddy::sleep(0s);
        CHECK(q.empty());
    }());
}

TEST_CASE("wait_for of a shielded handle times out and leaves the task running to its value, "
          "as asyncio's docs recommend",
          "[shield][timeout]") {
    eddy::run([]() -> eddy::task<> {
        auto inner = eddy::create_task(after(30ms, 13));
        bool timed_out = false;
        try {
            (void)co_await eddy::wait_for(eddy::shield(inner), 1ms);
        } catch (const eddy::timeout_error&) {
            timed_out = true;
        }
        CHECK(timed_out);
        CHECK_FALSE(inner.done());
        const int later = co_await inner;
        CHECK(later == 13);
        CHECK_FALSE(inner.cancelled());
    }());
}

TEST_CASE("a shield can be moved into timeout, gather and create_task before it is awaited",
          "[shield]") {
    eddy::run([]() -> eddy::task<> {
        auto inner = eddy::create_task(after(1ms, 4));
        const int a = co_await eddy::timeout(1h)(eddy::shield(inner));
        CHECK(a == 4);
        auto [b, c] = co_await eddy::gather(eddy::shield(inner), eddy::shield(after(1ms, 5)));
        CHECK(b == 4);
        CHECK(c == 5);
        auto h = eddy::create_task(eddy::shield(inner));
        const int d = co_await h;
        CHECK(d == 4);
    }());
}

TEST_CASE("awaiting a moved-from shield throws invalid_state_error", "[shield]") {
    eddy::run([]() -> eddy::task<> {
        auto inner = eddy::create_task(after(1ms, 4));
        auto aw = eddy::shield(inner);
        auto taken = std::move(aw);
        const int v = co_await std::move(taken);
        CHECK(v == 4);
        bool threw = false;
        try {
            (void)co_await std::move(aw); // NOLINT(bugprone-use-after-move): the point of the test
        } catch (const eddy::invalid_state_error&) {
            threw = true;
        }
        CHECK(threw);
    }());
}
