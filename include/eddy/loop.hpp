// eddy — the event loop: one per thread, a FIFO ready queue, user-space timers, one reactor.
#pragma once

#include "eddy/detail/backend.hpp"
#include "eddy/detail/callback_node.hpp"
#include "eddy/detail/debug.hpp"
#include "eddy/detail/frame_allocator.hpp"
#include "eddy/detail/inbox.hpp"
#include "eddy/detail/list.hpp"
#include "eddy/detail/reactor.hpp"
#include "eddy/detail/ready_queue.hpp"
#include "eddy/detail/task_base.hpp"
#include "eddy/detail/timer_heap.hpp"
#include "eddy/errors.hpp"
#include "eddy/loop_options.hpp"
#include "eddy/thread_pool.hpp"

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <utility>

namespace eddy {

class event_loop;

namespace detail {
/// The loop running on this thread, set by event_loop while it runs (never a global object).
inline thread_local event_loop* running_loop_ = nullptr;

/// Symmetric transfers since the loop last resumed work. g++ 12 turns symmetric transfer into a
/// real tail call only at -O2 without sanitizers; elsewhere each transfer nests a stack frame,
/// and 1,000,000 synchronous co_awaits overflow the stack. Past this depth the next coroutine
/// is resumed from the ready queue instead, which unwinds the stack. (GCC PR 100897 and the
/// field notes; clang needs no help but pays one queue round trip per 256 transfers.)
inline thread_local unsigned transfer_depth_ = 0;

/// Loops made on this thread so far (each loop's serial number).
inline thread_local std::uint64_t loop_serials_ = 0;
/// Loops alive on this thread, and the newest of them (the others are linked through their
/// older_open_): between two runs of an eddy::runner no loop runs, yet a future completed then
/// (or a done-callback added then) must still reach the loop that will run its callbacks, as
/// asyncio's do.
inline thread_local unsigned open_loops_ = 0;
inline thread_local event_loop* last_open_loop_ = nullptr;
inline constexpr unsigned max_transfer_depth = 256;

std::coroutine_handle<> transfer_to(std::coroutine_handle<> next) noexcept;
} // namespace detail

/// The event loop (asyncio's BaseEventLoop, minus what later headers add). Made by `eddy::run`;
/// usable directly for embedding. Not thread-safe: it belongs to the thread that made it.
class event_loop {
  public:
    /// Makes a loop with its reactor: io_uring, or epoll where io_uring cannot run (see
    /// backend_kind; `backend_reason()` says why). Throws std::system_error when the forced
    /// backend (or, automatic, neither) can start, eddy::loop_error for a bad EDDY_BACKEND.
    /// With EDDY_DEBUG=1 in the environment the choice and its reason go to stderr.
    explicit event_loop(loop_options opts = {})
        : inbox_(std::make_shared<detail::inbox>()), serial_(++detail::loop_serials_) {
        detail::chosen_backend chosen = detail::make_reactor(opts.backend, opts.ring_entries);
        reactor_ = std::move(chosen.io);
        backend_reason_ = std::move(chosen.reason);
        configure_debug(opts);
        eager_tasks_ = opts.eager_tasks;
        if (opts.clock == clock_kind::virtual_time) {
            virtual_ = true;
            virtual_now_ = real_now_ns();
        }
        wake_op_.kind = detail::op_kind::read;
        wake_op_.fd = inbox_->fd();
        wake_op_.buf = &wake_buf_;
        wake_op_.len = sizeof wake_buf_;
        wake_op_.complete = &on_wake;
        wake_op_.owner = this;
        reactor_->submit(wake_op_);
        // Last: a constructor that throws must not leave this loop listed (no destructor runs).
        ++detail::open_loops_;
        older_open_ = std::exchange(detail::last_open_loop_, this);
    }

    event_loop(const event_loop&) = delete;
    event_loop& operator=(const event_loop&) = delete;

    /// Cancels every task still pending, runs them until they finish, and drains every kernel
    /// operation before the ring closes.
    ~event_loop() {
        shutdown();
        if (std::this_thread::get_id() == made_on_) { // the list is the making thread's
            --detail::open_loops_;
            event_loop** link = &detail::last_open_loop_;
            while (*link != nullptr && *link != this) {
                link = &(*link)->older_open_;
            }
            if (*link == this) {
                *link = older_open_;
            }
        }
    }

    /// True in debug mode (loop_options::debug or EDDY_DEBUG=1).
    [[nodiscard]] bool debug() const noexcept { return dbg_.debug; }
    /// The seed ready work is shuffled with (loop_options::shuffle); 0 when not shuffling.
    [[nodiscard]] std::uint64_t shuffle_seed() const noexcept { return dbg_.shuffle_seed; }
    /// Whether create_task starts tasks eagerly by default (loop_options::eager_tasks).
    [[nodiscard]] bool eager_tasks() const noexcept { return eager_tasks_; }
    /// Sets the default start of tasks created from now on (asyncio's loop.set_task_factory
    /// with or without eager_task_factory). Tasks already created are not affected.
    void set_eager_tasks(bool on) noexcept { eager_tasks_ = on; }

    /// The reactor backend this loop runs on: "io_uring" or "epoll".
    [[nodiscard]] const char* backend() const noexcept { return reactor_->name(); }
    /// Why this backend: "io_uring works here", "forced by EDDY_BACKEND=epoll", "io_uring setup
    /// failed: Operation not permitted (EPERM)"...
    [[nodiscard]] const std::string& backend_reason() const noexcept { return backend_reason_; }

    /// Schedules `fn()` to run on this loop's thread on a later turn; callable from any thread
    /// (asyncio's call_soon_threadsafe). Exceptions from `fn` are reported on stderr, as for
    /// call_soon. The callable is moved into one heap node per call. The loop object must
    /// outlive this call; a thread that may outlive the loop holds a `loop_handle` instead.
    /// Throws eddy::loop_error when the loop has shut down, std::bad_alloc.
    template <class F> void call_soon_threadsafe(F&& fn);

    /// The thread pool `to_thread` runs on (asyncio's default executor), made on first use and
    /// joined when the loop shuts down. Loop thread only.
    [[nodiscard]] thread_pool& default_pool() {
        if (!pool_) {
            pool_ = std::make_unique<thread_pool>();
        }
        return *pool_;
    }

    /// The loop's monotonic time (asyncio's loop.time()): eddy::clock's, or the virtual time of
    /// a loop made with clock_kind::virtual_time. Every deadline of the loop is on this time.
    [[nodiscard]] clock::time_point time() const noexcept {
        return clock::time_point(
            std::chrono::duration_cast<clock::duration>(std::chrono::nanoseconds(now_ns())));
    }
    /// Whether this loop keeps virtual time (clock_kind::virtual_time).
    [[nodiscard]] bool virtual_time() const noexcept { return virtual_; }

    /// Cancels every unfinished task, runs the loop until they have all finished, drops
    /// callbacks that never ran and waits for every kernel operation to complete. Called by
    /// `eddy::run` before it returns and by the destructor; idempotent.
    void shutdown() noexcept;

    // ---- Interface for eddy's awaiters and handles (not for applications) ----

    /// Resumes `h` on a later turn, as part of `task` (FIFO).
    void schedule(std::coroutine_handle<> h, detail::task_base* task) {
        check_thread("resuming a coroutine");
        ready_.push(detail::ready_item{nullptr, h.address(), task});
    }
    /// Runs `step(arg)` on a later turn as part of `task` (FIFO with everything else).
    void post_step(void (*step)(void*) noexcept, void* arg, detail::task_base* task) {
        check_thread("scheduling a step");
        ready_.push(detail::ready_item{step, arg, task});
    }
    /// Runs `task`'s first step now, inside the caller's step (create_task's eager start), and
    /// returns when the task first suspends or finishes. Returns false, running nothing, where
    /// a task must start on a later turn instead: once eddy::run's main task has ended or the
    /// loop is shutting down (tasks created then are cancelled before they start), and when
    /// eager starts are nested max_eager_depth deep (each nests a stack frame).
    bool run_eager_step(std::coroutine_handle<> h, detail::task_base* task) noexcept;
    /// Eager starts nested inside eager starts past which a task is scheduled instead.
    static constexpr std::uint32_t max_eager_depth = 64;
    /// Runs the callback on a later turn (FIFO with coroutines). Takes a loop reference.
    void post(detail::callback_node& cb) {
        check_thread("scheduling a callback");
        ready_.push(detail::ready_item{&run_callback, &cb, nullptr});
    }
    /// Arms `cb` to be posted at `deadline_ns` (the loop clock's ns).
    void post_at(detail::callback_node& cb, std::int64_t deadline_ns) {
        check_thread("arming a timer");
        cb.timer_.deadline_ = deadline_ns;
        cb.timer_.fire_ = &fire_callback;
        cb.timer_.owner_ = &cb;
        timers_.push(cb.timer_);
    }
    /// Lists `cb` among the callbacks the loop drops at shutdown if they never ran.
    void track(detail::callback_node& cb) noexcept { callbacks_.push_back(cb); }

    /// Arms `t` at t.deadline_. Throws std::bad_alloc if the timer store must grow and cannot.
    void add_timer(detail::timer_node& t) {
        check_thread("arming a timer");
        timers_.push(t);
    }
    /// Disarms `t`. False (timer left armed, it fires later) only when out of memory.
    bool remove_timer(detail::timer_node& t) noexcept {
        check_thread("disarming a timer");
        return timers_.remove(t);
    }

    [[nodiscard]] detail::reactor& io() noexcept {
        check_thread("starting or cancelling a kernel operation");
        return *reactor_;
    }
    /// Kernel operations started for tasks and not completed yet (eddy's own internal ones,
    /// such as the inbox's eventfd read, are not counted).
    [[nodiscard]] std::uint64_t in_flight() const noexcept {
        return reactor_->in_flight() - internal_in_flight();
    }
    [[nodiscard]] const std::shared_ptr<detail::inbox>& inbox() const noexcept { return inbox_; }

    /// Work started outside the loop (a call on a pool thread) that will come back through the
    /// inbox: while any is outstanding an otherwise idle loop waits instead of stopping, and
    /// shutdown waits for it.
    void external_begin() noexcept { ++external_; }
    void external_end() noexcept { --external_; }
    /// Kernel operations of eddy's own that must not keep an idle loop alive (the inbox's
    /// eventfd read, the signalfd read of run's Ctrl-C handling).
    void internal_ops(int delta) noexcept { internal_ += delta; }

    /// A service living as long as the loop (signal handling): `close(p)` runs at shutdown,
    /// once every task has finished. Only one service slot is needed so far.
    void attach_service(void* p, void (*close)(void*) noexcept) noexcept {
        service_ = p;
        close_service_ = close;
    }
    [[nodiscard]] void* service() const noexcept { return service_; }
    /// Distinguishes this loop from a later one built at the same address on this thread.
    [[nodiscard]] std::uint64_t serial() const noexcept { return serial_; }
    [[nodiscard]] detail::task_base* current_task() const noexcept { return current_; }

    /// Lists `t` among the unfinished tasks that shutdown() cancels.
    void register_task(detail::task_base& t) noexcept { tasks_.push_back(t.loop_link()); }
    /// Called when `t` finishes.
    static void unregister_task(detail::task_base& t) noexcept { t.loop_link().unlink(); }
    /// Calls `fn(detail::task_base*)` for every unfinished task, in creation order.
    template <class F> void for_each_task(F&& fn) const {
        for (detail::list_node* n = tasks_.front(); n != nullptr && n != tasks_.end();
             n = n->next_) {
            fn(detail::task_of(n));
        }
    }

    /// The loop's time (time()) in nanoseconds since eddy::clock's epoch: deadlines are set
    /// and timers fire on it. One predictable branch over reading the real clock.
    [[nodiscard]] std::int64_t now_ns() const noexcept {
        if (virtual_) [[unlikely]] {
            return virtual_now_;
        }
        return real_now_ns();
    }
    /// eddy::clock in nanoseconds, whatever the loop's time (to measure real durations).
    [[nodiscard]] static std::int64_t real_now_ns() noexcept {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch())
            .count();
    }

    /// Under the virtual clock, the most real time an idle loop waits for kernel operations,
    /// thread-pool calls and loop_handle posts before it jumps to the next timer: quick real
    /// I/O wins over a long virtual timeout, and each jump costs at most this while such work
    /// is outstanding (none: no real wait at all).
    static constexpr std::int64_t virtual_grace_ns = 10'000'000;

    /// How many more times shutdown() cancels the tasks that took their cancellation and wait
    /// again for what nothing can complete, before it gives up on them (they are leaked).
    static constexpr int max_shutdown_recancels = 16;

    /// Turns in a row with ready work after which the kernel is polled without waiting.
    static constexpr std::uint32_t poll_interval = 8;
    /// Items that became ready during a turn that the same turn may still run (see turn()).
    static constexpr std::uint32_t max_follow_on = 64;

    /// eddy internal: from now on, every turn runs only what was ready when it started. A
    /// follow-on item skips the turn boundary, where eddy::run sees that its main task has
    /// ended and shutdown() decides which tasks to cancel: from the end of main on (and in
    /// shutdown), a task created then waits for that boundary (none starts eagerly either, see
    /// run_eager_step), so a task main's last step created is cancelled before it starts.
    void stop_follow_on() noexcept {
        follow_on_budget_ = 0;
        follow_on_left_ = 0;
    }
    /// eddy internal: undoes stop_follow_on() when eddy::runner starts its next main task.
    void resume_follow_on() noexcept { follow_on_budget_ = max_follow_on; }
    /// eddy internal: this turn runs no more follow-on items, so that its boundary (expired
    /// timers first) comes before the work that became ready after this call. For a deadline
    /// armed already expired (timeout(0s)): asyncio fires it with call_soon, ahead of the steps
    /// scheduled after it, where up to max_follow_on of them would otherwise run first.
    void end_follow_on() noexcept {
        follow_on_left_ = 0;
        follow_on_cut_ = true; // in case the turn has not reached its follow-on run yet
    }

    /// One turn: poll I/O (waiting only if nothing is ready, until the nearest timer), move
    /// expired timers to the ready queue, run what was ready at the start of the run phase.
    /// Returns false, doing nothing, when nothing could ever become ready (no ready work, no
    /// timer, no kernel operation).
    bool run_once() {
        // Debug mode and shuffling get their own copy of the turn: a branch inside the hot
        // copy's run phase cost 6 instructions per turn (callgrind), more than the test itself.
        if (checked_steps_) [[unlikely]] {
            return turn<true>();
        }
        return turn<false>();
    }

  private:
    // The turn and its run phase are defined in detail/loop_turn.hpp.
    template <bool Checked> bool turn();
    // A long turn (a million timers expiring together) resumes frames and task states that
    // are cold and scattered: each item then costs a few dependent cache misses. Fetching the
    // lines of the item this many places ahead overlaps those misses (the short turns of
    // ordinary work, fewer items than this, skip it).
    static constexpr std::size_t prefetch_distance = 8;
    void run_item(const detail::ready_item& item);
    // Runs all but the last 2 * prefetch_distance of the turn's n items; returns how many are
    // left. A loop of its own so that short turns do not pay for the prefetching's tests.
    std::size_t run_prefetching(std::size_t n);
    static void prefetch(const detail::ready_item& item) noexcept;
    // Second stage, once the task state has arrived: a task that finishes unlinks itself from
    // tasks_, writing into its two neighbours, which are as cold as it was.
    static void prefetch_links(const detail::ready_item& item) noexcept;
    void check_thread(const char* what) const noexcept {
        if (dbg_.debug) [[unlikely]] {
            if (std::this_thread::get_id() != dbg_.owner) {
                detail::report_wrong_thread(what);
            }
        }
    }
    void configure_debug(const loop_options& opts);
    void run_checked(std::size_t n);
    // Debug mode: runs one step of `task` and reports it if it was slow. A step's time excludes
    // the eager first steps of tasks it created (each is reported as its own task's step).
    template <class F> void checked_step(detail::task_base* task, F&& step) noexcept;
    void report_pending() noexcept;
    // Virtual clock, nothing ready, timers armed: take what has completed, give outstanding
    // real work a bounded real wait, then jump to the nearest deadline. Never sleeps for a timer.
    void advance_virtual_time();
    /// shutdown(): true while a task it cancelled has not finished yet.
    bool shutdown_cancel_pending() noexcept;
    /// shutdown(): cancels the tasks it has not cancelled yet; false when there were none.
    bool shutdown_cancel_new();
    /// shutdown(), once nothing can happen any more: cancels again every task suspended in an
    /// awaiter that takes cancellations; false when there was none.
    bool shutdown_cancel_again();
    [[nodiscard]] bool idle() const noexcept { return ready_.empty() && !inbox_->has_work(); }

    [[nodiscard]] std::uint64_t internal_in_flight() const noexcept {
        return static_cast<std::uint64_t>(internal_) + (wake_op_.in_flight ? 1 : 0);
    }
    static void on_wake(detail::io_op* op) noexcept {
        // Completion callbacks must not run user code: the inbox is read after the poll.
        static_cast<event_loop*>(op->owner)->wake_rearm_ = true;
    }
    void rearm_wake() {
        wake_rearm_ = false;
        if (!inbox_closed_) {
            reactor_->submit(wake_op_);
        }
    }
    // Remote work joins the ready queue (FIFO with local work) rather than running inside the
    // poll phase.
    void take_inbox() noexcept {
        for (detail::remote_node* n = inbox_->take_all(); n != nullptr;) {
            detail::remote_node* next = n->next_;
            try {
                post_step(&run_remote, n, nullptr);
            } catch (...) {
                std::terminate(); // the ready queue could not grow: out of memory
            }
            n = next;
        }
    }
    static void run_remote(void* p) noexcept {
        auto* n = static_cast<detail::remote_node*>(p);
        n->run_(n);
    }

    static void fire_callback(detail::timer_node* t) noexcept {
        detail::callback_node* cb = static_cast<detail::callback_timer*>(t)->owner_;
        try {
            cb->loop_->post(*cb);
        } catch (...) {
            std::terminate(); // the ready queue could not grow: out of memory
        }
    }

    static void run_callback(void* p) noexcept {
        auto* cb = static_cast<detail::callback_node*>(p);
        if (!cb->cancelled_) {
            // Restored on every path: invoke_ may throw, and callbacks do not nest, but a
            // callback may run a nested loop turn (never here: run() refuses a running loop).
            const detail::callback_context_scope scope(&cb->context_);
            try {
                cb->invoke_(cb);
            } catch (const std::exception& e) {
                // asyncio logs exceptions from callbacks through the loop's handler and goes on.
                std::fprintf(stderr, "eddy: exception in callback: %s\n", e.what());
            } catch (...) {
                std::fprintf(stderr, "eddy: exception in callback (not a std::exception)\n");
            }
        }
        cb->finished_ = true;
        cb->unlink();
        cb->release();
    }

    detail::ready_queue ready_;
    detail::timer_heap timers_;
    std::unique_ptr<detail::reactor> reactor_;
    std::string backend_reason_;
    std::shared_ptr<detail::inbox> inbox_;
    detail::io_op wake_op_;
    std::uint64_t wake_buf_ = 0;
    std::uint64_t external_ = 0;
    int internal_ = 0;
    std::uint32_t busy_turns_ = 0;     // turns with ready work since the kernel was last polled
    std::uint32_t follow_on_left_ = 0; // of the running turn
    std::uint32_t follow_on_budget_ = max_follow_on; // 0 once stop_follow_on() was called
    bool follow_on_cut_ = false;                     // end_follow_on() during this turn
    std::uint32_t eager_depth_ = 0;                  // eager first steps running now, nested
    bool eager_tasks_ = false;
    bool wake_rearm_ = false;
    bool inbox_closed_ = false;
    std::unique_ptr<thread_pool> pool_;
    void* service_ = nullptr;
    void (*close_service_)(void*) noexcept = nullptr;
    detail::intrusive_list tasks_;
    detail::intrusive_list callbacks_;
    detail::task_base* current_ = nullptr;
    std::uint64_t serial_;
    std::thread::id made_on_ = std::this_thread::get_id();
    event_loop* older_open_ = nullptr; // the loop made before this one on its thread, still open
    detail::debug_settings dbg_;
    bool checked_steps_ = false;   // debug mode or shuffling: run_checked runs each turn
    std::int64_t virtual_now_ = 0; // the loop's time under clock_kind::virtual_time
    bool virtual_ = false;
};

template <class F> void event_loop::call_soon_threadsafe(F&& fn) {
    detail::post_remote(*inbox_, std::forward<F>(fn));
}

/// The loop running on this thread. Throws eddy::loop_error when there is none.
[[nodiscard]] inline event_loop& get_running_loop() {
    if (detail::running_loop_ == nullptr) {
        throw loop_error("eddy: no running event loop (call this inside eddy::run)");
    }
    return *detail::running_loop_;
}

namespace detail {
/// The context that code running now on `loop` (the running loop, or null) reads and writes:
/// its task's, else the running loop callback's, else the thread's root.
inline context_data*& context_slot_of(event_loop* loop) noexcept {
    task_base* t = loop != nullptr ? loop->current_task() : nullptr;
    if (t != nullptr) {
        return t->context_;
    }
    if (callback_context_ != nullptr) {
        return *callback_context_;
    }
    return root_context_;
}
/// As above, on the running loop.
inline context_data*& current_context_slot() noexcept {
    return context_slot_of(running_loop_);
}

/// The loop a done-callback made or fired on this thread goes to: the running loop, else (between
/// two runs of an eddy::runner) the only loop open on this thread, else null.
[[nodiscard]] inline event_loop* home_loop() noexcept {
    if (running_loop_ != nullptr) {
        return running_loop_;
    }
    return open_loops_ == 1 ? last_open_loop_ : nullptr;
}
} // namespace detail

/// The running loop's monotonic time (asyncio's loop.time()). Throws eddy::loop_error outside
/// a running loop.
[[nodiscard]] inline clock::time_point time() {
    return get_running_loop().time();
}

} // namespace eddy

// Out-of-line members (shutdown, debug mode, the turn) and the awaiters' common core, which need
// the complete event_loop.
#include "eddy/detail/loop_impl.hpp"
#include "eddy/detail/loop_turn.hpp"
#include "eddy/detail/suspension.hpp"
#include "eddy/loop_handle.hpp"
