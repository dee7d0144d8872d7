// eddy — to_thread and run_in_executor: blocking calls on a pool thread, awaited on the loop.
#pragma once

#include "eddy/detail/context.hpp"
#include "eddy/detail/frame_allocator.hpp"
#include "eddy/detail/inbox.hpp"
#include "eddy/errors.hpp"
#include "eddy/loop.hpp"
#include "eddy/thread_pool.hpp"

#include <coroutine>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace eddy {

namespace detail {

template <class R> class offload_awaiter;

/// One offloaded call: queued on a pool (pool_job), run on a worker, handed back to the loop
/// (remote_node). Allocated from the loop thread's frame pool when the call is made and freed
/// on the loop thread, by the awaiter that consumed the result or, when the awaiter gave up
/// (cancelled while the call ran), by the completion itself.
template <class R> struct offload_state : pool_job, remote_node {
    using stored = std::conditional_t<std::is_reference_v<R>, std::remove_reference_t<R>*, R>;

    event_loop* loop_ = nullptr;
    std::shared_ptr<inbox> inbox_; // kept alive for the worker's post, whatever happens
    offload_awaiter<R>* awaiter_ = nullptr;
    std::optional<std::conditional_t<std::is_void_v<R>, bool, stored>> value_;
    std::exception_ptr error_;
    void (*destroy_)(offload_state*) noexcept = nullptr;
    /// to_thread: a copy of the caller's context, current in the worker during the call and
    /// released there after it (null: none, or run_in_executor, which carries none).
    context_data* ctx_ = nullptr;
    bool carry_context_ = false;

    offload_state() = default;
    offload_state(const offload_state&) = delete;
    offload_state& operator=(const offload_state&) = delete;
    ~offload_state() { context_release(ctx_); } // a call withdrawn before it ran

    void complete_on_worker() noexcept {
        // The loop may free this state as soon as it is pushed: nothing after the push.
        std::shared_ptr<inbox> box = std::move(inbox_);
        (void)box->push(this); // cannot fail: the loop waits for its outstanding calls
    }
};

template <class R, class Fn> struct offload_impl final : offload_state<R> {
    explicit offload_impl(Fn&& fn) : fn_(std::move(fn)) {
        this->work_ = [](pool_job* j) noexcept {
            auto* self = static_cast<offload_impl*>(j);
            if (self->carry_context_) {
                {
                    const callback_context_scope scope(&self->ctx_);
                    self->invoke();
                }
                context_release(std::exchange(self->ctx_, nullptr)); // on the thread that used it
            } else {
                self->invoke(); // in the worker thread's own context, as asyncio's executor
            }
            self->complete_on_worker();
        };
        this->destroy_ = [](offload_state<R>* s) noexcept {
            auto* self = static_cast<offload_impl*>(s);
            self->~offload_impl();
            frame_free(self, sizeof(offload_impl));
        };
    }
    void invoke() noexcept {
        try {
            if constexpr (std::is_void_v<R>) {
                std::invoke(std::move(fn_));
                this->value_.emplace(true);
            } else if constexpr (std::is_reference_v<R>) {
                this->value_.emplace(&std::invoke(std::move(fn_)));
            } else {
                this->value_.emplace(std::invoke(std::move(fn_)));
            }
        } catch (...) {
            this->error_ = std::current_exception();
        }
    }
    Fn fn_;
};

/// Awaits an offloaded call. Cancellation: a call no thread has started is withdrawn and never
/// runs; a running call cannot be stopped, so the awaiter stops waiting (cancelled_error) and
/// the call finishes in the background, its result dropped (asyncio.to_thread behaves so).
template <class R> class [[nodiscard]] offload_awaiter : suspension {
  public:
    offload_awaiter(offload_state<R>* state, thread_pool& pool) noexcept
        : state_(state), pool_(&pool) {}
    offload_awaiter(const offload_awaiter&) = delete;
    offload_awaiter& operator=(const offload_awaiter&) = delete;
    offload_awaiter(offload_awaiter&& o) noexcept
        : suspension(), state_(std::exchange(o.state_, nullptr)), pool_(o.pool_) {}
    offload_awaiter& operator=(offload_awaiter&&) = delete;
    ~offload_awaiter() {
        if (state_ != nullptr && owned_) {
            state_->destroy_(state_);
        }
    }

    [[nodiscard]] bool await_ready() const noexcept { return false; }

    void await_suspend(std::coroutine_handle<> h) {
        arm(h, &on_cancel);
        state_->loop_ = loop_;
        state_->inbox_ = loop_->inbox();
        state_->awaiter_ = this;
        state_->run_ = &on_done;
        state_->drop_ = &on_done;
        try {
            if (state_->carry_context_) {
                context_release(
                    std::exchange(state_->ctx_, context_copy_for_thread(current_context_slot())));
            }
            pool_->submit(*state_);
        } catch (...) {
            disarm();
            throw;
        }
        owned_ = false;
        loop_->external_begin();
        deliver_pending_cancel();
    }

    /// The call's result, or its exception rethrown. Throws eddy::cancelled_error when the
    /// task was cancelled while waiting.
    R await_resume() {
        finish_wait();
        if (state_->error_) {
            std::rethrow_exception(state_->error_);
        }
        if constexpr (std::is_reference_v<R>) {
            return **state_->value_;
        } else if constexpr (!std::is_void_v<R>) {
            return std::move(*state_->value_);
        }
    }

  private:
    // The call's completion, on the loop thread.
    static void on_done(remote_node* n) noexcept {
        auto* s = static_cast<offload_state<R>*>(n);
        s->loop_->external_end();
        if (offload_awaiter* self = s->awaiter_) {
            self->owned_ = true;
            self->wake();
        } else {
            s->destroy_(s); // its awaiter stopped waiting
        }
    }
    static bool on_cancel(cancel_hook* h, bool abandon) noexcept {
        (void)abandon;
        auto* self = static_cast<offload_awaiter*>(static_cast<suspension*>(h));
        if (self->owned_) {
            return false; // the result is in already: it is delivered
        }
        if (self->pool_->withdraw(*self->state_)) {
            self->owned_ = true; // never ran, never will
            self->state_->inbox_.reset();
            self->loop_->external_end();
        } else {
            self->state_->awaiter_ = nullptr; // the completion frees the state
            self->state_ = nullptr;
        }
        self->cancelled_ = true;
        self->wake();
        return true;
    }

    offload_state<R>* state_;
    thread_pool* pool_;
    bool owned_ = true; // false while a worker or the inbox holds the state
};

template <class F, class... Args> auto bind_call(F&& f, Args&&... args) {
    return
        [fn = std::forward<F>(f), ... as = std::forward<Args>(args)]() mutable -> decltype(auto) {
            return std::invoke(std::move(fn), std::move(as)...);
        };
}

template <class Fn> auto make_offload(Fn&& fn, thread_pool& pool, bool carry_context) {
    using fn_t = std::decay_t<Fn>;
    using result_t = std::invoke_result_t<fn_t&&>;
    using impl_t = offload_impl<result_t, fn_t>;
    void* mem = frame_alloc(sizeof(impl_t));
    impl_t* state = nullptr;
    try {
        state = ::new (mem) impl_t(fn_t(std::forward<Fn>(fn)));
        state->carry_context_ = carry_context;
    } catch (...) {
        frame_free(mem, sizeof(impl_t));
        throw;
    }
    return offload_awaiter<result_t>(state, pool);
}

} // namespace detail

/// Runs `fn(args...)` on `pool` and awaits its result (asyncio's
/// `loop.run_in_executor(executor, fn, *args)`): the value, or the exception `fn` threw,
/// rethrown here. `fn` and `args` are decay-copied (moved) into the call, as std::thread does:
/// pass std::ref for references. Cancelling the awaiting task withdraws a call that has not
/// started; a call that has started runs to its end in the background and its result is
/// dropped. `pool` must outlive the call. Runs nothing until awaited. Throws std::bad_alloc;
/// when awaited, std::system_error if no pool thread can be started.
template <class F, class... Args>
[[nodiscard]] auto run_in_executor(thread_pool& pool, F&& fn, Args&&... args) {
    return detail::make_offload(detail::bind_call(std::forward<F>(fn), std::forward<Args>(args)...),
                                pool, false);
}

/// Runs `fn(args...)` on the running loop's thread pool (asyncio.to_thread) and awaits its
/// result, as run_in_executor does. The pool holds at most min(32, cores + 4) threads; calls
/// beyond that wait in FIFO order. The call sees the context variables as the awaiting task
/// had them when it awaited (asyncio.to_thread runs the function in a copy of the context);
/// what it sets stays in that copy. When the loop shuts down it waits for calls still running.
/// Throws eddy::loop_error outside a running loop, std::bad_alloc.
template <class F, class... Args> [[nodiscard]] auto to_thread(F&& fn, Args&&... args) {
    return detail::make_offload(detail::bind_call(std::forward<F>(fn), std::forward<Args>(args)...),
                                get_running_loop().default_pool(), true);
}

} // namespace eddy
