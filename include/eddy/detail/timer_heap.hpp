// eddy — user-space timers: a monotone ring for in-order deadlines, buckets for the next few
// seconds, a 4-ary heap for the rest.
#pragma once

#include "eddy/detail/timer_wheel.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace eddy::detail {

/// A timer embedded in its owner (a sleeping awaiter's frame, a call_later node). The timer
/// store never writes into an armed node after arming it and never reads a cancelled one: a
/// frame may die right after its timer was cancelled.
struct timer_node {
    std::int64_t deadline_ = 0; // loop clock, nanoseconds
    std::uint64_t seq_ = 0;     // insertion order: equal deadlines fire first-in, first-out
    std::uint64_t where_ = 0;   // 0: not armed; 1: wheel or heap; even: ring position * 2 + 2
    void (*fire_)(timer_node*) noexcept = nullptr;

    [[nodiscard]] bool armed() const noexcept { return where_ != 0; }
};

/// The loop's timers, ordered by (deadline, insertion).
///
/// Why three structures: timers that a program sets with one duration (every sleep(10 ms),
/// every request timeout) arrive in deadline order; those go to a ring where push, pop and
/// cancel are O(1) and touch nothing but the ring. Out-of-order timers due within a few
/// seconds go to a wheel of ~1 ms buckets (timer_wheel.hpp), sorted one bucket at a time as
/// they come due; the others (far, or earlier than the wheel's window) to a 4-ary heap of keys
/// copied inline. None keeps a back-pointer in the nodes: moving entries would otherwise write
/// into a different, cold coroutine frame at every step (with 1M timers that dominated the
/// cost). A cancelled ring entry is blanked in place; a cancelled wheel or heap entry's key
/// goes to a second heap ordered the same way, so it is recognised — by key, without reading
/// the dead node — exactly when it is the earliest entry of the wheel and the heap.
class timer_heap {
  public:
    [[nodiscard]] bool empty() const noexcept { return live_ == 0; }
    [[nodiscard]] std::size_t size() const noexcept { return live_; }

    /// Earliest deadline among armed timers. Precondition: !empty().
    [[nodiscard]] std::int64_t next_deadline() noexcept {
        settle();
        const entry* r = ring_front();
        const entry* o = other_front();
        if (r == nullptr) {
            return o->deadline;
        }
        return o == nullptr || timer_less(*r, *o) ? r->deadline : o->deadline;
    }

    /// Arms `t` (its deadline_ set by the caller). Throws std::bad_alloc when a store must grow.
    void push(timer_node& t) {
        t.seq_ = next_seq_++;
        const entry e{t.deadline_, t.seq_, &t};
        if (ring_count_ == 0 || !less(e, ring_back_)) {
            ring_push(e);
            t.where_ = (ring_tail_ - 1) * 2 + 2;
            ring_back_ = e;
        } else {
            if (!wheel_.try_push(e)) {
                heap_.push_back(e);
                sift_up(heap_, heap_.size() - 1);
            }
            t.where_ = 1;
        }
        ++live_;
    }

    /// Disarms `t`; a no-op for one that is not armed. Never throws: a heap cancellation that
    /// cannot record its key (out of memory) leaves the timer armed and returns false.
    bool remove(timer_node& t) noexcept {
        if (!t.armed()) {
            return true;
        }
        if ((t.where_ & 1) == 0) {
            ring_at((t.where_ - 2) / 2).node = nullptr;
        } else {
            try {
                dead_.push_back(entry{t.deadline_, t.seq_, nullptr});
            } catch (...) {
                return false;
            }
            sift_up(dead_, dead_.size() - 1);
        }
        t.where_ = 0;
        --live_;
        return true;
    }

    /// Pops the earliest armed timer if its deadline is <= now; nullptr otherwise.
    timer_node* pop_expired(std::int64_t now) noexcept {
        if (live_ == 0) {
            wheel_.advance(now);
            return nullptr;
        }
        settle();
        const entry* r = ring_front();
        const entry* o = other_front();
        const bool from_ring = o == nullptr || (r != nullptr && timer_less(*r, *o));
        const entry& e = from_ring ? *r : *o;
        if (e.deadline > now) {
            wheel_.advance(now);
            return nullptr;
        }
        timer_node* t = e.node;
        if (from_ring) {
            ++ring_head_;
            --ring_count_;
        } else {
            pop_other(o);
        }
        t->where_ = 0;
        --live_;
        return t;
    }

  private:
    static constexpr std::size_t arity = 4;
    using entry = timer_entry;

    static bool less(const entry& a, const entry& b) noexcept { return timer_less(a, b); }
    static bool same(const entry& a, const entry& b) noexcept {
        return a.deadline == b.deadline && a.seq == b.seq;
    }

    // The earliest entry of the wheel and the heap (nullptr: both empty).
    [[nodiscard]] const entry* other_front() noexcept {
        const entry* w = wheel_.front();
        if (heap_.empty()) {
            return w;
        }
        return w == nullptr || less(heap_.front(), *w) ? &heap_.front() : w;
    }
    // Removes `o`, which other_front() just returned.
    void pop_other(const entry* o) noexcept {
        if (!heap_.empty() && o == &heap_.front()) {
            pop_top(heap_);
        } else {
            wheel_.pop_front();
        }
    }

    // Drops cancelled entries from the ring's front and the wheel's and heap's earliest.
    void settle() noexcept {
        while (ring_count_ != 0 && ring_at(ring_head_).node == nullptr) {
            ++ring_head_;
            --ring_count_;
        }
        while (!dead_.empty()) {
            const entry* o = other_front();
            if (o == nullptr || !same(dead_.front(), *o)) {
                break;
            }
            pop_top(dead_);
            pop_other(o);
        }
    }

    [[nodiscard]] const entry* ring_front() const noexcept {
        return ring_count_ == 0 ? nullptr : &ring_[ring_head_ & ring_mask_];
    }
    entry& ring_at(std::uint64_t pos) noexcept { return ring_[pos & ring_mask_]; }

    void ring_push(const entry& e) {
        if (ring_count_ == ring_capacity_) {
            const std::size_t cap = ring_capacity_ == 0 ? 256 : ring_capacity_ * 2;
            auto next = std::make_unique<entry[]>(cap);
            // Keep absolute positions valid: an entry at position p lives at p & (cap - 1).
            for (std::uint64_t p = ring_head_; p != ring_tail_; ++p) {
                next[p & (cap - 1)] = ring_[p & ring_mask_];
            }
            ring_ = std::move(next);
            ring_capacity_ = cap;
            ring_mask_ = cap - 1;
        }
        ring_[ring_tail_ & ring_mask_] = e;
        ++ring_tail_;
        ++ring_count_;
    }

    static void sift_up(std::vector<entry>& h, std::size_t i) noexcept {
        const entry e = h[i];
        while (i > 0) {
            const std::size_t parent = (i - 1) / arity;
            if (!less(e, h[parent])) {
                break;
            }
            h[i] = h[parent];
            i = parent;
        }
        h[i] = e;
    }

    static void pop_top(std::vector<entry>& h) noexcept {
        const entry e = h.back();
        h.pop_back();
        const std::size_t n = h.size();
        if (n == 0) {
            return;
        }
        std::size_t i = 0;
        for (;;) {
            const std::size_t first = i * arity + 1;
            if (first >= n) {
                break;
            }
            std::size_t best = first;
            const std::size_t last = first + arity < n ? first + arity : n;
            for (std::size_t c = first + 1; c < last; ++c) {
                if (less(h[c], h[best])) {
                    best = c;
                }
            }
            if (!less(h[best], e)) {
                break;
            }
            h[i] = h[best];
            i = best;
        }
        h[i] = e;
    }

    std::unique_ptr<entry[]> ring_;
    std::size_t ring_capacity_ = 0;
    std::uint64_t ring_mask_ = 0;
    std::uint64_t ring_head_ = 0; // absolute positions
    std::uint64_t ring_tail_ = 0;
    std::size_t ring_count_ = 0; // entries between head and tail, cancelled ones included
    entry ring_back_{};          // the newest entry pushed to the ring (cancelled or not)
    timer_wheel wheel_;
    std::vector<entry> heap_;
    std::vector<entry> dead_; // keys of cancelled wheel and heap entries, a heap like heap_
    std::uint64_t next_seq_ = 0;
    std::size_t live_ = 0;
};

} // namespace eddy::detail
