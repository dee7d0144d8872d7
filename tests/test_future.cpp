// future<T>: a one-shot slot awaited by many; InvalidStateError semantics; done-callbacks.
#include "helpers.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("set_result wakes every awaiter, in the order they started waiting", "[future]") {
    std::vector<int> order;
    eddy::run([&]() -> eddy::task<> {
        eddy::future<int> f;
        std::vector<eddy::task_handle<void>> hs;
        hs.reserve(3);
        for (int i = 0; i < 3; ++i) {
            hs.push_back(eddy::create_task([&order, f, i]() -> eddy::task<> {
                const int v = co_await f;
                order.push_back(i * 100 + v);
            }));
        }
        co_await eddy::yield();
        CHECK(order.empty());
        f.set_result(7);
        CHECK(order.empty()); // waking schedules; nothing runs inline
        co_await eddy::gather(hs);
    }());
    CHECK(order == std::vector<int>{7, 107, 207});
}

TEST_CASE("setting a future twice is an invalid_state_error", "[future]") {
    eddy::future<int> f;
    f.set_result(1);
    CHECK_THROWS_AS(f.set_result(2), eddy::invalid_state_error);
    CHECK_THROWS_AS(f.set_exception(std::make_exception_ptr(std::runtime_error("x"))),
                    eddy::invalid_state_error);
    CHECK(f.result() == 1);
    CHECK_FALSE(f.cancel());
}

TEST_CASE("result before the future is done is an invalid_state_error", "[future]") {
    eddy::future<std::string> f;
    CHECK_FALSE(f.done());
    CHECK_THROWS_AS(f.result(), eddy::invalid_state_error);
    CHECK_THROWS_AS(f.exception(), eddy::invalid_state_error);
}

TEST_CASE("an exception set on a future is rethrown to its awaiters", "[future]") {
    eddy::run([]() -> eddy::task<> {
        eddy::future<int> f;
        (void)eddy::call_soon(
            [f]() mutable { f.set_exception(std::make_exception_ptr(std::runtime_error("bad"))); });
        CHECK_THROWS_WITH(co_await f, "bad");
        CHECK(f.exception() != nullptr);
    }());
}

TEST_CASE("a cancelled future throws cancelled_error to its awaiters", "[future]") {
    eddy::run([]() -> eddy::task<> {
        eddy::future<> f;
        (void)eddy::call_soon([f]() mutable { f.cancel("no longer needed"); });
        CHECK_THROWS_AS(co_await f, eddy::cancelled_error);
        CHECK(f.cancelled());
        CHECK_THROWS_AS(f.result(), eddy::cancelled_error);
    }());
}

TEST_CASE("cancelling a task that awaits a future cancels the future", "[future]") {
    eddy::run([]() -> eddy::task<> {
        eddy::future<int> f;
        auto h = eddy::create_task([f]() -> eddy::task<int> { co_return co_await f; });
        co_await eddy::yield();
        h.cancel();
        CHECK_THROWS_AS(co_await h, eddy::cancelled_error);
        CHECK(f.cancelled());
    }());
}

TEST_CASE("done-callbacks run on a later loop turn, also when added after completion", "[future]") {
    std::vector<std::string> log;
    eddy::run([&]() -> eddy::task<> {
        eddy::future<int> f;
        f.add_done_callback([&](const eddy::future<int>& g) {
            log.push_back("cb1 " + std::to_string(g.result()));
        });
        f.set_result(5);
        log.emplace_back("set");
        co_await eddy::yield();
        f.add_done_callback([&](const eddy::future<int>&) { log.emplace_back("cb2"); });
        log.emplace_back("added");
        co_await eddy::yield();
    }());
    CHECK(log == std::vector<std::string>{"set", "cb1 5", "added", "cb2"});
}

TEST_CASE("a done-callback may take the future by reference or by value", "[future]") {
    std::vector<int> got;
    eddy::run([&]() -> eddy::task<> {
        eddy::future<int> f;
        f.add_done_callback([&](eddy::future<int>& g) { got.push_back(g.result()); });
        // NOLINTNEXTLINE(performance-unnecessary-value-param): by value is what is tested
        f.add_done_callback([&](eddy::future<int> g) { got.push_back(g.result() + 1); });
        f.set_result(5);
        co_await eddy::yield();
    }());
    CHECK(got == std::vector<int>{5, 6});
}

TEST_CASE("a future<void> completes without a value", "[future]") {
    eddy::run([]() -> eddy::task<> {
        eddy::future<> f;
        (void)eddy::call_later(1ms, [f]() mutable { f.set_result(); });
        co_await f;
        CHECK(f.done());
    }());
}

TEST_CASE("an exception set on a future that nobody retrieves is reported", "[future]") {
    const std::string err = eddy_test::capture_stderr([] {
        eddy::future<int> f;
        f.set_exception(std::make_exception_ptr(std::runtime_error("lost")));
    });
    CHECK(err.find("future exception was never retrieved: lost") != std::string::npos);
}

TEST_CASE("a done-callback on a future that never completes is dropped with it", "[future]") {
    const auto frames = eddy::live_frames();
    bool ran = false;
    eddy::run([&]() -> eddy::task<> {
        eddy::future<int> f;
        f.add_done_callback([&](const eddy::future<int>&) { ran = true; });
        co_return;
    }());
    CHECK_FALSE(ran);
    CHECK(eddy::live_frames() == frames); // the state and the callback node are gone
}

TEST_CASE("an awaiter keeps the future's state alive after the last future object is erased",
          "[future][lifetime]") {
    // The pending-requests pattern: the producer completes the future, then erases it from a
    // map before the consumer has resumed.
    const auto frames = eddy::live_frames();
    std::map<int, eddy::future<std::string>> pending;
    pending[1];
    eddy::run([&]() -> eddy::task<> {
        auto consumer = eddy::create_task([&]() -> eddy::task<std::size_t> {
            const std::string s = co_await pending[1];
            co_return s.size();
        });
        co_await eddy::yield();
        pending[1].set_result(std::string(100, 'x'));
        pending.erase(1);
        const auto got = co_await consumer;
        CHECK(got == 100);
    }());
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("a done-callback whose loop has closed is dropped, not run on a dead loop",
          "[future][lifetime]") {
    eddy::future<int> f;
    bool ran = false;
    eddy::run([&]() -> eddy::task<> {
        f.add_done_callback([&](const eddy::future<int>&) { ran = true; });
        co_return;
    }());
    const std::string err = eddy_test::capture_stderr([&] { f.set_result(1); });
    CHECK_FALSE(ran);
    CHECK(err.find("done-callback was dropped") != std::string::npos);
}

TEST_CASE("a moved-from future is empty and every use of it throws invalid_state_error",
          "[future]") {
    eddy::run([]() -> eddy::task<> {
        eddy::future<int> f;
        eddy::future<int> g = std::move(f);
        // NOLINTBEGIN(bugprone-use-after-move): what is tested
        CHECK_FALSE(f.valid());
        CHECK_FALSE(static_cast<bool>(f));
        CHECK(g.valid());
        CHECK_THROWS_AS(f.done(), eddy::invalid_state_error);
        CHECK_THROWS_AS(f.cancelled(), eddy::invalid_state_error);
        CHECK_THROWS_AS(f.cancel(), eddy::invalid_state_error);
        CHECK_THROWS_AS(f.set_result(1), eddy::invalid_state_error);
        CHECK_THROWS_AS(f.result(), eddy::invalid_state_error);
        CHECK_THROWS_AS(f.exception(), eddy::invalid_state_error);
        CHECK_THROWS_AS(f.add_done_callback([](auto&) {}), eddy::invalid_state_error);
        eddy::future<int> copy = f; // copying an empty future gives an empty one
        CHECK_FALSE(copy.valid());
        int refused = 0;
        try {
            (void)co_await f;
        } catch (const eddy::invalid_state_error&) {
            ++refused;
        }
        try {
            (void)co_await eddy::gather(f, g);
        } catch (const eddy::invalid_state_error&) {
            ++refused;
        }
        // NOLINTEND(bugprone-use-after-move)
        CHECK(refused == 2);
        g.set_result(7);
        const int v = co_await g;
        CHECK(v == 7); // the moved-to future works
    }());
}

namespace {
eddy::future<std::vector<int>> ready_future(int n) {
    eddy::future<std::vector<int>> f;
    f.set_result(std::vector<int>(static_cast<std::size_t>(n), 7));
    return f;
}
} // namespace

TEST_CASE("awaiting a future as an rvalue yields its value, so a temporary future leaves no "
          "dangling reference",
          "[future]") {
    eddy::run([]() -> eddy::task<> {
        // The task wait_for returns, and the future inside it, are gone before the loop body
        // runs: a reference into the future's state would dangle.
        long sum = 0;
        for (const int x : co_await eddy::wait_for(ready_future(100), 1s)) {
            sum += x;
        }
        CHECK(sum == 700);
        std::vector<int> direct = co_await ready_future(3);
        CHECK(direct.size() == 3);
        std::vector<int> shielded = co_await eddy::shield(ready_future(4));
        CHECK(shielded.size() == 4);
        // An lvalue future still yields a reference into its state, which it keeps alive.
        auto f = ready_future(2);
        std::vector<int>& ref = co_await f;
        ref.push_back(8);
        const std::vector<int>& again = co_await f;
        CHECK(again.size() == 3);
        // Given up with std::move: the value is moved out, the future is empty.
        std::vector<int> moved = co_await std::move(f);
        CHECK(moved.size() == 3);
        CHECK_FALSE(f.valid()); // NOLINT(bugprone-use-after-move): what is tested
        // wait_for and a timeout scope of an lvalue future yield a reference into its state,
        // as `co_await f` does; the future keeps it alive.
        eddy::future<std::unique_ptr<int>> p;
        p.set_result(std::make_unique<int>(9));
        std::unique_ptr<int>& in_place = co_await eddy::wait_for(p, 1s);
        REQUIRE(in_place != nullptr);
        CHECK(in_place.get() == p.result().get());
        std::unique_ptr<int>& scoped = co_await eddy::timeout(1s)(p);
        CHECK(scoped.get() == p.result().get());
        CHECK(p.valid());
    }());
}
