// eddy — the loop's FIFO of work to run this turn.
#pragma once

#include <coroutine>
#include <cstddef>
#include <memory>
#include <utility>

namespace eddy::detail {

class task_base;

/// One unit of ready work: a coroutine to resume inside `task` (the task whose chain it belongs
/// to), or a callback node when `run` is not null.
struct ready_item {
    void (*run)(void* self) noexcept = nullptr;
    void* ptr = nullptr;
    task_base* task = nullptr;
};

/// A growable ring buffer. It only grows (doubling), so a loop in steady state never allocates
/// to schedule work, unlike std::deque, which allocates and frees blocks as it moves.
class ready_queue {
  public:
    ready_queue() : buf_(std::make_unique<ready_item[]>(initial)), mask_(initial - 1) {}

    [[nodiscard]] bool empty() const noexcept { return head_ == tail_; }
    [[nodiscard]] std::size_t size() const noexcept { return tail_ - head_; }

    void push(const ready_item& item) {
        if (size() == mask_ + 1) [[unlikely]] {
            grow();
        }
        buf_[tail_++ & mask_] = item;
    }

    ready_item pop() noexcept { return buf_[head_++ & mask_]; }

    /// The i-th item from the front (i < size()).
    [[nodiscard]] ready_item& at(std::size_t i) noexcept { return buf_[(head_ + i) & mask_]; }

    /// Restarts at the front of the buffer when empty. The buffer never shrinks: after a burst
    /// of a million wake-ups, a steady trickle of one or two items per turn would otherwise
    /// walk through all of it (tens of MB), touching a cold cache line every few items.
    void rewind_if_empty() noexcept {
        if (head_ == tail_) {
            head_ = tail_ = 0;
        }
    }

  private:
    static constexpr std::size_t initial = 256;

    // Out of line and cold: inlined, its call to operator new made every caller that
    // schedules work (a waiter's wake) save and restore six registers.
    [[gnu::noinline, gnu::cold]] void grow() {
        const std::size_t cap = (mask_ + 1) * 2;
        auto next = std::make_unique<ready_item[]>(cap);
        const std::size_t n = size();
        for (std::size_t i = 0; i < n; ++i) {
            next[i] = buf_[(head_ + i) & mask_];
        }
        buf_ = std::move(next);
        mask_ = cap - 1;
        head_ = 0;
        tail_ = n;
    }

    std::unique_ptr<ready_item[]> buf_;
    std::size_t mask_;
    std::size_t head_ = 0;
    std::size_t tail_ = 0;
};

} // namespace eddy::detail
