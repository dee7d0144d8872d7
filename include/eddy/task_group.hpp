// eddy — task_group: structured concurrency; no child outlives the group (asyncio.TaskGroup).
#pragma once

#include "eddy/create_task.hpp"
#include "eddy/detail/body.hpp"
#include "eddy/detail/frame_allocator.hpp"
#include "eddy/detail/future_base.hpp"
#include "eddy/detail/list.hpp"
#include "eddy/errors.hpp"
#include "eddy/loop.hpp"
#include "eddy/task.hpp"

#include <algorithm>
#include <concepts>
#include <coroutine>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace eddy {

class task_group;

namespace detail {
struct group_access;

/// A child of a group: the waiter the group parks on the child's state, and the group's link.
struct group_child : waiter, pooled {
    struct link : list_node {
        group_child* owner = nullptr;
    };
    link link_;
    task_base* task_ = nullptr;
    task_group* group_ = nullptr;
};
} // namespace detail

/// A set of tasks that run concurrently and are all finished before the group's scope is left
/// (asyncio.TaskGroup). A group exists only inside `eddy::with_task_group`, which owns it and
/// always joins it, so a running child can never be leaked past its scope:
///
///     co_await eddy::with_task_group([&](eddy::task_group& tg) -> eddy::task<> {
///         tg.create_task(fetch(1));
///         tg.create_task(fetch(2));
///         co_return;
///     }); // both fetches have finished here
///
/// The first child to fail cancels its siblings and the body; the scope then throws an
/// eddy::exception_group with every failure (cancellations left out).
class task_group {
  public:
    task_group(const task_group&) = delete;
    task_group& operator=(const task_group&) = delete;
    task_group(task_group&&) = delete;
    task_group& operator=(task_group&&) = delete;
    ~task_group() {
        // Unreachable through with_task_group, which joins every child first. If a frame was
        // destroyed mid-join anyway, the children must not keep pointing at this group.
        while (detail::list_node* n = children_.pop_front()) {
            detail::group_child* c = static_cast<detail::group_child::link*>(n)->owner;
            std::fprintf(stderr, "eddy: task_group destroyed before its child finished\n");
            delete c;
        }
    }

    /// Schedules `t` as a child of the group (asyncio's TaskGroup.create_task) and returns its
    /// handle. The child is cancelled if another child fails or the group's scope is
    /// cancelled. `opts` as for eddy::create_task: an eager child that fails before it first
    /// suspends aborts the group before this returns. Throws eddy::invalid_state_error once
    /// the group is shutting down (a child failed) or finished (its body has ended and no
    /// child is left, even before the scope has resumed); `t` is then destroyed without
    /// running.
    template <class T>
    task_handle<T> create_task(task<T> t, task_options opts = {},
                               code_location where = code_location::current()) {
        // Finished once the body has ended and no child is left (asyncio: "exiting and no
        // tasks"), even before the scope resumes: a done-callback of the last child runs then.
        const bool finished = closed_ || (body_ended_ && pending_ == 0);
        if (finished || aborting_) {
            throw invalid_state_error(finished ? "eddy::task_group: the group is finished"
                                               : "eddy::task_group: the group is shutting down");
        }
        auto* child = new detail::group_child; // before the task: no untracked child on bad_alloc
        task_handle<T> h;
        try {
            h = eddy::create_task(std::move(t), opts, where);
        } catch (...) {
            delete child;
            throw;
        }
        child->link_.owner = child;
        child->task_ = h.state();
        child->group_ = this;
        child->wake_ = &on_child_done;
        children_.push_back(child->link_);
        ++pending_;
        if (h.done()) {
            // Finished in its eager first step: nothing will wake the child's waiter, so its
            // end is taken now (asyncio's TaskGroup.create_task does the same).
            child_done(child, false);
        } else {
            h.state()->add_waiter(*child, parent_);
            if (aborting_) {
                // The group began aborting during the child's eager step (a child it made
                // failed at once): abort() ran before this child was listed and missed it.
                try {
                    (void)h.state()->cancel({});
                } catch (...) { // NOLINT(bugprone-empty-catch): an empty message is never copied
                }
            }
        }
        return h;
    }
    /// As above, named `name`, started as the loop's default says.
    template <class T, detail::task_name N>
    task_handle<T> create_task(task<T> t, const N& name,
                               code_location where = code_location::current()) {
        return create_task(std::move(t), task_options{.name = name}, where);
    }

    /// Schedules a callable returning task<T> (a capturing lambda), kept alive in the child's
    /// frame while it runs. Same contract as above.
    template <detail::task_factory F>
    auto create_task(F f, task_options opts = {}, code_location where = code_location::current()) {
        return create_task(detail::invoke_owned(std::move(f)), opts, where);
    }
    /// As above, named `name`.
    template <detail::task_factory F, detail::task_name N>
    auto create_task(F f, const N& name, code_location where = code_location::current()) {
        return create_task(detail::invoke_owned(std::move(f)), task_options{.name = name}, where);
    }

    /// Schedules a child that awaits `a`, a plain awaitable rvalue (`q.get()`, `ev.wait()`),
    /// moved into the child's frame, as eddy::create_task(A&&) does. Same contract as above.
    template <detail::awaitable_rvalue A>
    auto create_task(A&& a, task_options opts = {},
                     code_location where = code_location::current()) {
        return create_task(detail::await_in_task<std::remove_cvref_t<A>>(std::forward<A>(a)), opts,
                           where);
    }

    /// As above, named `name`.
    template <detail::awaitable_rvalue A, detail::task_name N>
    auto create_task(A&& a, const N& name, code_location where = code_location::current()) {
        return create_task(std::forward<A>(a), task_options{.name = name}, where);
    }

    /// Children not finished yet.
    [[nodiscard]] std::size_t size() const noexcept { return pending_ - ending_; }

  private:
    friend struct detail::group_access;

    explicit task_group(detail::task_base* parent) noexcept : parent_(parent) {}

    /// Cancels every child still running (asyncio's _abort).
    void abort() noexcept {
        aborting_ = true;
        for (detail::list_node* n = children_.front(); n != nullptr && n != children_.end();) {
            detail::list_node* next = n->next_;
            try {
                (void)static_cast<detail::group_child::link*>(n)->owner->task_->cancel({});
            } catch (...) { // NOLINT(bugprone-empty-catch): an empty message is never copied
            }
            n = next;
        }
    }

    static void on_child_done(detail::waiter* w) noexcept {
        child_done(static_cast<detail::group_child*>(w), true);
    }

    // A child's end. A failure is recorded at once (the child's state may go with its last
    // reference); with `defer`, the rest (cancelling the siblings and the body after a failure,
    // waking the scope after the last child) waits for a step of its own, queued behind the
    // work already ready, as asyncio's _on_task_done is a done-callback run with call_soon:
    // - a sibling scheduled before a failure still runs its first step, and a sibling failing
    //   in that step is reported too;
    // - done-callbacks the program added to the child run before the scope resumes (and
    //   destroys the group), and see the group finished.
    // The child stays counted in pending_ until then, so the group outlives the step.
    static void child_done(detail::group_child* c, bool defer) noexcept {
        task_group* g = c->group_;
        detail::task_base* t = c->task_;
        c->link_.unlink();
        delete c;
        const bool failed = t->failed() && !t->cancelled();
        if (failed) {
            try {
                g->errors_.push_back(t->stored_exception());
            } catch (...) {
                std::terminate(); // out of memory recording a failure: it must not vanish
            }
        }
        if (defer) {
            try {
                get_running_loop().post_step(failed ? &failure_step : &end_step, g, nullptr);
                ++g->ending_;
                return;
            } catch (...) { // NOLINT(bugprone-empty-catch): no room to queue, end it now
            }
        }
        if (failed) {
            react_to_failure(g);
        }
        end_child(g);
    }

    static void failure_step(void* arg) noexcept {
        auto* g = static_cast<task_group*>(arg);
        --g->ending_;
        react_to_failure(g);
        end_child(g);
    }
    static void end_step(void* arg) noexcept {
        auto* g = static_cast<task_group*>(arg);
        --g->ending_;
        end_child(g);
    }

    static void react_to_failure(task_group* g) noexcept {
        if (g->aborting_ || g->parent_cancel_requested_) {
            return;
        }
        // Stop the body at its current await too; the scope withdraws this request when it
        // ends, so the parent goes on after the group (asyncio does the same).
        g->abort();
        g->parent_cancel_requested_ = true;
        try {
            (void)g->parent_->cancel({});
        } catch (...) { // NOLINT(bugprone-empty-catch): an empty message is never copied
        }
    }

    static void end_child(task_group* g) noexcept {
        --g->pending_;
        if (g->pending_ == 0 && g->joiner_ != nullptr) {
            std::exchange(g->joiner_, nullptr)->wake();
        }
    }

    detail::intrusive_list children_;
    std::vector<std::exception_ptr> errors_;
    detail::task_base* parent_;
    detail::suspension* joiner_ = nullptr;
    std::exception_ptr cancellation_; // the cancelled_error that left the body, if any
    std::exception_ptr body_error_;
    std::size_t pending_ = 0; // children not finished, or whose end step has not run
    std::size_t ending_ = 0;  // finished children whose end step has not run
    bool aborting_ = false;
    bool closed_ = false;
    bool body_ended_ = false;
    bool parent_cancel_requested_ = false;
    bool cancel_seen_ = false;
};

namespace detail {

/// Waits until every child of a group has finished. A cancellation of the waiting task cancels
/// the children and keeps waiting: the group never ends with a child still running.
struct [[nodiscard]] group_join : suspension {
    task_group& g_;
    explicit group_join(task_group& g) noexcept : g_(g) {}
    [[nodiscard]] bool await_ready() const noexcept;
    bool await_suspend(std::coroutine_handle<> h);
    void await_resume() { finish_wait(); }
    static bool on_cancel(cancel_hook* h, bool abandon) noexcept;
};

struct group_access {
    static task_group make() {
        task_base* parent = get_running_loop().current_task();
        if (parent == nullptr) {
            throw loop_error("eddy::with_task_group: not inside a task");
        }
        return task_group(parent);
    }
    static bool ready(const task_group& g) noexcept { return g.pending_ == 0; }
    static void set_joiner(task_group& g, suspension* s) noexcept { g.joiner_ = s; }
    static void cancelled_at_join(task_group& g) noexcept {
        if (!g.cancel_seen_) {
            g.cancel_seen_ = true;
            g.cancellation_ = nullptr; // rebuilt from the task's cancel message at the end
        }
        if (!g.aborting_) {
            g.abort();
        }
    }
    /// The body ended (`cancelled`: with cancelled_error `e`; else a failure `e`, or none).
    static void body_ended(task_group& g, bool cancelled, std::exception_ptr e) noexcept {
        g.body_ended_ = true;
        if (cancelled) {
            g.cancel_seen_ = true;
            g.cancellation_ = std::move(e);
            e = nullptr;
        }
        if ((cancelled || e) && !g.aborting_) {
            g.abort();
        }
        g.body_error_ = std::move(e);
    }
    /// After the join: what leaves the scope (asyncio's TaskGroup.__aexit__ tail).
    static void finish(task_group& g) {
        g.closed_ = true;
        bool propagate = g.cancel_seen_;
        if (g.parent_cancel_requested_ && g.parent_->uncancel() == 0) {
            propagate = false; // the only request was the group's own
        }
        // The body may rethrow a child's failure it awaited: list that exception once.
        if (g.body_error_ &&
            std::find(g.errors_.begin(), g.errors_.end(), g.body_error_) == g.errors_.end()) {
            g.errors_.push_back(std::move(g.body_error_));
        }
        if (!g.errors_.empty()) {
            throw exception_group("eddy: unhandled errors in a task_group", std::move(g.errors_));
        }
        if (propagate) {
            if (g.cancellation_) {
                std::rethrow_exception(g.cancellation_);
            }
            throw cancelled_error(g.parent_->cancel_message());
        }
    }
};

inline bool group_join::await_ready() const noexcept {
    return group_access::ready(g_);
}
inline bool group_join::await_suspend(std::coroutine_handle<> h) {
    arm(h, &on_cancel);
    group_access::set_joiner(g_, this);
    deliver_pending_cancel();
    return true;
}
inline bool group_join::on_cancel(cancel_hook* h, bool abandon) noexcept {
    (void)abandon; // children cannot be abandoned: the group waits for them whatever happens
    group_access::cancelled_at_join(static_cast<group_join*>(h)->g_);
    return true;
}

} // namespace detail

/// Runs `body(group)` in the current task with a new task_group, then waits for every child
/// the group created (asyncio's `async with TaskGroup() as group:`), and yields what the body
/// returned.
///
/// - The first child to fail (other than by cancellation) cancels its siblings and the body,
///   which gets cancelled_error at its current await; when the body fails, the children are
///   cancelled. A child's failure takes effect in a step queued behind the work already ready
///   (asyncio runs TaskGroup's done-callback with call_soon): siblings scheduled before it take
///   their first step, and their failures in it are reported too.
/// - Cancelling the task that runs the scope cancels the body and every child; the scope waits
///   for all of them to finish, then throws cancelled_error.
/// - Throws eddy::exception_group holding every failure, children's first (in the order they
///   happened), then the body's; cancellations are left out. Failures take priority over a
///   cancellation. eddy::loop_error outside a task.
///
/// `body` is a callable taking task_group& and returning task<R>; it is kept in this scope's
/// frame while it runs. The group reference must not be used after the scope ended.
template <class F, class R = typename std::invoke_result_t<F&, task_group&>::value_type>
requires std::invocable<F&, task_group&> &&
    detail::is_task_type<std::invoke_result_t<F&, task_group&>>::value [[nodiscard]] task<R>
    with_task_group(F body) {
    task_group group = detail::group_access::make();
    detail::result_slot<R> result;
    bool cancelled = false;
    std::exception_ptr error;
    try {
        if constexpr (std::is_void_v<R>) {
            co_await body(group);
        } else {
            result.emplace(co_await body(group));
        }
    } catch (const cancelled_error&) {
        cancelled = true;
        error = std::current_exception();
    } catch (...) {
        error = std::current_exception();
    }
    detail::group_access::body_ended(group, cancelled, std::move(error));
    // A loop, as asyncio's __aexit__ has, though one await is enough today: a child can only be
    // added while one is left (create_task refuses once the body has ended and none is).
    while (!detail::group_access::ready(group)) {
        co_await detail::group_join{group};
    }
    detail::group_access::finish(group);
    co_return detail::take_result(result);
}

} // namespace eddy
