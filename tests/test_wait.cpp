// wait: waiting on several tasks without gathering or cancelling them.
#include "helpers.hpp"

#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using eddy_test::after;
using eddy_test::spawn_after;

namespace {
eddy::task<int> fail_after(std::chrono::milliseconds d) {
    co_await eddy::sleep(d);
    throw std::runtime_error("failed");
}
} // namespace

TEST_CASE("wait with all_completed returns when every task has finished", "[wait]") {
    eddy::run([]() -> eddy::task<> {
        auto hs = spawn_after({3, 1, 2});
        auto r = co_await eddy::wait(hs);
        CHECK(r.done.size() == 3);
        CHECK(r.pending.empty());
        for (auto& h : hs) {
            CHECK(h.done());
        }
    }());
}

TEST_CASE("wait with first_completed returns at the first finish and cancels nothing", "[wait]") {
    eddy::run([]() -> eddy::task<> {
        // Minutes, not milliseconds: a stalled test machine must not let them finish too.
        auto hs = spawn_after({60000, 1, 60000});
        auto r = co_await eddy::wait(hs, eddy::return_when::first_completed);
        REQUIRE(r.done.size() == 1);
        CHECK(r.done[0].result() == 1);
        CHECK(r.pending.size() == 2);
        for (auto& h : r.pending) {
            CHECK_FALSE(h.done()); // still running, not cancelled
            h.cancel();
        }
    }());
}

TEST_CASE("wait with first_exception returns at the first failure, else when all finish",
          "[wait]") {
    eddy::run([]() -> eddy::task<> {
        std::vector<eddy::task_handle<int>> hs;
        hs.push_back(eddy::create_task(after(60s, 0)));
        hs.push_back(eddy::create_task(fail_after(1ms)));
        auto r = co_await eddy::wait(hs, eddy::return_when::first_exception);
        REQUIRE(r.done.size() == 1);
        CHECK_THROWS_AS(r.done[0].result(), std::runtime_error);
        CHECK(r.pending.size() == 1);

        auto ok = spawn_after({2, 1});
        auto all = co_await eddy::wait(ok, eddy::return_when::first_exception);
        CHECK(all.done.size() == 2);
        CHECK_FALSE(hs[0].done());
        hs[0].cancel();
    }());
}

TEST_CASE("wait with a timeout returns the unfinished tasks as pending, without an error",
          "[wait]") {
    eddy::run([]() -> eddy::task<> {
        auto hs = spawn_after({1, 10000});
        const auto start = eddy::clock::now();
        auto r = co_await eddy::wait(hs, 20ms);
        CHECK(eddy_test::ms_since(start) < 5000.0);
        CHECK(r.done.size() == 1);
        REQUIRE(r.pending.size() == 1);
        CHECK_FALSE(r.pending[0].done());
        r.pending[0].cancel();
    }());
}

TEST_CASE("cancelling a task inside wait stops the wait, not the waited-on tasks",
          "[wait][cancel]") {
    eddy::run([]() -> eddy::task<> {
        // Minutes, not milliseconds: a stalled test machine must not let them finish first.
        auto hs = spawn_after({60000, 60000});
        auto waiter = eddy::create_task([&]() -> eddy::task<> { (void)co_await eddy::wait(hs); });
        co_await eddy::sleep(1ms);
        waiter.cancel();
        CHECK_THROWS_AS(co_await waiter, eddy::cancelled_error);
        for (auto& h : hs) {
            CHECK_FALSE(h.done()); // the wait was cancelled, not the tasks
            h.cancel();
        }
    }());
}

TEST_CASE("waiting on nothing is an invalid_argument", "[wait]") {
    eddy::run([]() -> eddy::task<> {
        std::vector<eddy::task_handle<int>> none;
        CHECK_THROWS_AS(eddy::wait(none), std::invalid_argument);
        CHECK_THROWS_AS(eddy::as_completed(none), std::invalid_argument);
        co_return;
    }());
}

TEST_CASE("a wait awaitable awaited twice gives the same partition", "[wait]") {
    eddy::run([]() -> eddy::task<> {
        auto hs = spawn_after({1, 2});
        auto w = eddy::wait(hs);
        auto first = co_await w;
        auto second = co_await w;
        CHECK(first.done.size() == 2);
        CHECK(second.done.size() == 2);
    }());
}

TEST_CASE("a task listed twice counts once in wait, as in asyncio's set of tasks", "[wait]") {
    eddy::run([]() -> eddy::task<> {
        auto hs = spawn_after({2, 60000});
        std::vector<eddy::task_handle<int>> listed{hs[0], hs[1], hs[0], hs[1]};
        auto r = co_await eddy::wait(listed, eddy::return_when::first_completed);
        REQUIRE(r.done.size() == 1); // not twice
        CHECK(r.done[0].result() == 0);
        REQUIRE(r.pending.size() == 1);
        CHECK(r.pending[0].state() == hs[1].state());
        hs[1].cancel();
        auto all = co_await eddy::wait(listed);
        CHECK(all.done.size() == 2);
        CHECK(all.pending.empty());
    }());
}

TEST_CASE("wait and as_completed accept futures", "[wait]") {
    eddy::run([]() -> eddy::task<> {
        std::vector<eddy::future<int>> fs(2);
        auto setter = eddy::call_later(2ms, [&] { fs[1].set_result(7); });
        auto r = co_await eddy::wait(fs, eddy::return_when::first_completed);
        REQUIRE(r.done.size() == 1);
        CHECK(r.done[0].result() == 7);
        fs[0].set_result(8);
        auto finished = eddy::as_completed(fs);
        std::vector<int> got;
        while (!finished.empty()) {
            auto f = co_await finished.next();
            got.push_back(f.result());
        }
        CHECK(got == std::vector<int>{8, 7}); // both done already: the range's order
    }());
}

TEST_CASE("wait takes task_refs of any result type, as asyncio's wait(all_tasks() - "
          "{current_task()})",
          "[wait]") {
    eddy::run([]() -> eddy::task<> {
        auto ints = spawn_after({1, 60000});
        auto failing = eddy::create_task(fail_after(2ms));
        auto text = eddy::create_task([]() -> eddy::task<std::string> { co_return "x"; });
        std::vector<eddy::task_ref> others;
        for (eddy::task_ref& t : eddy::all_tasks()) {
            if (t != eddy::current_task()) {
                others.push_back(t);
            }
        }
        REQUIRE(others.size() == 4);
        auto first = co_await eddy::wait(others, eddy::return_when::first_exception);
        REQUIRE(first.pending.size() == 1);
        CHECK(first.pending[0] == ints[1]);
        REQUIRE(first.done.size() == 3);
        int failures = 0;
        for (const eddy::task_ref& t : first.done) {
            failures += t.exception() != nullptr ? 1 : 0;
        }
        CHECK(failures == 1);
        ints[1].cancel();
        auto all = co_await eddy::wait(std::move(others));
        CHECK(all.done.size() == 4);
        CHECK(all.pending.empty());
        CHECK(text.result() == "x");
    }());
}

TEST_CASE("a wait that only the waiting task's own end could satisfy is an invalid_state_error, "
          "not a hang",
          "[wait]") {
    eddy::run([]() -> eddy::task<> {
        auto other = spawn_after({1});
        const std::vector<eddy::task_ref> all = eddy::all_tasks(); // this task and `other`
        REQUIRE(all.size() == 2);
        CHECK_THROWS_AS(co_await eddy::wait(all), eddy::invalid_state_error);
        // first_completed with another task unfinished: a real wait, which that task ends.
        auto first = co_await eddy::wait(all, eddy::return_when::first_completed);
        REQUIRE(first.done.size() == 1);
        CHECK(first.done[0] == other[0]);
        // Nothing but this task is left unfinished: first_exception could never return.
        CHECK_THROWS_AS(co_await eddy::wait(all, eddy::return_when::first_exception),
                        eddy::invalid_state_error);
        // A timeout ends it: this task is what is pending.
        auto timed = co_await eddy::wait(all, 1ms);
        REQUIRE(timed.pending.size() == 1);
        CHECK(timed.pending[0] == eddy::current_task());
    }());
}

TEST_CASE("wait over a view shares the caller's handles instead of moving them out", "[wait]") {
    eddy::run([]() -> eddy::task<> {
        auto hs = spawn_after({1, 2});
        auto r = co_await eddy::wait(std::span(hs));
        CHECK(r.done.size() == 2);
        CHECK(hs[0].valid());
        CHECK(hs[1].valid());
        std::vector<eddy::task_ref> refs{hs[0], hs[1]};
        auto by_span = co_await eddy::wait(std::span(refs));
        CHECK(by_span.done.size() == 2);
        // A view over the caller's task_refs, passed as an rvalue: the refs stay valid. (clang
        // 14 cannot compile libstdc++ 12's views::filter and subrange; std::span is a view too.)
        auto w = eddy::wait(std::span(refs).subspan(1));
        auto later = co_await w;
        REQUIRE(later.done.size() == 1);
        CHECK(later.done[0] == hs[1]);
        CHECK(refs[0].valid());
        CHECK(refs[1].valid());
    }());
}

TEST_CASE("an empty handle given to wait or as_completed is an invalid_state_error", "[wait]") {
    eddy::run([]() -> eddy::task<> {
        std::vector<eddy::task_handle<int>> handles(1);
        CHECK_THROWS_AS(eddy::wait(handles), eddy::invalid_state_error);
        std::vector<eddy::task_ref> refs(1);
        CHECK_THROWS_AS(eddy::wait(refs), eddy::invalid_state_error);
        CHECK_THROWS_AS(eddy::as_completed(refs), eddy::invalid_state_error);
        std::vector<eddy::future<int>> futures(1);
        eddy::future<int> moved = std::move(futures[0]);
        CHECK_THROWS_AS(eddy::wait(futures), eddy::invalid_state_error);
        moved.set_result(1);
        co_return;
    }());
}
