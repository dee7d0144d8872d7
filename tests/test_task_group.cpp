// task_group: children run concurrently, the first failure cancels the rest, no child outlives
// the group, failures come back together in an exception_group.
#include "helpers.hpp"

#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using eddy_test::after;

namespace {
eddy::task<> fail_after(std::chrono::milliseconds d, std::string what) {
    co_await eddy::sleep(d);
    throw std::runtime_error(what);
}
std::string what_of(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    } catch (...) {
        return "?";
    }
}
int cancelling_now() {
    return eddy::get_running_loop().current_task()->cancelling();
}
} // namespace

TEST_CASE("a task group's scope ends only when every child has finished", "[task_group]") {
    eddy::run([]() -> eddy::task<> {
        std::vector<int> finished;
        std::vector<eddy::task_handle<void>> handles;
        co_await eddy::with_task_group([&](eddy::task_group& tg) -> eddy::task<> {
            for (int i = 0; i < 3; ++i) {
                handles.push_back(tg.create_task([&finished, i]() -> eddy::task<> {
                    co_await eddy::sleep(std::chrono::milliseconds(3 * (3 - i)));
                    finished.push_back(i);
                }));
            }
            CHECK(tg.size() == 3);
            co_return; // the body ends at once; the scope still waits
        });
        CHECK(finished == std::vector<int>{2, 1, 0});
        for (auto& h : handles) {
            CHECK(h.done());
        }
    }());
}

TEST_CASE("with_task_group yields the body's value", "[task_group]") {
    const int v = eddy::run([]() -> eddy::task<int> {
        co_return co_await eddy::with_task_group([](eddy::task_group& tg) -> eddy::task<int> {
            auto a = tg.create_task(after(2ms, 20));
            auto b = tg.create_task(after(1ms, 22));
            co_return co_await a + co_await b;
        });
    }());
    CHECK(v == 42);
}

TEST_CASE("one child failing cancels its siblings and the body, runs their cleanup, and the "
          "scope throws an exception_group with the failure",
          "[task_group][cancel]") {
    eddy::run([]() -> eddy::task<> {
        int siblings_cleaned = 0;
        bool body_cancelled = false;
        try {
            co_await eddy::with_task_group([&](eddy::task_group& tg) -> eddy::task<> {
                for (int i = 0; i < 2; ++i) {
                    tg.create_task([&]() -> eddy::task<> {
                        try {
                            co_await eddy::sleep(10s);
                        } catch (const eddy::cancelled_error&) {
                            ++siblings_cleaned; // cleanup runs, then the cancel goes on
                            throw;
                        }
                    });
                }
                tg.create_task(fail_after(2ms, "child failed"));
                try {
                    co_await eddy::sleep(10s);
                } catch (const eddy::cancelled_error&) {
                    body_cancelled = true;
                    throw;
                }
            });
            FAIL("the group must throw");
        } catch (const eddy::exception_group& g) {
            REQUIRE(g.size() == 1);
            CHECK(what_of(g.exceptions()[0]) == "child failed");
            CHECK(std::string(g.what()).find("child failed") != std::string::npos);
        }
        CHECK(siblings_cleaned == 2);
        CHECK(body_cancelled);
        // The group withdrew the cancellation it made: this task goes on normally.
        CHECK(cancelling_now() == 0);
        co_await eddy::sleep(1ms);
    }());
}

TEST_CASE("a sibling failing in its cleanup is reported in the same group", "[task_group]") {
    eddy::run([]() -> eddy::task<> {
        try {
            co_await eddy::with_task_group([&](eddy::task_group& tg) -> eddy::task<> {
                tg.create_task([]() -> eddy::task<> {
                    bool cancelled = false;
                    try {
                        co_await eddy::sleep(10s);
                    } catch (const eddy::cancelled_error&) {
                        cancelled = true;
                    }
                    if (cancelled) {
                        throw std::runtime_error("cleanup failed");
                    }
                });
                tg.create_task(fail_after(1ms, "first"));
                co_return;
            });
            FAIL("the group must throw");
        } catch (const eddy::exception_group& g) {
            REQUIRE(g.size() == 2);
            CHECK(what_of(g.exceptions()[0]) == "first");
            CHECK(what_of(g.exceptions()[1]) == "cleanup failed");
        }
    }());
}

TEST_CASE("a failure in the body cancels the children and is reported last in the group",
          "[task_group]") {
    eddy::run([]() -> eddy::task<> {
        eddy::task_handle<int> child;
        try {
            co_await eddy::with_task_group([&](eddy::task_group& tg) -> eddy::task<> {
                child = tg.create_task(after(10s, 1));
                co_await eddy::sleep(1ms);
                throw std::logic_error("body failed");
            });
            FAIL("the group must throw");
        } catch (const eddy::exception_group& g) {
            REQUIRE(g.size() == 1);
            CHECK(what_of(g.exceptions()[0]) == "body failed");
        }
        CHECK(child.cancelled());
    }());
}

TEST_CASE("cancelling the task that owns a group cancels its children and waits for them",
          "[task_group][cancel]") {
    eddy::run([]() -> eddy::task<> {
        int cleaned = 0;
        auto owner = eddy::create_task([&]() -> eddy::task<> {
            co_await eddy::with_task_group([&](eddy::task_group& tg) -> eddy::task<> {
                for (int i = 0; i < 3; ++i) {
                    tg.create_task([&]() -> eddy::task<> {
                        bool cancelled = false;
                        try {
                            co_await eddy::sleep(10s);
                        } catch (const eddy::cancelled_error&) {
                            cancelled = true;
                        }
                        REQUIRE(cancelled);
                        co_await eddy::sleep(0ms); // asynchronous cleanup
                        ++cleaned;
                        throw eddy::cancelled_error();
                    });
                }
                co_return; // the owner is cancelled while the scope joins
            });
        });
        co_await eddy::sleep(2ms);
        owner.cancel("shutting down");
        try {
            co_await owner;
            FAIL("the owner was cancelled");
        } catch (const eddy::cancelled_error& e) {
            CHECK(std::string(e.what()) == "shutting down");
        }
        CHECK(cleaned == 3);
    }());
}

TEST_CASE("a child cancelled through its handle is not a failure of the group", "[task_group]") {
    eddy::run([]() -> eddy::task<> {
        const int v = co_await eddy::with_task_group([](eddy::task_group& tg) -> eddy::task<int> {
            auto slow = tg.create_task(after(10s, 1));
            auto fast = tg.create_task(after(1ms, 2));
            const int r = co_await fast;
            slow.cancel();
            co_return r;
        });
        CHECK(v == 2);
    }());
}

TEST_CASE("nested groups: an inner failure reaches the outer scope as a nested group",
          "[task_group]") {
    eddy::run([]() -> eddy::task<> {
        bool outer_sibling_cancelled = false;
        try {
            co_await eddy::with_task_group([&](eddy::task_group& outer) -> eddy::task<> {
                outer.create_task([&]() -> eddy::task<> {
                    try {
                        co_await eddy::sleep(10s);
                    } catch (const eddy::cancelled_error&) {
                        outer_sibling_cancelled = true;
                        throw;
                    }
                });
                outer.create_task([]() -> eddy::task<> {
                    co_await eddy::with_task_group([](eddy::task_group& inner) -> eddy::task<> {
                        inner.create_task(fail_after(1ms, "deep"));
                        co_return;
                    });
                });
                co_return;
            });
            FAIL("the group must throw");
        } catch (const eddy::exception_group& g) {
            REQUIRE(g.size() == 1);
            try {
                std::rethrow_exception(g.exceptions()[0]);
            } catch (const eddy::exception_group& inner) {
                REQUIRE(inner.size() == 1);
                CHECK(what_of(inner.exceptions()[0]) == "deep");
            }
        }
        CHECK(outer_sibling_cancelled);
    }());
}

TEST_CASE("a group that is shutting down refuses new children", "[task_group]") {
    eddy::run([]() -> eddy::task<> {
        bool refused = false;
        try {
            co_await eddy::with_task_group([&](eddy::task_group& tg) -> eddy::task<> {
                tg.create_task(fail_after(1ms, "x"));
                try {
                    co_await eddy::sleep(10s);
                } catch (const eddy::cancelled_error&) {
                    try {
                        tg.create_task(after(1ms, 0));
                    } catch (const eddy::invalid_state_error&) {
                        refused = true;
                    }
                    throw;
                }
            });
        } catch (const eddy::exception_group&) {
        }
        CHECK(refused);
    }());
}

TEST_CASE("a done-callback on the group's last child runs before the scope is left and finds "
          "the group finished",
          "[task_group]") {
    std::vector<std::string> log;
    eddy::run([&]() -> eddy::task<> {
        auto body = [&](eddy::task_group& tg) -> eddy::task<> {
            auto h = tg.create_task(after(1ms, 1));
            // "On completion, start a follow-up in the group": asyncio runs the callback before
            // the scope resumes, and TaskGroup.create_task raises "is finished" there.
            h.add_done_callback([&log, &tg](const eddy::task_handle<int>&) {
                log.emplace_back("callback");
                try {
                    tg.create_task(after(1ms, 3));
                    log.emplace_back("spawned");
                } catch (const eddy::invalid_state_error& e) {
                    log.emplace_back(e.what());
                }
            });
            co_return;
        };
        co_await eddy::with_task_group(body);
        log.emplace_back("left");
        co_await eddy::sleep(5ms);
    }());
    CHECK(log ==
          std::vector<std::string>{"callback", "eddy::task_group: the group is finished", "left"});
}

TEST_CASE("cancelling the owner propagates even when a child swallows its own cancellation",
          "[task_group][cancel]") {
    eddy::run([]() -> eddy::task<> {
        auto owner = eddy::create_task([]() -> eddy::task<> {
            co_await eddy::with_task_group([](eddy::task_group& tg) -> eddy::task<> {
                tg.create_task([]() -> eddy::task<> {
                    try {
                        co_await eddy::sleep(10s);
                    } catch (const eddy::cancelled_error&) {
                    }
                    co_await eddy::sleep(5ms); // outlives the outer cancel below
                });
                co_await eddy::sleep(10s);
            });
        });
        co_await eddy::sleep(2ms);
        owner.cancel();
        CHECK_THROWS_AS(co_await owner, eddy::cancelled_error);
    }());
}

TEST_CASE("groups leave no frame behind and allocate nothing in steady state",
          "[task_group][alloc]") {
    const auto frames = eddy::live_frames();
    eddy::run([]() -> eddy::task<> {
        auto round = []() -> eddy::task<> {
            co_await eddy::with_task_group([](eddy::task_group& tg) -> eddy::task<> {
                for (int i = 0; i < 4; ++i) {
                    tg.create_task(after(0ms, i));
                }
                co_return;
            });
        };
        for (int i = 0; i < 10; ++i) {
            co_await round();
        }
        const auto allocs = eddy_test::allocations();
        for (int i = 0; i < 200; ++i) {
            co_await round();
        }
        CHECK(eddy_test::allocations() == allocs);
    }());
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("a child's failure that the body awaited and rethrew is listed once", "[task_group]") {
    eddy::run([]() -> eddy::task<> {
        try {
            co_await eddy::with_task_group([](eddy::task_group& tg) -> eddy::task<> {
                auto h = tg.create_task(fail_after(1ms, "awaited failure"));
                co_await h; // rethrows the child's exception out of the body
            });
            FAIL("the group must throw");
        } catch (const eddy::exception_group& g) {
            REQUIRE(g.size() == 1);
            CHECK(what_of(g.exceptions()[0]) == "awaited failure");
        }
    }());
}

TEST_CASE("a body that catches an awaited child's failure is still stopped at its next await",
          "[task_group][cancel]") {
    // The group's cancellation of the body arrives while the body's awaiter is still installed
    // on the child that just failed: it cannot be passed on, so it must stay pending for the
    // body's next await instead of being absorbed by this one.
    eddy::run([]() -> eddy::task<> {
        bool slept_through = false;
        const auto start = eddy::clock::now();
        try {
            co_await eddy::with_task_group([&](eddy::task_group& tg) -> eddy::task<> {
                auto h = tg.create_task(fail_after(1ms, "child"));
                try {
                    co_await h;
                } catch (const std::runtime_error&) {
                }
                co_await eddy::sleep(10s); // must throw cancelled_error at once
                slept_through = true;
            });
            FAIL("the group must throw");
        } catch (const eddy::exception_group& g) {
            CHECK(g.size() == 1);
        }
        CHECK_FALSE(slept_through);
        CHECK(eddy_test::ms_since(start) < 5000.0);
    }());
}

TEST_CASE("a child added by another task just as the last one finished is waited for too",
          "[task_group]") {
    // Deterministic order within one loop turn: the event wakes the child, then the helper
    // (FIFO); the child's end wakes the scope's join, queued behind the helper, which adds a
    // new child before the scope resumes.
    eddy::run([]() -> eddy::task<> {
        eddy::event go;
        bool scope_left = false;
        bool late_finished_before_scope_left = false;
        eddy::task_handle<void> helper;
        auto setter = eddy::create_task([&]() -> eddy::task<> {
            co_await eddy::sleep(2ms);
            go.set();
        });
        co_await eddy::with_task_group([&](eddy::task_group& tg) -> eddy::task<> {
            tg.create_task([&]() -> eddy::task<> { co_await go.wait(); });
            helper = eddy::create_task([&]() -> eddy::task<> { // not a child of the group
                co_await go.wait();
                tg.create_task([&]() -> eddy::task<> {
                    co_await eddy::sleep(5ms);
                    late_finished_before_scope_left = !scope_left;
                });
            });
            co_return;
        });
        scope_left = true;
        CHECK(late_finished_before_scope_left);
        co_await helper;
        co_await setter;
    }());
}

TEST_CASE("a task group's create_task accepts an awaiter, and a failing sibling cancels the "
          "awaiter's child, which then takes no item",
          "[task_group][queue]") {
    eddy::run([]() -> eddy::task<> {
        eddy::queue<int> q;
        bool failed = false;
        try {
            co_await eddy::with_task_group([&](eddy::task_group& tg) -> eddy::task<> {
                auto getter = tg.create_task(q.get(), "getter");
                CHECK(getter.name() == "getter");
                tg.create_task([]() -> eddy::task<> {
                    co_await eddy::sleep(1ms);
                    throw std::runtime_error("boom");
                });
                co_await getter;
            });
        } catch (const eddy::exception_group&) {
            failed = true;
        }
        CHECK(failed);
        q.put_nowait(4);
        CHECK(q.size() == 1); // the cancelled getter left the queue
    }());
}

TEST_CASE("a child failing in its first step lets the siblings scheduled before the failure "
          "take their first step, and a sibling failing there is reported too (asyncio order)",
          "[task_group][cancel]") {
    // asyncio reacts to a child's failure in a done-callback queued behind the work already
    // ready: here the sibling starts, "b" runs and fails, then the group cancels the sibling.
    eddy::run([]() -> eddy::task<> {
        std::vector<std::string> log;
        auto fail_now = [&log](std::string name) -> eddy::task<> {
            log.push_back(name + " runs");
            throw std::runtime_error(name);
            co_return;
        };
        try {
            co_await eddy::with_task_group([&](eddy::task_group& tg) -> eddy::task<> {
                tg.create_task(fail_now("a"));
                tg.create_task([&log]() -> eddy::task<> {
                    log.emplace_back("sibling starts");
                    try {
                        co_await eddy::sleep(10s);
                    } catch (const eddy::cancelled_error&) {
                        log.emplace_back("sibling cancelled");
                        throw;
                    }
                });
                tg.create_task(fail_now("b"));
                log.emplace_back("body awaits");
                co_await eddy::sleep(10s);
            });
            FAIL("the group must throw");
        } catch (const eddy::exception_group& g) {
            REQUIRE(g.size() == 2);
            CHECK(what_of(g.exceptions()[0]) == "a");
            CHECK(what_of(g.exceptions()[1]) == "b");
        }
        CHECK(log == std::vector<std::string>{"body awaits", "a runs", "sibling starts", "b runs",
                                              "sibling cancelled"});
        CHECK(cancelling_now() == 0);
    }());
}
