// eddy — create_task: schedule a coroutine on the running loop; task_handle: its shared handle.
#pragma once

#include "eddy/code_location.hpp"
#include "eddy/context_var.hpp"
#include "eddy/detail/body.hpp"
#include "eddy/detail/done_callback.hpp"
#include "eddy/detail/frame_allocator.hpp"
#include "eddy/detail/state_awaiter.hpp"
#include "eddy/detail/task_base.hpp"
#include "eddy/errors.hpp"
#include "eddy/loop.hpp"
#include "eddy/task.hpp"

#include <concepts>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace eddy {

template <class T = void> class task_handle;
template <class T> class future;

namespace detail {

/// A scheduled task's shared state (asyncio.Task minus the handle): it owns the task's
/// coroutine, whose final suspension reports here instead of resuming anyone. Pooled; lives
/// until the coroutine has finished and the last handle is gone.
template <class T> class task_state final : public task_base, public pooled {
  public:
    explicit task_state(task<T>&& t) noexcept : coro_(std::move(t)) {
        coro_.handle().promise().set_root(this);
    }

    /// Registers the task with `loop`, then runs its first step now (`eager`, when the loop
    /// allows it) or schedules it.
    void start(event_loop& loop, std::string_view name, bool eager) {
        if (!name.empty()) {
            set_name(std::string(name));
        }
        loop.register_task(*this);
        if (eager && loop.run_eager_step(coro_.handle(), this)) {
            return;
        }
        loop.schedule(coro_.handle(), this); // see task_promise_base::initial_awaiter
    }

    [[nodiscard]] result_slot<T>& slot() noexcept { return coro_.handle().promise().value_; }
    [[nodiscard]] const frame_record& root_frame() const noexcept override {
        return coro_.handle().promise();
    }

    void on_coroutine_done() noexcept override {
        if (!coro_.handle().promise().exception_) [[likely]] {
            event_loop::unregister_task(*this);
            complete(status::finished);
            release(); // the running reference; may destroy this state and the frame
            return;
        }
        finish_failed();
    }

  protected:
    void destroy() noexcept override { delete_bounded(this); }

  private:
    static bool is_cancellation(const std::exception_ptr& e) noexcept {
        try {
            std::rethrow_exception(e); // only on a task's failure, never on its success path
        } catch (const cancelled_error&) {
            return true;
        } catch (...) {
            return false;
        }
    }

    // Out of line: inlined, its rethrow made every task's end save registers.
    [[gnu::noinline]] void finish_failed() noexcept {
        std::exception_ptr& e = coro_.handle().promise().exception_;
        event_loop::unregister_task(*this);
        complete(is_cancellation(e) ? status::cancelled : status::finished, e);
        release(); // the running reference; may destroy this state and the frame
    }

    task<T> coro_; // 96 bytes in all (x86-64): a loop pointer here would cost a pool class
};

/// Keeps a callable (a capturing lambda) alive in the coroutine frame for as long as the
/// coroutine it returns runs: a temporary lambda would die at the first suspension.
template <class F, class R = typename std::invoke_result_t<F&>::value_type>
task<R> invoke_owned(F f) {
    if constexpr (std::is_void_v<R>) {
        co_await f();
    } else {
        co_return co_await f();
    }
}

/// A task, or what shares a result: a task handle, a future (not a plain awaitable).
template <class T> struct is_shared_state : is_task_type<T> {};
template <class T> struct is_shared_state<task_handle<T>> : std::true_type {};
template <class T> struct is_shared_state<future<T>> : std::true_type {};

/// An awaitable that is not itself a task, handle or future (an event's wait, a queue's get, a
/// sleep, a socket's recv) and can be moved into a task's frame before it is awaited.
template <class A>
concept plain_awaitable =
    !is_shared_state<A>::value && !task_factory<A> && awaitable<A> && std::move_constructible<A>;

/// A plain awaitable passed as an rvalue (deduced as `A&&`): create_task moves it into a task's
/// frame, so an lvalue is refused rather than moved from behind the caller's back.
template <class A>
concept awaitable_rvalue =
    !std::is_lvalue_reference_v<A> && plain_awaitable<std::remove_cvref_t<A>>;

/// Awaits `a`, held in this task's frame: how create_task, gather and when_any run a plain
/// awaitable, as asyncio wraps a coroutine in a Task. One pooled frame per call.
template <class A> task<await_result_t<A>> await_in_task(A a) {
    co_return co_await std::move(a);
}

/// What create_task accepts as a task's name. A template parameter rather than a string_view
/// parameter, so that `create_task(t, {})` still means "no options" and is not ambiguous.
template <class N>
concept task_name = std::convertible_to<const N&, std::string_view>;

} // namespace detail

/// How create_task starts a task (asyncio's create_task keyword arguments).
struct task_options {
    /// The task's name (task_handle::name, debug reports); empty for none.
    std::string_view name{};
    /// True: the task's first step runs at once, inside create_task, until the task first
    /// suspends; a task that finishes without suspending is done when create_task returns.
    /// False: it runs on a later turn. Unset: the loop's default (loop_options::eager_tasks).
    /// asyncio's eager_start. Where the loop cannot start a task eagerly (see
    /// event_loop::run_eager_step) it is scheduled as if false.
    std::optional<bool> eager_start{};
};

/// A scheduled task (asyncio.Task): a shared, copyable handle to a coroutine running on a loop.
///
/// Ownership: the loop keeps the task running whether or not handles exist; dropping every
/// handle does not stop it (use cancel()). The task's state (and frame) lives until it has
/// finished and the last handle is gone. A failure nobody retrieved (by awaiting, result() or
/// exception()) is reported on stderr when the state is destroyed.
template <class T> class task_handle {
  public:
    /// The task's result type.
    using value_type = T;

    task_handle() noexcept = default;
    /// Adopts one reference to `p` (eddy internal; use create_task).
    task_handle(detail::adopt_ref_t /*unused*/, detail::task_state<T>* p) noexcept : p_(p) {}
    /// Shares the task with `o`: both handles refer to the same task.
    task_handle(const task_handle& o) noexcept : p_(o.p_) {
        if (p_ != nullptr) {
            p_->add_ref();
        }
    }
    /// Moves the handle; `o` becomes empty.
    task_handle(task_handle&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    task_handle& operator=(task_handle o) noexcept {
        std::swap(p_, o.p_);
        return *this;
    }
    ~task_handle() {
        if (p_ != nullptr) {
            p_->release();
        }
    }

    /// False for a default-constructed or moved-from handle, and after `co_await std::move(h)`.
    /// Every member that reads or awaits the task throws eddy::invalid_state_error on such a
    /// handle; valid(), `==`, std::hash and state() work on any.
    [[nodiscard]] bool valid() const noexcept { return p_ != nullptr; }
    /// valid().
    explicit operator bool() const noexcept { return valid(); }
    /// True once the task has finished: returned, failed or was cancelled. Like every member
    /// below that reads the task, throws eddy::invalid_state_error on an empty handle.
    [[nodiscard]] bool done() const {
        check_valid("done()");
        return p_->done();
    }
    /// True when the task finished by cancellation (cancelled_error left its coroutine).
    [[nodiscard]] bool cancelled() const {
        check_valid("cancelled()");
        return p_->cancelled();
    }
    /// The name given to create_task (empty when none).
    [[nodiscard]] const std::string& name() const {
        check_valid("name()");
        return p_->name();
    }

    /// Requests cancellation; see detail::task_base::cancel. Returns false if already done.
    bool cancel(std::string message = {}) {
        check_valid("cancel()");
        return p_->cancel(std::move(message));
    }
    /// Pending cancellation requests (asyncio's cancelling()).
    [[nodiscard]] int cancelling() const {
        check_valid("cancelling()");
        return p_->cancelling();
    }
    /// Withdraws one cancellation request; returns how many remain (asyncio's uncancel()).
    int uncancel() {
        check_valid("uncancel()");
        return p_->uncancel();
    }

    /// The task's value. Throws eddy::invalid_state_error if it has not finished, the task's
    /// exception if it failed, eddy::cancelled_error if it was cancelled.
    decltype(auto) result() const { // NOLINT(modernize-use-nodiscard): void when T is void
        check_valid("result()");
        if (!p_->done()) {
            throw invalid_state_error("eddy: result() of a task that has not finished");
        }
        p_->rethrow_if_failed();
        if constexpr (!std::is_void_v<T>) {
            return static_cast<T&>(p_->slot().get());
        }
    }
    /// The task's exception (null if it returned a value). Throws eddy::invalid_state_error if
    /// it has not finished, eddy::cancelled_error if it was cancelled.
    [[nodiscard]] std::exception_ptr exception() const {
        check_valid("exception()");
        return p_->exception();
    }

    /// Waits for the task; yields T& (an lvalue handle, const or not: like a shared_ptr, the
    /// handle's constness is not the task's) and rethrows its failure. Cancelling the awaiting
    /// task cancels this one too (asyncio semantics). Throws eddy::invalid_state_error for an
    /// empty handle.
    [[nodiscard]] auto operator co_await() const& {
        check_valid("co_await");
        return detail::state_awaiter<T, false>{p_, &p_->slot()};
    }
    /// As above, yielding T by value, and the handle gives its reference to the await: it is
    /// empty afterwards (valid() is false), as after a move. The value is moved out when no
    /// other handle shares the task, else copied.
    [[nodiscard]] auto operator co_await() && {
        check_valid("co_await");
        detail::task_state<T>* p = std::exchange(p_, nullptr);
        return detail::state_awaiter<T, true>{detail::adopt_ref, p, &p->slot()};
    }

    /// Calls `fn(h)`, `h` a handle to this task, through call_soon on the running loop once the
    /// task is done (at once, through call_soon, if it is done already): asyncio's
    /// Task.add_done_callback. `fn` takes a `task_handle<T>` by value or by (const) reference
    /// and runs in a copy of the context current at this call. Callbacks run in the order they
    /// were added, interleaved with the tasks awaiting this one in the order they began to
    /// wait. `fn` is destroyed once it ran. It runs for a task that eddy::run's shutdown
    /// cancels too (the shutdown turns the loop once more for it); only a callback whose task
    /// never finishes (or whose loop is gone) is destroyed without running. An exception `fn`
    /// throws is reported on stderr, as call_soon's are. Throws eddy::invalid_state_error for an
    /// empty handle, eddy::loop_error with no loop running or open on this thread (between two
    /// runs of an eddy::runner, its loop takes the callback).
    template <class F>
    requires std::is_invocable_v<F&, task_handle&>
    void add_done_callback(F fn) {
        check_valid("add_done_callback()");
        detail::add_done_callback<task_handle>(p_, std::move(fn));
    }

    /// True when both refer to the same task, or both are empty: handles are compared as
    /// asyncio compares tasks, by identity.
    friend bool operator==(const task_handle& a, const task_handle& b) noexcept {
        return a.p_ == b.p_;
    }

    /// The shared state (for gather and other combinators).
    [[nodiscard]] detail::task_state<T>* state() const noexcept { return p_; }

  private:
    void check_valid(const char* what) const {
        if (p_ == nullptr) [[unlikely]] {
            throw_empty(what);
        }
    }
    [[noreturn, gnu::noinline, gnu::cold]] static void throw_empty(const char* what) {
        throw invalid_state_error(std::string("eddy::task_handle: ") + what +
                                  " on an empty handle (default-made, moved from, or awaited "
                                  "as an rvalue)");
    }

    detail::task_state<T>* p_ = nullptr;
};

namespace detail {
[[noreturn, gnu::noinline, gnu::cold]] inline void throw_not_startable() {
    throw invalid_state_error("eddy::create_task: the task is empty or already started");
}

// create_task's body, taking the task by reference: a forwarding overload passing it on by value
// cost a move and a moved-from destructor per call (callgrind, W1: 14 instructions). Always
// inlined into create_task's caller: as a call, its argument passing and register saves cost 24
// instructions per create + await (W1, 538 -> 514); its failure path is out of line.
template <class T>
[[gnu::always_inline]] inline task_handle<T> spawn(task<T>& t, std::string_view name,
                                                   std::optional<bool> eager, code_location where) {
    event_loop& loop = get_running_loop();
    if (!t.valid() || t.handle().promise().claimed() || t.done()) [[unlikely]] {
        throw_not_startable();
    }
    auto* state = new task_state<T>(std::move(t));
    // A created task starts with its creator's context (asyncio copies it; sharing until one
    // of them writes is the same thing, see context_data).
    state->context_ = context_share(context_slot_of(&loop));
    state->add_ref(); // one reference for the running coroutine, one for the handle
    task_handle<T> handle(adopt_ref, state);
    if (loop.debug()) [[unlikely]] {
        state->set_created_at(where);
    }
    state->start(loop, name, eager.value_or(loop.eager_tasks()));
    return handle;
}
} // namespace detail

/// Schedules `t` on the running loop (asyncio.create_task): it starts after the work already
/// ready, once its creator suspends (asyncio: on a later loop turn), even if nobody awaits it;
/// or, eager (`opts.eager_start`, loop_options::eager_tasks), its first step runs inside this
/// call. Returns a handle to await, inspect or cancel it; what the task throws is kept in it,
/// never thrown from here. In debug mode `where` (the caller's line) is kept for reports.
/// Throws eddy::loop_error with no running loop, eddy::invalid_state_error for an empty task.
template <class T>
[[nodiscard]] task_handle<T> create_task(task<T> t, task_options opts = {},
                                         code_location where = code_location::current()) {
    return detail::spawn(t, opts.name, opts.eager_start, where);
}

/// As above, named `name` (anything convertible to std::string_view), started as the loop's
/// default says.
template <class T, detail::task_name N>
[[nodiscard]] task_handle<T> create_task(task<T> t, const N& name,
                                         code_location where = code_location::current()) {
    return detail::spawn(t, name, std::nullopt, where);
}

/// Schedules a callable returning task<R> (typically a capturing lambda), moved into the task's
/// frame so its captures live as long as the task. Prefer this over
/// `create_task(lambda())`, whose temporary lambda (and captures) dies at the end of the statement.
template <detail::task_factory F>
[[nodiscard]] auto create_task(F f, task_options opts = {},
                               code_location where = code_location::current()) {
    return create_task(detail::invoke_owned(std::move(f)), opts, where);
}
/// As above, named `name`.
template <detail::task_factory F, detail::task_name N>
[[nodiscard]] auto create_task(F f, const N& name, code_location where = code_location::current()) {
    return create_task(detail::invoke_owned(std::move(f)), task_options{.name = name}, where);
}

/// Schedules a task that awaits `a`, a plain awaitable taken as an rvalue (`q.get()`,
/// `ev.wait()`, `sleep(1s)`), as asyncio.create_task does with a coroutine; `a` is moved into
/// the task's frame. Same contract as create_task(task<T>): the handle yields what awaiting `a`
/// yields, or its exception. The awaiter keeps its primitive's address (the queue, event,
/// lock...), which must live until the task has finished, as for any task that refers to it:
/// it is first used when the task first runs.
template <detail::awaitable_rvalue A>
[[nodiscard]] auto create_task(A&& a, task_options opts = {},
                               code_location where = code_location::current()) {
    return create_task(detail::await_in_task<std::remove_cvref_t<A>>(std::forward<A>(a)), opts,
                       where);
}
/// As above, named `name`.
template <detail::awaitable_rvalue A, detail::task_name N>
[[nodiscard]] auto create_task(A&& a, const N& name,
                               code_location where = code_location::current()) {
    return create_task(std::forward<A>(a), task_options{.name = name}, where);
}

/// The name of the task running now ("" when it has none or outside a task). Throws
/// eddy::loop_error with no running loop.
[[nodiscard]] inline std::string current_task_name() {
    detail::task_base* t = get_running_loop().current_task();
    return t != nullptr ? t->name() : std::string();
}

} // namespace eddy

/// Hashes a handle by the task it refers to, so that handles can be kept in unordered
/// containers (asyncio's `background_tasks` set): equal handles hash alike.
template <class T> struct std::hash<eddy::task_handle<T>> {
    std::size_t operator()(const eddy::task_handle<T>& h) const noexcept {
        return std::hash<const void*>{}(static_cast<const eddy::detail::task_base*>(h.state()));
    }
};
