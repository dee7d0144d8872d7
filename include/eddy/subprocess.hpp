// eddy — subprocesses: create_subprocess_exec / _shell with piped stdio, waited through a pidfd
// (IORING_OP_WAITID where the kernel has it), signalled through the pidfd (no pid reuse race).
#pragma once

#include "eddy/create_task.hpp"
#include "eddy/detail/c_string.hpp"
#include "eddy/detail/process_state.hpp"
#include "eddy/errors.hpp"
#include "eddy/event.hpp"
#include "eddy/gather.hpp"
#include "eddy/io.hpp"
#include "eddy/loop.hpp"
#include "eddy/pipe.hpp"
#include "eddy/stream.hpp"
#include "eddy/task.hpp"

#include <cerrno>
#include <concepts>
#include <csignal>
#include <cstdio>
#include <exception>
#include <fcntl.h>
#include <memory>
#include <optional>
#include <poll.h>
#include <span>
#include <spawn.h>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>
#include <utility>
#include <vector>

extern char** environ; // NOLINT: POSIX declares it nowhere

namespace eddy {

/// What a child's standard stream is connected to (asyncio's PIPE, DEVNULL, STDOUT, None).
enum class stdio {
    inherit, ///< the parent's own stream (asyncio's None)
    pipe,    ///< a pipe: the process object gets a stream for it
    devnull, ///< /dev/null
    stdout_, ///< stderr only: into the same place as stdout (asyncio's STDOUT)
};

/// How to start a subprocess. With cwd or env set, pass it named, not as a braced temporary in
/// the co_await operand: g++ 12 destroys such a temporary twice (GCC PR 99576's family; see the
/// README's compiler notes).
struct subprocess_options {
    /// The child's stdin (the trailing _ because stdin, stdout and stderr are <cstdio> macros).
    stdio stdin_ = stdio::inherit;
    /// The child's stdout. stdio::stdout_ is for stderr only (std::invalid_argument here).
    stdio stdout_ = stdio::inherit;
    /// The child's stderr; stdio::stdout_ sends it wherever stdout goes.
    stdio stderr_ = stdio::inherit;
    /// Working directory of the child (default: the parent's).
    std::optional<std::string> cwd{};
    /// The child's whole environment as "NAME=value" strings (default: the parent's).
    std::optional<std::vector<std::string>> env{};
    /// Limit of the stdout/stderr readers' read_until and readline.
    std::size_t limit = stream_reader::default_limit;
};

/// A child's arguments (argv[1...]): `{"-c", "exit 3"}`, or a std::vector<std::string>. A
/// variadic constructor rather than std::initializer_list, because g++ 12 rejects an
/// initializer_list temporary inside a co_await operand ("array used as initializer"), and
/// `co_await create_subprocess_exec("sh", {"-c", cmd})` is what users write.
class arguments {
  public:
    arguments() = default;
    /// The strings of `list`, in order. Implicit, so that a std::vector<std::string> converts.
    arguments(std::vector<std::string> list) : list_(std::move(list)) {} // NOLINT: implicit
    /// One argument per string-like `args`, copied, in order: `{"-c", cmd}`.
    template <class... S>
    requires(sizeof...(S) > 0 && (std::convertible_to<const S&, std::string_view> && ...))
        arguments(const S&... args) { // NOLINT(google-explicit-constructor): `{"-c", cmd}`
        list_.reserve(sizeof...(S));
        (list_.emplace_back(std::string_view(args)), ...);
    }
    /// The arguments, in order (mutable: create_subprocess_exec points argv's char* into them).
    [[nodiscard]] std::vector<std::string>& list() noexcept { return list_; }

  private:
    std::vector<std::string> list_;
};

/// What communicate() collected (empty for a stream that is not a pipe).
struct process_output {
    /// What the child wrote to stdout, to end of file ("" unless stdout was a pipe).
    std::string out;
    /// What the child wrote to stderr, to end of file ("" unless stderr was a pipe).
    std::string err;
};

/// A running (or finished) child process (asyncio.subprocess.Process). Move-only. Destroying it
/// before the child was reaped kills the child (SIGKILL) and reaps it synchronously, so no
/// zombie is left behind; destroying it, or assigning to it, while a task is inside wait() or
/// communicate() is a bug (terminates).
/// A moved-from process holds no child: only assigning to it and destroying it are allowed.
class process {
  public:
    process(process&&) noexcept = default;
    /// Takes `o`'s child; the child this one held is first ended as by the destructor (killed
    /// and reaped unless it was waited for). `self.proc = await create_subprocess_exec(...)`.
    process& operator=(process&& o) noexcept {
        if (this != &o) {
            end();
            s_ = std::move(o.s_);
        }
        return *this;
    }
    process(const process&) = delete;
    process& operator=(const process&) = delete;
    ~process() { end(); }

    /// The child's process id.
    [[nodiscard]] pid_t pid() const noexcept { return s_->pid_; }
    /// The exit status, minus the signal number if a signal ended it, or nothing while the
    /// child has not been waited for (asyncio's returncode).
    [[nodiscard]] std::optional<int> returncode() const noexcept { return s_->returncode_; }

    /// The child's stdin, stdout and stderr as streams. Throw eddy::invalid_state_error when
    /// that stream was not made a pipe.
    [[nodiscard]] stream_writer& stdin_pipe() { return piped(s_->in_, "stdin"); }
    [[nodiscard]] stream_reader& stdout_pipe() { return piped(s_->out_, "stdout"); }
    [[nodiscard]] stream_reader& stderr_pipe() { return piped(s_->err_, "stderr"); }

    /// Waits for the child to end and returns its returncode. Any number of tasks may wait;
    /// the child is reaped once (through IORING_OP_WAITID, or a poll of the pidfd on kernels
    /// before 6.7). Cancelling a wait stops waiting only; the process object stays usable.
    /// Throws cancelled_error, std::system_error.
    [[nodiscard]] task<int> wait() {
        detail::process_state* s = s_.get();
        ++s->waiters_;
        struct leave {
            detail::process_state* s;
            ~leave() { --s->waiters_; }
        } guard{s};
        while (!s->returncode_) {
            if (s->reaping_) {
                event* turn = s->turn_.get();
                co_await turn->wait(); // the reaper finished or gave up its turn
                continue;
            }
            s->reaping_ = true;
            std::exception_ptr failed;
            try {
                co_await reap(*s);
            } catch (...) {
                failed = std::current_exception();
            }
            s->reaping_ = false;
            // Wake the other waiters: they see the returncode, or one of them takes over.
            auto done = std::exchange(s->turn_, std::make_unique<event>());
            done->set();
            if (failed) {
                std::rethrow_exception(failed);
            }
        }
        co_return *s->returncode_;
    }

    /// Sends `sig` through the pidfd (never to a recycled pid). Does nothing once the child has
    /// been reaped. Throws std::system_error (EPERM...).
    void send_signal(int sig) {
        if (s_->returncode_) {
            return;
        }
        if (detail::pidfd_send_signal(s_->pidfd_, sig) < 0 && errno != ESRCH) {
            throw std::system_error(errno, std::system_category(), "eddy::process::send_signal");
        }
    }
    /// send_signal(SIGTERM).
    void terminate() { send_signal(SIGTERM); }
    /// send_signal(SIGKILL).
    void kill() { send_signal(SIGKILL); }

    /// Writes `input` to the child's stdin (if piped) and closes it, reads its stdout and stderr
    /// (if piped) to end of file, all concurrently, then waits for it to end (asyncio's
    /// communicate). A child that exits without reading its input is not an error (EPIPE is
    /// ignored, as asyncio does), and input for a stdin already closed is dropped. Whatever
    /// happens, the reads are finished or cancelled before it returns or throws. Throws
    /// eddy::invalid_state_error if `input` is given but stdin is not a pipe; cancelled_error;
    /// std::system_error.
    [[nodiscard]] task<process_output> communicate(std::string input = {}) {
        detail::process_state* s = s_.get();
        if (!input.empty() && !s->in_) {
            throw invalid_state_error("eddy::process::communicate: stdin is not a pipe");
        }
        // Counted as a waiter from the start, not only at its final wait(): its readers read
        // this process's streams, and that wait must be for this child, so the process must
        // not be destroyed or assigned to meanwhile (that terminates, as for wait()).
        ++s->waiters_;
        struct leave {
            detail::process_state* s;
            ~leave() { --s->waiters_; }
        } guard{s};
        auto feed = [](detail::process_state* st, std::string data) -> task<> {
            if (!st->in_) {
                co_return;
            }
            try {
                // A stdin closed already takes no input: it is dropped, as asyncio's closed
                // transport drops it.
                if (!data.empty() && !st->in_->is_closing()) {
                    st->in_->write(std::as_bytes(std::span(data)));
                }
                st->in_->close();
                co_await st->in_->wait_closed();
            } catch (const std::system_error& e) {
                if (e.code().value() != EPIPE && e.code().value() != ECONNRESET) {
                    throw; // a child that exits without reading its input is not an error
                }
            }
        };
        auto drain = [](stream_reader* r) -> task<std::string> {
            if (r == nullptr) {
                co_return std::string();
            }
            co_return co_await r->read();
        };
        // The readers run beside the feed (a child that fills its stdout before it has read all
        // its input would otherwise deadlock with it). They read into this process's streams,
        // so they never outlive this call: if the feed fails or this task is cancelled, they are
        // cancelled and waited for before it ends.
        task_handle<std::string> out = create_task(drain(s->out_ ? &*s->out_ : nullptr));
        task_handle<std::string> err = create_task(drain(s->err_ ? &*s->err_ : nullptr));
        std::exception_ptr failure;
        try {
            co_await feed(s, std::move(input));
        } catch (...) {
            failure = std::current_exception();
            out.cancel();
            err.cancel();
        }
        auto [out_text, err_text] =
            co_await gather(return_exceptions, std::move(out), std::move(err));
        if (failure) {
            std::rethrow_exception(failure);
        }
        std::string collected_out = std::move(out_text).value(); // rethrows a reader's failure
        std::string collected_err = std::move(err_text).value();
        (void)co_await wait();
        co_return process_output{std::move(collected_out), std::move(collected_err)};
    }

  private:
    // The destructor's work: the child killed and reaped unless it was waited for.
    void end() noexcept {
        if (!s_) {
            return;
        }
        if (s_->waiters_ != 0) {
            std::fprintf(stderr, "eddy: a process was destroyed or assigned to while a task "
                                 "was in its wait() or communicate()\n");
            std::terminate();
        }
        if (!s_->returncode_) {
            (void)detail::pidfd_send_signal(s_->pidfd_, SIGKILL);
            siginfo_t info{};
            while (::waitid(P_PIDFD, static_cast<id_t>(s_->pidfd_), &info, WEXITED) < 0 &&
                   errno == EINTR) {
            }
        }
        if (s_->pidfd_ >= 0) {
            ::close(s_->pidfd_);
        }
    }
    friend task<process> create_subprocess_exec(std::string program, arguments args,
                                                subprocess_options options);
    explicit process(std::unique_ptr<detail::process_state> s) noexcept : s_(std::move(s)) {}

    template <class S> static S& piped(std::optional<S>& s, const char* name) {
        if (!s) {
            throw invalid_state_error(std::string("eddy::process: ") + name + " is not a pipe");
        }
        return *s;
    }

    static task<> reap(detail::process_state& s) {
        siginfo_t info{};
        bool reaped_elsewhere = false;
        if (get_running_loop().io().supports(detail::op_kind::waitid) && !detail::reap_by_poll_) {
            detail::io_op op;
            op.kind = detail::op_kind::waitid;
            op.fd = s.pidfd_;
            op.len = P_PIDFD;
            op.flags = WEXITED;
            op.buf2 = &info;
            try {
                (void)co_await detail::io_awaiter<int>(op, "process::wait");
            } catch (const std::system_error& e) {
                if (e.code().value() != ECHILD) {
                    throw;
                }
                reaped_elsewhere = true;
            }
        } else {
            // WNOHANG: a readiness report that was not the child's exit must not block the loop
            // in waitid; the pidfd is then polled again.
            for (;;) {
                (void)co_await poll(s.pidfd_, POLLIN);
                info = siginfo_t{};
                if (::waitid(P_PIDFD, static_cast<id_t>(s.pidfd_), &info, WEXITED | WNOHANG) == 0) {
                    if (info.si_pid != 0) {
                        break;
                    }
                    continue; // not exited yet
                }
                if (errno == ECHILD) {
                    reaped_elsewhere = true;
                    break;
                }
                if (errno != EINTR) {
                    throw std::system_error(errno, std::system_category(), "eddy::process::wait");
                }
            }
        }
        s.returncode_ =
            reaped_elsewhere ? detail::unknown_returncode(s.pid_) : detail::returncode_of(info);
    }

    std::unique_ptr<detail::process_state> s_;
};

/// Starts `program` with `args` (argv[1...]; argv[0] is `program`) and returns the process
/// (asyncio.create_subprocess_exec). A program without '/' is looked up in PATH. The child gets
/// an empty signal mask and every signal at its default action (SIGPIPE included, which eddy
/// ignores in the parent), and no fd but its three standard streams (eddy's own fds are
/// close-on-exec). Spawning (vfork + exec) runs on the loop thread. Throws std::system_error
/// naming the program (ENOENT when it does not exist, EACCES...), and naming options.cwd too
/// when that directory is missing or not searchable; std::invalid_argument for stdio::stdout_
/// anywhere but stderr, and for a program, argument, cwd or environment entry holding a NUL
/// byte (as a C string it would be cut there).
[[nodiscard]] inline task<process> create_subprocess_exec(std::string program, arguments args = {},
                                                          subprocess_options options = {}) {
    if (options.stdin_ == stdio::stdout_ || options.stdout_ == stdio::stdout_) {
        throw std::invalid_argument("eddy::create_subprocess_exec: stdio::stdout_ is only for "
                                    "stderr");
    }
    detail::reject_embedded_nul(program, "create_subprocess_exec: the program");
    for (const std::string& a : args.list()) {
        detail::reject_embedded_nul(a, "create_subprocess_exec: an argument");
    }
    if (options.cwd) {
        detail::reject_embedded_nul(*options.cwd, "create_subprocess_exec: cwd");
    }
    if (options.env) {
        for (const std::string& e : *options.env) {
            detail::reject_embedded_nul(e, "create_subprocess_exec: an environment entry");
        }
    }
    auto state = std::make_unique<detail::process_state>();
    detail::fd_list child_ends; // closed in the parent once the child has them
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    struct cleanup {
        posix_spawn_file_actions_t* a;
        posix_spawnattr_t* t;
        ~cleanup() {
            posix_spawn_file_actions_destroy(a);
            posix_spawnattr_destroy(t);
        }
    } cleanup_guard{&actions, &attr};

    auto connect = [&](stdio how, int target, bool child_reads) {
        switch (how) {
        case stdio::inherit:
            break;
        case stdio::devnull:
            posix_spawn_file_actions_addopen(&actions, target, "/dev/null",
                                             child_reads ? O_RDONLY : O_WRONLY, 0);
            break;
        case stdio::stdout_:
            posix_spawn_file_actions_adddup2(&actions, 1, target);
            break;
        case stdio::pipe: {
            int fds[2];
            if (::pipe2(fds, O_CLOEXEC) != 0) {
                throw std::system_error(errno, std::system_category(),
                                        "eddy::create_subprocess_exec: pipe");
            }
            const int child = child_reads ? fds[0] : fds[1];
            const int parent = child_reads ? fds[1] : fds[0];
            child_ends.fds.push_back(child);
            posix_spawn_file_actions_adddup2(&actions, child, target); // dup2 clears CLOEXEC
            if (child_reads) {
                state->in_.emplace(parent);
            } else if (target == 1) {
                state->out_.emplace(parent, options.limit);
            } else {
                state->err_.emplace(parent, options.limit);
            }
            break;
        }
        }
    };
    connect(options.stdin_, 0, true);
    connect(options.stdout_, 1, false);
    connect(options.stderr_, 2, false);
    if (options.cwd) {
        posix_spawn_file_actions_addchdir_np(&actions, options.cwd->c_str());
    }

    sigset_t none;
    sigset_t all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);   // the loop thread blocks routed signals
    posix_spawnattr_setsigdefault(&attr, &all); // SIGPIPE was ignored for eddy's pipes
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<char*> argv;
    argv.reserve(args.list().size() + 2);
    argv.push_back(program.data());
    for (std::string& a : args.list()) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    std::vector<char*> envp;
    if (options.env) {
        for (std::string& e : *options.env) {
            envp.push_back(e.data());
        }
        envp.push_back(nullptr);
    }
    char** env = options.env ? envp.data() : environ;

    pid_t pid = -1;
    const int rc = program.find('/') == std::string::npos
                       ? ::posix_spawnp(&pid, program.c_str(), &actions, &attr, argv.data(), env)
                       : ::posix_spawn(&pid, program.c_str(), &actions, &attr, argv.data(), env);
    if (rc != 0) {
        // posix_spawn reports a failed chdir with the same errno as a failed exec: name the
        // directory when it is the culprit (not a searchable directory), else the program.
        std::string what = "eddy::create_subprocess_exec(\"" + program + "\")";
        if (options.cwd && ::access(options.cwd->c_str(), X_OK) != 0) {
            what += ": cwd \"" + *options.cwd + "\"";
        }
        throw std::system_error(rc, std::system_category(), what);
    }
    state->pid_ = pid;
    state->pidfd_ = detail::pidfd_open(pid);
    if (state->pidfd_ < 0 && errno == ESRCH) {
        // The child ran and is gone already, reaped by someone else (see unknown_returncode):
        // the spawn succeeded, so this is not an error (a retry could run it twice).
        state->returncode_ = detail::unknown_returncode(pid);
        co_return process(std::move(state));
    }
    if (state->pidfd_ < 0) {
        const int err = errno;
        ::kill(pid, SIGKILL);
        while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
        }
        throw std::system_error(err, std::system_category(),
                                "eddy::create_subprocess_exec: "
                                "pidfd_open (Linux >= 5.3 needed)");
    }
    co_return process(std::move(state));
}

/// Runs `command` through /bin/sh -c (asyncio.create_subprocess_shell). Quoting is the
/// caller's job, as with any shell. Throws as create_subprocess_exec.
[[nodiscard]] inline task<process> create_subprocess_shell(std::string command,
                                                           subprocess_options options = {}) {
    return create_subprocess_exec("/bin/sh",
                                  arguments(std::vector<std::string>{"-c", std::move(command)}),
                                  std::move(options));
}

} // namespace eddy
