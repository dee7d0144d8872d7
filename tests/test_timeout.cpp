// timeout, timeout_at and wait_for: deadlines that cancel the work they cover, in the kernel
// too, and report timeout_error only once that work has finished cancelling.
#include "helpers.hpp"

#include <array>
#include <optional>

using namespace std::chrono_literals;
using eddy_test::after;
using eddy_test::in_flight;
using eddy_test::ms_since;
using eddy_test::pipe_pair;

TEST_CASE("wait_for yields the value of work that finishes in time", "[timeout]") {
    const int v = eddy::run(
        []() -> eddy::task<int> { co_return co_await eddy::wait_for(after(1ms, 42), 10s); }());
    CHECK(v == 42);
}

TEST_CASE("wait_for around a read that never gets data times out after the read was cancelled "
          "in the kernel",
          "[timeout][io]") {
    pipe_pair p;
    eddy::run([&]() -> eddy::task<> {
        std::array<std::byte, 8> buf{};
        const auto start = eddy::clock::now();
        std::uint64_t in_flight_at_timeout = 99;
        try {
            (void)co_await eddy::wait_for(eddy::read_some(p.r, buf), 20ms);
            FAIL("the read cannot complete");
        } catch (const eddy::timeout_error&) {
            in_flight_at_timeout = in_flight();
        }
        const double ms = ms_since(start);
        CHECK(in_flight_at_timeout == 0);
        CHECK(ms >= 19.0);
        CHECK(ms < 5000.0); // generous: shared machines stall
    }());
}

TEST_CASE("wait_for waits for the inner task's cleanup before throwing timeout_error",
          "[timeout]") {
    bool cleaned_up = false;
    eddy::run([&]() -> eddy::task<> {
        auto inner = [&]() -> eddy::task<int> {
            bool cancelled = false;
            try {
                co_await eddy::sleep(10s);
            } catch (const eddy::cancelled_error&) {
                cancelled = true;
            }
            REQUIRE(cancelled);
            co_await eddy::sleep(5ms); // asynchronous cleanup
            cleaned_up = true;
            throw eddy::cancelled_error();
        };
        CHECK_THROWS_AS(co_await eddy::wait_for(inner, 5ms), eddy::timeout_error);
        CHECK(cleaned_up);
        CHECK(eddy::get_running_loop().current_task()->cancelling() == 0);
    }());
}

TEST_CASE("wait_for yields the value of inner work that refuses its cancellation", "[timeout]") {
    const int v = eddy::run([]() -> eddy::task<int> {
        auto stubborn = []() -> eddy::task<int> {
            try {
                co_await eddy::sleep(10s);
            } catch (const eddy::cancelled_error&) {
                co_return 7; // refuses, as asyncio allows
            }
            co_return 0;
        };
        co_return co_await eddy::wait_for(stubborn, 2ms);
    }());
    CHECK(v == 7);
}

TEST_CASE("wait_for on a task handle cancels that task when the time is up", "[timeout]") {
    eddy::run([]() -> eddy::task<> {
        auto h = eddy::create_task(after(10s, 1));
        CHECK_THROWS_AS(co_await eddy::wait_for(h, 2ms), eddy::timeout_error);
        CHECK(h.done());
        CHECK(h.cancelled());
    }());
}

TEST_CASE("wait_for with a zero timeout never starts a task and yields a finished handle's value",
          "[timeout]") {
    eddy::run([]() -> eddy::task<> {
        bool started = false;
        auto body = [&]() -> eddy::task<> {
            started = true;
            co_return;
        };
        CHECK_THROWS_AS(co_await eddy::wait_for(body, 0s), eddy::timeout_error);
        CHECK_FALSE(started);

        auto done = eddy::create_task(after(0ms, 5));
        co_await done;
        const auto got = co_await eddy::wait_for(done, 0s);
        CHECK(got == 5);

        auto pending = eddy::create_task(after(10s, 6));
        CHECK_THROWS_AS(co_await eddy::wait_for(pending, -1s), eddy::timeout_error);
        CHECK(pending.cancelled());
    }());
}

TEST_CASE("a timeout scope covers several awaits and says it expired", "[timeout]") {
    eddy::run([]() -> eddy::task<> {
        int steps = 0;
        auto deadline = eddy::timeout(30ms);
        CHECK_FALSE(deadline.expired());
        try {
            co_await deadline([&]() -> eddy::task<> {
                for (int i = 0; i < 100; ++i) {
                    co_await eddy::sleep(5ms);
                    ++steps;
                }
            });
            FAIL("100 x 5 ms cannot fit in 30 ms");
        } catch (const eddy::timeout_error&) {
        }
        CHECK(deadline.expired());
        CHECK(steps >= 1);
        CHECK(steps < 100);
        CHECK(eddy::get_running_loop().current_task()->cancelling() == 0);
        co_await eddy::sleep(1ms); // the task goes on normally: nothing left pending
    }());
}

TEST_CASE("a scope that does not expire leaves the task uncancelled and yields the body's value",
          "[timeout]") {
    eddy::run([]() -> eddy::task<> {
        auto deadline = eddy::timeout(10s);
        const int v = co_await deadline(after(1ms, 3));
        CHECK(v == 3);
        CHECK_FALSE(deadline.expired());
        CHECK(eddy::get_running_loop().current_task()->cancelling() == 0);
    }());
}

TEST_CASE("reschedule moves the deadline, timeout_at(nullopt) never expires until rescheduled",
          "[timeout]") {
    eddy::run([]() -> eddy::task<> {
        auto never = eddy::timeout_at(std::nullopt);
        CHECK_FALSE(never.when().has_value());
        co_await never([&]() -> eddy::task<> {
            co_await eddy::sleep(5ms);
            never.reschedule(eddy::time() + 10s);
            co_await eddy::sleep(1ms);
        });
        CHECK_FALSE(never.expired());

        auto later = eddy::timeout(10s);
        const auto start = eddy::clock::now();
        CHECK_THROWS_AS(co_await later([&]() -> eddy::task<> {
                            later.reschedule(eddy::time() + 5ms); // sooner
                            co_await eddy::sleep(10s);
                        }),
                        eddy::timeout_error);
        CHECK(ms_since(start) < 5000.0);

        auto past = eddy::timeout(10s);
        CHECK_THROWS_AS(co_await past([&]() -> eddy::task<> {
                            past.reschedule(eddy::time() -
                                            1s); // already past: expires on the next turn
                            co_await eddy::sleep(10s);
                        }),
                        eddy::timeout_error);
    }());
}

TEST_CASE("a timeout scope is misused loudly: reschedule outside the body, entering twice",
          "[timeout]") {
    eddy::run([]() -> eddy::task<> {
        auto scope = eddy::timeout(10s);
        CHECK_THROWS_AS(scope.reschedule(std::nullopt), eddy::invalid_state_error);
        co_await scope(after(0ms, 1));
        CHECK_THROWS_AS(scope.reschedule(std::nullopt), eddy::invalid_state_error);
        CHECK_THROWS_AS(co_await scope(after(0ms, 1)), eddy::invalid_state_error);
    }());
}

TEST_CASE("a cancellation from outside a timeout scope stays a cancelled_error", "[timeout]") {
    eddy::run([]() -> eddy::task<> {
        bool got_timeout = false;
        auto worker = eddy::create_task([&]() -> eddy::task<> {
            try {
                co_await eddy::timeout(10s)(after(10s, 0));
            } catch (const eddy::timeout_error&) {
                got_timeout = true;
            }
        });
        co_await eddy::sleep(2ms);
        worker.cancel("stop");
        CHECK_THROWS_AS(co_await worker, eddy::cancelled_error);
        CHECK_FALSE(got_timeout);
    }());
}

TEST_CASE("an outer cancellation that arrives with the expiry is not turned into timeout_error",
          "[timeout]") {
    eddy::run([]() -> eddy::task<> {
        auto worker = eddy::create_task([]() -> eddy::task<> {
            auto scope = eddy::timeout(1ms);
            co_await scope([]() -> eddy::task<> {
                // Busy until the deadline has passed, so that the scope's cancellation and the
                // outer one are both pending when the body next suspends.
                const auto until = eddy::clock::now() + 5ms;
                while (eddy::clock::now() < until) {
                }
                co_await eddy::sleep(0ms);
                co_await eddy::sleep(10s);
            });
        });
        co_await eddy::sleep(0ms); // the worker starts and spins past its deadline
        worker.cancel();
        CHECK_THROWS_AS(co_await worker, eddy::cancelled_error);
    }());
}

TEST_CASE("nested timeouts: the inner one expiring is a timeout_error the outer body can handle",
          "[timeout]") {
    eddy::run([]() -> eddy::task<> {
        auto outer = eddy::timeout(10s);
        const int v = co_await outer([]() -> eddy::task<int> {
            try {
                co_await eddy::timeout(2ms)(after(10s, 1));
            } catch (const eddy::timeout_error&) {
                co_return 2;
            }
            co_return 1;
        });
        CHECK(v == 2);
        CHECK_FALSE(outer.expired());
    }());
}

TEST_CASE("wait_for allocates nothing in steady state", "[timeout][alloc]") {
    eddy::run([]() -> eddy::task<> {
        for (int i = 0; i < 10; ++i) { // warm the pools
            (void)co_await eddy::wait_for(after(0ms, i), 1s);
        }
        const auto allocs = eddy_test::allocations();
        for (int i = 0; i < 1000; ++i) {
            (void)co_await eddy::wait_for(after(0ms, i), 1s);
        }
        CHECK(eddy_test::allocations() == allocs);
    }());
}

TEST_CASE("a caller cancelled while wait_for(h, 0s) waits for h to finish cancelling stays "
          "cancelled",
          "[timeout][cancel]") {
    eddy::run([]() -> eddy::task<> {
        bool timed_out = false;
        auto caller = eddy::create_task([&]() -> eddy::task<> {
            auto h = eddy::create_task([]() -> eddy::task<int> {
                bool cancelled = false;
                try {
                    co_await eddy::sleep(1h);
                } catch (const eddy::cancelled_error&) {
                    cancelled = true;
                }
                if (cancelled) {
                    co_await eddy::sleep(20ms); // slow to finish cancelling
                    throw eddy::cancelled_error();
                }
                co_return 1;
            });
            co_await eddy::yield();
            try {
                (void)co_await eddy::wait_for(h, 0s);
            } catch (const eddy::timeout_error&) {
                timed_out = true;
            }
        });
        co_await eddy::sleep(5ms);
        caller.cancel();
        CHECK_THROWS_AS(co_await caller, eddy::cancelled_error);
        CHECK_FALSE(timed_out);
    }());
}

TEST_CASE("wait_for accepts an event's wait and, when the time is up, leaves no waiter behind",
          "[timeout][event]") {
    eddy::run([]() -> eddy::task<> {
        eddy::event ev;
        bool timed_out = false;
        try {
            co_await eddy::wait_for(ev.wait(), 5ms);
        } catch (const eddy::timeout_error&) {
            timed_out = true;
        }
        CHECK(timed_out);
        ev.set(); // a waiter left linked would be a node in a dead frame (ASan)
        co_await eddy::wait_for(ev.wait(), 10s);
    }());
}

TEST_CASE("wait_for accepts a queue's get: it yields an item put in time and takes none when "
          "the time is up",
          "[timeout][queue]") {
    eddy::run([]() -> eddy::task<> {
        eddy::queue<int> q;
        bool timed_out = false;
        try {
            (void)co_await eddy::wait_for(q.get(), 5ms);
        } catch (const eddy::timeout_error&) {
            timed_out = true;
        }
        CHECK(timed_out);
        q.put_nowait(7);
        CHECK(q.size() == 1); // the timed-out getter took nothing
        auto putter = eddy::create_task([&]() -> eddy::task<> {
            co_await eddy::sleep(1ms);
            q.put_nowait(42);
        });
        const int first = co_await eddy::wait_for(q.get(), 10s);
        const int second = co_await eddy::wait_for(q.get(), 10s);
        CHECK(first == 7);
        CHECK(second == 42);
        co_await putter;
    }());
}

TEST_CASE("timeout accepts a lock's acquire: the guard is the caller's, and a timed-out acquire "
          "leaves the lock to its holder",
          "[timeout][lock]") {
    eddy::run([]() -> eddy::task<> {
        eddy::lock lk;
        {
            eddy::lock_guard g = co_await eddy::timeout(10s)(lk.acquire());
            CHECK(lk.locked());
            bool timed_out = false;
            try {
                (void)co_await eddy::timeout(5ms)(lk.acquire());
            } catch (const eddy::timeout_error&) {
                timed_out = true;
            }
            CHECK(timed_out);
            CHECK(lk.locked());
        }
        CHECK_FALSE(lk.locked()); // the guard released it and no stale waiter was granted it
    }());
}

TEST_CASE("wait_for accepts a gather: it yields the tuple when every child finishes in time",
          "[timeout][gather]") {
    eddy::run([]() -> eddy::task<> {
        auto [a, b] = co_await eddy::wait_for(eddy::gather(after(1ms, 1), after(2ms, 2)), 10s);
        CHECK(a == 1);
        CHECK(b == 2);
        std::vector<eddy::task<int>> range;
        range.push_back(after(1ms, 3));
        range.push_back(after(0ms, 4));
        const std::vector<int> values = co_await eddy::timeout(10s)(eddy::gather(std::move(range)));
        CHECK(values == std::vector<int>{3, 4});
    }());
}

TEST_CASE("wait_for of a gather that runs out of time cancels every child and raises "
          "timeout_error once they have finished",
          "[timeout][gather][cancel]") {
    eddy::run([]() -> eddy::task<> {
        auto slow = eddy::create_task(after(1h, 1));
        auto fast = eddy::create_task(after(0ms, 2));
        bool timed_out = false;
        try {
            (void)co_await eddy::wait_for(eddy::gather(slow, fast), 5ms);
        } catch (const eddy::timeout_error&) {
            timed_out = true;
        }
        CHECK(timed_out);
        CHECK(slow.done());
        CHECK(slow.cancelled());
        CHECK(fast.result() == 2);
    }());
}

TEST_CASE("wait_for of a gather with a zero timeout cancels its children, as asyncio's does, "
          "and yields the tuple when they are all done",
          "[timeout][gather][cancel]") {
    eddy::run([]() -> eddy::task<> {
        auto slow = eddy::create_task(after(1h, 1));
        bool timed_out = false;
        try {
            (void)co_await eddy::wait_for(eddy::gather(slow), 0ms);
        } catch (const eddy::timeout_error&) {
            timed_out = true;
        }
        CHECK(timed_out);
        CHECK(slow.cancelled()); // not left running behind the caller's back
        auto done = eddy::create_task(after(0ms, 2));
        co_await eddy::sleep(1ms);
        auto [value] = co_await eddy::wait_for(eddy::gather(done), 0ms);
        CHECK(value == 2);
    }());
}

namespace {
eddy::task<int> quick(int v) {
    co_return v;
}
} // namespace

TEST_CASE("a deadline already past when its scope is entered fires before the body's next step, "
          "as asyncio's call_soon does",
          "[timeout]") {
    eddy::run([]() -> eddy::task<> {
        int steps = 0;
        auto body = [&]() -> eddy::task<> {
            for (int i = 0; i < 200; ++i) {
                co_await eddy::yield();
                ++steps;
            }
        };
        CHECK_THROWS_AS(co_await eddy::timeout(0ms)(body), eddy::timeout_error);
        CHECK(steps == 0); // not the up to 64 steps a turn's follow-on run would allow
        // A gather whose children had not run: cancelled before they start (asyncio 3.11's
        // wait_for(gather(...), 0) cancels them at once, 3.12's fires through call_soon).
        bool timed_out = false;
        try {
            (void)co_await eddy::wait_for(eddy::gather(quick(1), quick(2)), 0ms);
        } catch (const eddy::timeout_error&) {
            timed_out = true;
        }
        CHECK(timed_out);
        // A deadline in the future still lets the body run until it comes.
        const int v = co_await eddy::timeout(1h)([&]() -> eddy::task<int> {
            co_await eddy::yield();
            co_return 7;
        });
        CHECK(v == 7);
    }());
}
