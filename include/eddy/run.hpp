// eddy — run: the program's entry point into the loop (asyncio.run).
#pragma once

#include "eddy/create_task.hpp"
#include "eddy/detail/body.hpp"
#include "eddy/detail/context.hpp"
#include "eddy/errors.hpp"
#include "eddy/loop.hpp"
#include "eddy/signal.hpp"
#include "eddy/task.hpp"

#include <csignal>
#include <unistd.h>

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace eddy {

namespace detail {

/// What a main task ended with: its value (void as a flag, a reference as a pointer) or its
/// exception. get() hands it to the caller once the loop work around it is done.
template <class T> class main_outcome {
  public:
    void set_value(task_handle<T>& h) {
        if constexpr (std::is_void_v<T>) {
            h.result();
            value_.emplace(true);
        } else if constexpr (std::is_reference_v<T>) {
            value_.emplace(&h.result());
        } else {
            value_.emplace(std::move(h.result()));
        }
    }
    void set_error(std::exception_ptr e) noexcept { error_ = std::move(e); }
    T get() {
        if (error_) {
            std::rethrow_exception(error_);
        }
        if constexpr (std::is_reference_v<T>) {
            return **value_;
        } else if constexpr (!std::is_void_v<T>) {
            return std::move(*value_);
        }
    }

  private:
    using stored = std::conditional_t<
        std::is_void_v<T>, bool,
        std::conditional_t<std::is_reference_v<T>, std::remove_reference_t<T>*, T>>;
    std::optional<stored> value_;
    std::exception_ptr error_;
};

/// Runs `main` as the task named "main" on `loop`, made the running loop for the call, until
/// it ends (eddy::run and eddy::runner::run). Leaves the tasks still pending as they are.
/// SIGINT gets its own disposition back before returning: what comes after (the next call of
/// a runner, or the shutdown's cleanup, which may not end) is not the main task's to cancel,
/// and a Ctrl-C there must still stop the process. `shared_context` (a runner's): the context
/// main runs in, replaced by the one main leaves (asyncio.Runner runs every main task in one
/// context); null: main starts from the thread's (asyncio.run copies it).
template <class T>
main_outcome<T> run_main(event_loop& loop, task<T> main, bool cancel_on_sigint,
                         context_data** shared_context, code_location where) {
    running_loop_scope scope(loop);
    main_outcome<T> out;
    task_handle<T> h =
        create_task(std::move(main), task_options{.name = "main", .eager_start = false}, where);
    h.state()->follow_on_when_done_ = false; // the loop stops when main ends
    if (shared_context != nullptr) {
        context_release(std::exchange(h.state()->context_, context_share(*shared_context)));
    }
    struct context_keeper { // on every path out, exceptions included
        context_data** to;
        task_base* from;
        ~context_keeper() {
            if (to != nullptr) {
                context_release(std::exchange(*to, context_share(from->context_)));
            }
        }
    } keep{shared_context, h.state()};
    signal_service* signals = nullptr;
    try {
        if (cancel_on_sigint && ::gettid() == ::getpid()) {
            struct sigaction current {};
            if (::sigaction(SIGINT, nullptr, &current) == 0 &&
                (current.sa_handler == SIG_DFL || current.sa_handler == &forward_signal)) {
                signals = &signal_service::of(loop);
                signals->cancel_on(SIGINT, h.state());
            }
        }
        while (!h.done()) {
            if (!loop.run_once()) {
                throw loop_error("eddy: deadlock: the main task waits for something "
                                 "that nothing can complete (no ready task, no timer, no "
                                 "kernel operation, no thread-pool call, no loop_handle "
                                 "for another thread to post through)");
            }
        }
        out.set_value(h);
    } catch (const cancelled_error&) {
        out.set_error(std::current_exception());
        // asyncio.Runner: a cancellation that came from Ctrl-C, and that the main task did
        // not withdraw, becomes KeyboardInterrupt.
        if (signals != nullptr && signals->cancelled_by_signal() && h.uncancel() == 0) {
            out.set_error(std::make_exception_ptr(keyboard_interrupt{}));
        }
    } catch (...) {
        out.set_error(std::current_exception());
    }
    if (!h.done()) {
        // A deadlocked main task stays pending in a runner's loop: if it ends during a later
        // run, that run's follow-on work must go on.
        h.state()->follow_on_when_done_ = true;
    }
    // `h` goes away here; a late Ctrl-C must not reach it
    if (signals != nullptr && signals->end_cancel()) {
        // asyncio.Runner: a Ctrl-C that comes once main is done is KeyboardInterrupt
        out.set_error(std::make_exception_ptr(keyboard_interrupt{}));
    }
    return out;
}

} // namespace detail

/// Makes an event loop on this thread, runs `main` to completion and returns its value or
/// rethrows its exception (asyncio.run). Before returning, every task still pending is
/// cancelled and run until it finishes, and every kernel operation is drained; the loop and
/// its ring are then destroyed. Throws eddy::loop_error when called while a loop runs on this
/// thread, or when `main` waits for something that nothing could ever complete (a deadlock);
/// std::system_error when io_uring cannot be set up; eddy::keyboard_interrupt when Ctrl-C
/// cancelled `main` and `main` ended with that cancellation, or came in `main`'s last step
/// (see loop_options::cancel_on_sigint: a second Ctrl-C, or one during the cleanup of the
/// tasks still pending, gets SIGINT's default action, ending the process). `where` (the caller's
/// line) names the main task's creation in debug reports. To run several main tasks on one
/// loop, use eddy::runner.
template <class T>
T run(task<T> main, loop_options options = {}, code_location where = code_location::current()) {
    if (detail::running_loop_ != nullptr) {
        throw loop_error("eddy::run() cannot be called from a running event loop");
    }
    event_loop loop(options);
    detail::main_outcome<T> out =
        detail::run_main(loop, std::move(main), options.cancel_on_sigint, nullptr, where);
    loop.shutdown();
    return out.get();
}

/// Runs the task `f()` returns (`f` a callable returning task<T>, typically a lambda
/// coroutine), as run(task) does. `f` is moved into the main task's frame, so its captures
/// live as long as the task. Same returns and throws.
template <detail::task_factory F>
auto run(F f, loop_options options = {}, code_location where = code_location::current()) {
    return run(detail::invoke_owned(std::move(f)), options, where);
}

} // namespace eddy
