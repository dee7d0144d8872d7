// context_var: task-local values, copied into created tasks, reset with tokens.
#include "helpers.hpp"

#include <algorithm>
#include <atomic>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {
eddy::context_var<std::string> user("user");
eddy::context_var<int> depth("depth", 0);
} // namespace

TEST_CASE("each task sees its own value across awaits", "[context_var]") {
    std::vector<std::string> seen;
    eddy::run([&]() -> eddy::task<> {
        auto request = [&](std::string name) -> eddy::task<> {
            user.set(name);
            co_await eddy::sleep(1ms); // the other request runs and sets its own value
            seen.push_back(name + ":" + user.get());
        };
        auto a = request("Alice");
        auto b = request("Bob");
        co_await eddy::gather(std::move(a), std::move(b));
    }());
    CHECK(seen == std::vector<std::string>{"Alice:Alice", "Bob:Bob"});
}

TEST_CASE("a created task starts with its creator's values, later writes stay on their side",
          "[context_var]") {
    eddy::run([]() -> eddy::task<> {
        user.set("parent");
        std::string child_saw_first;
        std::string child_saw_later;
        auto child = eddy::create_task([&]() -> eddy::task<> {
            child_saw_first = user.get();
            user.set("child");
            co_await eddy::sleep(2ms);
            child_saw_later = user.get();
        });
        user.set("parent again"); // after the child was created: it does not see this
        co_await eddy::sleep(1ms);
        CHECK(user.get() == "parent again"); // the child's set is not seen here
        co_await child;
        CHECK(child_saw_first == "parent");
        CHECK(child_saw_later == "child");
    }());
}

TEST_CASE("a lazily awaited coroutine shares the awaiting task's values", "[context_var]") {
    eddy::run([]() -> eddy::task<> {
        auto inner = []() -> eddy::task<> {
            user.set("set inside");
            co_return;
        };
        co_await inner();
        CHECK(user.get() == "set inside");
    }());
}

TEST_CASE("reset restores the previous value, a token works once", "[context_var]") {
    eddy::run([]() -> eddy::task<> {
        CHECK(depth.get() == 0); // the default
        auto t1 = depth.set(1);
        CHECK(t1.old_value() == nullptr);
        auto t2 = depth.set(2);
        REQUIRE(t2.old_value() != nullptr);
        CHECK(*t2.old_value() == 1);
        depth.reset(t2);
        CHECK(depth.get() == 1);
        CHECK_THROWS_AS(depth.reset(t2), eddy::invalid_state_error);
        depth.reset(t1);
        CHECK(depth.get() == 0);
        co_return;
    }());
}

TEST_CASE("a variable without value or default throws on get", "[context_var]") {
    eddy::context_var<int> unset("unset");
    eddy::run([&]() -> eddy::task<> {
        CHECK_THROWS_AS((void)unset.get(), std::out_of_range);
        CHECK(unset.get_or(9) == 9);
        co_return;
    }());
}

TEST_CASE("eddy::run's main task starts from the thread's values", "[context_var]") {
    auto token = user.set("outside");
    const std::string seen = eddy::run([]() -> eddy::task<std::string> { co_return user.get(); }());
    CHECK(seen == "outside");
    user.reset(token);
}

namespace {
eddy::context_var<int> worker_id("worker_id");
eddy::task<void> relay(int id, eddy::queue<int>& in, eddy::queue<int>& out, int rounds,
                       std::vector<int>& mixed_up) {
    worker_id.set(id);
    for (int i = 0; i < rounds; ++i) {
        const int v = co_await in.get();
        if (worker_id.get() != id || eddy::current_task_name() != "w" + std::to_string(id)) {
            mixed_up.push_back(id);
        }
        co_await out.put(v + 1);
    }
}
} // namespace

TEST_CASE("values and the current task stay right when tasks hand work to each other within a "
          "turn",
          "[context_var][follow_on]") {
    // Bounded queues make every get and put a hand-off: the woken task runs in the same turn
    // (follow-on), and each must run as the current task with its own context.
    std::vector<int> mixed_up;
    int main_mixed_up = 0;
    eddy::run([&]() -> eddy::task<> {
        worker_id.set(0);
        eddy::queue<int> q1(1);
        eddy::queue<int> q2(1);
        eddy::queue<int> q3(1);
        auto w1 = eddy::create_task(relay(1, q1, q2, 1000, mixed_up), "w1");
        auto w2 = eddy::create_task(relay(2, q2, q3, 1000, mixed_up), "w2");
        for (int i = 0; i < 1000; ++i) {
            co_await q1.put(i);
            const int v = co_await q3.get();
            if (v != i + 2 || worker_id.get() != 0 || eddy::current_task_name() != "main") {
                ++main_mixed_up;
            }
        }
        co_await w1;
        co_await w2;
    }());
    CHECK(mixed_up.empty());
    CHECK(main_mixed_up == 0);
}

TEST_CASE("callbacks run in a copy of the scheduling task's context, and what they set stays "
          "in it",
          "[context_var][callbacks]") {
    std::vector<std::string> seen;
    eddy::run([&]() -> eddy::task<> {
        user.set("req-1");
        eddy::call_soon([&] { seen.push_back("soon " + user.get_or("-")); });
        eddy::call_later(1ms, [&] { seen.push_back("later " + user.get_or("-")); });
        eddy::future<int> f;
        f.add_done_callback(
            [&](const eddy::future<int>&) { seen.push_back("done " + user.get_or("-")); });
        eddy::call_soon([&] {
            (void)eddy::create_task([&]() -> eddy::task<> {
                seen.push_back("task " + user.get_or("-"));
                co_return;
            });
        });
        eddy::call_soon([] { user.set("set-in-callback"); });
        user.set("req-2"); // after scheduling: the callbacks keep what they captured
        co_await eddy::sleep(5ms);
        f.set_result(1);
        co_await eddy::sleep(1ms);
        seen.push_back("main " + user.get_or("-"));
    }());
    const std::string next = eddy::run([]() -> eddy::task<std::string> {
        co_return user.get_or("-"); // a callback's set() did not reach the thread's values
    });
    CHECK(seen == std::vector<std::string>{"soon req-1", "task req-1", "later req-1", "done req-1",
                                           "main req-2"});
    CHECK(next == "-");
}

TEST_CASE("a runner's main tasks run in one context: the next run reads what the last set",
          "[context_var][runner]") {
    eddy::runner r;
    r.run([]() -> eddy::task<> {
        user.set("set in run 1");
        co_return;
    });
    const std::string second = r.run([]() -> eddy::task<std::string> { co_return user.get(); });
    CHECK(second == "set in run 1");
    r.close();
    CHECK(user.get_or("-") == "-"); // nor to the thread's values
}

TEST_CASE("to_thread's call sees the awaiting task's values, and what it sets stays in its copy",
          "[context_var][threads]") {
    eddy::run([]() -> eddy::task<> {
        user.set("Alice");
        const std::string seen = co_await eddy::to_thread([] {
            std::string s = user.get_or("none");
            user.set("set in the thread"); // its own copy: the task does not see it
            depth.set(7);
            return s;
        });
        CHECK(seen == "Alice"); // asyncio.to_thread copies the context into the call
        CHECK(user.get() == "Alice");
        CHECK(depth.get() == 0);
        // Each call starts from the task's values again, not from what an earlier call on the
        // same pool thread set. Which thread takes a call is up to the pool, so there are more
        // calls than the pool can have threads (at most 32): some thread takes two of them.
        std::vector<std::thread::id> threads;
        bool leaked = false;
        for (int i = 0; i < 40; ++i) {
            const auto [tid, seen] = co_await eddy::to_thread([] {
                const int before = depth.get();
                depth.set(7);
                return std::make_pair(std::this_thread::get_id(), before);
            });
            leaked = leaked || seen != 0;
            threads.push_back(tid);
        }
        CHECK_FALSE(leaked);
        std::sort(threads.begin(), threads.end());
        CHECK(std::adjacent_find(threads.begin(), threads.end()) != threads.end()); // a reuse
        // run_in_executor carries none (asyncio's loop.run_in_executor neither): its calls run
        // in the worker thread's own context, which keeps what an earlier call set there.
        eddy::thread_pool pool(1);
        const std::string plain =
            co_await eddy::run_in_executor(pool, [] { return user.get_or("none"); });
        co_await eddy::run_in_executor(pool, [] { user.set("set by an earlier call"); });
        const std::string later =
            co_await eddy::run_in_executor(pool, [] { return user.get_or("none"); });
        CHECK(plain == "none");
        CHECK(later == "set by an earlier call");
    }());
}

TEST_CASE("work posted from another thread runs in a copy of that thread's values "
          "(call_soon_threadsafe, run_coroutine_threadsafe)",
          "[context_var][threads]") {
    eddy::run([]() -> eddy::task<> {
        user.set("loop task");
        const eddy::loop_handle h;
        std::string from_callback;
        std::string from_coroutine;
        std::string thread_after;
        std::atomic<bool> finished{false};
        std::thread poster([&] {
            user.set("request 7"); // this thread's own context
            std::promise<void> ran;
            h.call_soon_threadsafe([&] {
                from_callback = user.get_or("none");
                user.set("set by the callback"); // stays in the callback's copy
                ran.set_value();
            });
            ran.get_future().wait();
            from_coroutine = eddy::run_coroutine_threadsafe(
                                 []() -> eddy::task<std::string> {
                                     co_await eddy::sleep(1ms);
                                     co_return user.get_or("none");
                                 },
                                 h)
                                 .get();
            thread_after = user.get_or("none");
            finished = true;
        });
        while (!finished) {
            co_await eddy::sleep(1ms);
        }
        poster.join();
        CHECK(from_callback == "request 7");
        CHECK(from_coroutine == "request 7");
        CHECK(thread_after == "request 7");
        CHECK(user.get() == "loop task");
    }());
}
