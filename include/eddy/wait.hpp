// eddy — wait: waiting on several tasks without gathering them (asyncio.wait).
#pragma once

#include "eddy/create_task.hpp"
#include "eddy/detail/as_handle.hpp"
#include "eddy/detail/future_base.hpp"
#include "eddy/detail/timer_heap.hpp"
#include "eddy/errors.hpp"
#include "eddy/future.hpp"
#include "eddy/introspection.hpp"
#include "eddy/loop.hpp"
#include "eddy/sleep.hpp"

#include <algorithm>
#include <chrono>
#include <concepts>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <ranges>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

namespace eddy {

/// When `eddy::wait` returns (asyncio's FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED).
enum class return_when : std::uint8_t {
    first_completed, ///< as soon as one finishes (or is cancelled)
    first_exception, ///< as soon as one fails (not by cancellation); else when all finish
    all_completed,   ///< when all finish
};

/// What `eddy::wait` yields: the handles that finished and those that did not, each in the
/// order they were given.
template <class H> struct wait_result {
    /// The handles whose task or future finished (cancelled ones included).
    std::vector<H> done;
    /// The handles not finished when the wait returned; wait cancels none of them.
    std::vector<H> pending;
};

namespace detail {

template <class H>
concept wait_handle = requires(const H& h) {
    { h.state() } -> std::convertible_to<future_base*>;
};

/// One waited-on state and the waiter parked on it.
struct wait_child : waiter {
    future_base* state = nullptr;
    struct wait_core* core = nullptr;
};

/// Waits until a return_when condition holds over some states, a deadline passes, or the
/// awaiting task is cancelled (which stops the wait, and cancels nothing: asyncio.wait).
struct wait_core : suspension {
    struct deadline_timer : timer_node {
        wait_core* owner = nullptr;
    };
    static constexpr std::size_t none = static_cast<std::size_t>(-1);

    wait_child* children_ = nullptr;
    std::size_t count_ = 0;
    std::size_t pending_ = 0;
    std::size_t first_ = none; // the first child seen finishing while suspended
    std::optional<std::int64_t> deadline_;
    deadline_timer timer_;
    return_when when_ = return_when::all_completed;
    bool woken_ = false;

    wait_core() = default;
    wait_core(const wait_core&) = delete;
    wait_core& operator=(const wait_core&) = delete;
    ~wait_core() { stop(); }

    void bind(wait_child* c, std::size_t n, return_when w, std::optional<std::int64_t> deadline) {
        children_ = c;
        count_ = n;
        when_ = w;
        deadline_ = deadline;
        for (std::size_t i = 0; i < n; ++i) {
            c[i].core = this;
        }
    }

    [[nodiscard]] static bool decisive(const future_base* s, return_when w) noexcept {
        return w == return_when::first_completed ||
               (w == return_when::first_exception && s->failed() && !s->cancelled());
    }

    [[nodiscard]] bool satisfied() const noexcept {
        bool all = true;
        for (std::size_t i = 0; i < count_; ++i) {
            const future_base* s = children_[i].state;
            if (s->done() && decisive(s, when_)) {
                return true;
            }
            all = all && s->done();
        }
        return all;
    }

    bool suspend(std::coroutine_handle<> h) {
        arm(h, &on_cancel);
        if (!deadline_ && waits_on_itself_forever()) [[unlikely]] {
            disarm();
            throw invalid_state_error("eddy::wait: the waiting task is among the tasks it waits "
                                      "for, and the wait could never end");
        }
        pending_ = 0;
        for (std::size_t i = 0; i < count_; ++i) {
            if (!children_[i].state->done()) {
                children_[i].wake_ = &on_child;
                children_[i].state->add_waiter(children_[i], task_);
                ++pending_;
            }
        }
        if (deadline_) {
            timer_.owner = this;
            timer_.deadline_ = *deadline_;
            timer_.fire_ = &on_timer;
            try {
                loop_->add_timer(timer_);
            } catch (...) {
                stop();
                disarm();
                throw;
            }
        }
        deliver_pending_cancel();
        return true;
    }

    void resume() {
        stop();
        finish_wait();
    }

    /// True when the awaiting task is one of the children and nothing but its own end could
    /// meet the condition (asyncio hangs there, in `wait(all_tasks())`): all_completed, or no
    /// other child left unfinished. Called only where the condition does not hold yet.
    [[nodiscard]] bool waits_on_itself_forever() const noexcept {
        bool itself = false;
        bool others_pending = false;
        for (std::size_t i = 0; i < count_; ++i) {
            const future_base* s = children_[i].state;
            if (task_ != nullptr && s == static_cast<const future_base*>(task_)) {
                itself = true;
            } else if (!s->done()) {
                others_pending = true;
            }
        }
        return itself && (when_ == return_when::all_completed || !others_pending);
    }

    /// Stops listening to the children and disarms the deadline.
    void stop() noexcept {
        for (std::size_t i = 0; i < count_; ++i) {
            children_[i].unlink();
        }
        if (timer_.armed() && !loop_->remove_timer(timer_)) {
            std::terminate(); // out of memory: the timer would point into a dead frame
        }
    }

  private:
    void finish() noexcept {
        woken_ = true;
        wake();
    }
    static void on_child(waiter* w) noexcept {
        auto* c = static_cast<wait_child*>(w);
        wait_core* self = c->core;
        --self->pending_;
        if (self->woken_) {
            return;
        }
        if (self->first_ == none) {
            self->first_ = static_cast<std::size_t>(c - self->children_);
        }
        if (self->pending_ == 0 || decisive(c->state, self->when_)) {
            self->finish();
        }
    }
    static void on_timer(timer_node* t) noexcept {
        wait_core* self = static_cast<deadline_timer*>(t)->owner;
        if (!self->woken_) {
            self->finish();
        }
    }
    static bool on_cancel(cancel_hook* h, bool abandon) noexcept {
        (void)abandon; // the wait stops at once either way
        auto* self = static_cast<wait_core*>(h);
        if (!self->woken_) {
            self->stop();
            self->cancelled_ = true;
            self->finish();
        }
        return true;
    }
};

/// Awaits a return_when condition over some states; yields the index of the first one seen
/// finishing (the lowest-indexed done one if the condition already held). Immovable.
class [[nodiscard]] wait_states {
  public:
    wait_states(std::span<future_base* const> states, return_when w,
                std::optional<std::int64_t> deadline)
        : children_(states.size()) {
        for (std::size_t i = 0; i < states.size(); ++i) {
            children_[i].state = states[i];
        }
        core_.bind(children_.data(), children_.size(), w, deadline);
    }
    wait_states(wait_states&&) = delete;
    wait_states(const wait_states&) = delete;
    wait_states& operator=(const wait_states&) = delete;
    ~wait_states() = default; // core_ (declared last) stops first

    [[nodiscard]] bool await_ready() const noexcept { return core_.satisfied(); }
    bool await_suspend(std::coroutine_handle<> h) { return core_.suspend(h); }
    std::size_t await_resume() {
        core_.resume();
        if (core_.first_ != wait_core::none) {
            return core_.first_;
        }
        for (std::size_t i = 0; i < children_.size(); ++i) {
            if (children_[i].state->done()) {
                return i;
            }
        }
        return wait_core::none; // the deadline passed first
    }

  private:
    std::vector<wait_child> children_;
    wait_core core_;
};

template <class H> std::vector<future_base*> states_of(const std::vector<H>& hs) {
    std::vector<future_base*> out;
    out.reserve(hs.size());
    for (const H& h : hs) {
        out.push_back(h.state());
    }
    return out;
}

/// The awaitable behind eddy::wait: the handles, and the wait over their states.
template <class H> class [[nodiscard]] wait_awaitable {
  public:
    wait_awaitable(std::vector<H> hs, return_when w, std::optional<std::int64_t> deadline)
        : handles_(std::move(hs)), wait_(states_of(handles_), w, deadline) {}

    [[nodiscard]] bool await_ready() const noexcept { return wait_.await_ready(); }
    bool await_suspend(std::coroutine_handle<> h) { return wait_.await_suspend(h); }
    wait_result<H> await_resume() {
        (void)wait_.await_resume();
        wait_result<H> r;
        for (const H& h : handles_) {
            // Shared, not moved: the awaitable stays valid if awaited again.
            (h.state()->done() ? r.done : r.pending).push_back(h);
        }
        return r;
    }

  private:
    std::vector<H> handles_;
    wait_states wait_;
};

/// Drops the handles of a task or future listed earlier in `hs`, keeping the others' order.
/// asyncio.wait and as_completed take a set of tasks; listed twice, a task would count twice
/// toward all_completed and be yielded twice by as_completed.
template <class H> void drop_repeated(std::vector<H>& hs) {
    std::vector<const future_base*> states;
    states.reserve(hs.size());
    for (const H& h : hs) {
        states.push_back(h.state());
    }
    std::ranges::sort(states, std::less<>{});
    if (std::ranges::adjacent_find(states) == states.end()) {
        return; // the usual case: no repeat, and no set built
    }
    std::unordered_set<const future_base*> seen;
    std::erase_if(hs, [&seen](const H& h) { return !seen.insert(h.state()).second; });
}

/// handles_of (detail/as_handle.hpp), or copies of the task_refs, refusing an empty range or an
/// empty handle, each task or future once (in the order it was first listed).
template <class R> auto collect_handles(R&& range) {
    auto hs = [&] {
        if constexpr (std::same_as<std::remove_cvref_t<std::ranges::range_value_t<R>>, task_ref>) {
            // Copied, whatever the range: a copy costs a reference, and a view over the
            // caller's task_refs (std::span) must not empty them.
            std::vector<task_ref> refs;
            if constexpr (std::ranges::sized_range<R>) {
                refs.reserve(std::ranges::size(range));
            }
            for (const task_ref& r : range) {
                if (!r.valid()) {
                    throw invalid_state_error("eddy: an empty task_ref given to wait or "
                                              "as_completed");
                }
                refs.push_back(r);
            }
            return refs;
        } else {
            return handles_of(std::forward<R>(range)); // refuses empty handles and futures
        }
    }();
    if (hs.empty()) {
        throw std::invalid_argument("eddy: waiting on an empty set of tasks");
    }
    drop_repeated(hs);
    return hs;
}

template <class Rep, class Period>
std::int64_t deadline_after(std::chrono::duration<Rep, Period> d) noexcept {
    const std::int64_t now = loop_now_ns();
    const std::int64_t ns = saturated_ns(d);
    return ns > INT64_MAX - now ? INT64_MAX : now + ns;
}

} // namespace detail

/// Waits on task handles, task_refs (`all_tasks()`) or futures (asyncio.wait) until `when`
/// holds, and yields which finished and which did not. Cancels nothing and throws nothing the
/// tasks threw: look at the done ones (await them, result(); a task_ref's exception()). The
/// handles are shared from an lvalue range or a view, moved from an rvalue container; a task
/// listed twice counts once (asyncio takes a set). Throws std::invalid_argument for an empty
/// range, eddy::invalid_state_error for an empty handle and, when awaited, for a wait with no
/// timeout that only the awaiting task's own end could satisfy (it is among the tasks, and
/// all_completed, or nothing else is left unfinished: asyncio would hang); cancelled_error if
/// the awaiting task is cancelled (the waited-on tasks go on).
template <std::ranges::input_range R>
requires detail::wait_handle<std::remove_cvref_t<std::ranges::range_value_t<R>>>
[[nodiscard]] auto wait(R&& handles, return_when when = return_when::all_completed) {
    using H = std::remove_cvref_t<std::ranges::range_value_t<R>>;
    return detail::wait_awaitable<H>(detail::collect_handles(std::forward<R>(handles)), when,
                                     std::nullopt);
}

/// As above, returning after `timeout` at the latest (with the unfinished ones in `pending`;
/// no timeout_error, as asyncio.wait).
template <std::ranges::input_range R, class Rep, class Period>
requires detail::wait_handle<std::remove_cvref_t<std::ranges::range_value_t<R>>>
[[nodiscard]] auto wait(R&& handles, std::chrono::duration<Rep, Period> timeout,
                        return_when when = return_when::all_completed) {
    using H = std::remove_cvref_t<std::ranges::range_value_t<R>>;
    return detail::wait_awaitable<H>(detail::collect_handles(std::forward<R>(handles)), when,
                                     detail::deadline_after(timeout));
}

} // namespace eddy
