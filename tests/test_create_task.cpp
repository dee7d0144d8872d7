// create_task and task_handle: scheduling, shared awaiting, state queries, cancellation basics.
#include "helpers.hpp"

#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

using namespace std::chrono_literals;
using eddy_test::after;
using eddy_test::tracked;

namespace {
eddy::task<int> fail_after(std::chrono::milliseconds d) {
    co_await eddy::sleep(d);
    throw std::runtime_error("task failed");
}
} // namespace

TEST_CASE("a created task starts on a later loop turn even if nobody awaits it", "[create_task]") {
    std::vector<std::string> log;
    eddy::run([&]() -> eddy::task<> {
        auto h = eddy::create_task([&]() -> eddy::task<> {
            log.emplace_back("task");
            co_return;
        });
        log.emplace_back("after create");
        co_await eddy::yield();
        log.emplace_back("after yield");
        CHECK(h.done());
    }());
    CHECK(log == std::vector<std::string>{"after create", "task", "after yield"});
}

TEST_CASE("a task handle can be awaited many times and by several tasks", "[create_task]") {
    eddy::run([]() -> eddy::task<> {
        auto h = eddy::create_task(after(5ms, 9));
        auto waiter = [h]() mutable -> eddy::task<int> { co_return co_await h; };
        auto a = eddy::create_task(waiter);
        auto b = eddy::create_task(waiter);
        const auto got = co_await h;
        CHECK(got == 9);
        const auto got2 = co_await h;
        CHECK(got2 == 9);
        const auto got3 = co_await a;
        CHECK(got3 == 9);
        const auto got4 = co_await b;
        CHECK(got4 == 9);
    }());
}

TEST_CASE("done, result, exception and name describe a task's state", "[create_task]") {
    eddy::run([]() -> eddy::task<> {
        auto ok = eddy::create_task(after(1ms, 3), "ok");
        auto bad = eddy::create_task(fail_after(1ms), "bad");
        CHECK(ok.name() == "ok");
        CHECK_FALSE(ok.done());
        CHECK_THROWS_AS(ok.result(), eddy::invalid_state_error);
        CHECK_THROWS_AS(ok.exception(), eddy::invalid_state_error);
        co_await eddy::sleep(20ms);
        REQUIRE(ok.done());
        CHECK(ok.result() == 3);
        CHECK(ok.exception() == nullptr);
        REQUIRE(bad.done());
        CHECK_FALSE(bad.cancelled());
        CHECK(bad.exception() != nullptr);
        CHECK_THROWS_WITH(bad.result(), "task failed");
    }());
}

TEST_CASE("an exception nobody retrieved is reported on stderr with the task's name",
          "[create_task]") {
    const std::string err = eddy_test::capture_stderr([] {
        eddy::run([]() -> eddy::task<> {
            bool failed = false;
            {
                auto h = eddy::create_task(
                    [&failed]() -> eddy::task<> {
                        co_await eddy::sleep(1ms);
                        failed = true;
                        throw std::runtime_error("task failed");
                    },
                    "forgotten");
            }
            while (!failed) {
                co_await eddy::sleep(1ms);
            }
        }());
    });
    CHECK(err.find("task 'forgotten' exception was never retrieved: task failed") !=
          std::string::npos);
}

TEST_CASE("an exception that was retrieved is not reported", "[create_task]") {
    const std::string err = eddy_test::capture_stderr([] {
        eddy::run([]() -> eddy::task<> {
            auto h = eddy::create_task(fail_after(1ms), "seen");
            CHECK_THROWS(co_await h);
        }());
    });
    CHECK(err.empty());
}

TEST_CASE("dropping every handle does not stop the task", "[create_task]") {
    bool finished = false;
    eddy::run([&]() -> eddy::task<> {
        (void)eddy::create_task([&]() -> eddy::task<> {
            co_await eddy::sleep(2ms);
            finished = true;
        });
        for (int i = 0; i < 10'000 && !finished; ++i) { // generous bound: ~10 s
            co_await eddy::sleep(1ms);
        }
    }());
    CHECK(finished);
}

TEST_CASE("create_task with a capturing lambda keeps its captures alive for the whole task",
          "[create_task]") {
    tracked::reset();
    eddy::run([]() -> eddy::task<> {
        auto h = eddy::create_task(
            [s = std::string(64, 'y'), t = tracked(5)]() -> eddy::task<std::size_t> {
                co_await eddy::sleep(2ms); // the statement that created us has long ended
                co_return s.size() + static_cast<std::size_t>(t.value);
            });
        const auto got5 = co_await h;
        CHECK(got5 == 69);
    }());
    CHECK(tracked::live == 0);
}

TEST_CASE("cancelling a sleeping task raises cancelled_error inside it and marks it cancelled",
          "[create_task][cancel]") {
    bool cleaned = false;
    eddy::run([&]() -> eddy::task<> {
        auto h = eddy::create_task([&]() -> eddy::task<> {
            try {
                co_await eddy::sleep(1h);
            } catch (const eddy::cancelled_error& e) {
                CHECK(std::string(e.what()) == "stop");
                cleaned = true;
                throw;
            }
        });
        co_await eddy::yield();
        CHECK(h.cancel("stop"));
        CHECK(h.cancelling() == 1);
        CHECK_THROWS_AS(co_await h, eddy::cancelled_error);
        CHECK(h.cancelled());
        CHECK_FALSE(h.cancel()); // already done
    }());
    CHECK(cleaned);
}

TEST_CASE("a task may refuse a cancellation and return a value", "[create_task][cancel]") {
    eddy::run([]() -> eddy::task<> {
        auto h = eddy::create_task([]() -> eddy::task<int> {
            try {
                co_await eddy::sleep(1h);
            } catch (const eddy::cancelled_error&) {
                co_return -1;
            }
            co_return 0;
        });
        co_await eddy::yield();
        h.cancel();
        const auto got6 = co_await h;
        CHECK(got6 == -1);
        CHECK_FALSE(h.cancelled());
    }());
}

TEST_CASE("a task cancelled before its first step never runs its body", "[create_task][cancel]") {
    bool ran = false;
    eddy::run([&]() -> eddy::task<> {
        auto h = eddy::create_task([&]() -> eddy::task<> {
            ran = true;
            co_return;
        });
        h.cancel();
        CHECK_THROWS_AS(co_await h, eddy::cancelled_error);
    }());
    CHECK_FALSE(ran);
}

TEST_CASE("cancelling a task that awaits another task cancels that one too",
          "[create_task][cancel]") {
    eddy::run([]() -> eddy::task<> {
        auto inner = eddy::create_task(after(1h, 1));
        auto outer =
            eddy::create_task([inner]() mutable -> eddy::task<int> { co_return co_await inner; });
        co_await eddy::yield();
        co_await eddy::yield();
        outer.cancel();
        CHECK_THROWS_AS(co_await outer, eddy::cancelled_error);
        CHECK(inner.cancelled());
    }());
}

TEST_CASE("a task that cancels itself gets cancelled_error at its next suspension",
          "[create_task][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::task_handle<void> self;
        auto h = eddy::create_task([&self]() -> eddy::task<> {
            self.cancel();
            co_await eddy::yield(); // throws here
            FAIL("not reached");
        });
        self = h;
        CHECK_THROWS_AS(co_await h, eddy::cancelled_error);
        self = {};
    }());
}

TEST_CASE("uncancel withdraws a request", "[create_task][cancel]") {
    eddy::run([]() -> eddy::task<> {
        auto h = eddy::create_task(after(1ms, 1));
        h.cancel();
        h.cancel();
        CHECK(h.cancelling() == 2);
        CHECK(h.uncancel() == 1);
        CHECK_THROWS_AS(co_await h, eddy::cancelled_error);
    }());
}

TEST_CASE("100,000 create_task + await in sequence complete and recycle their frames",
          "[create_task][stress]") {
    const auto frames = eddy::live_frames();
    const long total = eddy::run([]() -> eddy::task<long> {
        long sum = 0;
        for (int i = 0; i < 100'000; ++i) {
            sum += co_await eddy::create_task([]() -> eddy::task<int> { co_return 1; }());
        }
        co_return sum;
    }());
    CHECK(total == 100'000);
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("spawning tasks in steady state calls malloc only while the pools grow",
          "[create_task][alloc]") {
    eddy::run([]() -> eddy::task<> {
        auto spawn = []() -> eddy::task<int> { co_return 1; };
        for (int i = 0; i < 1000; ++i) { // warm-up: pools and the ready queue grow
            co_await eddy::create_task(spawn());
        }
        const auto chunks = eddy::detail::this_thread_pool().chunk_mallocs();
        const auto allocs = eddy_test::allocations();
        for (int i = 0; i < 10'000; ++i) {
            co_await eddy::create_task(spawn());
        }
        CHECK(eddy::detail::this_thread_pool().chunk_mallocs() == chunks);
        CHECK(eddy_test::allocations() == allocs);
    }());
}

TEST_CASE("awaiting a handle keeps the task's state alive when every other handle is dropped",
          "[create_task][lifetime]") {
    eddy::run([]() -> eddy::task<> {
        auto shared = std::make_shared<eddy::task_handle<std::string>>(
            eddy::create_task([]() -> eddy::task<std::string> {
                co_await eddy::sleep(1ms);
                co_return std::string(64, 'z');
            }));
        auto waiter = eddy::create_task([shared]() -> eddy::task<std::size_t> {
            const std::string s = co_await *shared; // lvalue await: holds its own reference
            co_return s.size();
        });
        co_await eddy::yield();
        co_await eddy::yield();
        *shared = {}; // the last handle other than the awaiter's reference
        const auto got7 = co_await waiter;
        CHECK(got7 == 64);
    }());
}

TEST_CASE("a yield leaves no stale cancel hook behind", "[create_task][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::task_handle<void> self;
        auto h = eddy::create_task([&self]() -> eddy::task<> {
            co_await []() -> eddy::task<> { co_await eddy::yield(); }(); // frame gone afterwards
            self.cancel(); // must not reach the dead yield awaiter
            co_await eddy::sleep(1h);
        });
        self = h;
        CHECK_THROWS_AS(co_await h, eddy::cancelled_error);
        self = {};
    }());
}

TEST_CASE("two cancel requests deliver one cancelled_error, async cleanup then runs",
          "[create_task][cancel]") {
    bool cleaned = false;
    eddy::run([&]() -> eddy::task<> {
        auto w = eddy::create_task([&]() -> eddy::task<> {
            std::exception_ptr cancelled;
            try {
                co_await eddy::sleep(1h);
            } catch (const eddy::cancelled_error&) {
                cancelled = std::current_exception();
            }
            co_await eddy::sleep(1ms); // cleanup: not cancelled a second time
            cleaned = true;
            std::rethrow_exception(cancelled);
        });
        co_await eddy::sleep(1ms);
        w.cancel();
        w.cancel();
        CHECK_THROWS_AS(co_await w, eddy::cancelled_error);
    }());
    CHECK(cleaned);
}

TEST_CASE("a cancellation requested while a task runs cancels what it then awaits",
          "[create_task][cancel]") {
    bool child_ran = false;
    eddy::future<int> fut;
    eddy::run([&]() -> eddy::task<> {
        eddy::task_handle<void> self;
        auto h = eddy::create_task([&]() -> eddy::task<> {
            self.cancel();
            // asyncio cancels the gathered child before its first step
            CHECK_THROWS_AS((void)co_await eddy::gather([&]() -> eddy::task<> {
                                child_ran = true;
                                co_return;
                            }()),
                            eddy::cancelled_error);
            self.uncancel();
            self.cancel();
            CHECK_THROWS_AS(co_await fut, eddy::cancelled_error); // the future is cancelled
        });
        self = h;
        co_await h;
        self = {};
    }());
    CHECK_FALSE(child_ran);
    CHECK(fut.cancelled());
}

TEST_CASE("a task awaiting its own handle gets invalid_state_error", "[create_task][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::task_handle<void> self;
        auto h = eddy::create_task([&self]() -> eddy::task<> {
            co_await eddy::yield();
            co_await self;
        });
        self = h;
        CHECK_THROWS_AS(co_await h, eddy::invalid_state_error);
        self = {};
    }());
}

TEST_CASE("cancelling tasks that await each other in a cycle cancels both, without recursing "
          "forever",
          "[create_task][cancel]") {
    const auto frames = eddy::live_frames();
    eddy::run([]() -> eddy::task<> {
        eddy::task_handle<void> a;
        eddy::task_handle<void> b;
        a = eddy::create_task([&b]() -> eddy::task<> {
            co_await eddy::yield();
            co_await b;
        });
        b = eddy::create_task([&a]() -> eddy::task<> {
            co_await eddy::yield();
            co_await a;
        });
        co_await eddy::sleep(1ms);
        a.cancel();
        CHECK_THROWS_AS(co_await a, eddy::cancelled_error);
        CHECK_THROWS_AS(co_await b, eddy::cancelled_error);
        a = {};
        b = {};
    }());
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("capturing lambdas bound to a name can be created and gathered inside co_await "
          "expressions, many times",
          "[create_task][stress]") {
    // With g++ < 13, a capturing lambda *temporary* inside a co_await expression has its
    // captures destroyed twice (GCC PR 99576: a double free, no library can prevent it). The
    // supported pattern binds the lambda to a name first; this exercises it in every build.
    eddy_test::tracked::reset();
    const std::size_t total = eddy::run([]() -> eddy::task<std::size_t> {
        std::size_t sum = 0;
        for (int i = 0; i < 10'000; ++i) {
            auto body = [s = std::string(40, 'q'),
                         t = eddy_test::tracked(i)]() -> eddy::task<std::size_t> {
                co_await eddy::yield();
                co_return s.size() + static_cast<std::size_t>(t.value % 2);
            };
            sum += co_await eddy::create_task(std::move(body));
        }
        auto make = [prefix = std::string(40, 'p')](int i) -> eddy::task<std::size_t> {
            co_await eddy::yield();
            co_return prefix.size() + static_cast<std::size_t>(i);
        };
        std::vector<eddy::task<std::size_t>> ts;
        ts.reserve(1000);
        for (int i = 0; i < 1000; ++i) {
            ts.push_back(make(i)); // the captures live in `make`, alive for the whole gather
        }
        for (std::size_t v : co_await eddy::gather(std::move(ts))) {
            sum += v;
        }
        co_return sum;
    }());
    CHECK(total == 10'000 * 40 + 5'000 + 1000 * 40 + 999 * 1000 / 2);
    CHECK(eddy_test::tracked::live == 0);
}

TEST_CASE("current_task_name names the task that is running", "[create_task]") {
    eddy::run([]() -> eddy::task<> {
        CHECK(eddy::current_task_name() == "main");
        auto h = eddy::create_task(
            []() -> eddy::task<std::string> { co_return eddy::current_task_name(); }, "worker");
        auto unnamed = eddy::create_task(
            []() -> eddy::task<std::string> { co_return eddy::current_task_name(); });
        const auto got8 = co_await h;
        CHECK(got8 == "worker");
        const auto got9 = co_await unnamed;
        CHECK(got9.empty());
    }());
    CHECK_THROWS_AS(eddy::current_task_name(), eddy::loop_error);
}

TEST_CASE("a cancellation that arrives after the awaiter was woken by a refusing task is not lost",
          "[create_task][cancel]") {
    // The first cancel goes to the awaited task, which refuses it and returns a value; a second
    // cancel arrives after the awaiter was woken. The value is delivered, and the second request
    // must stay pending for the next await (asyncio would even raise at this await).
    eddy::run([]() -> eddy::task<> {
        bool finished_normally = false;
        int got = 0;
        auto a = eddy::create_task([&]() -> eddy::task<> {
            auto b = eddy::create_task([]() -> eddy::task<int> {
                try {
                    co_await eddy::sleep(1h);
                } catch (const eddy::cancelled_error&) {
                }
                co_return 42; // refuses
            });
            got = co_await b;
            co_await eddy::sleep(1h); // the second request lands here
            finished_normally = true;
        });
        co_await eddy::yield();
        co_await eddy::yield();
        a.cancel();             // passed on to b, which refuses
        co_await eddy::yield(); // b finishes: a is woken, not yet resumed
        a.cancel();
        CHECK_THROWS_AS(co_await a, eddy::cancelled_error);
        CHECK(got == 42);
        CHECK_FALSE(finished_normally);
    }());
}

TEST_CASE("a cancellation during a task's async cleanup interrupts the cleanup's await",
          "[create_task][cancel]") {
    eddy::run([]() -> eddy::task<> {
        int phase = 0;
        auto w = eddy::create_task([&]() -> eddy::task<> {
            bool first = false;
            try {
                co_await eddy::sleep(1h);
            } catch (const eddy::cancelled_error&) {
                first = true;
            }
            REQUIRE(first);
            phase = 1;
            co_await eddy::sleep(1h); // cleanup that a second cancel must interrupt
            phase = 2;
        });
        co_await eddy::sleep(1ms);
        w.cancel();
        co_await eddy::sleep(1ms);
        CHECK(phase == 1);
        CHECK(w.cancelling() == 1);
        w.cancel("again");
        try {
            co_await w;
            FAIL("the cleanup was cancelled");
        } catch (const eddy::cancelled_error& e) {
            CHECK(std::string(e.what()) == "again");
        }
        CHECK(phase == 1);
        CHECK(w.cancelling() == 2);
    }());
}

namespace {
eddy::task<int> counts_its_arguments(tracked t, std::string s, bool& ran) {
    ran = true;
    co_return t.value + static_cast<int>(s.size());
}
eddy::task<int> marks_and_sleeps(bool& ran) {
    ran = true;
    co_await eddy::sleep(1ms);
    co_return 1;
}
} // namespace

TEST_CASE("a task cancelled before its first step frees its arguments and captures without "
          "running, whether a coroutine, a lambda or a gather child",
          "[create_task][cancel]") {
    // The cancellation is thrown from the task's initial suspension (into unhandled_exception):
    // parameters and lambda captures must be destroyed once, and the body must never run.
    tracked::reset();
    const auto frames = eddy::live_frames();
    bool ran_coroutine = false;
    bool ran_lambda = false;
    bool ran_child1 = false;
    bool ran_child2 = false;
    eddy::run([&]() -> eddy::task<> {
        auto a = eddy::create_task(
            counts_its_arguments(tracked(1), std::string(100, 'x'), ran_coroutine));
        a.cancel("early");
        std::string message;
        try {
            co_await a;
        } catch (const eddy::cancelled_error& e) {
            message = e.what();
        }
        CHECK(a.cancelled());
        CHECK(message.find("early") != std::string::npos);

        auto fn = [t = tracked(2), s = std::string(100, 'y'), &ran_lambda]() -> eddy::task<int> {
            ran_lambda = true;
            co_return t.value + static_cast<int>(s.size());
        };
        auto b = eddy::create_task(std::move(fn));
        b.cancel();
        bool threw = false;
        try {
            co_await b;
        } catch (const eddy::cancelled_error&) {
            threw = true;
        }
        CHECK(threw);

        auto outer = eddy::create_task([&]() -> eddy::task<int> {
            auto [x, y] =
                co_await eddy::gather(marks_and_sleeps(ran_child1), marks_and_sleeps(ran_child2));
            co_return x + y;
        });
        co_await eddy::yield(); // outer starts and creates its children, which have not started
        outer.cancel();
        threw = false;
        try {
            co_await outer;
        } catch (const eddy::cancelled_error&) {
            threw = true;
        }
        CHECK(threw);
    }());
    CHECK_FALSE(ran_coroutine);
    CHECK_FALSE(ran_lambda);
    CHECK_FALSE(ran_child1);
    CHECK_FALSE(ran_child2);
    CHECK(tracked::live == 0);
    CHECK(eddy::live_frames() == frames);
}

namespace {
template <class A>
concept create_task_accepts = requires(A&& a) {
    eddy::create_task(std::forward<A>(a));
};
using queue_get = decltype(std::declval<eddy::queue<int>&>().get());
static_assert(create_task_accepts<queue_get>);
static_assert(!create_task_accepts<queue_get&>); // an lvalue awaiter is not moved from
} // namespace

TEST_CASE("create_task accepts an awaiter, as asyncio.create_task accepts a coroutine, and its "
          "handle yields what the awaiter yields",
          "[create_task]") {
    eddy::run([]() -> eddy::task<> {
        eddy::queue<int> q;
        auto getter = eddy::create_task(q.get(), {.name = "getter"});
        CHECK(getter.name() == "getter");
        co_await eddy::sleep(0s);
        CHECK_FALSE(getter.done()); // it waits in the queue
        q.put_nowait(9);
        const int v = co_await getter;
        CHECK(v == 9);
        auto named = eddy::create_task(q.get(), "named getter");
        CHECK(named.name() == "named getter");
        q.put_nowait(10);
        const int w = co_await named;
        CHECK(w == 10);
        auto waiter = eddy::create_task(eddy::sleep(1ms));
        co_await waiter;
        CHECK(waiter.done());
    }());
}

TEST_CASE("create_task accepts a gather: the handle yields the gathered tuple", "[create_task]") {
    eddy::run([]() -> eddy::task<> {
        auto both = eddy::create_task(eddy::gather(eddy::create_task(after(1ms, 1)), after(0ms, 2)),
                                      "both");
        CHECK(both.name() == "both");
        auto [a, b] = co_await both;
        CHECK(a == 1);
        CHECK(b == 2);
    }());
}

TEST_CASE("a const task handle can be awaited and yields the task's value", "[create_task]") {
    eddy::run([]() -> eddy::task<> {
        std::vector<eddy::task_handle<int>> hs;
        for (int i = 1; i <= 3; ++i) {
            hs.push_back(eddy::create_task(after(1ms, i)));
        }
        const auto& view = hs;
        int sum = 0;
        for (const auto& h : view) {
            sum += co_await h;
        }
        CHECK(sum == 6);
        CHECK(hs[0].valid()); // an lvalue await leaves the handle as it was
    }());
}

TEST_CASE("awaiting a handle as an rvalue empties it, so its moved-out value cannot be read "
          "again",
          "[create_task]") {
    eddy::run([]() -> eddy::task<> {
        auto h =
            eddy::create_task([]() -> eddy::task<std::string> { co_return std::string(40, 'x'); });
        const std::string first = co_await std::move(h);
        CHECK(first.size() == 40);
        CHECK_FALSE(h.valid()); // NOLINT(bugprone-use-after-move): the point of the test
        CHECK_FALSE(static_cast<bool>(h));
        CHECK_THROWS_AS(h.result(), eddy::invalid_state_error);
        CHECK_THROWS_AS(h.exception(), eddy::invalid_state_error);
        CHECK_THROWS_AS(h.cancel(), eddy::invalid_state_error);
        CHECK_THROWS_AS((void)h.done(), eddy::invalid_state_error);
        CHECK_THROWS_AS((void)h.cancelled(), eddy::invalid_state_error);
        CHECK_THROWS_AS((void)h.name(), eddy::invalid_state_error);
        CHECK_THROWS_AS((void)h.cancelling(), eddy::invalid_state_error);
        CHECK_THROWS_AS(h.uncancel(), eddy::invalid_state_error);
        bool threw = false;
        try {
            (void)co_await h;
        } catch (const eddy::invalid_state_error&) {
            threw = true;
        }
        CHECK(threw);
    }());
}

TEST_CASE("an rvalue await moves the value out only when no other handle shares the task",
          "[create_task][lifetime]") {
    tracked::reset();
    eddy::run([]() -> eddy::task<> {
        auto make = []() -> eddy::task<tracked> { co_return tracked(7); };
        auto alone = eddy::create_task(make);
        const tracked a = co_await std::move(alone);
        CHECK(a.value == 7);

        auto shared = eddy::create_task(make);
        const auto keep = shared;
        const tracked b = co_await std::move(shared);
        CHECK(b.value == 7);
        CHECK(keep.result().value == 7); // copied, not moved: the other handle still reads it
        CHECK_FALSE(shared.valid());     // NOLINT(bugprone-use-after-move): the point of the test
    }());
    CHECK(tracked::live == 0);
}

TEST_CASE("task_handle<> is the handle of a task that returns nothing", "[create_task]") {
    STATIC_REQUIRE(std::is_same_v<eddy::task_handle<>, eddy::task_handle<void>>);
    eddy::run([]() -> eddy::task<> {
        eddy::task_handle<> h = eddy::create_task([]() -> eddy::task<> { co_return; });
        co_await h;
        CHECK(h.done());
    }());
}

TEST_CASE("a task's done-callback runs on a later turn with a handle to the finished task",
          "[create_task][done_callback]") {
    std::vector<std::string> log;
    eddy::run([&]() -> eddy::task<> {
        auto h = eddy::create_task([&]() -> eddy::task<int> {
            log.emplace_back("body");
            co_return 7;
        });
        h.add_done_callback([&](const eddy::task_handle<int>& t) {
            log.push_back("cb " + std::to_string(t.result()));
        });
        h.add_done_callback(
            // NOLINTNEXTLINE(performance-unnecessary-value-param): by value is what is tested
            [&](eddy::task_handle<int> t) { log.emplace_back(t.done() ? "cb2" : "?"); });
        log.emplace_back("added");
        co_await eddy::sleep(1ms);
        // Added once the task is done: still not run inline.
        h.add_done_callback([&](eddy::task_handle<int>& t) {
            log.push_back("late " + std::to_string(t.result()));
        });
        log.emplace_back("late added");
        co_await eddy::yield();
    }());
    CHECK(log == std::vector<std::string>{"added", "body", "cb 7", "cb2", "late added", "late 7"});
}

TEST_CASE("done-callbacks and tasks awaiting the task wake in the order they began to wait",
          "[create_task][done_callback]") {
    std::vector<std::string> log;
    eddy::run([&]() -> eddy::task<> {
        eddy::event go;
        auto h = eddy::create_task([&]() -> eddy::task<int> {
            co_await go.wait();
            co_return 1;
        });
        h.add_done_callback([&](const eddy::task_handle<int>&) { log.emplace_back("cb1"); });
        auto waiter = eddy::create_task([&]() -> eddy::task<> {
            co_await h;
            log.emplace_back("awaiter");
        });
        co_await eddy::yield(); // the awaiter begins to wait
        h.add_done_callback([&](const eddy::task_handle<int>&) { log.emplace_back("cb2"); });
        go.set();
        co_await waiter;
    }());
    CHECK(log == std::vector<std::string>{"cb1", "awaiter", "cb2"});
}

TEST_CASE("a done-callback sees a failed or cancelled task, and reading the failure retrieves it",
          "[create_task][done_callback]") {
    std::string failure;
    bool saw_cancelled = false;
    const std::string err = eddy_test::capture_stderr([&] {
        eddy::run([&]() -> eddy::task<> {
            auto bad = eddy::create_task(fail_after(1ms));
            bad.add_done_callback([&](const eddy::task_handle<int>& t) {
                try {
                    std::rethrow_exception(t.exception());
                } catch (const std::runtime_error& e) {
                    failure = e.what();
                }
            });
            auto sleeper = eddy::create_task([]() -> eddy::task<> { co_await eddy::sleep(1h); });
            sleeper.add_done_callback(
                [&](const eddy::task_handle<>& t) { saw_cancelled = t.cancelled(); });
            co_await eddy::sleep(5ms);
            sleeper.cancel();
            co_await eddy::sleep(1ms);
        }());
    });
    CHECK(failure == "task failed");
    CHECK(saw_cancelled);
    CHECK(err.find("never retrieved") == std::string::npos);
}

TEST_CASE("the background-tasks idiom: handles kept in a set, each erased by its done-callback",
          "[create_task][done_callback]") {
    const auto frames = eddy::live_frames();
    std::unordered_set<eddy::task_handle<int>> background;
    int sum = 0;
    eddy::run([&]() -> eddy::task<> {
        for (int i = 0; i < 10; ++i) {
            auto h = eddy::create_task([&sum, i]() -> eddy::task<int> {
                co_await eddy::sleep(std::chrono::milliseconds(i % 3));
                sum += i;
                co_return i;
            });
            background.insert(h);
            h.add_done_callback(
                [&background](const eddy::task_handle<int>& t) { background.erase(t); });
        }
        CHECK(background.size() == 10);
        while (!background.empty()) {
            co_await eddy::sleep(1ms);
        }
    }());
    CHECK(sum == 45);
    CHECK(eddy::live_frames() == frames); // the tasks died with their last handle
}

TEST_CASE("task handles compare and hash by the task they refer to", "[create_task]") {
    eddy::run([]() -> eddy::task<> {
        auto a = eddy::create_task([]() -> eddy::task<int> { co_return 1; });
        auto b = eddy::create_task([]() -> eddy::task<int> { co_return 1; });
        const eddy::task_handle<int> a2 = a; // NOLINT(performance-unnecessary-copy-initialization)
        CHECK(a == a2);
        CHECK_FALSE(a == b);
        CHECK(a != b);
        CHECK(std::hash<eddy::task_handle<int>>{}(a) == std::hash<eddy::task_handle<int>>{}(a2));
        CHECK(eddy::task_handle<int>() == eddy::task_handle<int>());
        CHECK_FALSE(a == eddy::task_handle<int>());
        co_await a;
        co_await b;
    }());
}

TEST_CASE("a done-callback on an empty handle throws invalid_state_error", "[create_task]") {
    eddy::run([]() -> eddy::task<> {
        eddy::task_handle<int> h;
        CHECK_THROWS_AS(h.add_done_callback([](const eddy::task_handle<int>&) {}),
                        eddy::invalid_state_error);
        co_return;
    }());
}

TEST_CASE("a done-callback runs for a task that run's shutdown cancels, and its captures are "
          "destroyed once it ran",
          "[create_task][done_callback][lifetime]") {
    tracked::reset();
    const auto frames = eddy::live_frames();
    int ran = 0;
    eddy::run([&]() -> eddy::task<> {
        auto quick = eddy::create_task([]() -> eddy::task<> { co_return; });
        quick.add_done_callback(
            [&ran, t = tracked(1)](const eddy::task_handle<>&) { ran += t.value; });
        // Pending when main ends: run cancels it, and its callback runs during the shutdown.
        auto stuck = eddy::create_task([]() -> eddy::task<> { co_await eddy::sleep(1h); });
        stuck.add_done_callback([&ran, t = tracked(10)](const eddy::task_handle<>& s) {
            ran += s.cancelled() ? t.value : 0;
        });
        co_await quick;
        co_await eddy::yield();
        CHECK(ran == 1);
    }());
    CHECK(ran == 11);
    CHECK(tracked::live == 0);
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("a done-callback of a task that finishes in the turn main ends still runs",
          "[create_task][done_callback]") {
    bool ran = false;
    eddy::run([&]() -> eddy::task<> {
        eddy::event ev;
        auto h = eddy::create_task([&]() -> eddy::task<int> {
            ev.set();
            co_return 1;
        });
        h.add_done_callback([&](const eddy::task_handle<int>& t) { ran = t.result() == 1; });
        co_await ev.wait();
    }());
    CHECK(ran);
}

namespace {
struct copy_counted {
    static inline int copies = 0;
    int v = 0;
    explicit copy_counted(int x) : v(x) {}
    copy_counted(const copy_counted& o) : v(o.v) { ++copies; }
    copy_counted(copy_counted&&) noexcept = default;
    copy_counted& operator=(const copy_counted&) = default;
    copy_counted& operator=(copy_counted&&) noexcept = default;
    ~copy_counted() = default;
};
eddy::task<copy_counted> make_counted(int x) {
    co_await eddy::yield();
    co_return copy_counted(x);
}
} // namespace

TEST_CASE("shield of a handle given up moves the value out instead of copying it",
          "[create_task][shield]") {
    eddy::run([]() -> eddy::task<> {
        auto h = eddy::create_task(make_counted(7));
        copy_counted::copies = 0;
        const copy_counted got = co_await eddy::shield(std::move(h));
        CHECK(got.v == 7);
        CHECK(copy_counted::copies == 0);
    }());
}

TEST_CASE("a move-only result is read in place through an lvalue handle and moved out by an "
          "await by value, shield included",
          "[create_task]") {
    eddy::run([]() -> eddy::task<> {
        auto make = [](int x) -> eddy::task<std::unique_ptr<int>> {
            co_await eddy::yield();
            co_return std::make_unique<int>(x);
        };
        auto h1 = eddy::create_task(make(4));
        auto h2 = h1;
        const std::unique_ptr<int>& kept = co_await h2; // an lvalue await: a reference
        REQUIRE(kept != nullptr);
        CHECK(*kept == 4);
        CHECK(kept.get() == h1.result().get()); // the same object, not a copy
        std::unique_ptr<int> taken = co_await std::move(h1);
        REQUIRE(taken != nullptr);
        CHECK(*taken == 4);
        // shield of a handle given up moves the value out too (the by-value parameter used to
        // keep a second reference for the whole await).
        auto h3 = eddy::create_task(make(5));
        std::unique_ptr<int> shielded = co_await eddy::shield(std::move(h3));
        REQUIRE(shielded != nullptr);
        CHECK(*shielded == 5);
        auto h4 = eddy::create_task(make(6));
        auto [only] = co_await eddy::gather(std::move(h4));
        REQUIRE(only != nullptr);
        CHECK(*only == 6);
    }());
}

namespace {
eddy::task<int> chain_start() {
    co_await eddy::sleep(1ms);
    co_return 0;
}
eddy::task<int> chain_link(eddy::task_handle<int> previous) {
    co_return 1 + co_await previous;
}
} // namespace

TEST_CASE("a long chain of tasks each holding the previous one's handle is freed without deep "
          "recursion",
          "[create_task]") {
    // The last task's frame holds the only handle to the one before, and so on: freeing them
    // one inside the other recursed once per task and overflowed the stack near 70,000.
    constexpr int n = 150'000;
    const auto frames = eddy::live_frames();
    eddy::run([]() -> eddy::task<> {
        eddy::task_handle<int> last = eddy::create_task(chain_start());
        for (int i = 1; i < n; ++i) {
            last = eddy::create_task(chain_link(std::move(last)));
        }
        const int length = co_await std::move(last);
        CHECK(length == n - 1);
    }());
    CHECK(eddy::live_frames() == frames);
}
