// queue, lifo_queue, priority_queue: order, bounds, join, shutdown, cancellation safety.
#include "helpers.hpp"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("queues hand items out FIFO, LIFO or smallest first", "[queue]") {
    eddy::run([]() -> eddy::task<> {
        eddy::queue<int> fifo;
        eddy::lifo_queue<int> lifo;
        eddy::priority_queue<int> prio;
        for (int v : {3, 1, 2}) {
            co_await fifo.put(v);
            co_await lifo.put(v);
            co_await prio.put(v);
        }
        std::vector<int> f;
        std::vector<int> l;
        std::vector<int> p;
        for (int i = 0; i < 3; ++i) {
            f.push_back(co_await fifo.get());
            l.push_back(co_await lifo.get());
            p.push_back(co_await prio.get());
        }
        CHECK(f == std::vector<int>{3, 1, 2});
        CHECK(l == std::vector<int>{2, 1, 3});
        CHECK(p == std::vector<int>{1, 2, 3});
    }());
}

TEST_CASE("get waits for an item, getters are served in arrival order", "[queue]") {
    eddy::run([]() -> eddy::task<> {
        eddy::queue<int> q;
        std::vector<std::pair<int, int>> got; // (getter, item)
        std::vector<eddy::task_handle<void>> hs;
        hs.reserve(3);
        for (int g = 0; g < 3; ++g) {
            hs.push_back(eddy::create_task([&, g]() -> eddy::task<> {
                const int item = co_await q.get();
                got.emplace_back(g, item);
            }));
        }
        co_await eddy::sleep(1ms);
        for (int v = 10; v < 13; ++v) {
            q.put_nowait(v);
        }
        co_await eddy::gather(hs);
        CHECK(got == std::vector<std::pair<int, int>>{{0, 10}, {1, 11}, {2, 12}});
    }());
}

TEST_CASE("a bounded queue makes a fast producer wait for a slow consumer", "[queue]") {
    eddy::run([]() -> eddy::task<> {
        eddy::queue<int> q(2);
        std::size_t max_size = 0;
        std::vector<int> consumed;
        auto producer = eddy::create_task([&]() -> eddy::task<> {
            for (int i = 0; i < 20; ++i) {
                co_await q.put(i);
                max_size = std::max(max_size, q.size());
            }
        });
        for (int i = 0; i < 20; ++i) {
            co_await eddy::sleep(0ms); // slower than the producer
            consumed.push_back(co_await q.get());
            CHECK(q.size() <= 2);
        }
        co_await producer;
        CHECK(max_size <= 2);
        std::vector<int> expected(20);
        for (int i = 0; i < 20; ++i) {
            expected[static_cast<std::size_t>(i)] = i;
        }
        CHECK(consumed == expected);
    }());
}

TEST_CASE("put_nowait and get_nowait throw queue_full and queue_empty", "[queue]") {
    eddy::queue<int> q(1);
    CHECK(q.empty());
    CHECK_THROWS_AS(q.get_nowait(), eddy::queue_empty);
    q.put_nowait(1);
    CHECK(q.full());
    CHECK_THROWS_AS(q.put_nowait(2), eddy::queue_full);
    CHECK(q.get_nowait() == 1);
}

TEST_CASE("join waits until every item was marked done", "[queue]") {
    eddy::run([]() -> eddy::task<> {
        eddy::queue<int> q;
        int processed = 0;
        for (int i = 0; i < 5; ++i) {
            q.put_nowait(i);
        }
        auto worker = eddy::create_task([&]() -> eddy::task<> {
            while (true) {
                (void)co_await q.get();
                co_await eddy::sleep(1ms);
                ++processed;
                q.task_done();
            }
        });
        co_await q.join();
        CHECK(processed == 5);
        CHECK(q.unfinished_tasks() == 0);
        CHECK_THROWS_AS(q.task_done(), eddy::invalid_state_error);
        worker.cancel();
        CHECK_THROWS_AS(co_await worker, eddy::cancelled_error);
    }());
}

TEST_CASE("shutdown: puts fail, gets drain what is left and then fail", "[queue]") {
    eddy::run([]() -> eddy::task<> {
        eddy::queue<int> q(1);
        q.put_nowait(1);
        auto blocked_putter = eddy::create_task([&]() -> eddy::task<> { co_await q.put(2); });
        co_await eddy::sleep(1ms);
        q.shutdown();
        CHECK(q.is_shutdown());
        CHECK_THROWS_AS(co_await blocked_putter, eddy::queue_shutdown);
        CHECK_THROWS_AS(q.put_nowait(3), eddy::queue_shutdown);
        CHECK_THROWS_AS(co_await q.put(3), eddy::queue_shutdown);
        const int left = co_await q.get();
        CHECK(left == 1);
        CHECK_THROWS_AS(co_await q.get(), eddy::queue_shutdown);
        CHECK_THROWS_AS(q.get_nowait(), eddy::queue_shutdown);
    }());
}

TEST_CASE("shutdown(immediate) drops the items, counts them done and wakes blocked getters",
          "[queue]") {
    eddy::run([]() -> eddy::task<> {
        eddy::queue<int> q;
        eddy::queue<int> idle;
        q.put_nowait(1);
        q.put_nowait(2);
        auto getter = eddy::create_task([&]() -> eddy::task<> { (void)co_await idle.get(); });
        auto joiner = eddy::create_task([&]() -> eddy::task<> { co_await q.join(); });
        co_await eddy::sleep(1ms);
        q.shutdown(true);
        idle.shutdown(true);
        CHECK(q.empty());
        co_await joiner; // the dropped items count as done
        CHECK_THROWS_AS(co_await getter, eddy::queue_shutdown);
    }());
}

TEST_CASE("a getter cancelled while waiting takes no item: the next getter gets it",
          "[queue][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::queue<int> q;
        auto cancelled =
            eddy::create_task([&]() -> eddy::task<int> { co_return co_await q.get(); });
        auto next = eddy::create_task([&]() -> eddy::task<int> { co_return co_await q.get(); });
        co_await eddy::sleep(1ms);
        cancelled.cancel();
        CHECK_THROWS_AS(co_await cancelled, eddy::cancelled_error);
        q.put_nowait(42);
        const int got = co_await next;
        CHECK(got == 42);
    }());
}

TEST_CASE("a getter handed an item and cancelled before it resumes gives it back to the front "
          "and throws, as asyncio's get does",
          "[queue][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::queue<int> q;
        int received = 0;
        auto getter = eddy::create_task([&]() -> eddy::task<> { received = co_await q.get(); });
        co_await eddy::sleep(1ms);
        q.put_nowait(7); // handed to the getter
        q.put_nowait(8); // into the queue: nobody else waits
        getter.cancel();
        CHECK_THROWS_AS(co_await getter, eddy::cancelled_error);
        CHECK(received == 0);
        REQUIRE(q.size() == 2);
        CHECK(q.get_nowait() == 7); // back at the front: the order is kept
        CHECK(q.get_nowait() == 8);
        CHECK(q.unfinished_tasks() == 2); // still counted: nobody took them for good
    }());
}

TEST_CASE("an item given back by a cancelled getter goes to the next getter", "[queue][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::lifo_queue<int> q;
        auto first = eddy::create_task([&]() -> eddy::task<int> { co_return co_await q.get(); });
        auto second = eddy::create_task([&]() -> eddy::task<int> { co_return co_await q.get(); });
        co_await eddy::sleep(1ms);
        q.put_nowait(7); // to `first`
        first.cancel();
        CHECK_THROWS_AS(co_await first, eddy::cancelled_error);
        const int got = co_await second;
        CHECK(got == 7);
        CHECK(q.empty());
    }());
}

TEST_CASE("items handed to a cancelled gather of gets stay in the queue", "[queue][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::priority_queue<int> q;
        auto worker = eddy::create_task([&]() -> eddy::task<> {
            (void)co_await eddy::gather(q.get(), q.get(), eddy::sleep(1h));
        });
        co_await eddy::sleep(1ms);
        q.put_nowait(5);
        q.put_nowait(1); // one to each hidden getter, none resumed yet
        worker.cancel();
        CHECK_THROWS_AS(co_await worker, eddy::cancelled_error);
        REQUIRE(q.size() == 2);
        CHECK(q.get_nowait() == 1);
        CHECK(q.get_nowait() == 5);
    }());
}

TEST_CASE("a getter handed an item keeps it when its queue is destroyed before it resumes",
          "[queue][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::task_handle<int> getter;
        {
            eddy::queue<int> q;
            getter =
                eddy::create_task([q = &q]() -> eddy::task<int> { co_return co_await q->get(); });
            co_await eddy::sleep(1ms);
            q.put_nowait(5); // reserved for the getter
            getter.cancel(); // too late to give it back: the queue dies first
        }
        const int got = co_await getter; // it never touches the dead queue (ASan would say)
        CHECK(got == 5);
    }());
}

TEST_CASE("a putter cancelled while the queue is full puts nothing", "[queue][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::queue<int> q(1);
        q.put_nowait(1);
        auto putter = eddy::create_task([&]() -> eddy::task<> { co_await q.put(2); });
        co_await eddy::sleep(1ms);
        putter.cancel();
        CHECK_THROWS_AS(co_await putter, eddy::cancelled_error);
        CHECK(q.get_nowait() == 1);
        CHECK(q.empty());
        CHECK(q.unfinished_tasks() == 1);
    }());
}

TEST_CASE("random cancellations of getters and putters lose no item and duplicate none",
          "[queue][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::queue<int> q(4);
        std::mt19937 rng(11);
        std::vector<int> received;
        int next_item = 0;
        std::vector<int> put_ok;
        for (int round = 0; round < 300; ++round) {
            std::vector<eddy::task_handle<void>> hs;
            for (int k = 0; k < 3; ++k) {
                const int item = next_item++;
                hs.push_back(eddy::create_task([&, item]() -> eddy::task<> {
                    co_await q.put(item);
                    put_ok.push_back(item);
                }));
                hs.push_back(eddy::create_task(
                    [&]() -> eddy::task<> { received.push_back(co_await q.get()); }));
            }
            co_await eddy::yield();
            for (auto& h : hs) {
                if (rng() % 3 == 0) {
                    h.cancel();
                }
            }
            // Unblock whoever is left: take an item for a stuck putter, give one to a stuck
            // getter (both recorded like any other).
            auto all_done = [&] {
                return std::all_of(hs.begin(), hs.end(), [](auto& h) { return h.done(); });
            };
            while (!all_done()) {
                co_await eddy::yield();
                if (all_done()) {
                    break;
                }
                if (q.full()) {
                    received.push_back(q.get_nowait());
                } else if (q.empty()) {
                    const int item = next_item++;
                    q.put_nowait(item);
                    put_ok.push_back(item);
                }
            }
            co_await eddy::gather(eddy::return_exceptions, hs);
        }
        while (!q.empty()) {
            received.push_back(q.get_nowait());
        }
        std::sort(received.begin(), received.end());
        std::sort(put_ok.begin(), put_ok.end());
        // Every item that went in came out exactly once; nothing else came out.
        CHECK(received == put_ok);
    }());
}

TEST_CASE("queues carry move-only values", "[queue]") {
    eddy::run([]() -> eddy::task<> {
        eddy::queue<std::unique_ptr<int>> q(1);
        auto consumer = eddy::create_task([&]() -> eddy::task<int> {
            auto p = co_await q.get();
            co_return *p;
        });
        co_await q.put(std::make_unique<int>(5));
        const int v = co_await consumer;
        CHECK(v == 5);
        eddy::lifo_queue<std::unique_ptr<std::string>> l;
        l.put_nowait(std::make_unique<std::string>("x"));
        CHECK(*l.get_nowait() == "x");
    }());
}

TEST_CASE("1,000,000 ping-pongs through two queues complete without allocating", "[queue][alloc]") {
    eddy::run([]() -> eddy::task<> {
        eddy::queue<int> ping;
        eddy::queue<int> pong;
        constexpr int rounds = 1'000'000;
        auto echo = eddy::create_task([&]() -> eddy::task<> {
            for (int i = 0; i < rounds; ++i) {
                co_await pong.put(co_await ping.get());
            }
        });
        std::int64_t sum = 0;
        std::uint64_t allocs = 0;
        for (int i = 0; i < rounds; ++i) {
            if (i == 1000) {
                allocs = eddy_test::allocations();
            }
            co_await ping.put(i);
            sum += co_await pong.get();
        }
        CHECK(eddy_test::allocations() == allocs);
        co_await echo;
        CHECK(sum == static_cast<std::int64_t>(rounds) * (rounds - 1) / 2);
    }());
}

TEST_CASE("a getter woken by shutdown does not touch the queue again, even if it is gone",
          "[queue]") {
    eddy::run([]() -> eddy::task<> {
        auto q = std::make_unique<eddy::queue<int>>();
        bool got_shutdown = false;
        auto worker = eddy::create_task([&]() -> eddy::task<> {
            try {
                (void)co_await q->get();
            } catch (const eddy::queue_shutdown&) {
                got_shutdown = true;
            }
        });
        co_await eddy::sleep(1ms);
        q->shutdown();
        q.reset(); // the worker resumes after the queue is gone (ASan checks it)
        co_await worker;
        CHECK(got_shutdown);
    }());
}

TEST_CASE(
    "a getter waiting on a priority or LIFO queue takes the top item once it runs, so a burst "
    "of puts in one step comes out in the queue's order, as in asyncio",
    "[queue]") {
    eddy::run([]() -> eddy::task<> {
        eddy::priority_queue<int> prio;
        eddy::lifo_queue<int> lifo;
        std::vector<int> from_prio;
        std::vector<int> from_lifo;
        auto p = eddy::create_task([&]() -> eddy::task<> {
            for (int i = 0; i < 3; ++i) {
                from_prio.push_back(co_await prio.get());
            }
        });
        auto l = eddy::create_task([&]() -> eddy::task<> {
            for (int i = 0; i < 3; ++i) {
                from_lifo.push_back(co_await lifo.get());
            }
        });
        co_await eddy::sleep(1ms); // both wait
        for (const int v : {5, 1, 3}) {
            prio.put_nowait(v);
            lifo.put_nowait(v);
        }
        CHECK(prio.size() == 3); // counted until the getter takes it, as asyncio's qsize()
        co_await p;
        co_await l;
        CHECK(from_prio == std::vector<int>{1, 3, 5});
        CHECK(from_lifo == std::vector<int>{3, 1, 5});
    }());
}

TEST_CASE("an item granted to a waiting getter fills a bounded priority queue until it is taken",
          "[queue]") {
    eddy::run([]() -> eddy::task<> {
        eddy::priority_queue<int> q(1);
        auto getter = eddy::create_task([&]() -> eddy::task<int> { co_return co_await q.get(); });
        co_await eddy::sleep(1ms);
        q.put_nowait(4);
        CHECK(q.full());
        CHECK_THROWS_AS(q.put_nowait(2), eddy::queue_full);
        const int got = co_await getter;
        CHECK(got == 4);
        CHECK(q.empty());
    }());
}

namespace {
eddy::task<int> get_from_prio(eddy::priority_queue<int>* q) {
    co_return co_await q->get();
}
} // namespace

TEST_CASE("a priority queue's getter granted an item keeps one when the queue dies first, and "
          "loses it to shutdown(immediate)",
          "[queue]") {
    eddy::run([]() -> eddy::task<> {
        eddy::task_handle<int> kept;
        {
            eddy::priority_queue<int> q;
            kept = eddy::create_task(get_from_prio(&q));
            co_await eddy::sleep(1ms);
            q.put_nowait(9);
        }
        const int got = co_await kept;
        CHECK(got == 9);

        eddy::priority_queue<int> q;
        auto dropped = eddy::create_task(get_from_prio(&q));
        co_await eddy::sleep(1ms);
        q.put_nowait(9);
        q.shutdown(true);
        CHECK_THROWS_AS(co_await dropped, eddy::queue_shutdown);
        CHECK(q.empty());
    }());
}

TEST_CASE("shutdown(immediate) takes the item of a getter served but not yet resumed, as asyncio's "
          "drains it, and join does not wait for it",
          "[queue]") {
    eddy::run([]() -> eddy::task<> {
        eddy::queue<int> q;
        auto getter = eddy::create_task([&]() -> eddy::task<int> { co_return co_await q.get(); });
        co_await eddy::sleep(1ms);
        q.put_nowait(1); // reserved for the getter
        q.shutdown(true);
        getter.cancel(); // nothing to give back any more
        CHECK_THROWS_AS(co_await getter, eddy::queue_shutdown);
        CHECK(q.empty());
        CHECK(q.unfinished_tasks() == 0);
        co_await q.join(); // returns at once
    }());
}

TEST_CASE("an item reserved for a waiting getter still counts in full(), as in asyncio, and a "
          "cancelled getter leaves it queued for whoever gets next",
          "[queue][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::queue<int> q(1);
        auto getter = eddy::create_task([&]() -> eddy::task<int> { co_return co_await q.get(); });
        co_await eddy::sleep(1ms);
        q.put_nowait(1); // reserved for the getter, still in the queue
        CHECK(q.size() == 1);
        CHECK(q.full());
        CHECK_THROWS_AS(q.put_nowait(2), eddy::queue_full); // asyncio: QueueFull
        auto putter = eddy::create_task([&]() -> eddy::task<> { co_await q.put(3); });
        getter.cancel(); // before it runs: 1 stays at the front
        CHECK_THROWS_AS(co_await getter, eddy::cancelled_error);
        co_await eddy::sleep(1ms); // the putter waits
        CHECK_FALSE(putter.done());
        CHECK(q.get_nowait() == 1);
        co_await putter;
        CHECK(q.get_nowait() == 3);
    }());
}

TEST_CASE("a FIFO getter served and cancelled before it resumes leaves the items in order, the "
          "next getter takes the first",
          "[queue][cancel]") {
    // asyncio: g2 gets 0 and 1 stays queued.
    eddy::run([]() -> eddy::task<> {
        eddy::queue<int> q;
        auto g1 = eddy::create_task(q.get());
        auto g2 = eddy::create_task(q.get());
        co_await eddy::yield(); // both wait
        q.put_nowait(0);        // for g1
        q.put_nowait(1);        // for g2
        g1.cancel();
        CHECK_THROWS_AS(co_await g1, eddy::cancelled_error);
        const int second = co_await g2;
        CHECK(second == 0);
        CHECK(q.size() == 1);
        CHECK(q.get_nowait() == 1);
    }());
}

namespace {
// asyncio: g1 gets 0, then g2 gets 1 (the putter's item goes in when g1 takes 0).
template <class Q> eddy::task<> putter_item_reaches_second_getter() {
    Q q(1);
    auto g1 = eddy::create_task(q.get());
    auto g2 = eddy::create_task(q.get());
    co_await eddy::yield();               // both getters wait
    auto p = eddy::create_task(q.put(1)); // runs before g1 resumes, finds the queue full
    q.put_nowait(0);                      // reserved for g1
    const int first = co_await g1;
    co_await p;
    const int second = co_await eddy::wait_for(g2, 10s); // waited forever before
    CHECK(first == 0);
    CHECK(second == 1);
    CHECK(q.empty());
}
} // namespace

TEST_CASE("a bounded queue gives a waiting getter the item of a putter that waited for room, "
          "when another getter's take makes it (FIFO, LIFO, priority)",
          "[queue]") {
    eddy::run([]() -> eddy::task<> {
        co_await putter_item_reaches_second_getter<eddy::queue<int>>();
        co_await putter_item_reaches_second_getter<eddy::lifo_queue<int>>();
        co_await putter_item_reaches_second_getter<eddy::priority_queue<int>>();
    }());
}
