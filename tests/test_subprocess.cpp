// Subprocesses: piped stdio, exit codes and signals, many children at once, cancellation of a
// wait, and no zombie left behind whatever happens.
#include "helpers.hpp"

#include <csignal>
#include <optional>
#include <string>
#include <sys/wait.h>
#include <vector>

using namespace std::chrono_literals;

namespace {
// True when `pid` is no child of ours any more (reaped): no zombie left behind.
bool reaped(pid_t pid) {
    siginfo_t info{};
    return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) < 0 &&
           errno == ECHILD;
}

eddy::subprocess_options piped_io() {
    eddy::subprocess_options o;
    o.stdin_ = eddy::stdio::pipe;
    o.stdout_ = eddy::stdio::pipe;
    return o;
}
} // namespace

TEST_CASE("a child echoes what is written to its stdin back through its stdout", "[subprocess]") {
    pid_t pid = -1;
    eddy::run([&]() -> eddy::task<> {
        auto p = co_await eddy::create_subprocess_exec("cat", {}, piped_io());
        pid = p.pid();
        p.stdin_pipe().write(std::string_view("hello\n"));
        const std::string line = co_await p.stdout_pipe().readline();
        CHECK(line == "hello\n");
        p.stdin_pipe().close();
        const std::string rest = co_await p.stdout_pipe().read();
        CHECK(rest.empty());
        const int rc = co_await p.wait();
        CHECK(rc == 0);
        CHECK(p.returncode() == 0);
    }());
    CHECK(reaped(pid));
}

TEST_CASE("communicate feeds stdin and collects stdout and stderr", "[subprocess]") {
    eddy::run([]() -> eddy::task<> {
        eddy::subprocess_options o = piped_io();
        o.stderr_ = eddy::stdio::pipe;
        auto p = co_await eddy::create_subprocess_shell("cat; echo oops >&2; exit 4", o);
        const std::string big(1 << 20, 'z'); // larger than a pipe buffer: needs concurrency
        auto out = co_await p.communicate(big + "!");
        CHECK(out.out.size() == big.size() + 1);
        CHECK(out.out.back() == '!');
        CHECK(out.err == "oops\n");
        CHECK(p.returncode() == 4);
    }());
}

TEST_CASE("exit codes and killing signals become the returncode", "[subprocess]") {
    eddy::run([]() -> eddy::task<> {
        auto three = co_await eddy::create_subprocess_exec("sh", {"-c", "exit 3"});
        const int rc3 = co_await three.wait();
        CHECK(rc3 == 3);

        auto sleeper = co_await eddy::create_subprocess_exec("sleep", {"100"});
        CHECK_FALSE(sleeper.returncode().has_value());
        sleeper.kill();
        const int killed = co_await sleeper.wait();
        CHECK(killed == -SIGKILL);

        auto polite = co_await eddy::create_subprocess_exec("sleep", {"100"});
        polite.terminate();
        const int termed = co_await polite.wait();
        CHECK(termed == -SIGTERM);
        polite.kill(); // after the reap: does nothing, never signals a recycled pid
    }());
}

TEST_CASE("100 processes run concurrently and each reports its own exit code", "[subprocess]") {
    eddy::run([]() -> eddy::task<> {
        auto one = [](int i) -> eddy::task<int> {
            auto p = co_await eddy::create_subprocess_exec(
                "sh", {"-c", "sleep 0.05; exit " + std::to_string(i % 7)});
            co_return co_await p.wait();
        };
        std::vector<eddy::task<int>> all;
        all.reserve(100);
        for (int i = 0; i < 100; ++i) {
            all.push_back(one(i));
        }
        const auto codes = co_await eddy::gather(std::move(all));
        int wrong = 0;
        for (int i = 0; i < 100; ++i) {
            wrong += codes[static_cast<std::size_t>(i)] != i % 7 ? 1 : 0;
        }
        CHECK(wrong == 0);
    }());
    siginfo_t info{};
    CHECK(::waitid(P_ALL, 0, &info, WEXITED | WNOHANG) < 0); // no child left at all
}

TEST_CASE("a program that does not exist is a system_error naming it", "[subprocess]") {
    eddy::run([]() -> eddy::task<> {
        bool caught = false;
        try {
            auto p = co_await eddy::create_subprocess_exec("/nonexistent/eddy-prog");
        } catch (const std::system_error& e) {
            caught = e.code().value() == ENOENT &&
                     std::string(e.what()).find("/nonexistent/eddy-prog") != std::string::npos;
        }
        CHECK(caught);
    }());
}

TEST_CASE("a program, argument, cwd or environment entry holding a NUL byte is refused with "
          "invalid_argument",
          "[subprocess]") {
    const std::string nul(1, '\0');
    int refused = 0;
    eddy::run([&]() -> eddy::task<> {
        // Named arguments, not braced temporaries inside co_await (the g++ 12 trap in the
        // README's compiler notes).
        const std::vector<std::string> none;
        const std::vector<std::string> cut_arg{"a" + nul + "b"}; // would print "a"
        const eddy::subprocess_options plain;
        eddy::subprocess_options in_dir;
        in_dir.cwd = "/tmp" + nul + "/nonexistent";
        eddy::subprocess_options with_env;
        with_env.env = std::vector<std::string>{"A=1" + nul + "B=2"};
        const std::string echo_cut = "ec" + nul + "ho";
        for (int i = 0; i < 4; ++i) {
            std::string program = i == 0 ? echo_cut : (i == 1 ? "echo" : "true");
            std::vector<std::string> args = i == 1 ? cut_arg : none;
            eddy::subprocess_options options = i == 2 ? in_dir : (i == 3 ? with_env : plain);
            try {
                auto p = co_await eddy::create_subprocess_exec(std::move(program), std::move(args),
                                                               std::move(options));
                (void)co_await p.wait();
            } catch (const std::invalid_argument&) {
                ++refused;
            }
        }
    }());
    CHECK(refused == 4);
}

TEST_CASE("a cwd that does not exist is a system_error naming the directory", "[subprocess]") {
    eddy::run([]() -> eddy::task<> {
        std::string what;
        int code = 0;
        try {
            eddy::subprocess_options o;
            o.cwd = "/nonexistent/eddy-dir";
            auto p = co_await eddy::create_subprocess_exec("true", {}, o);
        } catch (const std::system_error& e) {
            code = e.code().value();
            what = e.what();
        }
        CHECK(code == ENOENT);
        CHECK(what.find("cwd \"/nonexistent/eddy-dir\"") != std::string::npos);
        CHECK(what.find("\"true\"") != std::string::npos);
    }());
}

TEST_CASE("with SIGCHLD ignored, children run and report returncode 255 with a warning, as in "
          "asyncio",
          "[subprocess]") {
    struct sigaction old {};
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    REQUIRE(::sigaction(SIGCHLD, &ign, &old) == 0); // the kernel now reaps children itself
    std::vector<int> codes;
    std::string failure;
    const std::string err = eddy_test::capture_stderr([&] {
        eddy::run([&]() -> eddy::task<> {
            try {
                // One that exits at once (often gone before its pidfd is opened), one that
                // lives on for a while (reaped by the kernel while wait() waits).
                auto quick = co_await eddy::create_subprocess_exec("true");
                codes.push_back(co_await quick.wait());
                auto slow =
                    co_await eddy::create_subprocess_exec("sh", {"-c", "sleep 0.05; exit 3"});
                codes.push_back(co_await slow.wait());
            } catch (const std::exception& e) {
                failure = e.what();
            }
        }());
    });
    ::sigaction(SIGCHLD, &old, nullptr);
    CHECK(failure.empty());
    CHECK(codes == std::vector<int>{255, 255});
    CHECK(err.find("reaped by someone else") != std::string::npos);
}

TEST_CASE("cancelling a wait stops waiting and the process can still be waited for",
          "[subprocess]") {
    pid_t pid = -1;
    eddy::run([&]() -> eddy::task<> {
        auto p = co_await eddy::create_subprocess_exec("sleep", {"100"});
        pid = p.pid();
        auto waiting = eddy::create_task(p.wait());
        co_await eddy::sleep(2ms);
        waiting.cancel();
        const bool cancelled = co_await eddy_test::ends_cancelled(waiting);
        CHECK(cancelled);
        CHECK(eddy::get_running_loop().in_flight() == 0); // the waitid left the kernel
        p.kill();
        const int rc = co_await p.wait();
        CHECK(rc == -SIGKILL);
    }());
    CHECK(reaped(pid));
}

TEST_CASE("several tasks waiting for one process all get its returncode", "[subprocess]") {
    eddy::run([]() -> eddy::task<> {
        auto p = co_await eddy::create_subprocess_exec("sh", {"-c", "sleep 0.02; exit 9"});
        auto a = eddy::create_task(p.wait());
        auto b = eddy::create_task(p.wait());
        const int direct = co_await p.wait();
        const int ra = co_await a;
        const int rb = co_await b;
        CHECK(direct == 9);
        CHECK(ra == 9);
        CHECK(rb == 9);
    }());
}

TEST_CASE("a process dropped without waiting is killed and reaped, leaving no zombie",
          "[subprocess]") {
    pid_t pid = -1;
    eddy::run([&]() -> eddy::task<> {
        auto p = co_await eddy::create_subprocess_exec("sleep", {"100"});
        pid = p.pid();
    }());
    CHECK(reaped(pid));
}

TEST_CASE("a process can be move-assigned: the child it held is killed and reaped, the new one "
          "is kept",
          "[subprocess]") {
    pid_t first = -1;
    pid_t second = -1;
    int code = -1;
    eddy::run([&]() -> eddy::task<> {
        std::optional<eddy::process> p;
        p = co_await eddy::create_subprocess_exec("sleep", {"100"}); // asyncio's self.proc = ...
        first = p->pid();
        p = co_await eddy::create_subprocess_exec("sh", {"-c", "exit 7"});
        second = p->pid();
        CHECK(reaped(first)); // before run ends: the assignment ended it
        code = co_await p->wait();
    }());
    CHECK(second != first);
    CHECK(code == 7);
}

TEST_CASE("assigning to a process while a task is in its communicate() stops the program rather "
          "than answer for the new child",
          "[subprocess]") {
    // A forked child: the expected end is std::terminate (SIGABRT), after eddy's message.
    const int outcome = eddy_test::run_in_child([] {
        eddy::run([]() -> eddy::task<> {
            eddy::subprocess_options o;
            o.stdin_ = eddy::stdio::pipe;
            // The child outlives this aborted process: it must not hold ctest's output pipe.
            o.stdout_ = eddy::stdio::devnull;
            o.stderr_ = eddy::stdio::devnull;
            auto p = co_await eddy::create_subprocess_exec("sleep", {"5"}, o);
            auto talk = eddy::create_task(p.communicate(std::string(1 << 20, 'x')));
            co_await eddy::sleep(10ms); // it is feeding stdin
            p = co_await eddy::create_subprocess_exec("true");
            (void)co_await talk; // not reached
        }());
        return 0;
    });
    CHECK(outcome == -SIGABRT);
}

TEST_CASE("a task cancelled while its child runs leaves no zombie at run's end", "[subprocess]") {
    pid_t pid = -1;
    eddy::run([&]() -> eddy::task<> {
        auto child = eddy::create_task([&]() -> eddy::task<> {
            auto p = co_await eddy::create_subprocess_exec("sleep", {"100"});
            pid = p.pid();
            (void)co_await p.wait(); // cancelled by run's shutdown
        });
        co_await eddy::sleep(5ms);
    }());
    REQUIRE(pid > 0);
    CHECK(reaped(pid));
}

TEST_CASE("stderr can join stdout, stdin can be /dev/null, and cwd and env apply", "[subprocess]") {
    eddy::run([]() -> eddy::task<> {
        eddy::subprocess_options o;
        o.stdin_ = eddy::stdio::devnull;
        o.stdout_ = eddy::stdio::pipe;
        o.stderr_ = eddy::stdio::stdout_;
        o.cwd = "/tmp";
        o.env = std::vector<std::string>{"EDDY_TEST_VAR=42"};
        auto p = co_await eddy::create_subprocess_exec(
            "/bin/sh", {"-c", "cat; pwd; echo $EDDY_TEST_VAR; echo to-err >&2"}, o);
        const auto out = co_await p.communicate();
        CHECK(out.out == "/tmp\n42\nto-err\n");
        CHECK(p.returncode() == 0);
    }());
}

TEST_CASE("a child starts with no blocked signal and SIGPIPE at its default action",
          "[subprocess]") {
    eddy::run([]() -> eddy::task<> {
        // The loop thread blocks the signals it routes (SIGUSR1 here, SIGINT for run) and eddy
        // ignores SIGPIPE for its pipes: none of that may leak into the child.
        eddy::add_signal_handler(SIGUSR1, [] {});
        eddy::subprocess_options o;
        o.stdout_ = eddy::stdio::pipe;
        auto p = co_await eddy::create_subprocess_exec(
            "grep", {"-E", "^Sig(Blk|Ign)", "/proc/self/status"}, o);
        const auto out = co_await p.communicate();
        CHECK(out.out.find("SigBlk:\t0000000000000000") != std::string::npos);
        // (glibc's own real-time signals 32 and 33 may show as ignored: not ours to reset)
        const auto at = out.out.find("SigIgn:\t");
        REQUIRE(at != std::string::npos);
        const unsigned long long ignored = std::stoull(out.out.substr(at + 8, 16), nullptr, 16);
        CHECK((ignored & (1ULL << (SIGPIPE - 1))) == 0);
        CHECK((ignored & 0x7fffffffULL) == 0); // no standard signal (1-31) ignored
        eddy::remove_signal_handler(SIGUSR1);
    }());
}

TEST_CASE("communicate ignores a child that exits without reading its input", "[subprocess]") {
    eddy::run([]() -> eddy::task<> {
        auto p = co_await eddy::create_subprocess_exec("true", {}, piped_io());
        const std::string big(4 << 20, 'x');
        const auto out = co_await p.communicate(big);
        CHECK(out.out.empty());
        CHECK(p.returncode() == 0);
    }());
}

TEST_CASE(
    "communicate after the caller closed stdin drops its input and still collects the output, "
    "as asyncio's does",
    "[subprocess]") {
    eddy::run([]() -> eddy::task<> {
        auto p = co_await eddy::create_subprocess_exec("sh", {"-c", "cat; echo done"}, piped_io());
        p.stdin_pipe().write("first\n");
        p.stdin_pipe().close();
        // Before, the feed's failure left communicate's readers running into `p`: its stdout
        // was then "being read", and destroying `p` terminated the program.
        const auto out = co_await p.communicate("more\n");
        CHECK(out.out == "first\ndone\n");
        CHECK(p.returncode() == 0);
        const std::string rest = co_await p.stdout_pipe().read();
        CHECK(rest.empty());
    }());
}

TEST_CASE("a cancelled communicate stops its reads before it ends: the process stays usable",
          "[subprocess][cancel]") {
    eddy::run([]() -> eddy::task<> {
        auto p = co_await eddy::create_subprocess_exec("sh", {"-c", "echo early; exec sleep 30"},
                                                       piped_io());
        auto talk = [&]() -> eddy::task<> { (void)co_await p.communicate(); };
        auto h = eddy::create_task(talk);
        co_await eddy::sleep(50ms);
        h.cancel();
        const bool cancelled = co_await eddy_test::ends_cancelled(h);
        CHECK(cancelled);
        p.kill();
        const int rc = co_await p.wait();
        CHECK(rc == -SIGKILL);
        // No read of it is still running: a new one is accepted (what was read is gone).
        (void)co_await p.stdout_pipe().read();
    }());
}

TEST_CASE("options written as designated initializers inside co_await compile and apply",
          "[subprocess]") {
    eddy::run([]() -> eddy::task<> {
        auto p = co_await eddy::create_subprocess_exec("sh", {"-c", "echo designated"},
                                                       {.stdout_ = eddy::stdio::pipe});
        const auto out = co_await p.communicate();
        CHECK(out.out == "designated\n");
        const std::vector<std::string> argv_list{"-c", "exit 5"};
        auto q = co_await eddy::create_subprocess_exec("sh", argv_list);
        const int rc = co_await q.wait();
        CHECK(rc == 5);
    }());
}

TEST_CASE("asking for a stream that is not a pipe is an invalid_state_error", "[subprocess]") {
    eddy::run([]() -> eddy::task<> {
        auto p = co_await eddy::create_subprocess_exec("true");
        CHECK_THROWS_AS(p.stdout_pipe(), eddy::invalid_state_error);
        const int rc = co_await p.wait();
        CHECK(rc == 0);
    }());
}

TEST_CASE("without IORING_OP_WAITID a child is reaped by polling its pidfd, cancellably too",
          "[subprocess]") {
    eddy::detail::reap_by_poll_ = true; // the path of kernels before 6.7
    pid_t pid = -1;
    eddy::run([&]() -> eddy::task<> {
        auto seven = co_await eddy::create_subprocess_exec("sh", {"-c", "sleep 0.01; exit 7"});
        const int rc = co_await seven.wait();
        CHECK(rc == 7);
        auto p = co_await eddy::create_subprocess_exec("sleep", {"100"});
        pid = p.pid();
        auto waiting = eddy::create_task(p.wait());
        co_await eddy::sleep(2ms);
        waiting.cancel();
        const bool cancelled = co_await eddy_test::ends_cancelled(waiting);
        CHECK(cancelled);
        p.kill();
        const int killed = co_await p.wait();
        CHECK(killed == -SIGKILL);
    }());
    eddy::detail::reap_by_poll_ = false;
    CHECK(reaped(pid));
}
