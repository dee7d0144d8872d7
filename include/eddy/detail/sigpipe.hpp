// eddy — SIGPIPE: ignored once, lazily, as Python does at startup.
#pragma once

#include <csignal>

namespace eddy::detail {

/// Sets SIGPIPE to SIG_IGN if, the first time this is called in the process, it is SIG_DFL;
/// later calls do nothing. Called when eddy first makes a pipe or a stream_writer.
///
/// Why: IORING_OP_WRITE to a pipe (or socket) whose reader has gone raises SIGPIPE, whose
/// default action kills the process before the write's EPIPE can reach the writer. Python
/// ignores SIGPIPE at startup for the same reason. A disposition the user chose (a handler,
/// or SIG_IGN already) is never overridden. Thread-safe (a function-local static). Child
/// processes inherit SIG_IGN across exec: whoever spawns them must reset SIGPIPE to SIG_DFL in
/// the child, as Python's subprocess does (restore_signals=True).
inline void ignore_sigpipe() noexcept {
    static const bool done = [] {
        struct sigaction old {};
        if (::sigaction(SIGPIPE, nullptr, &old) != 0) {
            return false;
        }
        if ((old.sa_flags & SA_SIGINFO) != 0 || old.sa_handler != SIG_DFL) {
            return false; // the user's choice
        }
        struct sigaction ign {};
        ign.sa_handler = SIG_IGN;
        ::sigemptyset(&ign.sa_mask);
        return ::sigaction(SIGPIPE, &ign, nullptr) == 0;
    }();
    (void)done;
}

} // namespace eddy::detail
