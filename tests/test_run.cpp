// run: the entry point, its errors, and the shutdown that leaves nothing behind.
#include "helpers.hpp"

#include <cstdlib>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {
eddy::task<int> answer() {
    co_return 42;
}
eddy::task<> nested_run() {
    CHECK_THROWS_AS(eddy::run(answer()), eddy::loop_error);
    co_return;
}
} // namespace

TEST_CASE("run returns the main task's value", "[run]") {
    CHECK(eddy::run(answer()) == 42);
}

TEST_CASE("run rethrows the main task's exception", "[run]") {
    CHECK_THROWS_WITH(eddy::run([]() -> eddy::task<> {
                          co_await eddy::sleep(1ms);
                          throw std::runtime_error("failed in main");
                      }()),
                      "failed in main");
}

TEST_CASE("run takes a lambda coroutine and keeps its captures alive for the whole task", "[run]") {
    const auto frames = eddy::live_frames();
    const std::string word(40, 'w'); // a heap-allocated capture: ASan sees a dangling read
    const std::size_t got = eddy::run([word]() -> eddy::task<std::size_t> {
        co_await eddy::sleep(std::chrono::milliseconds(1));
        co_return word.size();
    });
    CHECK(got == 40);
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("calling run inside a running loop is a loop_error", "[run]") {
    eddy::run(nested_run());
}

TEST_CASE("loop functions outside a running loop throw loop_error", "[run]") {
    CHECK_THROWS_AS(eddy::get_running_loop(), eddy::loop_error);
    CHECK_THROWS_AS(eddy::create_task(answer()), eddy::loop_error);
    CHECK_THROWS_AS(eddy::call_soon([] {}), eddy::loop_error);
    CHECK_THROWS_AS(eddy::time(), eddy::loop_error);
}

TEST_CASE("run reports a deadlock instead of hanging", "[run]") {
    eddy::future<int> never;
    CHECK_THROWS_AS(eddy::run([&]() -> eddy::task<int> { co_return co_await never; }()),
                    eddy::loop_error);
    // The main task was cancelled on the way out, and with it the future it awaited.
    CHECK(never.cancelled());
}

TEST_CASE("the loop says which backend it runs on", "[run]") {
    eddy::run([]() -> eddy::task<> {
        // io_uring here, unless the suite runs with EDDY_BACKEND=epoll (CI does both).
        const char* forced = std::getenv("EDDY_BACKEND");
        const std::string expected =
            forced != nullptr && std::string(forced) == "epoll" ? "epoll" : "io_uring";
        CHECK(std::string(eddy::get_running_loop().backend()) == expected);
        CHECK_FALSE(eddy::get_running_loop().backend_reason().empty());
        co_return;
    }());
}

TEST_CASE("tasks still pending when main returns are cancelled, run their cleanup and leave no "
          "frame behind",
          "[run]") {
    const auto frames = eddy::live_frames();
    int cleaned = 0;
    int awaited_in_cleanup = 0;
    const int got = eddy::run([&]() -> eddy::task<int> {
        for (int i = 0; i < 10; ++i) {
            auto h = eddy::create_task([&]() -> eddy::task<> {
                std::exception_ptr cancelled;
                try {
                    co_await eddy::sleep(1h);
                } catch (const eddy::cancelled_error&) {
                    ++cleaned;
                    cancelled = std::current_exception();
                }
                // C++ forbids co_await inside a handler: clean up after it, then rethrow.
                co_await eddy::sleep(1ms);
                ++awaited_in_cleanup;
                std::rethrow_exception(cancelled);
            });
        }
        co_await eddy::yield(); // let them start
        co_return 7;
    }());
    CHECK(got == 7);
    CHECK(cleaned == 10);
    CHECK(awaited_in_cleanup == 10);
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("tasks that never started when main returns are cancelled without running", "[run]") {
    const auto frames = eddy::live_frames();
    bool ran = false;
    eddy::run([&]() -> eddy::task<> {
        auto h = eddy::create_task([&]() -> eddy::task<> {
            ran = true;
            co_return;
        });
        co_return;
    }());
    CHECK_FALSE(ran);
    CHECK(eddy::live_frames() == frames);
}

namespace {
eddy::task<void> set_flag(bool& flag) {
    flag = true;
    co_return;
}
eddy::task<void> wake_at_then_wait(eddy::clock::time_point when, eddy::event& never) {
    co_await eddy::sleep_until(when);
    co_await never.wait(); // a suspension in the turn main ends in, after main's step
}
eddy::task<void> cleanup_creates_a_task(bool& ran, eddy::event& never) {
    std::exception_ptr cancelled;
    try {
        co_await never.wait();
    } catch (const eddy::cancelled_error&) {
        cancelled = std::current_exception();
    }
    auto h = eddy::create_task(set_flag(ran));
    try {
        co_await h; // suspends: h is ready and could run in this turn's follow-on
    } catch (const eddy::cancelled_error&) {
    }
    std::rethrow_exception(cancelled);
}
} // namespace

TEST_CASE("tasks created in main's last step never start even when another task suspends after "
          "it in the same turn",
          "[run][follow_on]") {
    // main and x wake from timers in the same turn, main first. main creates a task and ends;
    // x then suspends. Running the new task in this turn's follow-on would run it after main
    // ended.
    bool ran = false;
    eddy::event never;
    eddy::run([&]() -> eddy::task<> {
        const auto when = eddy::time() + 2ms;
        auto x = eddy::create_task(wake_at_then_wait(when, never));
        co_await eddy::sleep_until(when); // armed before x's timer: fires first
        auto h = eddy::create_task(set_flag(ran));
        co_return;
    }());
    CHECK_FALSE(ran);
}

TEST_CASE("a task that cleanup creates and awaits at shutdown runs to its end, as in asyncio",
          "[run][follow_on]") {
    // The cancelled task's cleanup creates a task and awaits it: the new task is not cancelled
    // while the cleanup that made it is still finishing.
    bool ran = false;
    eddy::event never;
    eddy::run([&]() -> eddy::task<> {
        auto x = eddy::create_task(cleanup_creates_a_task(ran, never));
        co_await eddy::yield(); // x starts and waits
        co_return;
    }());
    CHECK(ran);
}

namespace {
eddy::task<void> close_connection(std::vector<int>& closed, int id) {
    co_await eddy::sleep(1ms); // a goodbye message, say
    closed.push_back(id);
}
eddy::task<void> server_with_graceful_close(std::vector<int>& closed, bool& group_ran) {
    try {
        co_await eddy::sleep(1h);
    } catch (const eddy::cancelled_error&) {
    }
    co_await eddy::gather(close_connection(closed, 1), close_connection(closed, 2));
    co_await eddy::with_task_group([&](eddy::task_group& tg) -> eddy::task<> {
        tg.create_task(close_connection(closed, 3));
        group_ran = true;
        co_return;
    });
}
} // namespace

TEST_CASE("a cleanup at shutdown may gather tasks and open a task group: they run, as in asyncio",
          "[run]") {
    const auto frames = eddy::live_frames();
    std::vector<int> closed;
    bool group_ran = false;
    eddy::run([&]() -> eddy::task<> {
        auto server = eddy::create_task(server_with_graceful_close(closed, group_ran));
        co_await eddy::sleep(1ms);
    }());
    CHECK(closed == std::vector<int>{1, 2, 3});
    CHECK(group_ran);
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("a task that cleanup creates and awaits, waiting on what nothing will complete, is "
          "cancelled at shutdown rather than leaked with the cleanup",
          "[run]") {
    const auto frames = eddy::live_frames();
    bool helper_cancelled = false;
    bool cleanup_done = false;
    eddy::event never;
    eddy::run([&]() -> eddy::task<> {
        auto x = eddy::create_task([&]() -> eddy::task<> {
            try {
                co_await never.wait();
            } catch (const eddy::cancelled_error&) {
            }
            auto helper = eddy::create_task([&]() -> eddy::task<> {
                try {
                    co_await never.wait();
                } catch (const eddy::cancelled_error&) {
                    helper_cancelled = true;
                    throw;
                }
            });
            try {
                co_await helper;
            } catch (const eddy::cancelled_error&) {
            }
            cleanup_done = true;
        });
        co_await eddy::yield(); // x starts and waits
    }());
    CHECK(helper_cancelled);
    CHECK(cleanup_done);
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("a cleanup that waits again after its cancellation, on what nothing will complete, is "
          "cancelled again at shutdown instead of leaked",
          "[run]") {
    const auto frames = eddy::live_frames();
    int cancellations_seen = 0;
    bool second_wait_cancelled = false;
    const std::string err = eddy_test::capture_stderr([&] {
        eddy::event never; // outlives the loop: it must not point at the task afterwards
        eddy::run([&]() -> eddy::task<> {
            auto worker = eddy::create_task([&]() -> eddy::task<> {
                try {
                    co_await eddy::sleep(1h);
                } catch (const eddy::cancelled_error&) {
                    ++cancellations_seen;
                }
                try {
                    co_await never.wait(); // the cleanup waits for a signal that never comes
                } catch (const eddy::cancelled_error&) {
                    second_wait_cancelled = true;
                    throw;
                }
            });
            co_await eddy::yield();
        }());
    });
    CHECK(cancellations_seen == 1);
    CHECK(second_wait_cancelled);
    CHECK(err.find("leaked") == std::string::npos);
    CHECK(eddy::live_frames() == frames);
}

namespace {
// A task that catches every cancellation and waits again (arguments, not lambda captures: the
// lambda would die with main's frame while the task still runs in the shutdown).
eddy::task<> stubborn(eddy::event* ev, eddy::queue<int>* q, int& swallowed) {
    while (true) {
        try {
            if (q != nullptr) {
                (void)co_await q->get();
            } else {
                co_await ev->wait();
            }
        } catch (const eddy::cancelled_error&) {
            ++swallowed;
        }
    }
}
} // namespace

TEST_CASE("a task that swallows every cancellation is leaked at shutdown, reported once by "
          "name, and the primitive it waited on can outlive the loop",
          "[run]") {
    int swallowed = 0;
    std::string err;
    {
        eddy::event never;
        eddy::queue<int> q;
        err = eddy_test::capture_stderr([&] {
            eddy::run([&]() -> eddy::task<> {
                auto a = eddy::create_task(stubborn(&never, nullptr, swallowed), "stubborn-event");
                auto b = eddy::create_task(stubborn(nullptr, &q, swallowed), "stubborn-queue");
                co_await eddy::yield();
            }());
        });
        // `never` and `q` are destroyed here, after the loop: with the leaked tasks still
        // linked in their FIFOs, their destructors would wake them into the dead loop.
    }
    const auto count = [&](const std::string& needle) {
        std::size_t n = 0;
        for (std::size_t at = err.find(needle); at != std::string::npos;
             at = err.find(needle, at + 1)) {
            ++n;
        }
        return n;
    };
    CHECK(count("leaked") == 2); // once per task, not once per shutdown call
    CHECK(count("task 'stubborn-event'") == 1);
    CHECK(count("task 'stubborn-queue'") == 1);
    // the first cancellation, then one per round of cancelling again, for each task
    CHECK(swallowed == 2 * (1 + eddy::event_loop::max_shutdown_recancels));
}

TEST_CASE("a callback set for never does not keep shutdown waiting for a cleanup that waits "
          "again",
          "[run]") {
    // In a child process, so that a hang is a failed test, not a stuck test run.
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        eddy::event never;
        eddy::run([&]() -> eddy::task<> {
            auto never_due = eddy::call_later(std::chrono::hours::max(), [] {});
            auto worker = eddy::create_task([&]() -> eddy::task<> {
                try {
                    co_await never.wait();
                } catch (const eddy::cancelled_error&) {
                }
                co_await never.wait(); // its cleanup waits for what nothing will complete
            });
            co_await eddy::yield();
        }());
        ::_exit(0);
    }
    int status = -1;
    bool ended = false;
    for (int i = 0; i < 200 && !ended; ++i) { // 10 s
        ended = ::waitpid(pid, &status, WNOHANG) == pid;
        if (!ended) {
            std::this_thread::sleep_for(50ms);
        }
    }
    if (!ended) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
    }
    CHECK(ended);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

TEST_CASE("a task that cleanup leaves running at shutdown is cancelled once the cancelled tasks "
          "have finished",
          "[run]") {
    const auto frames = eddy::live_frames();
    bool orphan_cancelled = false;
    eddy::run([&]() -> eddy::task<> {
        auto x = eddy::create_task([&]() -> eddy::task<> {
            try {
                co_await eddy::sleep(1h);
            } catch (const eddy::cancelled_error&) {
            }
            // Cleanup starts a task it does not wait for, and lets it start.
            auto orphan = eddy::create_task([&]() -> eddy::task<> {
                try {
                    co_await eddy::sleep(1h);
                } catch (const eddy::cancelled_error&) {
                    orphan_cancelled = true;
                    throw;
                }
            });
            co_await eddy::sleep(1ms);
        });
        co_await eddy::sleep(1ms);
    }());
    CHECK(orphan_cancelled);
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("run can be called again on the same thread after it returned", "[run]") {
    CHECK(eddy::run(answer()) == 42);
    CHECK(eddy::run(answer()) == 42);
}

TEST_CASE("tasks created in main's last step never start when main itself ran as follow-on work",
          "[run][follow_on]") {
    // x wakes main during the turn, so main runs in that turn's follow-on; main then creates a
    // task and ends. The follow-on must stop right there.
    bool ran = false;
    eddy::run([&]() -> eddy::task<> {
        eddy::event ev;
        auto x = eddy::create_task([&]() -> eddy::task<> {
            ev.set();
            co_return;
        });
        co_await ev.wait();
        auto h = eddy::create_task(set_flag(ran));
        co_return;
    }());
    CHECK_FALSE(ran);
}
