// eddy — passing a routed signal that another thread received on to the loop's thread.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <mutex>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace eddy::detail {

/// Per signal number, the thread forward_signal passes it to (0: none). Process-wide, as
/// dispositions are: forward_signal reads it on any thread, without a lock.
inline std::array<std::atomic<pid_t>, NSIG> signal_target_{};

/// The disposition eddy gives a routed signal that had the default one. A routed signal is
/// blocked only in its loop's thread: a process-directed instance (kill, Ctrl-C) may be
/// delivered to any other thread that does not block it (one the program started before the
/// loop), where the default action would kill the process. This handler passes it on to the
/// loop's thread, whose signalfd reads it (asyncio's C-level handler plays the same part,
/// whatever the thread). Async-signal-safe: an atomic load and syscalls.
inline void forward_signal(int sig) noexcept {
    const int saved = errno;
    const pid_t tid = signal_target_[static_cast<std::size_t>(sig)].load(std::memory_order_relaxed);
    if (tid == 0 || ::syscall(SYS_tgkill, ::getpid(), tid, sig) != 0) {
        // No loop routes it any more (the last one is restoring the default disposition), or
        // its thread is gone: the default action, as if eddy had never touched the signal.
        (void)::signal(sig, SIG_DFL);
        (void)::raise(sig);
    }
    errno = saved;
}

/// The threads whose loops have forward_signal installed for each signal, oldest first. One
/// lock for the whole table: taken only when a loop starts or stops routing a signal.
struct signal_forwarders {
    std::mutex lock;
    std::array<std::vector<pid_t>, NSIG> threads;
};
inline signal_forwarders& forwarders() {
    static signal_forwarders f; // constructed on first use, never from a signal handler
    return f;
}

/// Makes other threads pass `sig` on to this one, if `sig` has the default disposition (or
/// another loop's forwarding, which this thread then shares). A handler the program installed
/// itself is left as it is, and an ignored signal stays ignored. Returns true when this thread
/// joined the forwarding (stop_forwarding(sig) ends it; it is a no-op otherwise). False also when
/// out of memory: the signal is then routed without forwarding, as if the program had a handler.
inline bool forward_to_this_thread(int sig) noexcept {
    signal_forwarders& f = forwarders();
    const std::lock_guard<std::mutex> held(f.lock);
    struct sigaction current {};
    if (::sigaction(sig, nullptr, &current) != 0 || (current.sa_flags & SA_SIGINFO) != 0 ||
        (current.sa_handler != SIG_DFL && current.sa_handler != &forward_signal)) {
        return false;
    }
    std::vector<pid_t>& threads = f.threads[static_cast<std::size_t>(sig)];
    const pid_t me = ::gettid();
    try {
        threads.push_back(me);
    } catch (...) {
        return false;
    }
    signal_target_[static_cast<std::size_t>(sig)].store(me, std::memory_order_relaxed);
    if (current.sa_handler != &forward_signal) {
        struct sigaction fwd {};
        fwd.sa_handler = &forward_signal;
        sigfillset(&fwd.sa_mask);
        fwd.sa_flags = SA_RESTART;
        (void)::sigaction(sig, &fwd, nullptr);
    }
    return true;
}

/// Ends this thread's part in forwarding `sig`, before the signal is unblocked here. Signals
/// go to another thread whose loop still routes it; when none is left, the default
/// disposition comes back (asyncio restores it when the last handler goes).
inline void stop_forwarding(int sig) noexcept {
    signal_forwarders& f = forwarders();
    const std::lock_guard<std::mutex> held(f.lock);
    std::vector<pid_t>& threads = f.threads[static_cast<std::size_t>(sig)];
    const auto it = std::find(threads.rbegin(), threads.rend(), ::gettid());
    if (it == threads.rend()) {
        return;
    }
    threads.erase(std::next(it).base());
    std::atomic<pid_t>& target = signal_target_[static_cast<std::size_t>(sig)];
    if (!threads.empty()) {
        target.store(threads.back(), std::memory_order_relaxed);
        return;
    }
    target.store(0, std::memory_order_relaxed);
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
