// eddy — a growable ring buffer of T: the storage of eddy's FIFO and LIFO queues.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <utility>

namespace eddy::detail {

/// A double-ended ring of T (move-only types welcome). It only grows (doubling), so a queue in
/// steady state never allocates, unlike std::deque, which allocates and frees blocks as its
/// contents move along.
template <class T> class ring {
  public:
    ring() = default;
    ring(const ring&) = delete;
    ring& operator=(const ring&) = delete;
    ~ring() {
        clear();
        std::allocator<T>().deallocate(buf_, cap_);
    }

    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

    void push_back(T&& v) {
        if (size_ == cap_) {
            grow();
        }
        ::new (static_cast<void*>(buf_ + ((head_ + size_) & (cap_ - 1)))) T(std::move(v));
        ++size_;
    }
    /// Precondition: !empty().
    T pop_front() {
        T* p = buf_ + head_;
        T v(std::move(*p));
        p->~T();
        head_ = (head_ + 1) & (cap_ - 1);
        --size_;
        return v;
    }
    /// Precondition: !empty().
    T pop_back() {
        T* p = buf_ + ((head_ + size_ - 1) & (cap_ - 1));
        T v(std::move(*p));
        p->~T();
        --size_;
        return v;
    }
    void clear() noexcept {
        while (size_ != 0) {
            buf_[head_].~T();
            head_ = (head_ + 1) & (cap_ - 1);
            --size_;
        }
    }

  private:
    // Cold and out of line, as ready_queue::grow: keeps push_back cheap to inline.
    [[gnu::noinline, gnu::cold]] void grow() {
        const std::size_t cap = cap_ == 0 ? 8 : cap_ * 2;
        T* next = std::allocator<T>().allocate(cap);
        std::size_t done = 0;
        try {
            for (; done < size_; ++done) {
                T* from = buf_ + ((head_ + done) & (cap_ - 1));
                ::new (static_cast<void*>(next + done)) T(std::move_if_noexcept(*from));
            }
        } catch (...) {
            while (done != 0) {
                next[--done].~T();
            }
            std::allocator<T>().deallocate(next, cap);
            // Unchanged if T copies (move_if_noexcept copied); a T whose move throws and that
            // cannot be copied may be left partly moved-from, as with std::vector.
            throw;
        }
        clear_moved(); // destroys the moved-from elements
        std::allocator<T>().deallocate(buf_, cap_);
        buf_ = next;
        cap_ = cap;
        head_ = 0;
    }
    void clear_moved() noexcept {
        for (std::size_t i = 0; i < size_; ++i) {
            buf_[(head_ + i) & (cap_ - 1)].~T();
        }
    }

    T* buf_ = nullptr;
    std::size_t cap_ = 0; // a power of two, or 0
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

} // namespace eddy::detail
