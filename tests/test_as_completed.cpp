// as_completed: several tasks' handles, in the order the tasks finish.
#include "helpers.hpp"

#include <vector>

using namespace std::chrono_literals;
using eddy_test::spawn_after;

TEST_CASE("as_completed yields handles in the order their tasks finish", "[as_completed]") {
    eddy::run([]() -> eddy::task<> {
        auto hs = spawn_after({30, 10, 20});
        std::vector<int> order;
        auto finished = eddy::as_completed(hs);
        CHECK(finished.size() == 3);
        while (!finished.empty()) {
            auto h = co_await finished.next();
            order.push_back(co_await h);
        }
        CHECK(order == std::vector<int>{1, 2, 0});
        CHECK_THROWS_AS(co_await finished.next(), eddy::invalid_state_error);
    }());
}

TEST_CASE("as_completed yields already finished tasks first, in the range's order",
          "[as_completed]") {
    eddy::run([]() -> eddy::task<> {
        auto hs = spawn_after({0, 0, 5});
        co_await hs[1];
        co_await hs[0];
        std::vector<int> order;
        auto finished = eddy::as_completed(std::move(hs));
        while (!finished.empty()) {
            order.push_back((co_await finished.next()).result());
        }
        CHECK(order == std::vector<int>{0, 1, 2});
    }());
}

TEST_CASE("as_completed with a timeout yields what finished in time, then timeout_error",
          "[as_completed]") {
    eddy::run([]() -> eddy::task<> {
        auto hs = spawn_after({1, 10000});
        auto finished = eddy::as_completed(hs, 20ms);
        // Not inside CHECK(): g++ 12 evaluates a co_await in the never-taken `&&` operand of
        // the do-while condition that Catch2's CHECK expands to, consuming a second item.
        auto first = co_await finished.next();
        CHECK(first.result() == 0);
        CHECK_THROWS_AS(co_await finished.next(), eddy::timeout_error);
        CHECK(finished.empty());
        CHECK_FALSE(hs[1].done()); // not cancelled: it goes on
        hs[1].cancel();
    }());
}

TEST_CASE("a task listed twice is yielded once by as_completed", "[as_completed]") {
    eddy::run([]() -> eddy::task<> {
        auto hs = spawn_after({2, 1});
        std::vector<eddy::task_handle<int>> listed{hs[0], hs[1], hs[0]};
        auto finished = eddy::as_completed(listed);
        std::vector<int> got;
        while (!finished.empty()) {
            auto h = co_await finished.next();
            got.push_back(h.result());
        }
        CHECK(got == std::vector<int>{1, 0});
    }());
}

TEST_CASE("a task waiting on next() of an as_completed set that another task destroyed gets "
          "invalid_state_error",
          "[as_completed]") {
    eddy::run([]() -> eddy::task<> {
        auto hs = spawn_after({10000});
        eddy::task_handle<void> consumer;
        bool got_error = false;
        {
            auto owner = eddy::create_task([&]() -> eddy::task<> {
                auto finished = eddy::as_completed(hs);
                consumer = eddy::create_task([&]() -> eddy::task<> {
                    try {
                        (void)co_await finished.next();
                    } catch (const eddy::invalid_state_error&) {
                        got_error = true;
                    }
                });
                co_await eddy::sleep(2ms); // the consumer starts waiting; then the set dies
            });
            co_await owner;
        }
        co_await consumer;
        CHECK(got_error);
        hs[0].cancel();
    }());
}

TEST_CASE("as_completed takes task_refs of tasks of different result types", "[as_completed]") {
    eddy::run([]() -> eddy::task<> {
        auto slow = eddy::create_task(eddy_test::after(20ms, 1));
        auto quick = eddy::create_task(eddy::sleep(2ms));
        std::vector<eddy::task_ref> refs{slow, quick, slow};
        auto finished = eddy::as_completed(refs);
        CHECK(finished.size() == 2); // slow listed twice, yielded once
        std::vector<eddy::task_ref> order;
        while (!finished.empty()) {
            order.push_back(co_await finished.next());
        }
        REQUIRE(order.size() == 2);
        CHECK(order[0] == quick);
        CHECK(order[1] == slow);
        for (const eddy::task_ref& r : refs) {
            CHECK(r.valid()); // an lvalue range is shared, not moved from
        }
    }());
}

TEST_CASE("next() awaited by the one task of the set left unfinished is an invalid_state_error, "
          "not a hang",
          "[as_completed]") {
    eddy::run([]() -> eddy::task<> {
        auto other = spawn_after({1});
        auto finished = eddy::as_completed(eddy::all_tasks()); // this task and `other`
        REQUIRE(finished.size() == 2);
        auto first = co_await finished.next();
        CHECK(first == other[0]);
        CHECK_THROWS_AS(co_await finished.next(), eddy::invalid_state_error);
        CHECK(finished.size() == 1);                             // nothing was taken
        auto timed = eddy::as_completed(eddy::all_tasks(), 1ms); // this task alone
        CHECK_THROWS_AS(co_await timed.next(), eddy::timeout_error);
    }());
}
