// eddy — the timer store's bucket level: out-of-order deadlines within a few seconds.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace eddy::detail {

struct timer_node;

/// A timer's key and node as the timer store keeps them: copied inline, so that ordering never
/// reads the (cold) node.
struct timer_entry {
    std::int64_t deadline;
    std::uint64_t seq;
    timer_node* node; // null: cancelled (ring only)
};

[[nodiscard]] inline bool timer_less(const timer_entry& a, const timer_entry& b) noexcept {
    return a.deadline < b.deadline || (a.deadline == b.deadline && a.seq < b.seq);
}

/// Deadlines in [base, base + slots) buckets of 2^shift ns (about 1 ms), each an unsorted list
/// of chunks. A bucket is sorted only when it becomes the earliest one (`front`): its entries
/// are then copied into `run_`, a small array that stays in cache while it drains. A push
/// touches one bucket's tail and a pop one array slot, where a heap over a million entries
/// walks ten levels, the lower ones cold. Entries outside the window are refused (the caller
/// keeps them in its heap). Chunks are recycled, never freed until destruction: no allocation
/// in steady state, and memory follows the peak number of entries, not the number of buckets.
class timer_wheel {
  public:
    static constexpr int shift = 20;            // bucket width: 2^20 ns, about 1.05 ms
    static constexpr std::int64_t slots = 4096; // window: about 4.4 s
    static constexpr std::size_t prefetch_distance = 8;

    timer_wheel() = default;
    timer_wheel(const timer_wheel&) = delete;
    timer_wheel& operator=(const timer_wheel&) = delete;
    ~timer_wheel() = default;

    [[nodiscard]] bool empty() const noexcept { return count_ == 0 && run_pos_ == run_.size(); }

    /// Stores `e` if its deadline is in the window; false otherwise (nothing stored). Throws
    /// std::bad_alloc when a chunk must be made.
    bool try_push(const timer_entry& e) {
        const std::int64_t b = e.deadline >> shift;
        if (b < base_) {
            return false;
        }
        if (b - base_ >= slots) {
            if (!empty()) {
                return false;
            }
            // Nothing stored: the window may move on (only forward). Starting it a quarter
            // before `b` also takes the earlier deadlines of a burst of random ones.
            base_ = b - slots / 4;
        }
        bucket& k = buckets_[static_cast<std::size_t>(b & (slots - 1))];
        if (k.n == run_.capacity()) {
            // Grown here, where throwing is allowed, so that sorting a bucket never allocates.
            run_.reserve(run_.capacity() < 256 ? 256 : run_.capacity() * 2);
        }
        if (k.tail == nullptr || k.tail_n == chunk::capacity) {
            chunk* c = take_chunk();
            c->next = nullptr;
            if (k.tail == nullptr) {
                k.head = c;
                mark(static_cast<std::size_t>(b & (slots - 1)));
            } else {
                k.tail->next = c;
            }
            k.tail = c;
            k.tail_n = 0;
        }
        k.tail->e[k.tail_n++] = e;
        ++k.n;
        ++count_;
        return true;
    }

    /// The earliest entry (sorting the earliest bucket if needed); nullptr when empty.
    [[nodiscard]] const timer_entry* front() noexcept {
        if (run_pos_ == run_.size() && !load_next()) {
            return nullptr;
        }
        return &run_[run_pos_];
    }

    /// Drops the entry front() returned, and starts fetching the node that comes a few
    /// entries later: firing a batch then overlaps the cache misses on scattered nodes.
    void pop_front() noexcept {
        ++run_pos_;
        if (run_pos_ + prefetch_distance < run_.size()) {
            const auto* n = reinterpret_cast<const char*>(run_[run_pos_ + prefetch_distance].node);
            __builtin_prefetch(n);
            __builtin_prefetch(n - 64); // the owner's fields usually precede the node
        }
    }

    /// With nothing stored, moves the window to start at `now` (it only moves forward).
    void advance(std::int64_t now) noexcept {
        if (empty() && (now >> shift) > base_) {
            base_ = now >> shift;
        }
    }

  private:
    struct chunk {
        static constexpr std::uint32_t capacity = 21; // 512-byte chunks
        timer_entry e[capacity];
        chunk* next = nullptr; // the bucket's next chunk, or the free list's
    };
    static constexpr std::size_t chunks_per_block = 64;
    struct bucket {
        chunk* head = nullptr;
        chunk* tail = nullptr;
        std::uint32_t tail_n = 0; // entries in the tail chunk
        std::uint32_t n = 0;      // entries in the bucket
    };
    static constexpr std::size_t words = static_cast<std::size_t>(slots) / 64;

    chunk* take_chunk() {
        if (free_ == nullptr) {
            // Chunks come in blocks, each half as large as all the chunks made so far (at least
            // chunks_per_block): a wheel growing to a million entries mallocs ~20 times, and a
            // second round of the same size, whose peak differs by a partly filled chunk per
            // bucket, finds the room it needs in the last block's slack instead of allocating.
            const std::size_t n = std::max(chunks_per_block, chunks_made_ / 2);
            if (blocks_.size() == blocks_.capacity()) {
                blocks_.reserve(blocks_.empty() ? 16 : blocks_.size() * 2);
            }
            auto block = std::make_unique<chunk[]>(n);
            for (std::size_t i = n; i-- > 0;) {
                block[i].next = free_;
                free_ = &block[i];
            }
            blocks_.push_back(std::move(block));
            chunks_made_ += n;
        }
        return std::exchange(free_, free_->next);
    }
    void mark(std::size_t slot) noexcept { used_[slot / 64] |= std::uint64_t{1} << (slot % 64); }
    void unmark(std::size_t slot) noexcept {
        used_[slot / 64] &= ~(std::uint64_t{1} << (slot % 64));
    }

    // Distance from base_ to the first non-empty bucket (count_ != 0), found in the bitmap.
    [[nodiscard]] std::int64_t first_used() const noexcept {
        const auto start = static_cast<std::size_t>(base_ & (slots - 1));
        std::size_t w = start / 64;
        std::uint64_t bits = used_[w] & (~std::uint64_t{0} << (start % 64));
        for (std::size_t i = 0; i <= words; ++i) {
            if (bits != 0) {
                const std::size_t slot = w * 64 + static_cast<std::size_t>(__builtin_ctzll(bits));
                return static_cast<std::int64_t>((slot - start) & (slots - 1));
            }
            w = (w + 1) % words;
            bits = used_[w];
        }
        return 0; // unreachable while count_ != 0
    }

    // Moves the earliest bucket into run_, sorted; the window then starts after it.
    bool load_next() noexcept {
        if (count_ == 0) {
            return false;
        }
        const std::int64_t b = base_ + first_used();
        const auto slot = static_cast<std::size_t>(b & (slots - 1));
        bucket& k = buckets_[slot];
        const std::size_t n = k.n;
        run_.resize(n); // within the capacity try_push reserved: no allocation
        run_pos_ = 0;
        std::size_t i = 0;
        for (chunk* c = k.head; c != nullptr;) {
            const std::size_t m = c == k.tail ? k.tail_n : chunk::capacity;
            std::copy(c->e, c->e + m, run_.begin() + static_cast<std::ptrdiff_t>(i));
            i += m;
            chunk* next = c->next;
            c->next = free_;
            free_ = c;
            c = next;
        }
        k = bucket{};
        unmark(slot);
        count_ -= n;
        base_ = b + 1;
        std::sort(run_.begin(), run_.end(), timer_less);
        for (std::size_t j = 0; j < prefetch_distance && j < n; ++j) {
            __builtin_prefetch(run_[j].node);
        }
        return true;
    }

    std::unique_ptr<bucket[]> buckets_ = std::make_unique<bucket[]>(slots);
    std::uint64_t used_[words] = {}; // non-empty buckets, by slot
    std::int64_t base_ = 0;          // absolute bucket index of the window's first bucket
    std::size_t count_ = 0;          // entries in buckets (run_ excluded)
    std::vector<timer_entry> run_;   // the earliest bucket's entries, sorted
    std::size_t run_pos_ = 0;
    chunk* free_ = nullptr;
    std::vector<std::unique_ptr<chunk[]>> blocks_; // every chunk made
    std::size_t chunks_made_ = 0;
};

} // namespace eddy::detail
