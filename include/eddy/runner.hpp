// eddy — runner: several main tasks, one after another, on one event loop (asyncio.Runner).
#pragma once

#include "eddy/create_task.hpp"
#include "eddy/detail/body.hpp"
#include "eddy/detail/context.hpp"
#include "eddy/errors.hpp"
#include "eddy/loop.hpp"
#include "eddy/run.hpp"
#include "eddy/task.hpp"

#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <thread>
#include <utility>

namespace eddy {

/// Runs main tasks one after another on one event loop that lives between them
/// (asyncio.Runner): what a program that is synchronous at the top uses to call into async code
/// several times while keeping connections, servers and tasks alive from one call to the next.
///
/// Every main task runs in one context, as asyncio.Runner's do: what one sets with a
/// context_var, the next one reads (the first starts from the thread's values).
///
/// Each run() is what eddy::run does except for the end: tasks still pending when the main task
/// ends stay pending (they go on during the next run), and the loop stays open. close() does
/// the end of eddy::run once: it cancels every task still pending, runs them until they finish,
/// drains every kernel operation and closes the ring. The destructor closes a runner that is
/// still open.
///
/// Ownership and threads: the runner owns its loop. It is used on the thread that made it,
/// outside any running loop (nothing runs between two runs: timers, kernel completions and the
/// done-callbacks of futures set or tasks awaited between runs wait for the next run). It is
/// immovable, like event_loop; hold it in a std::unique_ptr to move it.
class runner {
  public:
    /// Makes the loop (`options` as for eddy::run). Throws std::system_error when io_uring
    /// cannot be set up and the epoll fallback cannot either, eddy::loop_error for a bad
    /// EDDY_BACKEND.
    explicit runner(loop_options options = {})
        : thread_(std::this_thread::get_id()), cancel_on_sigint_(options.cancel_on_sigint) {
        loop_.emplace(options);
    }
    runner(const runner&) = delete;
    runner& operator=(const runner&) = delete;
    runner(runner&&) = delete;
    runner& operator=(runner&&) = delete;

    /// Closes the runner if it is open (see close()). Destroying an open runner on another
    /// thread, or from a task of a running loop, cannot close it safely and terminates, as
    /// destroying a joinable std::thread does.
    ~runner() {
        if (!loop_) {
            return;
        }
        if (const char* why = misuse(); why != nullptr) {
            std::fprintf(stderr, "eddy::runner destroyed open %s: terminating\n", why);
            std::terminate();
        }
        loop_.reset();
    }

    /// Runs `main` as the task named "main" until it ends and returns its value or rethrows its
    /// exception, as eddy::run does, except that the tasks still pending afterwards stay
    /// pending and the loop stays open. With loop_options::cancel_on_sigint, Ctrl-C during the
    /// call cancels `main` (eddy::keyboard_interrupt if `main` ends with that cancellation);
    /// between calls SIGINT has its usual effect. Throws eddy::loop_error when the runner is
    /// closed, when called on another thread or while a loop runs on this thread (from a task),
    /// or when `main` waits for something nothing could ever complete (a deadlock; the runner
    /// stays usable, and `main` stays pending until close()).
    template <class T> T run(task<T> main, code_location where = code_location::current()) {
        check_usable("run");
        if (!context_.started) {
            // asyncio.Runner copies the current context at its first run
            context_.p = detail::context_share(detail::root_context_);
            context_.started = true;
        }
        loop_->resume_follow_on(); // the previous main task's end stopped it
        return detail::run_main(*loop_, std::move(main), cancel_on_sigint_, &context_.p, where)
            .get();
    }
    /// Runs the task `f()` returns (a callable returning task<T>, kept alive in the task's
    /// frame), as run(task) does.
    template <detail::task_factory F>
    auto run(F f, code_location where = code_location::current()) {
        return run(detail::invoke_owned(std::move(f)), where);
    }

    /// Cancels every task still pending, runs them until they finish, waits for every kernel
    /// operation and closes the loop (asyncio.Runner.close). Does nothing on a closed runner.
    /// Throws eddy::loop_error when called on another thread or while a loop runs on this
    /// thread (the runner stays open).
    void close() {
        if (!loop_) {
            return;
        }
        check_usable("close");
        loop_.reset(); // ~event_loop shuts it down
    }

    /// Whether close() has run.
    [[nodiscard]] bool closed() const noexcept { return !loop_; }

    /// The runner's loop (asyncio.Runner.get_loop), to read its backend or options or to make
    /// a loop_handle for other threads. Throws eddy::loop_error when the runner is closed.
    [[nodiscard]] event_loop& get_loop() {
        if (!loop_) {
            throw loop_error("eddy::runner::get_loop(): the runner is closed");
        }
        return *loop_;
    }

  private:
    // Why the runner cannot be driven from here, or null when it can.
    [[nodiscard]] const char* misuse() const noexcept {
        if (std::this_thread::get_id() != thread_) {
            return "on a thread other than the one that made it";
        }
        if (detail::running_loop_ != nullptr) {
            return "from a running event loop";
        }
        return nullptr;
    }
    void check_usable(const char* what) const {
        if (!loop_) {
            throw loop_error(std::string("eddy::runner::") + what + "(): the runner is closed");
        }
        if (const char* why = misuse(); why != nullptr) {
            throw loop_error(std::string("eddy::runner::") + what + "() called " + why);
        }
    }

    // The context every main task runs in, carried from one run to the next.
    struct shared_context {
        detail::context_data* p = nullptr;
        bool started = false;
        shared_context() = default;
        shared_context(const shared_context&) = delete;
        shared_context& operator=(const shared_context&) = delete;
        ~shared_context() { detail::context_release(p); }
    };

    std::thread::id thread_;
    bool cancel_on_sigint_;
    shared_context context_; // before loop_: released after the loop's tasks are gone
    std::optional<event_loop> loop_;
};

} // namespace eddy
