// eddy — passing a routed signal that another thread received on to the loop's thread.
#pragma once

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <sys/syscall.h>
#include <unistd.h>

namespace eddy::detail {

/// Per signal number, the thread whose loop routes it with forward_signal as its disposition
/// (0: none). Process-wide, as dispositions are: forward_signal reads it on any thread.
inline std::array<std::atomic<pid_t>, NSIG> signal_owner_{};

/// The disposition eddy gives a routed signal that had the default one. A routed signal is
/// blocked only in its loop's thread: a process-directed instance (kill, Ctrl-C) may be
/// delivered to any other thread that does not block it (one the program started before the
/// loop), where the default action would kill the process. This handler passes it on to the
/// loop's thread, whose signalfd reads it (asyncio's C-level handler plays the same part,
/// whatever the thread). Async-signal-safe: an atomic load and syscalls.
inline void forward_signal(int sig) noexcept {
    const int saved = errno;
    const pid_t tid = signal_owner_[static_cast<std::size_t>(sig)].load(std::memory_order_relaxed);
    if (tid == 0 || ::syscall(SYS_tgkill, ::getpid(), tid, sig) != 0) {
        // No loop routes it any more, or its thread is gone: the default action, as if eddy
        // had never touched the signal.
        (void)::signal(sig, SIG_DFL);
        (void)::raise(sig);
    }
    errno = saved;
}

/// Makes other threads pass `sig` on to this one, if `sig` has the default disposition (or
/// another loop's forwarding). A handler the program installed itself is left as it is, and
/// an ignored signal stays ignored. Returns true when this thread now owns the forwarding.
inline bool forward_to_this_thread(int sig) noexcept {
    struct sigaction current {};
    if (::sigaction(sig, nullptr, &current) != 0 || (current.sa_flags & SA_SIGINFO) != 0 ||
        (current.sa_handler != SIG_DFL && current.sa_handler != &forward_signal)) {
        return false;
    }
    signal_owner_[static_cast<std::size_t>(sig)].store(::gettid(), std::memory_order_relaxed);
    struct sigaction fwd {};
    fwd.sa_handler = &forward_signal;
    sigfillset(&fwd.sa_mask);
    fwd.sa_flags = SA_RESTART;
    return ::sigaction(sig, &fwd, nullptr) == 0;
}

/// Ends what forward_to_this_thread(sig) started, before the signal is unblocked in this
/// thread: the default disposition again (asyncio restores it when the last handler goes),
/// unless a loop of another thread has taken the forwarding over since.
inline void stop_forwarding(int sig) noexcept {
    pid_t me = ::gettid();
    if (!signal_owner_[static_cast<std::size_t>(sig)].compare_exchange_strong(
            me, 0, std::memory_order_relaxed)) {
        return;
    }
    struct sigaction current {};
    if (::sigaction(sig, nullptr, &current) == 0 && (current.sa_flags & SA_SIGINFO) == 0 &&
        current.sa_handler == &forward_signal) {
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        (void)::sigaction(sig, &dfl, nullptr);
    }
}

} // namespace eddy::detail
