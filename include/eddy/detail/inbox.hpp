// eddy — the loop's inbox: how other threads hand work to a loop (call_soon_threadsafe,
// thread-offload completions) with at most one wake-up per batch.
#pragma once

#include "eddy/detail/context.hpp"
#include "eddy/errors.hpp"

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <sys/eventfd.h>
#include <system_error>
#include <type_traits>
#include <unistd.h>
#include <utility>

namespace eddy::detail {

/// A piece of work handed to a loop from another thread. Intrusive: it lives in the job or
/// callback it belongs to, so posting allocates nothing. `run_` is called on the loop's thread,
/// `drop_` instead when the loop closes before running it (either releases the node).
struct remote_node {
    remote_node* next_ = nullptr;
    void (*run_)(remote_node*) noexcept = nullptr;
    void (*drop_)(remote_node*) noexcept = nullptr;
};

/// A multi-producer, single-consumer stack of remote_nodes plus an eventfd. A producer that
/// finds the stack empty writes the eventfd once; producers that find it non-empty know a
/// wake-up is already on its way. So a burst of N completions costs one write and one read,
/// not N. Shared (shared_ptr) by the loop and every loop_handle, so a thread may still hold it
/// after the loop is gone: pushing then fails instead of touching freed memory.
class inbox {
  public:
    /// Throws std::system_error when the eventfd cannot be made (EMFILE...).
    // Blocking: io_uring completes a read of an O_NONBLOCK fd with -EAGAIN instead of waiting.
    // A write blocks only when the counter would overflow, which a wake-up per batch never nears.
    inbox() : fd_(::eventfd(0, EFD_CLOEXEC)) {
        if (fd_ < 0) {
            throw std::system_error(errno, std::system_category(), "eddy: eventfd");
        }
    }
    inbox(const inbox&) = delete;
    inbox& operator=(const inbox&) = delete;
    ~inbox() { ::close(fd_); }

    /// Any thread. False (node untouched) when the loop has closed its inbox.
    bool push(remote_node* n) noexcept {
        remote_node* head = head_.load(std::memory_order_relaxed);
        do {
            if (head == closed()) {
                return false;
            }
            n->next_ = head;
        } while (!head_.compare_exchange_weak(head, n, std::memory_order_release,
                                              std::memory_order_relaxed));
        if (head == nullptr) {
            wakes_.fetch_add(1, std::memory_order_relaxed);
            wake();
        }
        return true;
    }

    /// Eventfd writes so far: one per batch of pushes, not one per push (tests check it).
    [[nodiscard]] std::uint64_t wakes() const noexcept {
        return wakes_.load(std::memory_order_relaxed);
    }

    /// Loop thread: cheap check made every turn, so a loop that never sleeps still serves
    /// remote work without waiting for the eventfd's completion.
    [[nodiscard]] bool has_work() const noexcept {
        remote_node* h = head_.load(std::memory_order_relaxed);
        return h != nullptr && h != closed();
    }

    /// Loop thread: takes everything pushed so far, oldest first.
    [[nodiscard]] remote_node* take_all() noexcept {
        remote_node* head = head_.load(std::memory_order_relaxed);
        do {
            if (head == nullptr || head == closed()) {
                return nullptr;
            }
        } while (!head_.compare_exchange_weak(head, nullptr, std::memory_order_acquire,
                                              std::memory_order_relaxed));
        return reverse(head);
    }

    /// Loop thread, at shutdown: later pushes fail. Returns what was pushed before, oldest
    /// first, for the loop to run or drop.
    [[nodiscard]] remote_node* close() noexcept {
        remote_node* head = head_.exchange(closed(), std::memory_order_acq_rel);
        return head == closed() ? nullptr : reverse(head);
    }

    [[nodiscard]] int fd() const noexcept { return fd_; }

    /// Outside parties that may still post (loop_handles): while any exists, a loop with
    /// nothing else to wait for waits for them instead of reporting a deadlock.
    void retain_handle() noexcept { handles_.fetch_add(1, std::memory_order_relaxed); }
    void release_handle() noexcept { handles_.fetch_sub(1, std::memory_order_release); }
    [[nodiscard]] bool has_handles() const noexcept {
        return handles_.load(std::memory_order_acquire) != 0;
    }

  private:
    static remote_node* closed() noexcept {
        // An address no node can have: the stack's "closed" mark.
        return reinterpret_cast<remote_node*>(alignof(remote_node)); // NOLINT
    }
    static remote_node* reverse(remote_node* n) noexcept {
        remote_node* out = nullptr;
        while (n != nullptr) {
            remote_node* next = n->next_;
            n->next_ = out;
            out = n;
            n = next;
        }
        return out;
    }
    void wake() const noexcept {
        const std::uint64_t one = 1;
        while (::write(fd_, &one, sizeof one) < 0 && errno == EINTR) {
        }
    }

    std::atomic<remote_node*> head_{nullptr};
    std::atomic<std::uint32_t> handles_{0};
    std::atomic<std::uint64_t> wakes_{0};
    int fd_;
};

/// A callable posted by call_soon_threadsafe: one heap node per call (the posting thread has
/// no frame pool of the loop's to draw from). It runs in a copy of the context that was
/// current on the posting thread (asyncio's call_soon_threadsafe copies it too).
template <class F> struct remote_call final : remote_node {
    explicit remote_call(F&& f) : fn_(std::move(f)) {
        run_ = [](remote_node* n) noexcept {
            std::unique_ptr<remote_call> self(static_cast<remote_call*>(n));
            const callback_context_scope scope(&self->ctx_);
            try {
                self->fn_();
            } catch (const std::exception& e) {
                // As for call_soon: asyncio logs a failing callback and goes on.
                std::fprintf(stderr, "eddy: exception in callback: %s\n", e.what());
            } catch (...) {
                std::fprintf(stderr, "eddy: exception in callback (not a std::exception)\n");
            }
        };
        drop_ = [](remote_node* n) noexcept { delete static_cast<remote_call*>(n); };
    }
    remote_call(const remote_call&) = delete;
    remote_call& operator=(const remote_call&) = delete;
    ~remote_call() { context_release(ctx_); }
    F fn_;
    context_data* ctx_ = nullptr; // owned; null when the poster's context held no value
};

/// Posts `fn` to the loop owning `box`. Throws eddy::loop_error when that loop has shut down.
template <class F> void post_remote(inbox& box, F&& fn) {
    using fn_t = std::decay_t<F>;
    auto node = std::make_unique<remote_call<fn_t>>(fn_t(std::forward<F>(fn)));
    node->ctx_ = context_copy_for_thread(current_context_slot());
    if (!box.push(node.get())) {
        throw loop_error("eddy: call_soon_threadsafe on a loop that has shut down");
    }
    (void)node.release(); // the loop owns it now
}

} // namespace eddy::detail
