// eddy — queue, lifo_queue, priority_queue: producer/consumer queues for tasks (asyncio.Queue).
#pragma once

#include "eddy/detail/list.hpp"
#include "eddy/detail/parked.hpp"
#include "eddy/detail/ring.hpp"
#include "eddy/errors.hpp"

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace eddy {
namespace detail {

template <class T> struct fifo_store {
    ring<T> items;
    void push(T&& v) { items.push_back(std::move(v)); }
    T pop() { return items.pop_front(); }
    [[nodiscard]] std::size_t size() const noexcept { return items.size(); }
    void clear() noexcept { items.clear(); }
};

template <class T> struct lifo_store {
    ring<T> items;
    void push(T&& v) { items.push_back(std::move(v)); }
    T pop() { return items.pop_back(); }
    [[nodiscard]] std::size_t size() const noexcept { return items.size(); }
    void clear() noexcept { items.clear(); }
};

/// A binary heap whose first element is the smallest under Compare (Python's heapq order).
template <class T, class Compare> struct heap_store {
    std::vector<T> items;
    Compare less;
    void push(T&& v) {
        items.push_back(std::move(v));
        std::push_heap(items.begin(), items.end(), greater());
    }
    T pop() {
        std::pop_heap(items.begin(), items.end(), greater());
        T v(std::move(items.back()));
        items.pop_back();
        return v;
    }
    [[nodiscard]] std::size_t size() const noexcept { return items.size(); }
    void clear() noexcept { items.clear(); }

  private:
    [[nodiscard]] auto greater() const {
        return [this](const T& a, const T& b) { return less(b, a); };
    }
};

} // namespace detail

/// A queue for passing values between the tasks of one loop (asyncio.Queue and its LIFO and
/// priority variants, with Python 3.13's shutdown). `Store` decides the order.
///
/// - `maxsize` 0 means unbounded; otherwise put() waits while the queue is full.
/// - Getters and putters are served first in, first out, and nothing can overtake a waiter: a
///   waiting putter's value goes in as soon as there is room, and an item put while a getter
///   waits goes in and is reserved for that getter, which takes the next item in the queue's
///   order when it runs (as asyncio's woken getter does), so that a burst of puts in one step
///   comes out in order. size() counts a reserved item until then, as qsize() does, but
///   get_nowait() cannot take it.
/// - A task cancelled while waiting takes nothing with it: a getter gets no item (none is
///   lost), a putter's value is not put. A getter served and cancelled before it resumes hands
///   its reservation to the next waiting getter (the items stay where they are, in order) and
///   throws cancelled_error, as asyncio's get does; a putter whose value already went in
///   returns, and the cancellation lands at its next await.
/// - Move-only element types work. Nothing is allocated per wait; the store grows by doubling
///   and never shrinks.
///
/// Not thread-safe; immovable; destroying it while tasks wait wakes them with
/// eddy::invalid_state_error.
template <class T, class Store> class basic_queue {
  public:
    /// The element type.
    using value_type = T;

    /// A queue holding at most `maxsize` items (0: no limit).
    explicit basic_queue(std::size_t maxsize = 0) noexcept : maxsize_(maxsize) {}
    basic_queue(const basic_queue&) = delete;
    basic_queue& operator=(const basic_queue&) = delete;
    ~basic_queue() {
        // Getters served and not yet resumed keep their item: they take it from the store now.
        // They learn that the queue is gone (their node is unlinked) and no longer
        // touch it.
        while (detail::list_node* n = handed_.pop_front()) {
            getter* g = static_cast<handed_link*>(n)->owner;
            if (g->reserved_) {
                g->reserved_ = false;
                try {
                    g->item_.emplace(store_.pop());
                } catch (...) {
                    g->orphaned_ = true; // T's move threw: it gets invalid_state_error instead
                }
            }
        }
        detail::orphan_all(getters_);
        detail::orphan_all(putters_);
        detail::orphan_all(joiners_);
    }

    /// Items in the queue.
    [[nodiscard]] std::size_t size() const noexcept { return store_.size(); }
    /// True when no item is in the queue.
    [[nodiscard]] bool empty() const noexcept { return store_.size() == 0; }
    /// True when maxsize is set and reached.
    [[nodiscard]] bool full() const noexcept { return maxsize_ != 0 && store_.size() >= maxsize_; }
    /// The bound given at construction (0: unbounded).
    [[nodiscard]] std::size_t maxsize() const noexcept { return maxsize_; }
    /// True after shutdown().
    [[nodiscard]] bool is_shutdown() const noexcept { return shutdown_; }

    /// Puts `item`, waiting while the queue is full. Throws eddy::queue_shutdown if the queue
    /// is or becomes shut down before the item went in, cancelled_error if the task is
    /// cancelled while waiting (the item is then not in the queue).
    [[nodiscard]] auto put(T item) noexcept(std::is_nothrow_move_constructible_v<T>) {
        return putter{this, std::move(item)};
    }

    /// Puts `item` without waiting. Throws eddy::queue_full, eddy::queue_shutdown.
    void put_nowait(T item) {
        if (shutdown_) {
            throw queue_shutdown();
        }
        if (full()) {
            throw queue_full();
        }
        push(std::move(item));
    }

    /// Takes the next item, waiting while the queue is empty. Throws eddy::queue_shutdown when
    /// the queue is shut down and empty (at once for shutdown(true)), cancelled_error if the
    /// task is cancelled while waiting or after an item was reserved for it but before it
    /// resumed (it then took nothing: the reservation goes to the next waiting getter).
    [[nodiscard]] auto get() noexcept { return getter{this}; }

    /// Takes the next item without waiting. Throws eddy::queue_empty, or eddy::queue_shutdown
    /// when shut down and empty (items that waiting getters will take do not count).
    T get_nowait() {
        if (store_.size() == reserved_) {
            if (shutdown_) {
                throw queue_shutdown();
            }
            throw queue_empty();
        }
        return take();
    }

    /// Marks one item taken earlier as processed (for join()). Throws
    /// eddy::invalid_state_error when called more often than items were put (asyncio's
    /// ValueError).
    void task_done() {
        if (unfinished_ == 0) {
            throw invalid_state_error("eddy::queue::task_done called too many times");
        }
        if (--unfinished_ == 0) {
            wake_joiners();
        }
    }

    /// Items put and not yet marked done.
    [[nodiscard]] std::size_t unfinished_tasks() const noexcept { return unfinished_; }

    /// Waits until every item put has been marked done with task_done().
    [[nodiscard]] auto join() noexcept { return joiner{this}; }

    /// Shuts the queue down (Python 3.13): put() throws eddy::queue_shutdown from now on,
    /// blocked putters too; get() still returns what is left, then throws. With `immediate`,
    /// what is left is dropped (and counted as done for join()), and blocked getters throw at
    /// once.
    void shutdown(bool immediate = false) noexcept {
        shutdown_ = true;
        if (immediate) {
            // Getters served and not yet resumed lose their item with the rest (in asyncio it
            // would still be in the queue): they throw queue_shutdown.
            while (detail::list_node* n = handed_.pop_front()) {
                getter* g = static_cast<handed_link*>(n)->owner;
                g->shut_ = true;
                g->reserved_ = false; // its item is in the store, dropped below
            }
            reserved_ = 0;
            while (store_.size() != 0) {
                (void)store_.pop();
                if (unfinished_ > 0 && --unfinished_ == 0) {
                    wake_joiners();
                }
            }
        }
        while (auto* g = detail::first_waiter<getter>(getters_)) {
            g->shut_ = true; // it throws queue_shutdown without touching the queue again
            g->grant();
        }
        while (auto* p = detail::first_waiter<putter>(putters_)) {
            p->refused_ = true;
            p->grant();
        }
    }

  private:
    struct getter;
    // A getter's node in handed_, from the moment it is served until it resumes.
    struct handed_link : detail::list_node {
        getter* owner = nullptr;
    };

    struct [[nodiscard]] getter : detail::parked {
        basic_queue* q_;
        std::optional<T> item_; // given by a dying queue
        bool shut_ = false;     // woken by shutdown(): throws queue_shutdown
        bool reserved_ = false; // granted an item in the store
        // Linked in the queue's handed_ list from the grant until it resumes: whether the queue
        // is still there to take from, or to give the item back to.
        handed_link link_;
        explicit getter(basic_queue* q) noexcept : q_(q) {}
        getter(getter&& o) noexcept : parked(std::move(o)), q_(o.q_) {} // only before the await
        getter(const getter&) = delete;
        getter& operator=(const getter&) = delete;
        getter& operator=(getter&&) = delete;
        ~getter() {
            if (link_.linked()) [[unlikely]] {
                // Served, then destroyed without resuming (its frame went with its task): what
                // it was granted goes back rather than being lost.
                link_.unlink();
                if (reserved_) {
                    --q_->reserved_;
                    q_->pass_reservation();
                }
            }
        }
        [[nodiscard]] bool await_ready() const noexcept {
            return q_->store_.size() != q_->reserved_ || q_->shutdown_;
        }
        bool await_suspend(std::coroutine_handle<> h) { return park(h, q_->getters_); }
        T await_resume() {
            resume();
            if (reserved_) [[likely]] {
                // Served by a put, and the queue is alive (a dying queue or shutdown(immediate)
                // clears reserved_ when it unlinks the getter).
                link_.unlink();
                if (cancelled_after_grant()) [[unlikely]] {
                    give_back();
                }
                --q_->reserved_;
                return q_->take();
            }
            if (shut_) {
                throw queue_shutdown(); // woken by shutdown(): the queue may be gone by now
            }
            if (item_) {
                return std::move(*item_); // given by the dying queue
            }
            if (q_->store_.size() != q_->reserved_) {
                return q_->take();
            }
            throw queue_shutdown();
        }

      private:
        // Cancelled after it was served: its reservation goes to the next getter and the await
        // throws, as asyncio's get raises with the item still queued.
        [[noreturn, gnu::noinline]] void give_back() {
            reserved_ = false;
            --q_->reserved_;
            q_->pass_reservation();
            throw_pending_cancel();
        }
    };

    struct [[nodiscard]] putter : detail::parked {
        basic_queue* q_;
        T item_;
        bool refused_ = false;
        putter(basic_queue* q, T&& item) noexcept(std::is_nothrow_move_constructible_v<T>)
            : q_(q), item_(std::move(item)) {}
        [[nodiscard]] bool await_ready() {
            if (q_->shutdown_) {
                refused_ = true;
                return true;
            }
            if (q_->full()) {
                return false;
            }
            q_->push(std::move(item_));
            return true;
        }
        bool await_suspend(std::coroutine_handle<> h) { return park(h, q_->putters_); }
        void await_resume() {
            if (loop_ != nullptr) { // it waited (a put that went straight in never did)
                resume();
            }
            if (refused_) {
                throw queue_shutdown();
            }
        }
    };

    struct [[nodiscard]] joiner : detail::parked {
        basic_queue* q_;
        explicit joiner(basic_queue* q) noexcept : q_(q) {}
        [[nodiscard]] bool await_ready() const noexcept { return q_->unfinished_ == 0; }
        bool await_suspend(std::coroutine_handle<> h) { return park(h, q_->joiners_); }
        void await_resume() { resume(); }
    };

    /// An item goes in, reserved for the first waiting getter if any.
    void push(T&& item) {
        store_.push(std::move(item));
        ++unfinished_;
        if (auto* g = detail::first_waiter<getter>(getters_)) {
            reserve(*g);
        }
    }
    void reserve(getter& g) noexcept {
        ++reserved_;
        g.reserved_ = true;
        g.link_.owner = &g;
        handed_.push_back(g.link_);
        g.grant();
    }
    /// A cancelled getter's grant of an item in the store goes to the next getter, if any.
    void pass_reservation() noexcept {
        if (auto* g = detail::first_waiter<getter>(getters_)) {
            reserve(*g);
        }
    }
    /// An item comes out; the first waiting putter's item takes the freed room, reserved for
    /// the first waiting getter if any (as any put's).
    T take() {
        T v = store_.pop();
        if (auto* p = detail::first_waiter<putter>(putters_); p != nullptr && !full()) {
            push(std::move(p->item_)); // cannot grow the store: an item just came out
            p->grant();
        }
        return v;
    }

    void wake_joiners() noexcept {
        while (detail::parked* j = detail::first_waiter(joiners_)) {
            j->grant();
        }
    }

    Store store_;
    std::size_t maxsize_;
    std::size_t unfinished_ = 0;
    bool shutdown_ = false;
    detail::intrusive_list getters_;
    detail::intrusive_list putters_;
    detail::intrusive_list joiners_;
    detail::intrusive_list handed_; // getters served, not yet resumed (handed_link)
    std::size_t reserved_ = 0;      // items in the store reserved for getters
};

/// First in, first out (asyncio.Queue).
template <class T> using queue = basic_queue<T, detail::fifo_store<T>>;
/// Last in, first out (asyncio.LifoQueue).
template <class T> using lifo_queue = basic_queue<T, detail::lifo_store<T>>;
/// Smallest first under `Compare` (asyncio.PriorityQueue, which uses heapq: the lowest entry
/// comes out first). Equal entries come out in no particular order.
template <class T, class Compare = std::less<T>>
using priority_queue = basic_queue<T, detail::heap_store<T, Compare>>;

} // namespace eddy
