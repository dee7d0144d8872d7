// eddy — user-space timers: a 4-ary min-heap keyed by (deadline, sequence).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace eddy::detail {

/// A timer embedded in its owner (a sleeping awaiter's frame, a call_later node). The heap
/// holds pointers; `index_` lets a cancelled timer leave in O(log n).
struct timer_node {
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);
    std::int64_t deadline_ = 0; // loop clock, nanoseconds
    std::uint64_t seq_ = 0;     // insertion order: equal deadlines fire first-in, first-out
    std::size_t index_ = npos;
    void (*fire_)(timer_node*) noexcept = nullptr;

    [[nodiscard]] bool armed() const noexcept { return index_ != npos; }
};

/// Keys are copied into the heap array so that sifting compares contiguous memory instead of
/// chasing a pointer into a different coroutine frame per comparison (1M timers: cache misses
/// dominate). A 4-ary layout halves the depth again.
class timer_heap {
  public:
    [[nodiscard]] bool empty() const noexcept { return heap_.empty(); }
    [[nodiscard]] std::size_t size() const noexcept { return heap_.size(); }
    [[nodiscard]] std::int64_t next_deadline() const noexcept { return heap_.front().deadline; }

    void push(timer_node& t) {
        t.seq_ = next_seq_++;
        heap_.push_back(entry{t.deadline_, t.seq_, &t});
        sift_up(heap_.size() - 1);
    }

    /// Removes an armed timer; a no-op for one that is not armed.
    void remove(timer_node& t) noexcept {
        if (!t.armed()) {
            return;
        }
        const std::size_t i = t.index_;
        t.index_ = timer_node::npos;
        const std::size_t last = heap_.size() - 1;
        if (i != last) {
            heap_[i] = heap_[last];
            heap_.pop_back();
            place(i);
            if (i > 0 && less(heap_[i], heap_[(i - 1) / arity])) {
                sift_up(i);
            } else {
                sift_down(i);
            }
        } else {
            heap_.pop_back();
        }
    }

    /// Pops the earliest timer if its deadline is <= now; nullptr otherwise.
    timer_node* pop_expired(std::int64_t now) noexcept {
        if (heap_.empty() || heap_.front().deadline > now) {
            return nullptr;
        }
        timer_node* t = heap_.front().node;
        t->index_ = timer_node::npos;
        if (heap_.size() > 1) {
            heap_.front() = heap_.back();
            heap_.pop_back();
            place(0);
            sift_down(0);
        } else {
            heap_.pop_back();
        }
        return t;
    }

  private:
    static constexpr std::size_t arity = 4;
    struct entry {
        std::int64_t deadline;
        std::uint64_t seq;
        timer_node* node;
    };

    static bool less(const entry& a, const entry& b) noexcept {
        return a.deadline < b.deadline || (a.deadline == b.deadline && a.seq < b.seq);
    }
    void place(std::size_t i) noexcept { heap_[i].node->index_ = i; }

    void sift_up(std::size_t i) noexcept {
        const entry e = heap_[i];
        while (i > 0) {
            const std::size_t parent = (i - 1) / arity;
            if (!less(e, heap_[parent])) {
                break;
            }
            heap_[i] = heap_[parent];
            place(i);
            i = parent;
        }
        heap_[i] = e;
        place(i);
    }

    void sift_down(std::size_t i) noexcept {
        const entry e = heap_[i];
        const std::size_t n = heap_.size();
        for (;;) {
            const std::size_t first = i * arity + 1;
            if (first >= n) {
                break;
            }
            std::size_t best = first;
            const std::size_t last = first + arity < n ? first + arity : n;
            for (std::size_t c = first + 1; c < last; ++c) {
                if (less(heap_[c], heap_[best])) {
                    best = c;
                }
            }
            if (!less(heap_[best], e)) {
                break;
            }
            heap_[i] = heap_[best];
            place(i);
            i = best;
        }
        heap_[i] = e;
        place(i);
    }

    std::vector<entry> heap_;
    std::uint64_t next_seq_ = 0;
};

} // namespace eddy::detail
