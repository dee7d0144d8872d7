// eddy — the event loop's out-of-line members (shutdown, the virtual clock's jump, debug mode,
// shuffling) and the helpers that need the complete loop (included at the end of loop.hpp, not
// on its own).
#pragma once

#include "eddy/loop.hpp"

namespace eddy {

namespace detail {
/// Makes `loop` the running loop of this thread for a scope. Nested running loops are an error.
class running_loop_scope {
  public:
    explicit running_loop_scope(event_loop& loop) : previous_(running_loop_) {
        running_loop_ = &loop;
    }
    running_loop_scope(const running_loop_scope&) = delete;
    running_loop_scope& operator=(const running_loop_scope&) = delete;
    ~running_loop_scope() { running_loop_ = previous_; }

  private:
    event_loop* previous_;
};

/// The running loop's time in ns (event_loop::now_ns), or the real clock outside a loop: the
/// origin of every relative deadline.
[[nodiscard]] inline std::int64_t loop_now_ns() noexcept {
    return running_loop_ != nullptr ? running_loop_->now_ns() : event_loop::real_now_ns();
}

inline std::coroutine_handle<> transfer_to(std::coroutine_handle<> next) noexcept {
    if (++transfer_depth_ < max_transfer_depth || running_loop_ == nullptr) {
        return next;
    }
    try {
        running_loop_->schedule(next, running_loop_->current_task());
    } catch (...) {
        return next; // out of memory for the queue: keep going on the stack
    }
    return std::noop_coroutine();
}
} // namespace detail

inline bool event_loop::shutdown_cancel_pending() noexcept {
    for (detail::list_node* n = tasks_.front(); n != nullptr && n != tasks_.end(); n = n->next_) {
        if (detail::task_of(n)->shutdown_cancelled_) {
            return true;
        }
    }
    return false;
}

inline bool event_loop::shutdown_cancel_new() {
    bool any = false;
    for (detail::list_node* n = tasks_.front(); n != nullptr && n != tasks_.end(); n = n->next_) {
        detail::task_base* t = detail::task_of(n);
        if (!t->shutdown_cancelled_) {
            t->shutdown_cancelled_ = true;
            t->cancel({});
            any = true;
        }
    }
    return any;
}

inline bool event_loop::shutdown_cancel_again() {
    bool any = false;
    for (detail::list_node* n = tasks_.front(); n != nullptr && n != tasks_.end(); n = n->next_) {
        detail::task_base* t = detail::task_of(n);
        if (t->waits_cancellably()) {
            t->cancel({});
            any = true;
        }
    }
    return any;
}

inline void event_loop::shutdown() noexcept {
    detail::running_loop_scope scope(*this);
    stop_follow_on(); // a task main's last step created is cancelled before it starts
    if (dbg_.debug && !tasks_.empty()) {
        report_pending();
    }
    try {
        // Cancel every unfinished task, then let them run their cleanup to the end, as
        // asyncio.run does. A task created meanwhile (a cleanup's gather of graceful closes,
        // its task group) runs normally while a cancelled task is still finishing, as in
        // asyncio; the tasks still pending once none is are cancelled in turn, round after
        // round, so that the shutdown ends. Calls still running on pool threads come back
        // through the inbox (asyncio.run waits for its default executor too); a task that
        // arrives meanwhile (run_coroutine_threadsafe) is cancelled in the same way.
        bool last_turn = false;
        int recancels_left = max_shutdown_recancels;
        while (true) {
            if (tasks_.empty() && external_ == 0) {
                // What the last turns posted (the cancelled tasks' done-callbacks, what main's
                // last step scheduled with call_soon) runs in one turn more, as asyncio's
                // run_until_complete of the cancelled tasks turns the loop for it. One, not
                // more: a callback that posts itself again must not hold the shutdown.
                if (last_turn || ready_.empty()) {
                    break;
                }
                last_turn = true;
            }
            if (!shutdown_cancel_pending()) {
                shutdown_cancel_new();
            }
            // A timer at the end of the clock (call_later(hours::max()): never) would make the
            // turn wait forever for it, where nothing else can happen.
            const bool only_never_timers = ready_.empty() && in_flight() == 0 && external_ == 0 &&
                                           !inbox_->has_handles() && !inbox_->has_work() &&
                                           !timers_.empty() && timers_.next_deadline() == INT64_MAX;
            if (only_never_timers || !run_once()) {
                // Nothing can happen any more. If a cleanup waits for a task it created, and
                // that task for something nothing will complete, cancelling that task lets the
                // cleanup end instead of leaking both.
                if (shutdown_cancel_new()) {
                    continue;
                }
                // A task that took its cancellation and then waits again (a cleanup awaiting
                // an event nobody will set) can only end if it is cancelled once more; asyncio
                // would hang here. A bounded number of times: a task that swallows every
                // cancellation in a loop is given up on below.
                if (recancels_left > 0 && shutdown_cancel_again()) {
                    --recancels_left;
                    continue;
                }
                break;
            }
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "eddy: error while shutting the loop down: %s\n", e.what());
    }
    pool_.reset();
    if (close_service_ != nullptr) {
        std::exchange(close_service_, nullptr)(service_);
        service_ = nullptr;
    }
    if (!inbox_closed_) {
        inbox_closed_ = true;
        // What other threads posted but never ran is dropped (each node frees itself), and
        // their later posts fail with loop_error.
        for (detail::remote_node* n = inbox_->close(); n != nullptr;) {
            detail::remote_node* next = n->next_;
            n->drop_(n);
            n = next;
        }
        try {
            reactor_->cancel(wake_op_);
        } catch (...) {
            // No room to ask: the read still completes once the eventfd is written below.
        }
        const std::uint64_t one = 1;
        (void)::write(inbox_->fd(), &one, sizeof one);
    }
    while (detail::list_node* n = tasks_.pop_front()) {
        // Waiting on something that nothing can complete, after every cancellation: the frame
        // cannot be resumed, and destroying it would free memory still referenced. It is
        // leaked, but taken out of what it waits on, so that a primitive outliving the loop
        // (a global event, a queue) cannot wake it into the dead loop; and out of the task
        // list, so that a second shutdown (the destructor after eddy::run's) is silent.
        detail::task_base* t = detail::task_of(n);
        t->abandon_wait();
        try {
            std::fprintf(stderr,
                         "eddy: %s was cancelled %d time(s) and still waits for something "
                         "nothing can complete; it is leaked (its frame is never freed)\n",
                         detail::task_title(*t).c_str(), t->cancelling());
        } catch (...) { // NOLINT(bugprone-empty-catch): out of memory for the message
        }
    }
    // Callbacks that never ran are dropped; each posted one is still in the ready queue or
    // the timer heap and is released when popped.
    for (detail::list_node* n = callbacks_.front(); n != nullptr && n != callbacks_.end();
         n = n->next_) {
        static_cast<detail::callback_node*>(n)->cancelled_ = true;
    }
    while (detail::timer_node* t = timers_.pop_expired(INT64_MAX)) {
        t->fire_(t);
    }
    while (!ready_.empty()) {
        const detail::ready_item item = ready_.pop();
        if (item.run != nullptr) {
            item.run(item.ptr);
        }
    }
    // Nothing may be left in the kernel pointing into memory we are about to free.
    try {
        while (reactor_->in_flight() != 0) {
            reactor_->poll(std::nullopt);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "eddy: error while draining the ring: %s\n", e.what());
    }
}

inline void event_loop::advance_virtual_time() {
    reactor_->poll(0);
    if (timers_.empty() || timers_.next_deadline() <= virtual_now_) {
        return; // a timer is already due
    }
    const std::int64_t until = real_now_ns() + virtual_grace_ns;
    while (idle() && (in_flight() != 0 || external_ != 0 || inbox_->has_handles())) {
        const std::int64_t left = until - real_now_ns();
        if (left <= 0) {
            break;
        }
        if (wake_rearm_) {
            rearm_wake(); // a post from a thread must end this wait
        }
        reactor_->poll(left);
    }
    if (idle() && !timers_.empty()) {
        const std::int64_t next = timers_.next_deadline();
        virtual_now_ = next > virtual_now_ ? next : virtual_now_;
    }
}

inline void event_loop::configure_debug(const loop_options& opts) {
    dbg_.owner = std::this_thread::get_id();
    dbg_.debug = opts.debug || detail::env_flag("EDDY_DEBUG");
    dbg_.slow_step = opts.slow_step;
    if (dbg_.debug) {
        std::fprintf(stderr, "eddy: loop backend: %s (%s)\n", reactor_->name(),
                     backend_reason_.c_str());
    }
    std::uint64_t seed = opts.shuffle_seed;
    bool shuffle = opts.shuffle || seed != 0;
    bool print = shuffle && seed == 0;
    if (const char* env = std::getenv("EDDY_SHUFFLE"); env != nullptr && *env != '\0' && !shuffle) {
        // The options win, as for EDDY_BACKEND: a test that fixes its seed stays replayable.
        char* end = nullptr;
        const unsigned long long v = std::strtoull(env, &end, 10);
        if (std::string_view(env) == "random") {
            shuffle = print = true;
        } else if (end != env && *end == '\0' && v != 0) {
            shuffle = true;
            seed = v;
            print = true;
        } else if (std::string_view(env) != "0") {
            throw loop_error("eddy: EDDY_SHUFFLE must be a seed (a positive number), \"random\" "
                             "or \"0\", not \"" +
                             std::string(env) + "\"");
        }
    }
    if (shuffle) {
        while (seed == 0) {
            std::random_device rd;
            seed = (static_cast<std::uint64_t>(rd()) << 32U) | rd();
        }
        dbg_.shuffle_seed = seed;
        dbg_.rng = seed;
        if (print) {
            std::fprintf(stderr,
                         "eddy: shuffling ready work with seed %llu (replay: EDDY_SHUFFLE=%llu "
                         "or loop_options::shuffle_seed)\n",
                         static_cast<unsigned long long>(seed),
                         static_cast<unsigned long long>(seed));
        }
    }
    checked_steps_ = dbg_.debug || dbg_.shuffle_seed != 0;
}

inline bool event_loop::run_eager_step(std::coroutine_handle<> h,
                                       detail::task_base* task) noexcept {
    if (follow_on_budget_ == 0 || eager_depth_ >= max_eager_depth) [[unlikely]] {
        return false;
    }
    check_thread("starting a task");
    detail::task_base* const creator = std::exchange(current_, task);
    const unsigned depth = detail::transfer_depth_;
    ++eager_depth_;
    // A task's coroutine catches what its body throws: resuming it cannot throw.
    if (dbg_.debug) [[unlikely]] {
        checked_step(task, [h] { h.resume(); });
    } else {
        h.resume();
    }
    --eager_depth_;
    detail::transfer_depth_ = depth;
    current_ = creator;
    return true;
}

inline void event_loop::run_checked(std::size_t n) {
    if (dbg_.shuffle_seed != 0) {
        // Fisher-Yates over this turn's items only: work scheduled during the turn still runs
        // on a later one, so a shuffle only reorders what asyncio could have run in any order.
        for (std::size_t i = n; i > 1; --i) {
            std::swap(ready_.at(i - 1), ready_.at(dbg_.next() % i));
        }
    }
    for (; n > 0; --n) {
        const detail::ready_item item = ready_.pop();
        current_ = item.task;
        detail::transfer_depth_ = 0;
        if (!dbg_.debug) {
            if (item.run != nullptr) {
                item.run(item.ptr);
            } else {
                std::coroutine_handle<>::from_address(item.ptr).resume();
            }
            continue;
        }
        checked_step(item.task, [&item] {
            if (item.run != nullptr) {
                item.run(item.ptr);
            } else {
                std::coroutine_handle<>::from_address(item.ptr).resume();
            }
        });
    }
}

template <class F> void event_loop::checked_step(detail::task_base* task, F&& step) noexcept {
    // What the step resumes from is read before it runs (it records its next await), and
    // the task is kept alive across the step so that it can be named afterwards.
    code_location resumed;
    code_location origin;
    bool wrapper_start = false; // the first step of create_task(lambda): name the lambda
    if (task != nullptr) {
        task->add_ref();
        const detail::frame_record& at = task->root_frame().innermost();
        resumed = at.where_;
        origin = at.origin_;
        wrapper_start = !resumed.known() && detail::is_internal_frame(at);
    }
    const std::chrono::nanoseconds outer_nested = std::exchange(dbg_.nested, {});
    const auto start = std::chrono::steady_clock::now(); // real time, even when virtual
    step();
    const std::chrono::nanoseconds elapsed = std::chrono::steady_clock::now() - start;
    const std::chrono::nanoseconds took = elapsed - dbg_.nested;
    dbg_.nested = outer_nested + elapsed;
    if (took >= dbg_.slow_step) {
        code_location next;
        if (task != nullptr && !task->done()) {
            const detail::frame_record& now = task->root_frame().innermost();
            next = now.where_;
            if (wrapper_start) {
                origin = now.origin_;
            }
        }
        detail::report_slow_step(task, resumed, origin, next, took);
    }
    if (task != nullptr) {
        task->release();
    }
}

inline void event_loop::report_pending() noexcept {
    try {
        std::string msg;
        std::size_t count = 0;
        for (detail::list_node* n = tasks_.front(); n != nullptr && n != tasks_.end();
             n = n->next_) {
            const detail::task_base* t = detail::task_of(n);
            if (t->shutdown_cancelled_) {
                continue; // reported when the loop first shut down
            }
            ++count;
            msg += "  " + detail::task_title(*t) + " waits at:\n";
            for (const detail::frame_record* f : detail::frames_of(*t)) {
                msg += "    " + detail::frame_text(*f) + "\n";
            }
        }
        if (count != 0) {
            std::fprintf(stderr,
                         "eddy: %zu task(s) still pending when the loop shut down; "
                         "cancelling them:\n%s",
                         count, msg.c_str());
        }
    } catch (...) { // NOLINT(bugprone-empty-catch): out of memory for the report
    }
}

} // namespace eddy
