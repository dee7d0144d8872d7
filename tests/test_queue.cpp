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

TEST_CASE("a getter served and then cancelled before it resumes keeps its item",
          "[queue][cancel]") {
    eddy::run([]() -> eddy::task<> {
        eddy::queue<int> q;
        int received = 0;
        auto getter = eddy::create_task([&]() -> eddy::task<> {
            received = co_await q.get();
            co_await eddy::sleep(1h); // the cancellation lands here
        });
        co_await eddy::sleep(1ms);
        q.put_nowait(7); // handed to the getter
        getter.cancel();
        CHECK_THROWS_AS(co_await getter, eddy::cancelled_error);
        CHECK(received == 7);
        CHECK(q.empty());
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
