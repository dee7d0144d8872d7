// eddy — Unix signals delivered through the loop: add_signal_handler, remove_signal_handler,
// wait_signal (a signalfd read on the ring; user code never runs in a signal handler).
#pragma once

#include "eddy/detail/list.hpp"
#include "eddy/detail/parked.hpp"
#include "eddy/detail/signal_forward.hpp"
#include "eddy/errors.hpp"
#include "eddy/loop.hpp"

#include <array>
#include <cerrno>
#include <concepts>
#include <coroutine>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <pthread.h>
#include <stdexcept>
#include <string>
#include <sys/signalfd.h>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <unistd.h>
#include <utility>

namespace eddy {

namespace detail {
/// Whether `sig` can be caught at all (not SIGKILL or SIGSTOP, within 1..NSIG-1).
[[nodiscard]] inline bool catchable_signal(int sig) noexcept {
    return sig > 0 && sig < NSIG && sig != SIGKILL && sig != SIGSTOP;
}
} // namespace detail

/// A set of signal numbers, written `{SIGINT, SIGTERM}` or `SIGHUP`. A variadic constructor
/// rather than std::initializer_list because g++ 12 rejects an initializer_list temporary in a
/// co_await operand ("array used as initializer"), and `co_await wait_signal({...})` is the
/// form users write.
class signal_set {
  public:
    /// The set of `sigs`. Does not throw: a number that cannot be caught is left out of the
    /// set and reported by invalid(), for wait_signal to refuse.
    template <std::convertible_to<int>... Sigs>
    signal_set(Sigs... sigs) noexcept { // NOLINT(google-explicit-constructor): `{SIGINT, ...}`
        sigemptyset(&set_);
        (add(static_cast<int>(sigs)), ...);
    }
    /// True when `sig` is in the set (false for a number out of range).
    [[nodiscard]] bool contains(int sig) const noexcept { return sigismember(&set_, sig) == 1; }
    /// True when no signal is in the set (numbers left out by invalid() do not count).
    [[nodiscard]] bool empty() const noexcept { return sigisemptyset(&set_) != 0; }
    /// The set as a sigset_t (for sigprocmask, signalfd...).
    [[nodiscard]] const sigset_t& native() const noexcept { return set_; }
    /// The first number given that cannot be handled (SIGKILL, SIGSTOP, 0, out of range), or
    /// nullopt when every one can.
    [[nodiscard]] std::optional<int> invalid() const noexcept { return invalid_; }

  private:
    void add(int sig) noexcept {
        if (!detail::catchable_signal(sig)) {
            if (!invalid_) {
                invalid_ = sig;
            }
            return;
        }
        sigaddset(&set_, sig);
    }
    sigset_t set_{};
    std::optional<int> invalid_;
};

namespace detail {

/// Waits in wait_signal; `mask_` says which signals it takes, `got_` which one came.
struct signal_waiter : parked {
    sigset_t mask_{};
    int got_ = 0;
};

/// A loop's signal routing, made on first use and closed when the loop shuts down. Signals it
/// routes are blocked in the loop's thread and read from one signalfd on the ring; handlers and
/// waiters then run as ordinary loop work.
class signal_service {
  public:
    /// The running loop's service. Throws loop_error outside a loop, std::system_error when the
    /// signalfd cannot be made.
    static signal_service& of(event_loop& loop) {
        if (loop.service() == nullptr) {
            auto svc = std::make_unique<signal_service>(loop);
            loop.attach_service(svc.get(), &close);
            return *svc.release();
        }
        return *static_cast<signal_service*>(loop.service());
    }

    explicit signal_service(event_loop& loop) : loop_(&loop) {
        sigemptyset(&routed_);
        sigemptyset(&pending_);
        pthread_sigmask(SIG_SETMASK, nullptr, &thread_mask_);
        // Blocking: io_uring completes a read of an O_NONBLOCK fd with -EAGAIN instead of
        // waiting for it to become readable.
        fd_ = ::signalfd(-1, &routed_, SFD_CLOEXEC);
        if (fd_ < 0) {
            throw std::system_error(errno, std::system_category(), "eddy: signalfd");
        }
        op_.kind = op_kind::read;
        op_.fd = fd_;
        op_.buf = infos_.data();
        op_.len = sizeof infos_;
        op_.complete = &on_read;
        op_.owner = this;
    }
    signal_service(const signal_service&) = delete;
    signal_service& operator=(const signal_service&) = delete;

    void set_handler(int sig, std::function<void(int)> fn) {
        route(sig);
        if (!handler(sig)) {
            ++consumers_;
        }
        handler(sig) = std::move(fn);
        account();
    }
    bool remove_handler(int sig) {
        if (!handler(sig)) {
            return false;
        }
        handler(sig) = nullptr;
        --consumers_;
        if (sig != cancel_sig_ && !waited_.contains(sig)) {
            unroute(sig); // asyncio restores the default disposition
        }
        account();
        return true;
    }

    /// Routes `sig` to cancelling `task` (run's Ctrl-C) while no handler or waiter takes it.
    /// Does not keep an idle loop alive.
    void cancel_on(int sig, task_base* task) {
        route(sig);
        cancel_sig_ = sig;
        cancel_task_ = task;
        interrupted_ = false; // a runner's earlier run may have been interrupted
        account();
    }
    [[nodiscard]] bool cancelled_by_signal() const noexcept { return interrupted_; }
    /// Ends the watch cancel_on set up (eddy::runner between two runs): `sig` gets its own
    /// disposition back unless a handler or a waiter takes it, as asyncio.Runner restores
    /// SIGINT's handler when run() returns. Returns true when `sig` came during the run but
    /// was not read yet (in the main task's last step): it is taken here, as the run's Ctrl-C,
    /// rather than left to kill the process once unblocked.
    [[nodiscard]] bool end_cancel() noexcept {
        const int sig = std::exchange(cancel_sig_, 0);
        cancel_task_ = nullptr;
        if (sig == 0 || handler(sig) || waited_.contains(sig)) {
            return false;
        }
        bool taken = false;
        sigset_t pending;
        if (sigismember(&thread_mask_, sig) != 1 && ::sigpending(&pending) == 0 &&
            sigismember(&pending, sig) == 1) {
            sigset_t one;
            sigemptyset(&one);
            sigaddset(&one, sig);
            const timespec now{};
            taken = ::sigtimedwait(&one, nullptr, &now) == sig;
        }
        unroute(sig);
        return taken;
    }

    /// Registers a waiter; returns false (nothing registered) when a signal of `set` is
    /// already pending, taking it into `w.got_`.
    bool wait(signal_waiter& w, std::coroutine_handle<> h, const signal_set& set) {
        for (int sig = 1; sig < NSIG; ++sig) {
            if (set.contains(sig)) {
                route(sig);
                waited_.add(sig);
                if (sigismember(&pending_, sig) == 1) {
                    sigdelset(&pending_, sig);
                    w.got_ = sig;
                    return false;
                }
            }
        }
        w.mask_ = set.native();
        w.withdrawn_ = &on_withdrawn;
        ++consumers_;
        try {
            account();
        } catch (...) {
            --consumers_;
            throw;
        }
        return w.park(h, waiters_);
    }

  private:
    // A set of waited-on signals: they stay routed until the loop ends, so one arriving
    // between two waits is kept for the next wait instead of killing the process.
    struct small_set {
        sigset_t s{};
        small_set() { sigemptyset(&s); }
        void add(int sig) noexcept { sigaddset(&s, sig); }
        [[nodiscard]] bool contains(int sig) const noexcept { return sigismember(&s, sig) == 1; }
    };

    static void on_withdrawn(parked* p) noexcept {
        auto* self = static_cast<signal_service*>(p->loop_->service());
        --self->consumers_;
        self->account();
    }

    void route(int sig) {
        if (sigismember(&routed_, sig) == 1) {
            return;
        }
        sigaddset(&routed_, sig);
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, sig);
        pthread_sigmask(SIG_BLOCK, &one, nullptr);
        if (::signalfd(fd_, &routed_, 0) < 0) {
            const int err = errno;
            sigdelset(&routed_, sig);
            restore(sig);
            throw std::system_error(err, std::system_category(), "eddy: signalfd");
        }
        (void)forward_to_this_thread(sig); // stop_forwarding() finds out whether it did
    }
    void unroute(int sig) noexcept {
        if (sigismember(&routed_, sig) != 1) {
            return;
        }
        sigdelset(&routed_, sig);
        stop_forwarding(sig); // a no-op where this thread does not forward it
        (void)::signalfd(fd_, &routed_, 0);
        restore(sig);
    }
    // Puts `sig` back in the thread's mask as it was before eddy blocked it. An instance still
    // pending is then delivered with its normal disposition (a second Ctrl-C kills).
    void restore(int sig) noexcept {
        if (sigismember(&thread_mask_, sig) != 1) {
            sigset_t one;
            sigemptyset(&one);
            sigaddset(&one, sig);
            pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
        }
    }

    // Keeps the read armed while anything is routed, and tells the loop whether it is an
    // operation worth staying alive for (a handler or a waiter) or only run's Ctrl-C watch.
    void account() {
        // Not while a completed read waits for dispatch: a new read would reuse its buffer.
        if (!op_.in_flight && !dispatching_ && !closing_ && !sigisemptyset(&routed_)) {
            loop_->io().submit(op_);
        }
        const bool internal = op_.in_flight && consumers_ == 0;
        if (internal != counted_internal_) {
            loop_->internal_ops(internal ? 1 : -1);
            counted_internal_ = internal;
        }
    }

    static void on_read(io_op* op) noexcept {
        auto* self = static_cast<signal_service*>(op->owner);
        if (self->counted_internal_) {
            self->loop_->internal_ops(-1);
            self->counted_internal_ = false;
        }
        if (self->closing_) {
            return; // close() is draining this read; the service is about to go
        }
        try {
            // Completion callbacks only schedule: handlers run as a step of the next turn.
            self->loop_->post_step(&dispatch, self, nullptr);
            self->dispatching_ = true;
        } catch (...) {
            std::terminate(); // the ready queue could not grow: out of memory
        }
    }

    static void dispatch(void* p) noexcept {
        auto* self = static_cast<signal_service*>(p);
        if (self->doomed_) {
            delete self; // closed while this step was queued: it was left for us to free
            return;
        }
        const int res = self->op_.result;
        const auto count = static_cast<std::size_t>(
            res > 0 ? res / static_cast<int>(sizeof(signalfd_siginfo)) : 0);
        // Copied out first: a handler may add a signal, which arms the next read into infos_.
        std::array<int, std::tuple_size_v<decltype(infos_)>> sigs{};
        for (std::size_t i = 0; i < count; ++i) {
            sigs[i] = static_cast<int>(self->infos_[i].ssi_signo);
        }
        self->dispatching_ = false;
        for (std::size_t i = 0; i < count; ++i) {
            self->deliver(sigs[i]);
        }
        if (self->closing_) {
            return;
        }
        if (res < 0 && res != -EINTR && res != -EAGAIN && res != -ECANCELED) {
            std::fprintf(stderr,
                         "eddy: reading the signalfd failed (errno %d); signals are no "
                         "longer delivered\n",
                         -res);
            return;
        }
        try {
            self->account(); // re-arm
        } catch (const std::exception& e) {
            std::fprintf(stderr, "eddy: signal routing stopped: %s\n", e.what());
        }
    }

    void deliver(int sig) noexcept {
        bool taken = false;
        if (handler(sig)) {
            taken = true;
            // A copy: the handler may remove or replace itself while it runs (asyncio allows it).
            const std::function<void(int)> fn = handler(sig);
            try {
                fn(sig);
            } catch (const std::exception& e) {
                std::fprintf(stderr, "eddy: exception in signal handler %d: %s\n", sig, e.what());
            } catch (...) {
                std::fprintf(stderr, "eddy: exception in signal handler %d\n", sig);
            }
        }
        for (list_node* n = waiters_.front(); n != nullptr && n != waiters_.end();) {
            list_node* next = n->next_;
            auto* w = static_cast<signal_waiter*>(static_cast<parked*>(n));
            if (sigismember(&w->mask_, sig) == 1) {
                taken = true;
                w->got_ = sig;
                --consumers_;
                w->grant();
            }
            n = next;
        }
        if (taken) {
            return;
        }
        if (sig == cancel_sig_ && cancel_task_ != nullptr) {
            // asyncio.run: the first Ctrl-C cancels the main task; the next one gets the
            // default action, so a program stuck in its cleanup can still be killed.
            interrupted_ = true;
            cancel_task_->cancel({});
            cancel_task_ = nullptr;
            cancel_sig_ = 0;
            if (!waited_.contains(sig)) {
                unroute(sig);
            }
            return;
        }
        sigaddset(&pending_, sig); // kept for the next wait_signal that asks for it
    }

    static void close(void* p) noexcept {
        auto* self = static_cast<signal_service*>(p);
        self->closing_ = true;
        orphan_all(self->waiters_);
        if (self->op_.in_flight) {
            try {
                self->loop_->io().cancel(self->op_);
            } catch (...) {
                // No room to ask: raise a routed signal so the read completes.
                for (int sig = 1; sig < NSIG; ++sig) {
                    if (sigismember(&self->routed_, sig) == 1) {
                        (void)::raise(sig);
                        break;
                    }
                }
            }
            while (self->op_.in_flight) { // the buffer must outlive the read
                self->loop_->io().poll(std::nullopt);
            }
        }
        if (self->counted_internal_) {
            self->loop_->internal_ops(-1);
        }
        for (int sig = 1; sig < NSIG; ++sig) {
            if (sigismember(&self->routed_, sig) == 1) {
                self->unroute(sig);
            }
        }
        ::close(self->fd_);
        if (self->dispatching_) {
            self->doomed_ = true; // a queued dispatch step still points here: it frees us
        } else {
            delete self;
        }
    }

    event_loop* loop_;
    int fd_ = -1;
    sigset_t routed_{};
    sigset_t pending_{};
    sigset_t thread_mask_{};
    small_set waited_;
    std::array<std::function<void(int)>, NSIG> handlers_{};
    // Signal numbers are ints; callers have checked 0 < sig < NSIG.
    std::function<void(int)>& handler(int sig) noexcept {
        return handlers_[static_cast<std::size_t>(sig)];
    }
    intrusive_list waiters_;
    io_op op_;
    std::array<signalfd_siginfo, 8> infos_{};
    task_base* cancel_task_ = nullptr;
    int cancel_sig_ = 0;
    int consumers_ = 0;
    bool counted_internal_ = false;
    bool interrupted_ = false;
    bool closing_ = false;
    bool dispatching_ = false;
    bool doomed_ = false;
};

inline void check_signal(int sig) {
    if (!catchable_signal(sig)) {
        throw std::invalid_argument("eddy: signal " + std::to_string(sig) + " cannot be handled");
    }
}

} // namespace detail

/// Calls `callback()` (or `callback(sig)`) on the running loop's thread, as a step of a loop
/// turn, each time `sig` arrives (asyncio's loop.add_signal_handler). Replaces a handler set
/// before for `sig`. The signal is blocked in the loop's thread and read through a signalfd;
/// if it had the default disposition, a process-directed instance delivered to another thread
/// is passed on to the loop's thread (see detail::forward_signal) until the signal is no longer
/// routed; a handler the program installed with sigaction stays. Exceptions from the callback
/// are reported on stderr. Throws std::invalid_argument for SIGKILL, SIGSTOP or a number out of
/// range, eddy::loop_error outside a running loop, std::system_error if the signalfd fails.
template <class F>
requires std::invocable<F&> || std::invocable<F&, int>
void add_signal_handler(int sig, F&& callback) {
    detail::check_signal(sig);
    auto& svc = detail::signal_service::of(get_running_loop());
    if constexpr (std::invocable<F&, int>) {
        svc.set_handler(sig, std::function<void(int)>(std::forward<F>(callback)));
    } else {
        svc.set_handler(sig, [fn = std::forward<F>(callback)](int) mutable { fn(); });
    }
}

/// Removes the handler of `sig`; returns whether there was one (asyncio's
/// remove_signal_handler). The signal then gets its normal disposition again (unless a
/// wait_signal routed it). Throws as add_signal_handler.
inline bool remove_signal_handler(int sig) {
    detail::check_signal(sig);
    event_loop& loop = get_running_loop();
    if (loop.service() == nullptr) {
        return false;
    }
    return detail::signal_service::of(loop).remove_handler(sig);
}

namespace detail {
class [[nodiscard]] signal_wait_awaiter : signal_waiter {
  public:
    explicit signal_wait_awaiter(signal_set set) : set_(set) {}
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h) {
        return signal_service::of(get_running_loop()).wait(*this, h, set_);
    }
    /// The signal's number. Throws cancelled_error if cancelled, invalid_state_error if the
    /// loop shut down meanwhile.
    int await_resume() {
        resume();
        return got_;
    }

  private:
    signal_set set_;
};
} // namespace detail

/// Waits until one of `signals` arrives and returns its number: `co_await
/// eddy::wait_signal({SIGINT, SIGTERM})`. The signals stay routed to the loop until it shuts
/// down, so one that arrives between two waits is kept (one instance per signal) and returned
/// by the next wait for it. Throws std::invalid_argument for SIGKILL, SIGSTOP, 0 or a number
/// out of range (when called), cancelled_error if cancelled while waiting, eddy::loop_error
/// outside a running loop.
[[nodiscard]] inline detail::signal_wait_awaiter wait_signal(signal_set signals) {
    if (const std::optional<int> bad = signals.invalid()) {
        throw std::invalid_argument("eddy::wait_signal: signal " + std::to_string(*bad) +
                                    " cannot be waited for");
    }
    if (signals.empty()) {
        throw std::invalid_argument("eddy::wait_signal: no signal to wait for (an empty set)");
    }
    return detail::signal_wait_awaiter(signals);
}

} // namespace eddy
