// eddy — the shared state behind future<T>, task handles and gather: status, waiters, refcount.
#pragma once

#include "eddy/detail/list.hpp"
#include "eddy/errors.hpp"

#include <coroutine>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

namespace eddy::detail {

class task_base;

/// Tag: the object made (an awaiter, a handle) takes over a reference its creator already holds
/// to a shared state, instead of adding one.
struct adopt_ref_t {
    explicit adopt_ref_t() = default;
};
inline constexpr adopt_ref_t adopt_ref{};

/// Woken (once) when the state it waits on completes. Lives in the awaiting frame.
struct waiter : list_node {
    waiter() = default;
    waiter(const waiter&) = delete;
    waiter& operator=(const waiter&) = delete;
    ~waiter() { unlink(); }
    void (*wake_)(waiter*) noexcept = nullptr;
    /// Set on waiters the state owns (done-callbacks): called for those still waiting when the
    /// state is destroyed without completing.
    void (*drop_)(waiter*) noexcept = nullptr;
    /// The task this waiter suspends, if any: call graphs show it as awaiting the state.
    task_base* by_ = nullptr;
};

/// Installed by a suspended task's innermost awaiter so that `cancel()` can reach what the task
/// is waiting on. Returns true when the cancellation was passed on and the awaiter will be woken
/// by it (and then throw cancelled_error, or report what the operation really did). With
/// `abandon` (a cancel that came back around a cycle of tasks awaiting each other) an awaiter
/// that can stop waiting at once does so and is woken with cancelled_error.
struct cancel_hook {
    bool (*cancel_)(cancel_hook*, bool abandon) noexcept = nullptr;
    bool requested_ = false; // a cancellation went through this hook
};

enum class status : std::uint8_t { pending, finished, cancelled };

/// Reference-counted completion state. Who owns it: every handle (future<T>, task_handle<T>,
/// a gather) holds one reference; a running task holds one more until it finishes. The last
/// release destroys it (for a task: its coroutine frame).
class future_base {
  public:
    future_base() = default;
    future_base(const future_base&) = delete;
    future_base& operator=(const future_base&) = delete;

    [[nodiscard]] bool done() const noexcept { return status_ != status::pending; }
    [[nodiscard]] bool cancelled() const noexcept { return status_ == status::cancelled; }
    [[nodiscard]] bool failed() const noexcept { return done() && exception_ != nullptr; }

    void add_ref() noexcept { ++refs_; }
    void release() noexcept {
        if (--refs_ == 0) {
            if (exception_ && !retrieved_) [[unlikely]] {
                report_unretrieved();
            }
            destroy();
        }
    }
    [[nodiscard]] std::uint32_t refs() const noexcept { return refs_; }

    /// Wakes `w` when the state completes. `by`: the task waiting through `w`, if any.
    void add_waiter(waiter& w, task_base* by = nullptr) noexcept {
        w.by_ = by;
        waiters_.push_back(w);
    }
    /// Calls `fn(task_base*)` for each task waiting on this state.
    template <class F> void for_each_waiting_task(F&& fn) const {
        for (const list_node* n = waiters_.front(); n != nullptr && n != waiters_.end();
             n = n->next_) {
            if (task_base* t = static_cast<const waiter*>(n)->by_; t != nullptr) {
                fn(t);
            }
        }
    }

    /// The stored exception, marking it retrieved (no "never retrieved" report). Null when the
    /// state finished with a value. Throws cancelled_error for a cancelled state, as asyncio does.
    [[nodiscard]] std::exception_ptr exception() {
        if (!done()) {
            throw invalid_state_error("eddy: exception() called before the result is set");
        }
        retrieved_ = true;
        if (cancelled()) {
            std::rethrow_exception(exception_);
        }
        return exception_;
    }

    /// Rethrows the stored exception, if any, marking it retrieved.
    void rethrow_if_failed() {
        retrieved_ = true;
        if (exception_) [[unlikely]] {
            rethrow_stored();
        }
    }
    // Out of line: inlined, the rethrow made every await of a task save registers.
    [[noreturn, gnu::noinline]] void rethrow_stored() const { std::rethrow_exception(exception_); }

    /// Requests cancellation (asyncio's Future.cancel / Task.cancel). False when already done.
    virtual bool cancel(std::string message) = 0;

    /// The stored exception whatever the status (cancelled_error for a cancelled state), marked
    /// retrieved. For combinators that hand exceptions on rather than throw them.
    [[nodiscard]] std::exception_ptr stored_exception() noexcept {
        retrieved_ = true;
        return exception_;
    }

    /// Used by gather after it propagated a failure: the siblings' later failures are accounted
    /// for, as asyncio's gather marks them retrieved.
    void mark_retrieved() noexcept { retrieved_ = true; }

  protected:
    virtual ~future_base() {
        while (list_node* n = waiters_.pop_front()) {
            auto* w = static_cast<waiter*>(n);
            if (w->drop_ != nullptr) {
                w->drop_(w);
            }
        }
    }
    virtual void destroy() noexcept = 0;
    /// Display name for diagnostics ("future" or "task 'name'").
    [[nodiscard]] virtual std::string describe() const = 0;

    /// Completes the state and wakes every waiter (they only schedule work; none runs inline).
    void complete(status s, std::exception_ptr e) noexcept {
        if (e) {
            exception_ = std::move(e);
        }
        complete(s);
    }
    /// As above, with no exception: the success path, without exception_ptr temporaries.
    void complete(status s) noexcept {
        status_ = s;
        while (list_node* n = waiters_.pop_front()) {
            auto* w = static_cast<waiter*>(n);
            w->wake_(w);
        }
    }

  private:
    // Out of line: inlined, its catch blocks made every release() save registers.
    [[gnu::noinline, gnu::cold]] void report_unretrieved() noexcept {
        if (status_ != status::finished || !exception_ || retrieved_) {
            return;
        }
        // asyncio's "Task exception was never retrieved": a failure nobody looked at must not
        // vanish silently.
        try {
            std::string what = "unknown exception";
            try {
                std::rethrow_exception(exception_);
            } catch (const std::exception& e) {
                what = e.what();
            } catch (...) {
            }
            std::fprintf(stderr, "eddy: %s exception was never retrieved: %s\n", describe().c_str(),
                         what.c_str());
        } catch (...) { // NOLINT(bugprone-empty-catch): reporting must not throw from release
        }
    }

    intrusive_list waiters_;
    std::exception_ptr exception_;
    std::uint32_t refs_ = 1;
    status status_ = status::pending;
    bool retrieved_ = false;
};

/// Storage for a result of type T (void: nothing; T&: a pointer).
template <class T> class result_slot {
  public:
    // User-provided: a union with a non-trivial member has no usable defaulted constructor.
    result_slot() noexcept {} // NOLINT(modernize-use-equals-default)
    result_slot(const result_slot&) = delete;
    result_slot& operator=(const result_slot&) = delete;
    ~result_slot() {
        if (has_) {
            value_.~T();
        }
    }
    template <class U> void emplace(U&& v) {
        // Through const volatile void* and addressof: T may be const, or overload operator&.
        ::new (const_cast<void*>(static_cast<const volatile void*>(std::addressof(value_))))
            T(std::forward<U>(v));
        has_ = true;
    }
    [[nodiscard]] T& get() noexcept { return value_; }

  private:
    union {
        T value_;
    };
    bool has_ = false;
};

template <class T> class result_slot<T&> {
  public:
    void emplace(T& v) noexcept { ptr_ = std::addressof(v); }
    [[nodiscard]] T& get() noexcept { return *ptr_; }

  private:
    T* ptr_ = nullptr;
};

template <> class result_slot<void> {
  public:
    void get() noexcept {}
};

/// What a coroutine that stored its result in `s` hands to co_return: the value as an rvalue
/// (moved out), the reference, or nothing for void.
template <class T> decltype(auto) take_result(result_slot<T>& s) noexcept {
    if constexpr (std::is_void_v<T> || std::is_reference_v<T>) {
        return s.get();
    } else {
        return std::move(s.get());
    }
}

} // namespace eddy::detail
