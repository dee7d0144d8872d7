// eddy — a child process's state and the pidfd calls behind eddy::process (subprocess.hpp).
#pragma once

#include "eddy/event.hpp"
#include "eddy/stream.hpp"

#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>
#include <vector>

namespace eddy::detail {

inline int pidfd_open(pid_t pid) noexcept {
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}
inline int pidfd_send_signal(int pidfd, int sig) noexcept {
    return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}
// asyncio's returncode: the exit status, or minus the signal that killed the child.
inline int returncode_of(const siginfo_t& info) noexcept {
    return info.si_code == CLD_EXITED ? info.si_status : -info.si_status;
}

/// Set by tests to take the path of kernels without IORING_OP_WAITID (before 6.7) on a kernel
/// that has it: poll the pidfd, then a non-blocking waitid.
inline thread_local bool reap_by_poll_ = false;

/// The returncode of a child that someone else reaped: the kernel does when SIGCHLD is ignored
/// (SIG_IGN or SA_NOCLDWAIT), and so does a waitpid(-1) elsewhere in the program. Its status is
/// lost; asyncio reports 255 with a warning, and so does eddy.
inline int unknown_returncode(pid_t pid) noexcept {
    std::fprintf(stderr,
                 "eddy: child process %d was reaped by someone else (SIGCHLD ignored?); its exit "
                 "status is unknown, reported as 255\n",
                 static_cast<int>(pid));
    return 255;
}

/// A process's state, on the heap so that `process` can move while tasks wait on it.
struct process_state {
    pid_t pid_ = -1;
    int pidfd_ = -1;
    std::optional<int> returncode_;
    std::optional<stream_writer> in_;
    std::optional<stream_reader> out_;
    std::optional<stream_reader> err_;
    std::unique_ptr<event> turn_ = std::make_unique<event>(); // replaced after each reaping turn
    int waiters_ = 0;
    bool reaping_ = false;
};

// Closes what it holds unless released: the fds of a spawn that failed half-way.
struct fd_list {
    std::vector<int> fds;
    ~fd_list() {
        for (int fd : fds) {
            ::close(fd);
        }
    }
};

} // namespace eddy::detail
