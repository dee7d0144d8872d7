// gather: concurrency, argument order, first failure, return_exceptions, ranges, cancellation.
#include "helpers.hpp"

#include <span>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {
eddy::task<int> after(std::chrono::milliseconds d, int v, std::vector<std::string>* log = nullptr) {
    if (log != nullptr) {
        log->push_back("start " + std::to_string(v));
    }
    co_await eddy::sleep(d);
    if (log != nullptr) {
        log->push_back("done " + std::to_string(v));
    }
    co_return v;
}
// Absolute deadlines from one base: a test thread preempted between two task starts cannot
// reorder their completions.
eddy::task<int> at(eddy::clock::time_point when, int v, std::vector<std::string>& log) {
    log.push_back("start " + std::to_string(v));
    co_await eddy::sleep_until(when);
    log.push_back("done " + std::to_string(v));
    co_return v;
}
eddy::task<int> fail_at(eddy::clock::time_point when, const char* what) {
    co_await eddy::sleep_until(when);
    throw std::runtime_error(what);
}
eddy::task<> nothing() {
    co_return;
}
eddy::task<int> fail_after(std::chrono::milliseconds d, const char* what) {
    co_await eddy::sleep(d);
    throw std::runtime_error(what);
}
} // namespace

TEST_CASE("gather runs its awaitables concurrently and returns results in argument order",
          "[gather]") {
    std::vector<std::string> log;
    eddy::run([&]() -> eddy::task<> {
        const auto base = eddy::time();
        auto [a, b, c] = co_await eddy::gather(at(base + 30ms, 1, log), at(base + 10ms, 2, log),
                                               at(base + 20ms, 3, log));
        CHECK(a == 1);
        CHECK(b == 2);
        CHECK(c == 3);
    }());
    // All three started before any finished, and they finished in deadline order.
    CHECK(log ==
          std::vector<std::string>{"start 1", "start 2", "start 3", "done 2", "done 3", "done 1"});
}

TEST_CASE("gather gives void results as std::monostate and accepts handles and futures",
          "[gather]") {
    eddy::run([]() -> eddy::task<> {
        eddy::future<std::string> f;
        (void)eddy::call_later(1ms, [f]() mutable { f.set_result("fut"); });
        auto h = eddy::create_task(after(2ms, 4));
        auto [v, n, s] = co_await eddy::gather(nothing(), h, f);
        static_assert(std::is_same_v<decltype(v), std::monostate>);
        CHECK(n == 4);
        CHECK(s == "fut");
        CHECK(h.result() == 4); // the shared handle still has its value
    }());
}

TEST_CASE("the first failure propagates at once while the other children keep running",
          "[gather]") {
    bool slow_finished = false;
    eddy::run([&]() -> eddy::task<> {
        eddy::future<> release_slow;
        auto slow = eddy::create_task([&, release_slow]() -> eddy::task<int> {
            co_await release_slow;
            slow_finished = true;
            co_return 1;
        });
        const auto base = eddy::time();
        try {
            (void)co_await eddy::gather(slow, fail_at(base + 1ms, "first"),
                                        fail_at(base + 10ms, "second"));
            FAIL("gather should have thrown");
        } catch (const std::runtime_error& e) {
            CHECK(std::string(e.what()) == "first");
        }
        CHECK_FALSE(slow.done()); // still running after gather gave up
        release_slow.set_result();
        const auto got = co_await slow;
        CHECK(got == 1);
    }());
    CHECK(slow_finished);
}

TEST_CASE("gather(return_exceptions, ...) waits for all and gives each value or exception",
          "[gather]") {
    eddy::run([]() -> eddy::task<> {
        auto [a, b, c] = co_await eddy::gather(eddy::return_exceptions, after(5ms, 1),
                                               fail_after(1ms, "bad"), nothing());
        REQUIRE(a.has_value());
        CHECK(a.value() == 1);
        CHECK_FALSE(b.has_value());
        CHECK_THROWS_WITH(b.value(), "bad");
        CHECK(c.has_value());
        // Read through a const reference too, as a loop over the results would.
        const auto& ca = a;
        const auto& cb = b;
        CHECK(ca.value() == 1);
        CHECK_THROWS_WITH(cb.value(), "bad");
    }());
}

TEST_CASE("gather over a range returns a vector in the range's order", "[gather]") {
    eddy::run([]() -> eddy::task<> {
        std::vector<eddy::task<int>> ts;
        ts.reserve(100);
        for (int i = 0; i < 100; ++i) {
            ts.push_back(after(std::chrono::milliseconds(100 - i) / 10, i));
        }
        const std::vector<int> got = co_await eddy::gather(std::move(ts));
        REQUIRE(got.size() == 100);
        for (int i = 0; i < 100; ++i) {
            CHECK(got[static_cast<std::size_t>(i)] == i);
        }
        std::vector<eddy::task<int>> none;
        const auto got2 = co_await eddy::gather(std::move(none));
        CHECK(got2.empty());
    }());
}

TEST_CASE("gather over a view of handles shares them: the caller's handles stay valid",
          "[gather]") {
    eddy::run([]() -> eddy::task<> {
        std::vector<eddy::task_handle<int>> hs;
        hs.push_back(eddy::create_task(after(1ms, 1)));
        hs.push_back(eddy::create_task(after(2ms, 2)));
        const std::vector<int> got = co_await eddy::gather(std::span(hs));
        CHECK(got == std::vector<int>{1, 2});
        REQUIRE(hs[0].valid()); // a view is not a container of its own to move from
        REQUIRE(hs[1].valid());
        CHECK(hs[1].result() == 2);
    }());
}

TEST_CASE("gather of 10,000 tasks completes", "[gather][stress]") {
    const auto frames = eddy::live_frames();
    eddy::run([]() -> eddy::task<> {
        std::vector<eddy::task<int>> ts;
        ts.reserve(10'000);
        for (int i = 0; i < 10'000; ++i) {
            ts.push_back(after(1ms, i));
        }
        auto got = co_await eddy::gather(std::move(ts));
        long sum = 0;
        for (int v : got) {
            sum += v;
        }
        CHECK(sum == 10'000L * 9'999 / 2);
    }());
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("cancelling the task awaiting gather cancels every child", "[gather][cancel]") {
    eddy::run([]() -> eddy::task<> {
        auto a = eddy::create_task(after(1h, 1));
        auto b = eddy::create_task(after(1h, 2));
        auto outer =
            eddy::create_task([a, b]() -> eddy::task<> { (void)co_await eddy::gather(a, b); });
        co_await eddy::yield();
        co_await eddy::yield();
        outer.cancel();
        CHECK_THROWS_AS(co_await outer, eddy::cancelled_error);
        CHECK(a.cancelled());
        CHECK(b.cancelled());
    }());
}

TEST_CASE("gather of coroutines made from named capturing lambdas keeps their captures",
          "[gather]") {
    eddy_test::tracked::reset();
    eddy::run([]() -> eddy::task<> {
        // Named lambdas: their captures live in these objects for the whole await.
        auto one = [s = std::string("one"),
                    t = eddy_test::tracked(1)]() -> eddy::task<std::string> {
            co_await eddy::sleep(1ms);
            co_return s + std::to_string(t.value);
        };
        auto two = [s = std::string("two")]() -> eddy::task<std::string> {
            co_await eddy::sleep(2ms);
            co_return s;
        };
        auto [x, y] = co_await eddy::gather(one(), two());
        CHECK(x == "one1");
        CHECK(y == "two");
    }());
    CHECK(eddy_test::tracked::live == 0);
}

TEST_CASE("a cancelled gather propagates a child's real failure from its cleanup",
          "[gather][cancel]") {
    const std::string err = eddy_test::capture_stderr([] {
        eddy::run([]() -> eddy::task<> {
            auto a = []() -> eddy::task<> {
                bool cancelled = false;
                try {
                    co_await eddy::sleep(1h);
                } catch (const eddy::cancelled_error&) {
                    cancelled = true;
                }
                if (cancelled) {
                    throw std::runtime_error("cleanup failed");
                }
            };
            auto t = eddy::create_task([a]() -> eddy::task<> {
                (void)co_await eddy::gather(a(),
                                            []() -> eddy::task<> { co_await eddy::sleep(1h); }());
            });
            co_await eddy::sleep(2ms);
            t.cancel();
            CHECK_THROWS_WITH(co_await t, "cleanup failed"); // as asyncio
        }());
    });
    CHECK(err.empty()); // and nothing is reported as never retrieved
}

TEST_CASE("a cancelled gather(return_exceptions, ...) ends with cancelled_error even when a "
          "child's cleanup fails",
          "[gather][cancel]") {
    const std::string err = eddy_test::capture_stderr([] {
        eddy::run([]() -> eddy::task<> {
            auto a = []() -> eddy::task<int> {
                try {
                    co_await eddy::sleep(1h);
                } catch (const eddy::cancelled_error&) {
                }
                throw std::runtime_error("cleanup failed");
            };
            bool b_done = false;
            auto b = [&b_done]() -> eddy::task<> {
                try {
                    co_await eddy::sleep(1h);
                } catch (const eddy::cancelled_error&) {
                    b_done = true;
                    throw;
                }
            };
            auto t = eddy::create_task([a, b]() -> eddy::task<> {
                (void)co_await eddy::gather(eddy::return_exceptions, a(), b());
            });
            co_await eddy::sleep(2ms);
            t.cancel("stop");
            std::string what;
            try {
                co_await t;
            } catch (const eddy::cancelled_error& e) {
                what = e.what();
            } catch (const std::exception& e) {
                what = std::string("wrong: ") + e.what();
            }
            CHECK(what.find("stop") !=
                  std::string::npos); // asyncio: CancelledError, not the child's
            CHECK(b_done);            // both children finished first
        }());
    });
    CHECK(err.empty()); // the child's failure counts as retrieved, as in asyncio
}

TEST_CASE("gather(return_exceptions, ...) gives a cancelled child's slot its cancelled_error",
          "[gather][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::future<int> f;
        (void)eddy::call_soon([f]() mutable { f.cancel("gone"); });
        auto [a, b] = co_await eddy::gather(eddy::return_exceptions, f, nothing());
        REQUIRE_FALSE(a.has_value());
        CHECK_THROWS_AS(a.value(), eddy::cancelled_error);
        CHECK(b.has_value());
    }());
}

namespace {
template <class A>
concept gather_accepts = requires(A&& a) {
    eddy::gather(std::forward<A>(a));
};
using event_wait = decltype(std::declval<eddy::event&>().wait());
// An lvalue awaiter is not moved from behind the caller's back: only rvalues are accepted.
static_assert(gather_accepts<event_wait>);
static_assert(!gather_accepts<event_wait&>);
} // namespace

TEST_CASE("gather runs awaiters that are not tasks (a queue get, an event wait, a sleep) "
          "concurrently and yields their results in argument order",
          "[gather]") {
    eddy::run([]() -> eddy::task<> {
        eddy::queue<int> q;
        eddy::event ev;
        auto feeder = eddy::create_task([&]() -> eddy::task<> {
            co_await eddy::sleep(1ms);
            ev.set();
            q.put_nowait(5);
        });
        auto [item, set, slept] = co_await eddy::gather(q.get(), ev.wait(), eddy::sleep(1ms));
        CHECK(item == 5);
        static_assert(std::is_same_v<decltype(set), std::monostate>);
        static_assert(std::is_same_v<decltype(slept), std::monostate>);
        co_await feeder;
    }());
}

TEST_CASE("cancelling a gather of awaiters withdraws each from what it waits on",
          "[gather][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::queue<int> q;
        eddy::event ev;
        auto g = eddy::create_task(
            [&]() -> eddy::task<> { (void)co_await eddy::gather(q.get(), ev.wait()); });
        co_await eddy::sleep(0s);
        co_await eddy::sleep(0s);
        g.cancel();
        bool cancelled = false;
        try {
            co_await g;
        } catch (const eddy::cancelled_error&) {
            cancelled = true;
        }
        CHECK(cancelled);
        q.put_nowait(1);
        CHECK(q.size() == 1); // the withdrawn getter took nothing
        ev.set();             // and no waiter is left in the event (ASan)
    }());
}

TEST_CASE("a gather nests in another gather: the inner tuple is one slot of the outer result",
          "[gather]") {
    eddy::run([]() -> eddy::task<> {
        auto [inner, three] =
            co_await eddy::gather(eddy::gather(after(2ms, 1), after(1ms, 2)), after(1ms, 3));
        auto [one, two] = inner;
        CHECK(one == 1);
        CHECK(two == 2);
        CHECK(three == 3);
        std::vector<eddy::task<int>> range;
        range.push_back(after(1ms, 4));
        range.push_back(after(0ms, 5));
        auto [values, nothing_done] =
            co_await eddy::gather(eddy::gather(std::move(range)), nothing());
        CHECK(values == std::vector<int>{4, 5});
        static_assert(std::is_same_v<decltype(nothing_done), std::monostate>);
    }());
}

TEST_CASE("cancelling an outer gather cancels the inner gather's children", "[gather][cancel]") {
    eddy::run([]() -> eddy::task<> {
        auto a = eddy::create_task(after(1h, 1));
        auto b = eddy::create_task(after(1h, 2));
        auto g = eddy::create_task([&]() -> eddy::task<> {
            (void)co_await eddy::gather(eddy::gather(a, b), after(1h, 3));
        });
        co_await eddy::sleep(0s);
        co_await eddy::sleep(0s);
        g.cancel();
        CHECK_THROWS_AS(co_await g, eddy::cancelled_error);
        CHECK(a.cancelled());
        CHECK(b.cancelled());
    }());
}

TEST_CASE("an inner gather's first failure reaches the outer gather's awaiter", "[gather]") {
    eddy::run([]() -> eddy::task<> {
        bool caught = false;
        try {
            (void)co_await eddy::gather(eddy::gather(fail_after(1ms, "inner"), after(1ms, 1)),
                                        after(2ms, 2));
        } catch (const std::runtime_error& e) {
            caught = std::string(e.what()) == "inner";
        }
        CHECK(caught);
        co_await eddy::sleep(5ms); // the siblings finish before run ends
    }());
}

TEST_CASE("a gather moved several times, then dropped or awaited, leaves no frame behind",
          "[gather]") {
    const auto frames = eddy::live_frames();
    eddy::run([]() -> eddy::task<> {
        {
            auto g = eddy::gather(after(1ms, 1), after(2ms, 2));
            auto g2 = std::move(g);
            auto g3 = std::move(g2); // dropped unawaited: the children go on
        }
        std::vector<eddy::task<int>> range;
        range.push_back(after(1ms, 3));
        auto g = eddy::gather(std::move(range));
        auto g2 = std::move(g);
        const std::vector<int> values = co_await std::move(g2);
        CHECK(values == std::vector<int>{3});
        auto h = eddy::create_task(
            eddy::gather(eddy::return_exceptions, after(1ms, 4), eddy::gather(after(1ms, 5))));
        auto [four, five] = co_await h;
        CHECK(four.value() == 4);
        CHECK(std::get<0>(five.value()) == 5);
        co_await eddy::sleep(5ms);
    }());
    CHECK(eddy::live_frames() == frames);
}

namespace {
// Takes the gather by value: a moved-from gather moved once more must still be refused.
template <class G> eddy::task<bool> refused_when_awaited(G g) {
    try {
        (void)co_await std::move(g);
    } catch (const eddy::invalid_state_error&) {
        co_return true;
    }
    co_return false;
}
} // namespace

TEST_CASE("awaiting a gather after it was moved from, even moved again, is an "
          "invalid_state_error",
          "[gather]") {
    eddy::run([]() -> eddy::task<> {
        auto g = eddy::gather(after(0ms, 1), after(0ms, 2));
        auto moved = std::move(g);
        // NOLINTNEXTLINE(bugprone-use-after-move): what is tested
        const bool tuple_refused = co_await refused_when_awaited(std::move(g));
        CHECK(tuple_refused);
        std::vector<eddy::task<int>> range;
        range.push_back(after(0ms, 3));
        auto r = eddy::gather(std::move(range));
        auto r2 = std::move(r);
        // NOLINTNEXTLINE(bugprone-use-after-move): what is tested
        const bool range_refused = co_await refused_when_awaited(std::move(r));
        CHECK(range_refused);
        auto [a, b] = co_await std::move(moved);
        CHECK(a + b == 3);
        const std::vector<int> three = co_await std::move(r2);
        CHECK(three == std::vector<int>{3});
    }());
}

TEST_CASE("a gather awaited a second time throws instead of yielding moved-from values",
          "[gather]") {
    eddy::run([]() -> eddy::task<> {
        auto word = [](int n) -> eddy::task<std::string> {
            co_return std::string(30, static_cast<char>('a' + n));
        };
        auto g = eddy::gather(word(0), word(1));
        auto [x, y] = co_await g;
        CHECK(x == std::string(30, 'a'));
        CHECK(y == std::string(30, 'b'));
        bool again_refused = false;
        try {
            (void)co_await g;
        } catch (const eddy::invalid_state_error&) {
            again_refused = true;
        }
        CHECK(again_refused);
        std::vector<eddy::task<std::string>> v;
        v.push_back(word(2));
        auto r = eddy::gather(eddy::return_exceptions, std::move(v));
        auto first = co_await r;
        REQUIRE(first.size() == 1);
        CHECK(first[0].value() == std::string(30, 'c'));
        bool range_again_refused = false;
        try {
            (void)co_await r;
        } catch (const eddy::invalid_state_error&) {
            range_again_refused = true;
        }
        CHECK(range_again_refused);
        // Awaited without suspending (its child was done), then moved: still refused.
        auto done = eddy::create_task(word(3));
        co_await eddy::sleep(1ms);
        auto g3 = eddy::gather(std::move(done));
        auto [z] = co_await g3;
        CHECK(z == std::string(30, 'd'));
        auto g4 = std::move(g3);
        bool moved_again_refused = false;
        try {
            (void)co_await g4;
        } catch (const eddy::invalid_state_error&) {
            moved_again_refused = true;
        }
        CHECK(moved_again_refused);
    }());
}
