// create_task's eager start (task_options::eager_start, loop_options::eager_tasks): asyncio's
// eager_task_factory and create_task(eager_start=True). create_task.hpp's second test file.
#include "helpers.hpp"

#include <cstddef>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using eddy_test::tracked;

namespace {

eddy::task<int> immediate(int v) {
    co_return v;
}

eddy::task<int> fails_at_once() {
    throw std::runtime_error("failed in the first step");
    co_return 0; // NOLINT: unreachable, makes this a coroutine
}

/// The input range make(0), ..., make(n - 1), each made when the iteration reaches it (what
/// std::views::transform gives; clang 14 cannot compile libstdc++ 12's views).
template <class F> struct made_by {
    const F* make;
    int n;
    struct iterator {
        using value_type = std::invoke_result_t<const F&, int>;
        using difference_type = std::ptrdiff_t;
        const F* make = nullptr;
        int i = 0;
        value_type operator*() const { return (*make)(i); }
        iterator& operator++() {
            ++i;
            return *this;
        }
        void operator++(int) { ++i; }
        bool operator==(const iterator& o) const { return i == o.i; }
    };
    [[nodiscard]] iterator begin() const { return {make, 0}; }
    [[nodiscard]] iterator end() const { return {make, n}; }
};

const eddy::task_options eager{.eager_start = true};
const eddy::task_options lazy{.eager_start = false};

} // namespace

TEST_CASE("an eager task runs its first step inside create_task, up to its first suspension",
          "[create_task][eager]") {
    std::vector<std::string> log;
    eddy::run([&]() -> eddy::task<> {
        log.emplace_back("before");
        auto h = eddy::create_task(
            [&]() -> eddy::task<> {
                log.emplace_back("first step");
                co_await eddy::yield();
                log.emplace_back("second step");
            },
            eager);
        log.emplace_back("after create");
        CHECK_FALSE(h.done());
        co_await h;
        log.emplace_back("awaited");
    }());
    CHECK(log == std::vector<std::string>{"before", "first step", "after create", "second step",
                                          "awaited"});
}

TEST_CASE("an eager task that never suspends is done when create_task returns, ahead of tasks "
          "created lazily before it",
          "[create_task][eager]") {
    std::vector<std::string> log;
    eddy::run([&]() -> eddy::task<> {
        auto first = eddy::create_task(
            [&]() -> eddy::task<> {
                log.emplace_back("lazy");
                co_return;
            },
            lazy);
        auto h = eddy::create_task(immediate(7), eager);
        log.emplace_back("created");
        REQUIRE(h.done());
        CHECK(h.result() == 7);
        CHECK_FALSE(first.done());
        const int v = co_await h; // ready: no suspension
        CHECK(v == 7);
        CHECK(log == std::vector<std::string>{"created"});
        co_await first;
    }());
    CHECK(log == std::vector<std::string>{"created", "lazy"});
}

TEST_CASE("the loop's default start is overridden by each create_task", "[create_task][eager]") {
    std::vector<std::string> log;
    const auto step = [&log](const std::string& what) {
        return [&log, what]() -> eddy::task<> {
            log.push_back(what);
            co_return;
        };
    };
    eddy::run(
        [&]() -> eddy::task<> {
            CHECK(eddy::get_running_loop().eager_tasks());
            auto a = eddy::create_task(step("default (eager)"));
            auto b = eddy::create_task(step("lazy"), lazy);
            log.emplace_back("switch");
            eddy::get_running_loop().set_eager_tasks(false);
            auto c = eddy::create_task(step("default (lazy)"));
            auto d = eddy::create_task(step("eager"), eager);
            log.emplace_back("await");
            co_await a;
            co_await b;
            co_await c;
            co_await d;
        }(),
        {.eager_tasks = true});
    CHECK(log == std::vector<std::string>{"default (eager)", "switch", "eager", "await", "lazy",
                                          "default (lazy)"});
}

TEST_CASE("an eager task's failure stays in its handle instead of leaving create_task",
          "[create_task][eager]") {
    eddy::run([]() -> eddy::task<> {
        eddy::task_handle<int> h;
        CHECK_NOTHROW(h = eddy::create_task(fails_at_once(), eager));
        REQUIRE(h.done());
        CHECK_FALSE(h.cancelled());
        CHECK_THROWS_WITH(h.result(), "failed in the first step");
        co_return;
    }());
}

TEST_CASE("during its eager step the new task is the current task and has its own context",
          "[create_task][eager]") {
    static eddy::context_var<int> var("eager_test_var", 0);
    eddy::run([]() -> eddy::task<> {
        auto creator = eddy::current_task();
        (void)var.set(1);
        std::string seen_name;
        int seen_value = -1;
        auto h = eddy::create_task(
            [&]() -> eddy::task<> {
                seen_name = eddy::current_task_name();
                seen_value = var.get();
                (void)var.set(2); // the task's own copy of the context
                co_await eddy::yield();
            },
            eddy::task_options{.name = "child", .eager_start = true});
        CHECK(seen_name == "child");
        CHECK(seen_value == 1);
        CHECK(eddy::current_task_name() == "main");
        CHECK(eddy::current_task().name() == creator.name());
        CHECK(var.get() == 1);
        co_await h;
    }());
}

TEST_CASE("eager starts nested deeper than max_eager_depth are scheduled instead",
          "[create_task][eager]") {
    // Each link creates the next eagerly before its first suspension: without the cap, 10,000
    // links would nest 10,000 steps on the stack.
    constexpr int links = 10'000;
    struct chain {
        int nesting = 0;         // links inside their first step right now
        int deepest = 0;         // the most seen at once
        int started_eagerly = 0; // links whose first step ran inside their creator's
        bool creating = false;
        eddy::task<> link(int left) {
            if (creating) {
                ++started_eagerly;
            }
            deepest = std::max(deepest, ++nesting);
            if (left == 0) {
                --nesting;
                co_return;
            }
            creating = true;
            auto next = eddy::create_task(link(left - 1), eager);
            creating = false;
            --nesting;
            co_await next;
        }
    };
    chain c;
    eddy::run([&]() -> eddy::task<> {
        c.creating = true;
        auto first = eddy::create_task(c.link(links), eager);
        c.creating = false;
        co_await first;
    }());
    const int cap = static_cast<int>(eddy::event_loop::max_eager_depth);
    // A queued link starts from the loop and then nests cap eager steps of its own.
    CHECK(c.deepest == cap + 1);
    // Every cap-th link is queued (it starts on a later turn, nothing nested), the rest ran
    // eagerly.
    CHECK(c.started_eagerly == (links + 1) - (links + 1) / (cap + 1));
    CHECK(eddy::live_frames() == 0);
}

TEST_CASE("a task created eagerly by cleanup at shutdown is cancelled before it starts",
          "[create_task][eager]") {
    bool ran = false;
    bool cleanup = false;
    eddy::run(
        [&]() -> eddy::task<> {
            (void)eddy::create_task([&]() -> eddy::task<> {
                try {
                    co_await eddy::sleep(1h);
                } catch (const eddy::cancelled_error&) {
                    cleanup = true;
                    (void)eddy::create_task(
                        [&]() -> eddy::task<> {
                            ran = true;
                            co_return;
                        },
                        eager);
                    throw;
                }
            });
            co_await eddy::yield(); // the sleeper starts and sleeps; main then ends
        }(),
        {.eager_tasks = true});
    CHECK(cleanup);
    CHECK_FALSE(ran);
    CHECK(eddy::live_frames() == 0);
}

TEST_CASE("cancelling an eager task suspended in its first await works as for any task",
          "[create_task][eager]") {
    eddy::run([]() -> eddy::task<> {
        auto h = eddy::create_task(
            []() -> eddy::task<int> {
                co_await eddy::sleep(1h);
                co_return 1;
            },
            eager);
        CHECK(h.cancel());
        bool threw = false;
        try {
            (void)co_await h;
        } catch (const eddy::cancelled_error&) {
            threw = true;
        }
        CHECK(threw);
        CHECK(h.cancelled());
    }());
}

TEST_CASE("gather on an eager loop starts every child in argument order and keeps result order",
          "[create_task][eager][gather]") {
    std::vector<int> started;
    const auto child = [&started](int i) {
        return [&started, i]() -> eddy::task<int> {
            started.push_back(i);
            if (i % 2 == 0) {
                co_await eddy::sleep(std::chrono::milliseconds(3 - i));
            }
            co_return i * 10;
        };
    };
    const std::vector<int> got = eddy::run(
        [&]() -> eddy::task<std::vector<int>> {
            std::vector<eddy::task<int>> v;
            v.reserve(4);
            for (int i = 0; i < 4; ++i) {
                v.push_back(eddy::detail::invoke_owned(child(i)));
            }
            auto awaiting = eddy::gather(std::move(v));
            CHECK(started == std::vector<int>{0, 1, 2, 3}); // before gather is awaited
            co_return co_await std::move(awaiting);
        }(),
        {.eager_tasks = true});
    CHECK(got == std::vector<int>{0, 10, 20, 30});
}

TEST_CASE("a gathered child failing in its eager step propagates from gather",
          "[create_task][eager][gather]") {
    tracked::reset();
    eddy::run(
        []() -> eddy::task<> {
            auto slow = eddy::create_task([]() -> eddy::task<> {
                const tracked t(1);
                co_await eddy::sleep(2ms);
            });
            std::string what;
            try {
                (void)co_await eddy::gather(fails_at_once(), immediate(1));
            } catch (const std::runtime_error& e) {
                what = e.what();
            }
            CHECK(what == "failed in the first step");
            co_await slow;
        }(),
        {.eager_tasks = true});
    CHECK(tracked::live == 0);
    CHECK(eddy::live_frames() == 0);
}

TEST_CASE("a task group child finishing in its eager step is counted as finished at once",
          "[create_task][eager][task_group]") {
    const int v = eddy::run([]() -> eddy::task<int> {
        co_return co_await eddy::with_task_group([](eddy::task_group& tg) -> eddy::task<int> {
            auto a = tg.create_task(immediate(20), eager);
            CHECK(a.done());
            CHECK(tg.size() == 0);
            auto b = tg.create_task(immediate(22), lazy);
            CHECK(tg.size() == 1);
            co_return co_await a + co_await b;
        });
    }());
    CHECK(v == 42);
}

TEST_CASE("a task group child failing in its eager step aborts the group", "[create_task][eager]"
                                                                           "[task_group]") {
    bool sibling_cancelled = false;
    bool body_reached_await = false;
    bool body_cancelled = false;
    eddy::run([&]() -> eddy::task<> {
        try {
            co_await eddy::with_task_group([&](eddy::task_group& tg) -> eddy::task<> {
                (void)tg.create_task(
                    [&]() -> eddy::task<> {
                        try {
                            co_await eddy::sleep(1h);
                        } catch (const eddy::cancelled_error&) {
                            sibling_cancelled = true;
                            throw;
                        }
                    },
                    eager); // suspended in its sleep when its sibling fails
                (void)tg.create_task(fails_at_once(), eager);
                CHECK_THROWS_AS(tg.create_task(immediate(1)), eddy::invalid_state_error);
                body_reached_await = true;
                try {
                    co_await eddy::sleep(1h);
                } catch (const eddy::cancelled_error&) {
                    body_cancelled = true;
                    throw;
                }
            });
            FAIL("the group did not fail");
        } catch (const eddy::exception_group& g) {
            REQUIRE(g.exceptions().size() == 1);
            CHECK_THROWS_WITH(std::rethrow_exception(g.exceptions()[0]),
                              "failed in the first step");
        }
    }());
    CHECK(sibling_cancelled);
    CHECK(body_reached_await);
    CHECK(body_cancelled);
    CHECK(eddy::live_frames() == 0);
}

TEST_CASE("100,000 eager create_task + await recycle their frames and allocate nothing after "
          "warm-up",
          "[create_task][eager]") {
    eddy::run(
        []() -> eddy::task<> {
            long sum = 0;
            for (int i = 0; i < 1000; ++i) {
                sum += co_await eddy::create_task(immediate(1));
            }
            const std::int64_t chunks = eddy::detail::this_thread_pool().chunk_mallocs();
            const std::uint64_t allocs = eddy_test::allocations();
            for (int i = 0; i < 100'000; ++i) {
                sum += co_await eddy::create_task(immediate(1));
            }
            CHECK(eddy_test::allocations() == allocs);
            CHECK(eddy::detail::this_thread_pool().chunk_mallocs() == chunks);
            CHECK(sum == 101'000);
        }(),
        {.eager_tasks = true});
    CHECK(eddy::live_frames() == 0);
}

TEST_CASE("an eager group child is cancelled when the group aborts during its own eager step",
          "[create_task][eager][task_group]") {
    // The child's first step creates a sibling that fails at once: the group aborts before the
    // child is listed as one of its children, and must still cancel it.
    bool outer_cancelled = false;
    bool group_failed = false;
    eddy::run(
        [&]() -> eddy::task<> {
            try {
                co_await eddy::with_task_group([&](eddy::task_group& tg) -> eddy::task<> {
                    (void)tg.create_task(
                        [&]() -> eddy::task<> {
                            (void)tg.create_task(fails_at_once(), eager);
                            try {
                                co_await eddy::sleep(1h);
                            } catch (const eddy::cancelled_error&) {
                                outer_cancelled = true;
                                throw;
                            }
                        },
                        eager);
                    co_return;
                });
            } catch (const eddy::exception_group& g) {
                group_failed = g.exceptions().size() == 1;
            }
        }(),
        {.clock = eddy::clock_kind::virtual_time}); // unfixed: the child sleeps its hour out
    CHECK(group_failed);
    CHECK(outer_cancelled);
    CHECK(eddy::live_frames() == 0);
}

TEST_CASE("an eager group child made by another task is cancelled when its eager step cancels the "
          "group's task waiting at the join",
          "[create_task][eager][task_group]") {
    bool late_cancelled = false;
    bool scope_cancelled = false;
    eddy::run(
        [&]() -> eddy::task<> {
            eddy::task_handle<void> maker;
            eddy::task_ref owner; // outlives the body, which has ended when `maker` runs
            try {
                co_await eddy::with_task_group([&](eddy::task_group& tg) -> eddy::task<> {
                    owner = eddy::current_task();
                    (void)tg.create_task([]() -> eddy::task<> { co_await eddy::sleep(1h); });
                    // Not a child: it adds one while the group's task waits at the join.
                    maker = eddy::create_task(
                        [&]() -> eddy::task<> {
                            (void)tg.create_task(
                                [&]() -> eddy::task<> {
                                    (void)owner.cancel(); // the join cancels the group now
                                    try {
                                        co_await eddy::sleep(1h);
                                    } catch (const eddy::cancelled_error&) {
                                        late_cancelled = true;
                                        throw;
                                    }
                                },
                                eager);
                            co_return;
                        },
                        lazy);
                    co_return;
                });
            } catch (const eddy::cancelled_error&) {
                scope_cancelled = true;
            }
            co_await maker;
        }(),
        {.clock = eddy::clock_kind::virtual_time});
    CHECK(scope_cancelled);
    CHECK(late_cancelled);
    CHECK(eddy::live_frames() == 0);
}

TEST_CASE("a child that cancels its creator in its eager step cancels a gather being built",
          "[create_task][eager][gather]") {
    tracked::reset();
    int cancelled_children = 0;
    bool gather_cancelled = false;
    eddy::run(
        [&]() -> eddy::task<> {
            eddy::task_ref creator = eddy::current_task();
            const auto child = [&](int i) -> eddy::task<int> {
                const tracked t(i);
                if (i == 1) {
                    (void)creator.cancel();
                }
                try {
                    co_await eddy::sleep(1h);
                } catch (const eddy::cancelled_error&) {
                    ++cancelled_children;
                    throw;
                }
                co_return i;
            };
            std::vector<eddy::task<int>> v;
            v.reserve(3);
            for (int i = 0; i < 3; ++i) {
                v.push_back(child(i));
            }
            try {
                (void)co_await eddy::gather(std::move(v));
            } catch (const eddy::cancelled_error&) {
                gather_cancelled = true;
            }
        }(),
        {.eager_tasks = true});
    CHECK(gather_cancelled);
    CHECK(cancelled_children == 3);
    CHECK(tracked::live == 0);
    CHECK(eddy::live_frames() == 0);
}

TEST_CASE("a task that cancels itself in its eager step is cancelled at its first suspension",
          "[create_task][eager]") {
    bool reached = false;
    eddy::run([&]() -> eddy::task<> {
        auto h = eddy::create_task(
            [&]() -> eddy::task<> {
                (void)eddy::current_task().cancel();
                reached = true;
                co_await eddy::sleep(1h);
                FAIL("the cancellation was lost");
            },
            eager);
        CHECK(reached);
        CHECK_FALSE(h.done());
        bool threw = false;
        try {
            co_await h;
        } catch (const eddy::cancelled_error&) {
            threw = true;
        }
        CHECK(threw);
        CHECK(h.cancelled());
    }());
    CHECK(eddy::live_frames() == 0);
}

TEST_CASE("a task awaiting its creator's handle in its eager step gets the creator's result",
          "[create_task][eager]") {
    int seen = 0;
    eddy::run([&]() -> eddy::task<> {
        eddy::task_handle<int> creator;
        eddy::task_handle<void> watcher;
        creator = eddy::create_task( // lazy: `creator` is set before it runs
            [&]() -> eddy::task<int> {
                watcher = eddy::create_task(
                    [&]() -> eddy::task<> {
                        eddy::task_handle<int> c = creator;
                        seen = co_await c;
                    },
                    eager);
                co_await eddy::yield();
                co_return 42;
            },
            lazy);
        const int got = co_await creator;
        CHECK(got == 42);
        co_await watcher;
    }());
    CHECK(seen == 42);
    CHECK(eddy::live_frames() == 0);
}

TEST_CASE("an eager task created by a call_soon callback runs inside it with no task around it",
          "[create_task][eager]") {
    std::vector<std::string> log;
    eddy::run([&]() -> eddy::task<> {
        eddy::task_handle<void> h;
        (void)eddy::call_soon([&] {
            h = eddy::create_task(
                [&]() -> eddy::task<> {
                    log.push_back("child: " + eddy::current_task_name());
                    co_await eddy::yield();
                    log.emplace_back("child again");
                },
                eddy::task_options{.name = "c", .eager_start = true});
            log.emplace_back(eddy::current_task() ? "callback in a task" : "callback");
        });
        co_await eddy::sleep(1ms);
        co_await h;
    }());
    CHECK(log == std::vector<std::string>{"child: c", "callback", "child again"});
}

TEST_CASE("a gather whose range throws while making a child leaves the eager children already "
          "started to the loop, which cancels them at the end",
          "[create_task][eager][gather]") {
    tracked::reset();
    int started = 0;
    int cancelled = 0;
    const std::string err = eddy_test::capture_stderr([&] {
        eddy::run(
            [&]() -> eddy::task<> {
                const auto make = [&](int i) -> eddy::task<int> {
                    if (i == 2) {
                        throw std::runtime_error("no child 2"); // as bad_alloc would
                    }
                    return [](int i, int& started, int& cancelled) -> eddy::task<int> {
                        const tracked t(i);
                        ++started;
                        if (i == 1) {
                            throw std::runtime_error("child 1 failed at once");
                        }
                        try {
                            co_await eddy::sleep(1h);
                        } catch (const eddy::cancelled_error&) {
                            ++cancelled;
                            throw;
                        }
                        co_return i;
                    }(i, started, cancelled);
                };
                std::string what;
                try {
                    (void)co_await eddy::gather(made_by<decltype(make)>{&make, 3});
                } catch (const std::runtime_error& e) {
                    what = e.what();
                }
                CHECK(what == "no child 2");
                CHECK(started == 2);
            }(),
            {.eager_tasks = true});
    });
    CHECK(cancelled == 1);
    CHECK(tracked::live == 0);
    CHECK(eddy::live_frames() == 0);
    // Nobody could look at child 1's failure: it is reported, as it would be without eager.
    CHECK(err.find("child 1 failed at once") != std::string::npos);
}

TEST_CASE("create_task takes a name as any string type, task_options, or empty braces",
          "[create_task]") {
    eddy::run([]() -> eddy::task<> {
        const std::string s = "from a string";
        auto a = eddy::create_task(immediate(1), s);
        auto b = eddy::create_task(immediate(2), "from a literal");
        auto c = eddy::create_task(immediate(3), std::string_view("from a view"));
        auto d = eddy::create_task(immediate(4), {}); // no options: as create_task(t)
        auto e = eddy::create_task(immediate(5), {.name = "from options"});
        auto f = eddy::create_task([]() -> eddy::task<int> { co_return 6; }, {});
        auto g = eddy::create_task([]() -> eddy::task<int> { co_return 7; }, s);
        CHECK(a.name() == s);
        CHECK(b.name() == "from a literal");
        CHECK(c.name() == "from a view");
        CHECK(d.name().empty());
        CHECK(e.name() == "from options");
        CHECK(g.name() == s);
        const int sum = co_await a + co_await b + co_await c + co_await d + co_await e +
                        co_await f + co_await g;
        CHECK(sum == 28);
        int in_group = 0;
        co_await eddy::with_task_group([&](eddy::task_group& tg) -> eddy::task<> {
            auto x = tg.create_task(immediate(1), {});
            auto y = tg.create_task(immediate(2), s);
            auto z = tg.create_task([]() -> eddy::task<int> { co_return 3; }, "z");
            CHECK(y.name() == s);
            CHECK(z.name() == "z");
            in_group = co_await x + co_await y + co_await z;
        });
        CHECK(in_group == 6);
    }());
}
