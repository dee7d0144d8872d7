// The timer store's three structures (in-order ring, ~1 ms buckets, far heap) seen as one:
// (deadline, insertion) order, cancellation in each, the bucket window moving with time.
#include "helpers.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <utility>
#include <vector>

namespace {

using eddy::detail::timer_heap;
using eddy::detail::timer_node;
using eddy::detail::timer_wheel;

constexpr std::int64_t ms = 1'000'000;
constexpr std::int64_t bucket = std::int64_t{1} << timer_wheel::shift;
constexpr std::int64_t window = bucket * timer_wheel::slots;

// The store next to a model of what it must hold: (deadline, seq) -> node.
struct checked_store {
    timer_heap h;
    std::vector<std::unique_ptr<timer_node>> nodes;
    std::map<std::pair<std::int64_t, std::uint64_t>, timer_node*> model;

    timer_node& push(std::int64_t deadline) {
        auto n = std::make_unique<timer_node>();
        n->deadline_ = deadline;
        h.push(*n);
        model.emplace(std::make_pair(n->deadline_, n->seq_), n.get());
        nodes.push_back(std::move(n));
        return *nodes.back();
    }
    void cancel(timer_node& n) {
        if (n.armed()) {
            model.erase({n.deadline_, n.seq_});
        }
        REQUIRE(h.remove(n));
        REQUIRE_FALSE(n.armed());
    }
    // Pops everything due at `now`, checking each against the model, then the next deadline.
    void expire(std::int64_t now) {
        while (timer_node* t = h.pop_expired(now)) {
            REQUIRE_FALSE(model.empty());
            REQUIRE(model.begin()->second == t);
            REQUIRE_FALSE(t->armed());
            model.erase(model.begin());
        }
        REQUIRE((model.empty() || model.begin()->first.first > now));
        REQUIRE(h.size() == model.size());
        if (!model.empty()) {
            REQUIRE(h.next_deadline() == model.begin()->first.first);
        }
    }
};

} // namespace

TEST_CASE("the timer store pops in (deadline, insertion) order across ring, buckets and heap",
          "[loop][timers]") {
    // Deadlines near now (same bucket), within the window, beyond it, in the past, repeated
    // (equal deadlines landing in different structures as the window moves), with cancels
    // and clock jumps (a virtual clock's). Seeded.
    for (std::uint32_t seed = 1; seed <= 20; ++seed) {
        std::mt19937_64 rng(seed);
        checked_store s;
        std::int64_t now = 1000 * ms + static_cast<std::int64_t>(rng() % (10 * ms));
        std::vector<std::int64_t> repeated;
        for (int step = 0; step < 4000; ++step) {
            const auto op = rng() % 20;
            if (op < 10) {
                std::int64_t d = 0;
                switch (rng() % 7) {
                case 0:
                    d = now + static_cast<std::int64_t>(rng() % bucket);
                    break;
                case 1:
                    d = now + static_cast<std::int64_t>(rng() % (50 * ms));
                    break;
                case 2:
                    d = now + static_cast<std::int64_t>(rng() % window);
                    break;
                case 3:
                    d = now + window + static_cast<std::int64_t>(rng() % window);
                    break;
                case 4:
                    d = now - static_cast<std::int64_t>(rng() % (5 * ms));
                    break;
                case 5:
                    d = repeated.empty() ? now : repeated[rng() % repeated.size()];
                    break;
                default:
                    d = now + 10 * ms;
                    break; // in order: the ring
                }
                if (rng() % 8 == 0) {
                    repeated.push_back(d);
                }
                s.push(d);
            } else if (op < 14) {
                if (!s.nodes.empty()) {
                    s.cancel(*s.nodes[rng() % s.nodes.size()]);
                }
            } else {
                switch (rng() % 6) {
                case 0:
                    now += 6 * window;
                    break; // a virtual clock's jump over everything
                case 1:
                    now += static_cast<std::int64_t>(rng() % window);
                    break;
                default:
                    now += static_cast<std::int64_t>(rng() % (3 * ms));
                    break;
                }
                s.expire(now);
            }
        }
        s.expire(INT64_MAX);
        REQUIRE(s.model.empty());
        REQUIRE(s.h.empty());
    }
}

TEST_CASE("equal deadlines fire first in first out when bucket and heap both hold them",
          "[loop][timers]") {
    checked_store s;
    const std::int64_t t = 5000 * ms;
    s.expire(t);                        // the window starts at t
    s.push(t + 10 * ms);                // the ring
    timer_node& a = s.push(t + 2 * ms); // a bucket
    timer_node& b = s.push(t + 2 * ms); // the same bucket
    s.push(t + 3 * ms);                 // the next bucket
    s.expire(t + 1 * ms);               // next_deadline sorts the t + 2 ms bucket
    timer_node& c = s.push(t + 2 * ms); // behind the window now: the heap
    timer_node& d = s.push(t + 2 * ms); // the heap
    s.push(t + 2 * ms);                 // the heap
    s.cancel(b);                        // in the sorted bucket
    s.cancel(d);                        // in the heap
    CHECK(s.model.begin()->second == &a);
    CHECK(std::next(s.model.begin())->second == &c);
    s.expire(t + 2 * ms);
    CHECK(s.model.size() == 2);
    s.expire(t + 20 * ms);
    CHECK(s.h.empty());
}

TEST_CASE("timers far beyond the bucket window and in the past keep their order with the rest",
          "[loop][timers]") {
    checked_store s;
    const std::int64_t t = 7000 * ms;
    s.expire(t);
    std::mt19937_64 rng(3);
    std::vector<timer_node*> far;
    for (int i = 0; i < 3000; ++i) {
        const std::int64_t span = i % 3 == 0 ? 3600'000 * ms : window;
        far.push_back(
            &s.push(t + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(span))));
        s.push(t - static_cast<std::int64_t>(rng() % (100 * ms))); // already due
    }
    s.push(INT64_MAX);
    s.push(INT64_MIN);
    for (std::size_t i = 0; i < far.size(); i += 4) {
        s.cancel(*far[i]);
    }
    s.expire(t); // the past ones, oldest first
    for (std::int64_t now = t; now < t + 2 * window; now += 97 * ms) {
        s.expire(now);
    }
    s.expire(INT64_MAX);
    CHECK(s.h.empty());
}

TEST_CASE("cancelling every timer in a bucket leaves the store empty and consistent",
          "[loop][timers]") {
    checked_store s;
    const std::int64_t t = 9000 * ms;
    s.expire(t);
    s.push(t + 50 * ms); // the ring's newest: later pushes go to the buckets
    std::vector<timer_node*> mid;
    mid.reserve(500);
    for (int i = 0; i < 500; ++i) {
        mid.push_back(&s.push(
            t + 1 * ms + static_cast<std::int64_t>(i) * 1000)); // one bucket, in several chunks
    }
    for (timer_node* n : mid) {
        s.cancel(*n);
    }
    s.expire(t + 5 * ms);
    CHECK(s.h.size() == 1);
    CHECK(s.h.next_deadline() == t + 50 * ms);
    s.expire(t + 50 * ms);
    CHECK(s.h.empty());
}

TEST_CASE("a drained timer store fills again without allocating", "[loop][timers]") {
    std::vector<timer_node> nodes(20000);
    std::vector<std::int64_t> offsets;
    std::mt19937_64 rng(5);
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        offsets.push_back(static_cast<std::int64_t>(rng() % (1000 * ms)));
    }
    timer_heap h;
    std::int64_t now = 3000 * bucket;
    auto round = [&] {
        h.pop_expired(now); // moves the bucket window to now
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            nodes[i].deadline_ = now + offsets[i];
            h.push(nodes[i]);
        }
        now += 2000 * bucket; // the next round uses other buckets of the wheel, same pattern
        std::size_t fired = 0;
        while (h.pop_expired(now) != nullptr) {
            ++fired;
        }
        return fired;
    };
    CHECK(round() == nodes.size());
    const std::uint64_t before = eddy_test::allocations();
    CHECK(round() == nodes.size());
    CHECK(round() == nodes.size());
    CHECK(eddy_test::allocations() == before);
}
