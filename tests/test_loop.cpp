// The loop's internals: the frame pool, the timer heap and the ready queue.
#include "helpers.hpp"

#include <map>
#include <memory>
#include <random>
#include <vector>

TEST_CASE("the frame pool hands a freed block back to the next allocation of its class",
          "[loop][pool]") {
    auto& pool = eddy::detail::this_thread_pool();
    void* a = pool.allocate(200);
    pool.deallocate(a, 200);
    void* b = pool.allocate(208); // same 16-byte class as 200
    CHECK(a == b);
    pool.deallocate(b, 208); // the size it was allocated with: the class is derived from it
    void* big = pool.allocate(1 << 20); // beyond the classes: straight from operator new
    pool.deallocate(big, 1 << 20);
}

TEST_CASE("the timer heap pops in (deadline, insertion) order and removes from anywhere",
          "[loop][timers]") {
    eddy::detail::timer_heap heap;
    std::mt19937 rng(7);
    std::vector<eddy::detail::timer_node> nodes(2000);
    std::multimap<std::pair<std::int64_t, std::uint64_t>, eddy::detail::timer_node*> model;
    std::uint64_t seq = 0;
    for (auto& n : nodes) {
        n.deadline_ = static_cast<std::int64_t>(rng() % 100);
        heap.push(n);
        model.emplace(std::make_pair(n.deadline_, seq++), &n);
    }
    for (std::size_t i = 0; i < nodes.size(); i += 3) { // cancel a third of them
        heap.remove(nodes[i]);
        CHECK_FALSE(nodes[i].armed());
        for (auto it = model.begin(); it != model.end(); ++it) {
            if (it->second == &nodes[i]) {
                model.erase(it);
                break;
            }
        }
    }
    std::vector<eddy::detail::timer_node*> popped;
    while (auto* t = heap.pop_expired(1000)) {
        popped.push_back(t);
    }
    REQUIRE(popped.size() == model.size());
    std::size_t i = 0;
    for (const auto& [key, node] : model) {
        CHECK(popped[i++] == node);
    }
    CHECK(heap.empty());
}

TEST_CASE("the ready queue keeps FIFO order across growth", "[loop]") {
    eddy::detail::ready_queue q;
    int dummy[1000];
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 1000; ++i) {
            q.push({nullptr, &dummy[i], nullptr});
        }
        for (int i = 0; i < 1000; ++i) {
            CHECK(q.pop().ptr == &dummy[i]);
        }
    }
    CHECK(q.empty());
}

TEST_CASE("the timer store agrees with a model under random pushes, cancels and expiries",
          "[loop][timers]") {
    // In-order deadlines take the ring, the others the heap; cancels hit both. Seeded.
    std::mt19937 rng(1);
    for (int round = 0; round < 50; ++round) {
        eddy::detail::timer_heap h;
        std::vector<std::unique_ptr<eddy::detail::timer_node>> nodes;
        std::map<std::pair<std::int64_t, std::uint64_t>, eddy::detail::timer_node*> model;
        std::int64_t now = 0;
        for (int step = 0; step < 2000; ++step) {
            const auto op = rng() % 10;
            if (op < 5) {
                auto n = std::make_unique<eddy::detail::timer_node>();
                n->deadline_ = now + (rng() % 3 == 0 ? 50 : static_cast<std::int64_t>(rng() % 100));
                h.push(*n);
                model.emplace(std::make_pair(n->deadline_, n->seq_), n.get());
                nodes.push_back(std::move(n));
            } else if (op < 7 && !nodes.empty()) {
                auto& n = nodes[rng() % nodes.size()];
                if (n->armed()) {
                    model.erase({n->deadline_, n->seq_});
                }
                REQUIRE(h.remove(*n));
                REQUIRE_FALSE(n->armed());
            } else {
                now += static_cast<std::int64_t>(rng() % 20);
                while (auto* t = h.pop_expired(now)) {
                    REQUIRE_FALSE(model.empty());
                    REQUIRE(model.begin()->second == t);
                    model.erase(model.begin());
                }
                REQUIRE((model.empty() || model.begin()->first.first > now));
                REQUIRE(h.size() == model.size());
                if (!model.empty()) {
                    REQUIRE(h.next_deadline() == model.begin()->first.first);
                }
            }
        }
    }
}
