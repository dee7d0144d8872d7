// Signals through the loop: handlers run as loop work (never in signal context), wait_signal,
// run's Ctrl-C cancellation, and the thread's signal mask restored afterwards.
#include "helpers.hpp"

#include <atomic>
#include <csignal>
#include <stdexcept>
#include <string>
#include <thread>

#include <unistd.h>

using namespace std::chrono_literals;
using eddy_test::blocked_in_this_thread;
using eddy_test::default_sigint;

TEST_CASE("a signal sent to self arrives as a callback in loop context", "[signal]") {
    const auto loop_thread = std::this_thread::get_id();
    bool raised = false;
    bool ran_after_raise_returned = false;
    bool on_loop_thread = false;
    bool loop_running = false;
    eddy::run([&]() -> eddy::task<> {
        eddy::event got;
        eddy::add_signal_handler(SIGUSR1, [&] {
            ran_after_raise_returned = raised; // a real signal handler would run inside raise()
            on_loop_thread = std::this_thread::get_id() == loop_thread;
            loop_running = eddy::get_running_loop().current_task() == nullptr;
            got.set();
        });
        ::raise(SIGUSR1);
        raised = true;
        co_await got.wait();
        CHECK(eddy::remove_signal_handler(SIGUSR1));
    }());
    CHECK(ran_after_raise_returned);
    CHECK(on_loop_thread);
    CHECK(loop_running);
    CHECK_FALSE(blocked_in_this_thread(SIGUSR1));
}

TEST_CASE("a handler taking the signal number gets it, and a new handler replaces the old",
          "[signal]") {
    int first = 0;
    int second = 0;
    eddy::run([&]() -> eddy::task<> {
        eddy::event got;
        eddy::add_signal_handler(SIGUSR2, [&](int sig) { first = sig; });
        eddy::add_signal_handler(SIGUSR2, [&](int sig) {
            second = sig;
            got.set();
        });
        ::raise(SIGUSR2);
        co_await got.wait();
        CHECK(eddy::remove_signal_handler(SIGUSR2));
        CHECK_FALSE(eddy::remove_signal_handler(SIGUSR2));
    }());
    CHECK(first == 0);
    CHECK(second == SIGUSR2);
}

TEST_CASE("the loop waits for a signal when a handler is its only pending work", "[signal]") {
    const pthread_t loop_thread = pthread_self();
    eddy::run([&]() -> eddy::task<> {
        eddy::future<int> answer;
        eddy::add_signal_handler(SIGUSR1, [&](int sig) { answer.set_result(sig); });
        std::thread t([loop_thread] {
            std::this_thread::sleep_for(20ms);
            pthread_kill(loop_thread, SIGUSR1);
        });
        const int sig = co_await answer; // nothing else pending: the handler keeps run waiting
        CHECK(sig == SIGUSR1);
        t.join();
        eddy::remove_signal_handler(SIGUSR1);
    }());
}

TEST_CASE("wait_signal returns the signal that arrived among those it waits for", "[signal]") {
    eddy::run([]() -> eddy::task<> {
        auto raiser = eddy::create_task([]() -> eddy::task<> {
            co_await eddy::sleep(2ms);
            ::raise(SIGUSR2);
        });
        const int sig = co_await eddy::wait_signal({SIGUSR1, SIGUSR2});
        CHECK(sig == SIGUSR2);
        co_await raiser;
    }());
    CHECK_FALSE(blocked_in_this_thread(SIGUSR2));
}

TEST_CASE("a signal arriving between two waits is kept for the next wait", "[signal]") {
    eddy::run([]() -> eddy::task<> {
        auto raiser = eddy::create_task([]() -> eddy::task<> {
            co_await eddy::sleep(1ms);
            ::raise(SIGUSR1);
        });
        const int first = co_await eddy::wait_signal(SIGUSR1);
        CHECK(first == SIGUSR1);
        co_await raiser;
        ::raise(SIGUSR1); // nobody waits now: the loop keeps it
        co_await eddy::sleep(1ms);
        const int second = co_await eddy::wait_signal(SIGUSR1);
        CHECK(second == SIGUSR1);
    }());
}

TEST_CASE("a cancelled wait_signal throws cancelled_error and no longer keeps the loop alive",
          "[signal]") {
    eddy::run([]() -> eddy::task<> {
        auto waiter = eddy::create_task([]() -> eddy::task<int> {
            co_return co_await eddy::wait_signal({SIGUSR1, SIGUSR2});
        });
        co_await eddy::sleep(1ms);
        waiter.cancel();
        const bool cancelled = co_await eddy_test::ends_cancelled(waiter);
        CHECK(cancelled);
        CHECK(eddy::get_running_loop().in_flight() == 0);
    }());
}

TEST_CASE("signals that cannot be handled are rejected with invalid_argument", "[signal]") {
    eddy::run([]() -> eddy::task<> {
        CHECK_THROWS_AS(eddy::add_signal_handler(SIGKILL, [] {}), std::invalid_argument);
        CHECK_THROWS_AS(eddy::add_signal_handler(SIGSTOP, [] {}), std::invalid_argument);
        CHECK_THROWS_AS(eddy::add_signal_handler(0, [] {}), std::invalid_argument);
        CHECK_THROWS_AS(eddy::add_signal_handler(NSIG + 5, [] {}), std::invalid_argument);
        CHECK_THROWS_AS(eddy::wait_signal({SIGUSR1, SIGKILL}), std::invalid_argument);
        // The message names the number given, 0 included, and an empty set says so.
        CHECK_THROWS_WITH(eddy::wait_signal({SIGUSR1, 0}),
                          "eddy::wait_signal: signal 0 cannot be waited for");
        CHECK_THROWS_WITH(eddy::wait_signal({SIGKILL}), "eddy::wait_signal: signal " +
                                                            std::to_string(SIGKILL) +
                                                            " cannot be waited for");
        CHECK_THROWS_WITH(eddy::wait_signal(eddy::signal_set{}),
                          "eddy::wait_signal: no signal to wait for (an empty set)");
        CHECK_FALSE(eddy::remove_signal_handler(SIGUSR1));
        co_return;
    }());
}

TEST_CASE("an exception thrown by a signal handler is reported and the loop goes on", "[signal]") {
    const std::string err = eddy_test::capture_stderr([] {
        eddy::run([]() -> eddy::task<> {
            eddy::add_signal_handler(SIGUSR1, [] { throw std::runtime_error("handler boom"); });
            ::raise(SIGUSR1);
            co_await eddy::sleep(2ms);
            eddy::remove_signal_handler(SIGUSR1);
        }());
    });
    CHECK(err.find("handler boom") != std::string::npos);
}

TEST_CASE("Ctrl-C cancels the main task and run throws keyboard_interrupt", "[signal]") {
    bool cleaned_up = false;
    bool interrupted = false;
    struct sigaction after_run {};
    const default_sigint dfl;
    try {
        eddy::run([&]() -> eddy::task<> {
            auto ctrl_c = eddy::create_task([]() -> eddy::task<> {
                co_await eddy::sleep(1ms);
                ::raise(SIGINT);
            });
            try {
                co_await eddy::sleep(std::chrono::hours(1));
            } catch (const eddy::cancelled_error&) {
                cleaned_up = true;
                throw;
            }
        }());
    } catch (const eddy::keyboard_interrupt&) {
        interrupted = true;
    }
    ::sigaction(SIGINT, nullptr, &after_run);
    CHECK(cleaned_up);
    CHECK(interrupted);
    CHECK_FALSE(blocked_in_this_thread(SIGINT));
    CHECK(after_run.sa_handler == SIG_DFL); // run changed no disposition
}

TEST_CASE("a main task that absorbs the Ctrl-C cancellation makes run return normally",
          "[signal]") {
    const default_sigint dfl;
    const int v = eddy::run([]() -> eddy::task<int> {
        auto ctrl_c = eddy::create_task([]() -> eddy::task<> {
            co_await eddy::sleep(1ms);
            ::raise(SIGINT);
        });
        try {
            co_await eddy::sleep(std::chrono::hours(1));
        } catch (const eddy::cancelled_error&) {
            // refusing the cancellation: asyncio's uncancel() is what makes it legitimate
        }
        co_return 7;
    }());
    CHECK(v == 7);
}

TEST_CASE("a Ctrl-C in the main task's last step is run's keyboard_interrupt, not the "
          "process's death",
          "[signal]") {
    const default_sigint dfl;
    bool interrupted = false;
    try {
        eddy::run([]() -> eddy::task<> {
            co_await eddy::sleep(0s);
            ::raise(SIGINT); // blocked: pending until the loop would read it, which it never does
            co_return;
        });
    } catch (const eddy::keyboard_interrupt&) {
        interrupted = true;
    }
    CHECK(interrupted);
    CHECK_FALSE(blocked_in_this_thread(SIGINT));
}

TEST_CASE("a Ctrl-C while run waits for the cleanup of pending tasks ends the process, even "
          "when a cleanup refuses to stop",
          "[signal]") {
    // A swallowed Ctrl-C lets the child finish: status 0.
    const int outcome = eddy_test::run_in_child([] {
        const default_sigint dfl;
        eddy::run([]() -> eddy::task<> {
            auto stubborn = eddy::create_task([]() -> eddy::task<> {
                bool raised = false;
                for (int i = 0; i < 300; ++i) { // 3 s at most, then it gives up
                    try {
                        co_await eddy::sleep(10ms);
                    } catch (const eddy::cancelled_error&) {
                        if (!raised) {
                            raised = true;
                            ::raise(SIGINT); // main has returned: this is the shutdown
                        }
                    }
                }
            });
            co_await eddy::sleep(1ms); // let it start
        });
        return 0;
    });
    CHECK(outcome == -SIGINT);
}

TEST_CASE("a SIGINT handler of the user's replaces run's Ctrl-C cancellation", "[signal]") {
    int got = 0;
    eddy::run([&]() -> eddy::task<> {
        eddy::event seen;
        eddy::add_signal_handler(SIGINT, [&](int sig) {
            got = sig;
            seen.set();
        });
        ::raise(SIGINT);
        co_await seen.wait(); // not cancelled: the handler took it
        eddy::remove_signal_handler(SIGINT);
    }());
    CHECK(got == SIGINT);
    CHECK_FALSE(blocked_in_this_thread(SIGINT));
}

TEST_CASE("run leaves SIGINT alone when told not to handle it", "[signal]") {
    const default_sigint dfl;
    eddy::loop_options opts;
    opts.cancel_on_sigint = false;
    eddy::run(
        []() -> eddy::task<> {
            CHECK_FALSE(blocked_in_this_thread(SIGINT));
            co_return;
        }(),
        opts);
}

TEST_CASE("a handler may remove itself while it runs", "[signal]") {
    int calls = 0;
    eddy::run([&]() -> eddy::task<> {
        eddy::event seen;
        std::string captured(64, 'c'); // a capture that would be freed under the running handler
        eddy::add_signal_handler(SIGUSR1, [&, captured] {
            ++calls;
            CHECK(eddy::remove_signal_handler(SIGUSR1));
            CHECK(captured.size() == 64); // still alive: the loop called a copy
            seen.set();
        });
        ::raise(SIGUSR1);
        co_await seen.wait();
    }());
    CHECK(calls == 1);
    CHECK_FALSE(blocked_in_this_thread(SIGUSR1));
}

TEST_CASE("a signal sent to the process reaches the loop even when another thread of the program "
          "does not block it, instead of killing the process there",
          "[signal]") {
    // A forked child, so that the default action of a stray SIGUSR2 ends the child, not the
    // test run.
    const int outcome = eddy_test::run_in_child([] {
        std::atomic<bool> stop{false};
        // Started before the loop: SIGUSR2 is not blocked in it, and the kernel delivers a
        // process-directed signal to a thread that does not block it.
        std::thread other([&stop] {
            while (!stop.load()) {
                std::this_thread::sleep_for(1ms);
            }
        });
        int handled = 0;
        try {
            eddy::run([&]() -> eddy::task<> {
                eddy::event got;
                eddy::add_signal_handler(SIGUSR2, [&] {
                    ++handled;
                    got.set();
                });
                for (int i = 0; i < 20; ++i) {
                    // What the kernel does with a process-directed signal when the other
                    // thread is the one that does not block it (kill() alone races with the
                    // loop's own signalfd read for it).
                    ::pthread_kill(other.native_handle(), SIGUSR2);
                    co_await eddy::wait_for(got.wait(), 10s);
                    got.clear();
                }
            }());
        } catch (...) {
            stop = true;
            other.join();
            return 3;
        }
        stop = true;
        other.join();
        struct sigaction after {};
        ::sigaction(SIGUSR2, nullptr, &after);
        // The default disposition is back once the loop stopped routing the signal.
        return handled == 20 && after.sa_handler == SIG_DFL ? 0 : 4;
    });
    CHECK(outcome == 0);
}

namespace {
void users_own_handler(int /*sig*/) {}
} // namespace

TEST_CASE("routing a signal leaves a disposition the program installed itself in place",
          "[signal]") {
    struct sigaction own {};
    own.sa_handler = &users_own_handler;
    sigemptyset(&own.sa_mask);
    struct sigaction saved {};
    REQUIRE(::sigaction(SIGUSR2, &own, &saved) == 0);
    bool got = false;
    eddy::run([&]() -> eddy::task<> {
        eddy::event seen;
        eddy::add_signal_handler(SIGUSR2, [&] {
            got = true;
            seen.set();
        });
        ::raise(SIGUSR2);
        co_await seen.wait();
        eddy::remove_signal_handler(SIGUSR2);
    }());
    struct sigaction after {};
    ::sigaction(SIGUSR2, nullptr, &after);
    ::sigaction(SIGUSR2, &saved, nullptr);
    CHECK(got);
    CHECK(after.sa_handler == &users_own_handler);
}

TEST_CASE("two loops routing one signal: when one stops, signals other threads receive still "
          "reach the other",
          "[signal]") {
    // A forked child: a stray SIGUSR2 kills it, not the test run.
    const int outcome = eddy_test::run_in_child([] {
        std::atomic<int> stage{0};
        std::atomic<bool> got_a{false};
        std::thread a([&] {
            eddy::run([&]() -> eddy::task<> {
                eddy::add_signal_handler(SIGUSR2, [&] { got_a = true; });
                stage = 1;
                for (int i = 0; i < 10000 && !got_a; ++i) {
                    co_await eddy::sleep(1ms);
                }
                eddy::remove_signal_handler(SIGUSR2);
            }());
        });
        while (stage.load() < 1) {
            std::this_thread::sleep_for(1ms);
        }
        std::thread b([] {
            eddy::run([]() -> eddy::task<> {
                eddy::add_signal_handler(SIGUSR2, [] {});
                co_await eddy::sleep(1ms);
                eddy::remove_signal_handler(SIGUSR2); // a still routes it
            }());
        });
        b.join();
        ::pthread_kill(::pthread_self(), SIGUSR2); // this thread does not block it
        a.join();
        struct sigaction after {};
        ::sigaction(SIGUSR2, nullptr, &after);
        return got_a && after.sa_handler == SIG_DFL ? 0 : 4;
    });
    CHECK(outcome == 0);
}
