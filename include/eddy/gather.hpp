// eddy — gather: run awaitables concurrently, collect their results in argument order.
#pragma once

#include "eddy/create_task.hpp"
#include "eddy/detail/as_handle.hpp"
#include "eddy/future.hpp"
#include "eddy/loop.hpp"

#include <array>
#include <cstddef>
#include <exception>
#include <functional>
#include <ranges>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace eddy {

/// Tag selecting gather's asyncio `return_exceptions=True` form.
struct return_exceptions_t {
    explicit return_exceptions_t() = default;
};
/// Pass first to gather (`gather(eddy::return_exceptions, a, b)`) to get outcomes, not a throw.
inline constexpr return_exceptions_t return_exceptions{};

/// What one awaitable of a `gather(return_exceptions, ...)` produced: its value or its exception.
/// Void results hold std::monostate; references a std::reference_wrapper.
template <class T> class outcome {
  public:
    /// The type of the value it may hold.
    using value_type = T;
    /// An outcome holding a value.
    explicit outcome(T v) : v_(std::in_place_index<0>, std::move(v)) {}
    /// An outcome holding an exception.
    explicit outcome(std::exception_ptr e) : v_(std::in_place_index<1>, std::move(e)) {}

    /// True when it holds a value.
    [[nodiscard]] bool has_value() const noexcept { return v_.index() == 0; }
    /// has_value().
    explicit operator bool() const noexcept { return has_value(); }
    /// The value; rethrows the exception when there is none.
    T& value() & {
        if (!has_value()) {
            std::rethrow_exception(std::get<1>(v_));
        }
        return std::get<0>(v_);
    }
    /// As above, read-only (an outcome reached through a const reference).
    [[nodiscard]] const T& value() const& {
        if (!has_value()) {
            std::rethrow_exception(std::get<1>(v_));
        }
        return std::get<0>(v_);
    }
    /// The value, moved out; rethrows the exception when there is none.
    T&& value() && { return std::move(value()); }
    /// The exception, or null when there is a value.
    [[nodiscard]] std::exception_ptr exception() const noexcept {
        return has_value() ? nullptr : std::get<1>(v_);
    }

  private:
    std::variant<T, std::exception_ptr> v_;
};

namespace detail {

/// How a gathered T is stored in the result: void as std::monostate, T& as reference_wrapper.
template <class T>
using gathered_t =
    std::conditional_t<std::is_void_v<T>, std::monostate,
                       std::conditional_t<std::is_reference_v<T>,
                                          std::reference_wrapper<std::remove_reference_t<T>>, T>>;

/// One gathered child: its shared state and the waiter gather parks on it.
struct gather_child : waiter {
    future_base* state = nullptr;
    struct gather_core* core = nullptr;
};

/// The untyped part of gather: counting completions, first failure, cancellation.
struct gather_core : suspension {
    gather_child* children_ = nullptr;
    std::size_t count_ = 0;
    std::size_t pending_ = 0;
    bool settle_all_ = false; // return_exceptions: wait for every child
    bool woken_ = false;
    bool cancelling_ = false;
    bool failed_ = false;
    bool moved_from_ = false;
    bool taken_ = false; // an await_resume took the results (moved them out)

    gather_core() = default;
    gather_core(const gather_core&) = delete;
    gather_core& operator=(const gather_core&) = delete;
    /// Stops listening to the children; after a propagated failure, their other failures count
    /// as retrieved (asyncio's gather marks them so).
    ~gather_core() {
        detach();
        if (failed_) {
            for (std::size_t i = 0; i < count_; ++i) {
                children_[i].state->mark_retrieved();
            }
        }
    }

    /// The move of the gather owning this core into the one owning `to` (already bound to the
    /// moved children): terminates if this one is being awaited (its children's waiters point
    /// at it), else leaves it empty, awaiting it then throws. A moved-from gather moved again
    /// gives another moved-from one.
    void move_to(gather_core& to) noexcept {
        if (loop_ != nullptr) [[unlikely]] {
            std::terminate();
        }
        to.taken_ = taken_; // a gather awaited without suspending can be moved, then awaited
        if (moved_from_) {
            to.bind(nullptr, 0, settle_all_); // its handles are empty: nothing to listen to
            to.moved_from_ = true;
        }
        bind(nullptr, 0, settle_all_);
        moved_from_ = true;
    }

    void bind(gather_child* c, std::size_t n, bool settle_all) noexcept {
        children_ = c;
        count_ = n;
        settle_all_ = settle_all;
        for (std::size_t i = 0; i < n; ++i) {
            c[i].core = this;
        }
    }

    [[nodiscard]] bool ready() const noexcept {
        for (std::size_t i = 0; i < count_; ++i) {
            const future_base* s = children_[i].state;
            if (!s->done()) {
                return false;
            }
        }
        return true;
    }
    [[nodiscard]] bool early_failure() const noexcept {
        if (settle_all_) {
            return false;
        }
        for (std::size_t i = 0; i < count_; ++i) {
            if (children_[i].state->failed()) {
                return true;
            }
        }
        return false;
    }

    bool suspend(std::coroutine_handle<> h) {
        arm(h, &on_cancel);
        pending_ = 0;
        for (std::size_t i = 0; i < count_; ++i) {
            gather_child& c = children_[i];
            if (!c.state->done()) {
                c.wake_ = &on_child;
                c.state->add_waiter(c, task_);
                ++pending_;
            }
        }
        deliver_pending_cancel();
        return true;
    }

    /// Common start of await_resume: stop listening; after a cancellation, propagate a child's
    /// real failure if one happened (asyncio does, without return_exceptions), else
    /// cancelled_error. A second await, once the first took the values, throws.
    void resume_checks() {
        if (moved_from_) [[unlikely]] {
            throw invalid_state_error("eddy::gather awaited after it was moved from");
        }
        if (taken_) [[unlikely]] {
            // The first await moved the values out: a second would yield moved-from ones.
            throw invalid_state_error("eddy::gather awaited again after its results were taken "
                                      "(keep the first co_await's result)");
        }
        detach();
        finish_wait();
        if (cancelling_) {
            failed_ = true; // every child's outcome is accounted for now
            for (std::size_t i = 0; i < count_ && !settle_all_; ++i) {
                future_base* s = children_[i].state;
                if (s->failed() && !s->cancelled()) {
                    s->rethrow_if_failed();
                }
            }
            absorb_pending_cancel();
            throw cancelled_error(task_ != nullptr ? task_->cancel_message() : std::string());
        }
    }

    void detach() noexcept {
        for (std::size_t i = 0; i < count_; ++i) {
            children_[i].unlink();
        }
    }

    /// Rethrows the first failure in completion order (argument order among children that had
    /// already failed before the await). The siblings' later failures count as retrieved.
    void rethrow_first_failure() {
        std::size_t pick = first_;
        for (std::size_t i = 0; pick >= count_ && i < count_; ++i) {
            if (children_[i].state->failed()) {
                pick = i;
            }
        }
        if (pick < count_) {
            failed_ = true;
            children_[pick].state->rethrow_if_failed();
        }
    }

    std::size_t first_ = static_cast<std::size_t>(-1);

  private:
    static void on_child(waiter* w) noexcept {
        auto* c = static_cast<gather_child*>(w);
        gather_core* self = c->core;
        --self->pending_;
        if (self->woken_) {
            return;
        }
        const bool fail = c->state->failed() && !self->settle_all_ && !self->cancelling_;
        if (fail) {
            self->first_ = static_cast<std::size_t>(c - self->children_);
        }
        if (self->pending_ == 0 || fail) {
            self->woken_ = true;
            self->wake();
        }
    }
    static bool on_cancel(cancel_hook* h, bool abandon) noexcept {
        auto* self = static_cast<gather_core*>(h);
        self->cancelling_ = true;
        if (abandon) {
            self->detach();
            self->woken_ = true;
            self->cancelled_ = true;
            self->wake();
            return true;
        }
        // Cancelling gather cancels every child still running; gather resumes with
        // cancelled_error once they have all finished.
        for (std::size_t i = 0; i < self->count_; ++i) {
            try {
                self->children_[i].state->cancel(self->task_->cancel_message());
            } catch (...) { // NOLINT(bugprone-empty-catch): message copy failed; cancel anyway
                self->children_[i].state->cancel({});
            }
        }
        return true;
    }
};

/// Takes the value out of a child's state: moved when gather holds the only reference.
template <class T, class H> gathered_t<T> take_value(H& h) {
    if constexpr (std::is_void_v<T>) {
        return {};
    } else if constexpr (std::is_reference_v<T>) {
        return std::ref(h.state()->slot().get());
    } else if constexpr (std::is_copy_constructible_v<T>) {
        if (h.state()->refs() == 1) {
            return std::move(h.state()->slot().get());
        }
        return h.state()->slot().get();
    } else {
        return std::move(h.state()->slot().get()); // move-only: taken (see state_awaiter)
    }
}

template <class T, class H> outcome<gathered_t<T>> take_outcome(H& h) {
    future_base* s = h.state();
    if (s->failed()) { // a cancelled child holds its cancelled_error
        return outcome<gathered_t<T>>(s->stored_exception());
    }
    return outcome<gathered_t<T>>(take_value<T>(h));
}

/// gather over a fixed list of awaitables: a tuple result.
template <bool Settle, class... H> class [[nodiscard]] gather_tuple {
  public:
    /// eddy internal: its children run before it is awaited (detail::started_work).
    static constexpr bool started_work = true;
    using result_type =
        std::conditional_t<Settle, std::tuple<outcome<gathered_t<typename H::value_type>>...>,
                           std::tuple<gathered_t<typename H::value_type>...>>;

    /// Takes the handles as a tuple: the caller builds it with a braced list, the only form
    /// whose elements are evaluated (and so tasks created) left to right.
    explicit gather_tuple(std::tuple<H...>&& hs) : handles_(std::move(hs)) { bind(); }
    /// Moves a gather that has not been awaited yet, so that it can be handed to wait_for,
    /// timeout, create_task or an outer gather. Once awaited, the children's waiters point into
    /// this object: moving it then is a bug in the awaiting code and terminates.
    gather_tuple(gather_tuple&& other) noexcept : handles_(std::move(other.handles_)) {
        static_assert(std::is_nothrow_move_constructible_v<std::tuple<H...>>);
        bind();
        other.core_.move_to(core_);
    }
    gather_tuple(const gather_tuple&) = delete;
    gather_tuple& operator=(const gather_tuple&) = delete;
    ~gather_tuple() = default; // core_ (declared last) detaches first

    [[nodiscard]] bool await_ready() const noexcept {
        return core_.ready() || core_.early_failure();
    }
    bool await_suspend(std::coroutine_handle<> h) { return core_.suspend(h); }
    result_type await_resume() {
        core_.resume_checks();
        if constexpr (Settle) {
            core_.taken_ = true;
            return std::apply(
                [](auto&... h) { return result_type(take_outcome<typename H::value_type>(h)...); },
                handles_);
        } else {
            core_.rethrow_first_failure();
            core_.taken_ = true;
            return std::apply(
                [](auto&... h) { return result_type(take_value<typename H::value_type>(h)...); },
                handles_);
        }
    }

  private:
    void bind() noexcept {
        std::size_t i = 0;
        try {
            std::apply([&](auto&... h) { ((children_[i++].state = h.state()), ...); }, handles_);
        } catch (...) {
            // A future's state() throws when it is empty; as_handle::make refused empty ones.
            std::terminate();
        }
        core_.bind(children_.data(), sizeof...(H), Settle);
    }

    std::tuple<H...> handles_;
    std::array<gather_child, sizeof...(H)> children_{};
    gather_core core_;
};

/// gather over a range: a vector result.
template <bool Settle, class H> class [[nodiscard]] gather_range {
  public:
    /// eddy internal: its children run before it is awaited (detail::started_work).
    static constexpr bool started_work = true;
    using value_type = typename H::value_type;
    using element =
        std::conditional_t<Settle, outcome<gathered_t<value_type>>, gathered_t<value_type>>;

    explicit gather_range(std::vector<H> hs) : handles_(std::move(hs)), children_(handles_.size()) {
        for (std::size_t i = 0; i < handles_.size(); ++i) {
            children_[i].state = handles_[i].state();
        }
        core_.bind(children_.data(), children_.size(), Settle);
    }
    /// Moves a gather that has not been awaited yet (see gather_tuple's move).
    gather_range(gather_range&& other) noexcept
        : handles_(std::move(other.handles_)), children_(std::move(other.children_)) {
        core_.bind(children_.data(), children_.size(), Settle);
        other.core_.move_to(core_);
    }
    gather_range(const gather_range&) = delete;
    gather_range& operator=(const gather_range&) = delete;
    ~gather_range() = default; // core_ (declared last) detaches first

    [[nodiscard]] bool await_ready() const noexcept {
        return core_.ready() || core_.early_failure();
    }
    bool await_suspend(std::coroutine_handle<> h) { return core_.suspend(h); }
    std::vector<element> await_resume() {
        core_.resume_checks();
        if constexpr (!Settle) {
            core_.rethrow_first_failure();
        }
        core_.taken_ = true;
        std::vector<element> out;
        out.reserve(handles_.size());
        for (H& h : handles_) {
            if constexpr (Settle) {
                out.push_back(take_outcome<value_type>(h));
            } else {
                out.push_back(take_value<value_type>(h));
            }
        }
        return out;
    }

  private:
    std::vector<H> handles_;
    std::vector<gather_child> children_;
    gather_core core_;
};

} // namespace detail

/// Runs every awaitable concurrently (asyncio.gather) and yields a tuple of their results in
/// argument order (void results as std::monostate, references as std::reference_wrapper).
/// Accepts task<T> rvalues (scheduled at once with create_task, as asyncio wraps coroutines in
/// tasks), task_handle<T> and future<T> (lvalues are shared, not moved from), and any other
/// awaitable as an rvalue (`ev.wait()`, `q.get()`, `sleep(1s)`), run in a task of its own
/// (see create_task(A&&): the primitive it waits on must outlive that task, which goes on
/// running if gather throws first).
/// Throws: the first failure as soon as it happens, while the other children keep running;
/// eddy::cancelled_error if the awaiting task is cancelled, after cancelling every child and
/// waiting for them to finish. Needs a running loop (eddy::loop_error otherwise). The values
/// are moved out by the await that yields them: a gather kept as an lvalue and awaited again
/// throws eddy::invalid_state_error (keep the first result).
template <class... A>
requires(sizeof...(A) > 0 && (detail::gatherable<A> && ...)) [[nodiscard]] auto gather(A&&... aws) {
    return detail::gather_tuple<false, detail::handle_of<A>...>(std::tuple<detail::handle_of<A>...>{
        detail::as_handle<std::remove_cvref_t<A>>::make(std::forward<A>(aws))...});
}

/// gather(return_exceptions, ...): waits for every child and yields a tuple of outcome<T>,
/// each holding that child's value or exception (asyncio's return_exceptions=True). Cancelled
/// from outside, it throws cancelled_error once the children have finished, whatever they
/// ended with (asyncio's too).
template <class... A>
requires(sizeof...(A) > 0 && (detail::gatherable<A> && ...))
    [[nodiscard]] auto gather(return_exceptions_t, A&&... aws) {
    return detail::gather_tuple<true, detail::handle_of<A>...>(std::tuple<detail::handle_of<A>...>{
        detail::as_handle<std::remove_cvref_t<A>>::make(std::forward<A>(aws))...});
}

/// gather over a range of task<T>, task_handle<T> or future<T> (an rvalue range is moved from,
/// an lvalue range of handles is shared): a std::vector of
/// results in the range's order. Same contract as the variadic form.
template <std::ranges::input_range R>
requires detail::gatherable<std::ranges::range_value_t<R>>
[[nodiscard]] auto gather(R&& range) {
    using A = std::ranges::range_value_t<R>;
    return detail::gather_range<false, detail::handle_of<A>>(
        detail::handles_of(std::forward<R>(range)));
}

/// gather(return_exceptions, range): a std::vector of outcome<T>.
template <std::ranges::input_range R>
requires detail::gatherable<std::ranges::range_value_t<R>>
[[nodiscard]] auto gather(return_exceptions_t, R&& range) {
    using A = std::ranges::range_value_t<R>;
    return detail::gather_range<true, detail::handle_of<A>>(
        detail::handles_of(std::forward<R>(range)));
}

} // namespace eddy
