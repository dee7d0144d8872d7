// Test helpers: a lifetime-counting type, stderr capture, a pipe, an allocation counter, a
// forked child.
#pragma once

#include "catch.hpp"

#include <eddy/eddy.hpp>

#include <cerrno>
#include <coroutine>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fcntl.h>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <pthread.h>
#include <random>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>
#include <utility>
#include <vector>

namespace eddy_test {

/// Runs `body` (returning an int) in a forked child that reports through its exit status only:
/// `body`'s value, or 3 if it threw. Returns that status, or minus the signal that ended the
/// child. For tests whose failure is a signal's default action, which must end the child
/// rather than the test run.
template <class F> int run_in_child(F body) {
    const pid_t child = ::fork();
    if (child < 0) {
        throw std::system_error(errno, std::system_category(), "fork");
    }
    if (child == 0) {
        // The signal must take its default action: Catch's fatal-signal handler, inherited
        // through fork, is not async-signal-safe (it allocates), and under TSan that ends the
        // child with status 66 instead of the signal.
        for (const int sig : {SIGABRT, SIGSEGV, SIGILL, SIGFPE, SIGBUS, SIGTERM, SIGINT}) {
            ::signal(sig, SIG_DFL);
        }
        int code = 3;
        try {
            code = body();
        } catch (...) { // NOLINT(bugprone-empty-catch): reported as status 3
        }
        ::_exit(code);
    }
    int status = 0;
    while (::waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) {
            throw std::system_error(errno, std::system_category(), "waitpid");
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

/// Counts constructions and destructions: `alive()` must be 0 when everything was cleaned up,
/// and a double destruction shows as a negative count.
struct tracked {
    static inline int live = 0;
    static inline int constructed = 0;
    int value = 0;
    bool moved_from = false;

    explicit tracked(int v = 0) : value(v) { ++live, ++constructed; }
    tracked(const tracked& o) : value(o.value) { ++live, ++constructed; }
    tracked(tracked&& o) noexcept : value(o.value) {
        o.moved_from = true;
        ++live, ++constructed;
    }
    tracked& operator=(const tracked&) = default;
    tracked& operator=(tracked&&) = default;
    ~tracked() { --live; }
    static void reset() { live = constructed = 0; }
};

/// Sets (or, with nullptr, unsets) an environment variable for a scope. ctest runs each case in
/// its own process, so this does not leak into other tests.
class env_var {
  public:
    env_var(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) {
            saved_ = old;
        }
        if (value != nullptr) {
            ::setenv(name, value, 1);
        } else {
            ::unsetenv(name);
        }
    }
    env_var(const env_var&) = delete;
    env_var& operator=(const env_var&) = delete;
    ~env_var() {
        if (saved_) {
            ::setenv(name_, saved_->c_str(), 1);
        } else {
            ::unsetenv(name_);
        }
    }

  private:
    const char* name_;
    std::optional<std::string> saved_;
};

/// Runs `fn` with stderr redirected to a temporary file and returns what was written.
template <class F> std::string capture_stderr(F&& fn) {
    std::fflush(stderr);
    char path[] = "/tmp/eddy-stderr-XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    ::unlink(path);
    const int saved = ::dup(2);
    ::dup2(fd, 2);
    try {
        std::forward<F>(fn)();
    } catch (...) {
        std::fflush(stderr);
        ::dup2(saved, 2);
        ::close(saved);
        ::close(fd);
        throw;
    }
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    std::string out;
    ::lseek(fd, 0, SEEK_SET);
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

/// A pipe whose ends close on destruction.
struct pipe_pair {
    int r = -1;
    int w = -1;
    pipe_pair() {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) {
            throw std::runtime_error("pipe2 failed");
        }
        r = fds[0];
        w = fds[1];
    }
    pipe_pair(const pipe_pair&) = delete;
    pipe_pair& operator=(const pipe_pair&) = delete;
    ~pipe_pair() {
        close_read();
        close_write();
    }
    void close_read() {
        if (r >= 0) {
            ::close(r);
            r = -1;
        }
    }
    void close_write() {
        if (w >= 0) {
            ::close(w);
            w = -1;
        }
    }
};

/// A task that sleeps `d`, then returns `v`.
inline eddy::task<int> after(std::chrono::milliseconds d, int v) {
    co_await eddy::sleep(d);
    co_return v;
}

/// Tasks created at once, the i-th sleeping `delays_ms[i]` milliseconds and then returning i.
inline std::vector<eddy::task_handle<int>> spawn_after(std::initializer_list<int> delays_ms) {
    std::vector<eddy::task_handle<int>> hs;
    int v = 0;
    for (int d : delays_ms) {
        hs.push_back(eddy::create_task(after(std::chrono::milliseconds(d), v++)));
    }
    return hs;
}

/// Awaits `h` (a task handle, by reference) and says whether it ended with cancelled_error;
/// any other exception propagates. The await-and-expect-cancelled idiom of the cancellation tests.
template <class H> eddy::task<bool> ends_cancelled(H& h) {
    bool cancelled = false;
    try {
        (void)co_await h;
    } catch (const eddy::cancelled_error&) {
        cancelled = true;
    }
    co_return cancelled;
}

/// What an awaited operation threw as std::system_error: its errno and what() (code 0 when it
/// succeeded). The await-and-expect-an-errno idiom of the networking tests.
struct system_failure {
    int code = 0;
    std::string what;
};
template <class A> eddy::task<system_failure> system_error_of(A awaitable) {
    try {
        (void)co_await std::move(awaitable);
    } catch (const std::system_error& e) {
        co_return system_failure{e.code().value(), e.what()};
    }
    co_return system_failure{};
}

/// A loopback port nobody listens on, for `type` (SOCK_STREAM or SOCK_DGRAM): bound by a
/// socket that is closed again.
inline std::uint16_t unused_port(int type = SOCK_STREAM) {
    auto s = eddy::socket::open(AF_INET, type);
    s.bind(eddy::endpoint::ipv4_loopback(0));
    return s.local_endpoint().port();
}

/// Kernel operations in flight on the running loop's reactor.
inline std::uint64_t in_flight() {
    return eddy::get_running_loop().in_flight();
}

/// Milliseconds elapsed since `start` on the loop clock.
inline double ms_since(eddy::clock::time_point start) {
    return std::chrono::duration<double, std::milli>(eddy::clock::now() - start).count();
}

/// Global operator new calls on this thread so far (defined in test_alloc_counter.cpp, which
/// replaces the global allocation functions for the whole test binary).
std::uint64_t allocations() noexcept;

/// File descriptors open in this process now: equal before and after a test when it leaked none.
inline std::size_t open_fds() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
        ++n;
    }
    return n;
}

/// `n` bytes of a deterministic pseudo-random pattern (data whose loss, duplication or reordering
/// shows).
inline std::string pattern(std::size_t n, unsigned seed = 1) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s) {
        c = static_cast<char>(rng());
    }
    return s;
}

/// A coroutine type of the user's (not an eddy task): starts at once, and its owner may destroy
/// it while it is suspended, as any coroutine may be.
struct eager_coroutine {
    struct promise_type {
        eager_coroutine get_return_object() {
            return {std::coroutine_handle<promise_type>::from_promise(*this)};
        }
        std::suspend_never initial_suspend() noexcept { return {}; }
        std::suspend_always final_suspend() noexcept { return {}; }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { std::terminate(); }
    };
    std::coroutine_handle<promise_type> h;
};

/// Whether `sig` is blocked in the calling thread's signal mask.
inline bool blocked_in_this_thread(int sig) {
    sigset_t now;
    pthread_sigmask(SIG_SETMASK, nullptr, &now);
    return sigismember(&now, sig) == 1;
}

/// Gives SIGINT its default disposition for a scope. Catch2 installs its own SIGINT handler
/// while tests run, and run() rightly leaves a handler it did not install alone; tests of the
/// Ctrl-C watch need the default disposition, as in a program.
class default_sigint {
  public:
    default_sigint() {
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        ::sigaction(SIGINT, &dfl, &saved_);
    }
    default_sigint(const default_sigint&) = delete;
    default_sigint& operator=(const default_sigint&) = delete;
    ~default_sigint() { ::sigaction(SIGINT, &saved_, nullptr); }

  private:
    struct sigaction saved_ {};
};

} // namespace eddy_test
