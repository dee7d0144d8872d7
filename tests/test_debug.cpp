// Debug mode (loop_options::debug, EDDY_DEBUG): slow steps, never-awaited coroutines,
// unretrieved exceptions with their creation line, pending tasks at shutdown, wrong-thread use;
// and shuffling ready work to find order-dependent races (loop_options::shuffle).
#include "helpers.hpp"

#include <eddy/eddy.hpp>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <fcntl.h>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;
using eddy_test::capture_stderr;
using eddy_test::env_var;

namespace {

bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

std::string here(int line) {
    return std::string(__FILE__) + ":" + std::to_string(line);
}

eddy::loop_options debug_on(std::chrono::nanoseconds slow = 20ms) {
    eddy::loop_options o;
    o.debug = true;
    o.slow_step = slow;
    return o;
}

int blocking_await_line = 0;

eddy::task<> blocks_after_sleeping(std::chrono::milliseconds block) {
    blocking_await_line = __LINE__ + 1;
    co_await eddy::sleep(1ms);
    std::this_thread::sleep_for(block); // the bug debug mode is for: a blocking call
}

eddy::task<> blocks_at_start() {
    std::this_thread::sleep_for(60ms);
    co_return;
}

// On one line: g++ names a coroutine's closing brace as its location, clang its first line.
// clang-format off
int leaf_line = __LINE__ + 1;
eddy::task<int> never_awaited_leaf() { co_return 1; }
// clang-format on

eddy::task<> fails() {
    co_await eddy::sleep(0ms);
    throw std::runtime_error("boom");
}

eddy::task<> nap(std::chrono::milliseconds d) {
    co_await eddy::sleep(d);
}

int forever_wait_line = 0;
eddy::task<> waits_forever_inner(eddy::event& ev) {
    forever_wait_line = __LINE__ + 1;
    co_await ev.wait();
}
int forever_outer_line = 0;
eddy::task<> waits_forever(eddy::event& ev) {
    forever_outer_line = __LINE__ + 1;
    co_await waits_forever_inner(ev);
}

} // namespace

TEST_CASE("debug mode reports a step that blocks the loop with the task's name, the co_await "
          "it resumed from and where the task was created",
          "[debug]") {
    env_var no_env("EDDY_DEBUG", nullptr);
    const std::int64_t frames = eddy::live_frames();
    int created_line = 0;
    const std::string err = capture_stderr([&] {
        eddy::run(
            [&]() -> eddy::task<> {
                created_line = __LINE__ + 1;
                auto t = eddy::create_task(blocks_after_sleeping(60ms), "download");
                co_await t;
            }(),
            debug_on(20ms));
    });
    INFO(err);
    CHECK(contains(err, "eddy: task 'download' blocked the loop for "));
    CHECK(contains(err, "ms after resuming at " + here(blocking_await_line) + " in "));
    CHECK(contains(err, "blocks_after_sleeping"));
    CHECK(contains(err, "task created at " + here(created_line)));
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("debug mode reports a task that blocks before its first co_await at its start, as "
          "its own step also when it starts eagerly inside its creator's",
          "[debug][eager]") {
    env_var no_env("EDDY_DEBUG", nullptr);
    for (const bool eager : {false, true}) {
        INFO("eager start: " << eager);
        const std::string err = capture_stderr([&] {
            eddy::run(
                [](bool eager_start) -> eddy::task<> {
                    co_await eddy::sleep(1ms);
                    auto t = eddy::create_task(
                        blocks_at_start(),
                        eddy::task_options{.name = "starter", .eager_start = eager_start});
                    // Eager: its whole body ran inside create_task.
                    CHECK(t.done() == eager_start);
                    co_await t;
                }(eager),
                debug_on(20ms));
        });
        INFO(err);
        CHECK(contains(err, "task 'starter' blocked the loop for "));
        CHECK(contains(err, "before its first co_await in "));
        CHECK(contains(err, "blocks_at_start"));
        CHECK_FALSE(contains(err, "task 'main' blocked the loop"));
    }
}

TEST_CASE("debug mode charges nested eager first steps to their own tasks, also under a callback",
          "[debug][eager]") {
    env_var no_env("EDDY_DEBUG", nullptr);
    const std::string err = capture_stderr([&] {
        eddy::run(
            []() -> eddy::task<> {
                const eddy::task_options inner{.name = "inner", .eager_start = true};
                auto outer = eddy::create_task(
                    [&inner]() -> eddy::task<> {
                        auto t = eddy::create_task(blocks_at_start(), inner); // 60 ms
                        co_await t;
                    },
                    eddy::task_options{.name = "outer", .eager_start = true});
                eddy::task_handle<void> from_callback;
                (void)eddy::call_soon([&] {
                    from_callback = eddy::create_task(
                        blocks_at_start(),
                        eddy::task_options{.name = "from_callback", .eager_start = true});
                });
                co_await eddy::sleep(1ms);
                co_await outer;
                co_await from_callback;
            }(),
            debug_on(40ms));
    });
    INFO(err);
    CHECK(contains(err, "task 'inner' blocked the loop for "));
    CHECK(contains(err, "task 'from_callback' blocked the loop for "));
    CHECK_FALSE(contains(err, "task 'outer' blocked the loop"));
    CHECK_FALSE(contains(err, "task 'main' blocked the loop"));
    CHECK_FALSE(contains(err, "a callback blocked the loop"));
}

TEST_CASE("a task made from a lambda that blocks at its start is reported with the lambda, "
          "not eddy's wrapper",
          "[debug]") {
    env_var no_env("EDDY_DEBUG", nullptr);
    const std::string err = capture_stderr([&] {
        eddy::run(
            []() -> eddy::task<> {
                const auto block = std::chrono::milliseconds(60);
                auto t = eddy::create_task(
                    [block]() -> eddy::task<> {
                        std::this_thread::sleep_for(block);
                        co_await eddy::sleep(1ms);
                    },
                    "lambda");
                co_await t;
            }(),
            debug_on(20ms));
    });
    INFO(err);
    CHECK(contains(err, "task 'lambda' blocked the loop for "));
    CHECK(contains(err, "before its first co_await"));
    CHECK_FALSE(contains(err, "invoke_owned"));
}

TEST_CASE("debug mode stays silent about steps shorter than the threshold, and without debug "
          "mode nothing is reported",
          "[debug]") {
    env_var no_env("EDDY_DEBUG", nullptr);
    std::string err = capture_stderr([&] { eddy::run(blocks_after_sleeping(5ms), debug_on(10s)); });
    CHECK_FALSE(contains(err, "blocked the loop"));
    err = capture_stderr([&] { eddy::run(blocks_after_sleeping(60ms), eddy::loop_options{}); });
    CHECK(err.empty());
}

TEST_CASE("EDDY_DEBUG=1 turns debug mode on for loops that did not ask for it", "[debug]") {
    env_var on("EDDY_DEBUG", "1");
    bool debug = false;
    const std::string err = capture_stderr([&] {
        eddy::loop_options o;
        o.slow_step = 20ms; // the threshold still comes from the options
        eddy::run(
            [&]() -> eddy::task<> {
                debug = eddy::get_running_loop().debug();
                co_await blocks_after_sleeping(60ms);
            }(),
            o);
    });
    CHECK(debug);
    CHECK(contains(err, "task 'main' blocked the loop for "));
}

TEST_CASE("debug mode reports a coroutine destroyed without ever being awaited, with its "
          "definition and the task that dropped it",
          "[debug]") {
    env_var no_env("EDDY_DEBUG", nullptr);
    const std::int64_t frames = eddy::live_frames();
    const std::string err = capture_stderr([&] {
        eddy::run(
            []() -> eddy::task<> {
                {
                    auto dropped = never_awaited_leaf(); // made, never awaited
                }
                auto awaited = never_awaited_leaf();
                const int v = co_await awaited;
                auto scheduled = eddy::create_task(never_awaited_leaf());
                co_await scheduled;
                CHECK(v == 1);
            }(),
            debug_on());
    });
    INFO(err);
    CHECK(contains(err, "was never awaited"));
    CHECK(contains(err, "never_awaited_leaf"));
    CHECK(contains(err, "(" + here(leaf_line) + ") was never awaited"));
    CHECK(contains(err, "dropped in task 'main'"));
    // Only the dropped one: the awaited and the scheduled coroutines are not reported.
    CHECK(err.find("was never awaited") == err.rfind("was never awaited"));
    CHECK(eddy::live_frames() == frames);

    const std::string quiet = capture_stderr([&] {
        eddy::run(
            []() -> eddy::task<> {
                auto dropped = never_awaited_leaf();
                co_return;
            }(),
            eddy::loop_options{});
    });
    CHECK_FALSE(contains(quiet, "never awaited"));

    const std::string assigned = capture_stderr([&] {
        eddy::run(
            []() -> eddy::task<> {
                auto t = never_awaited_leaf();
                t = never_awaited_leaf(); // the first one is dropped by the assignment
                const int v = co_await t;
                CHECK(v == 1);
            }(),
            debug_on());
    });
    CHECK(assigned.find("was never awaited") != std::string::npos);
    CHECK(assigned.find("was never awaited") == assigned.rfind("was never awaited"));
}

TEST_CASE("debug mode names where a task whose exception nobody retrieved was created", "[debug]") {
    env_var no_env("EDDY_DEBUG", nullptr);
    int created_line = 0;
    const std::string err = capture_stderr([&] {
        eddy::run(
            [&]() -> eddy::task<> {
                created_line = __LINE__ + 1;
                (void)eddy::create_task(fails(), "failing");
                co_await eddy::sleep(5ms);
            }(),
            debug_on());
    });
    INFO(err);
    CHECK(contains(err, "eddy: task 'failing' (created at " + here(created_line) +
                            ") exception was never retrieved: boom"));
}

TEST_CASE("debug mode lists the tasks still pending when run ends with where each waits",
          "[debug]") {
    env_var no_env("EDDY_DEBUG", nullptr);
    const std::int64_t frames = eddy::live_frames();
    eddy::event ev;
    int created_line = 0;
    const std::string err = capture_stderr([&] {
        eddy::run(
            [&]() -> eddy::task<> {
                created_line = __LINE__ + 1;
                (void)eddy::create_task(waits_forever(ev), "forever");
                co_await eddy::sleep(1ms);
            }(),
            debug_on());
    });
    INFO(err);
    CHECK(contains(err, "1 task(s) still pending when the loop shut down"));
    CHECK(contains(err, "task 'forever' (created at " + here(created_line) + ") waits at:"));
    const std::size_t inner = err.find(here(forever_wait_line) + " in ");
    const std::size_t outer = err.find(here(forever_outer_line) + " in ");
    CHECK(inner != std::string::npos);
    CHECK(outer != std::string::npos);
    CHECK(inner < outer); // innermost first
    CHECK(eddy::live_frames() == frames);

    const std::string quiet = capture_stderr([&] {
        eddy::run(
            [&]() -> eddy::task<> {
                (void)eddy::create_task(waits_forever(ev), "forever");
                co_await eddy::sleep(1ms);
            }(),
            eddy::loop_options{});
    });
    CHECK_FALSE(contains(quiet, "still pending"));
}

TEST_CASE("debug mode stops a program whose other thread touches the loop, saying so", "[debug]") {
    env_var no_env("EDDY_DEBUG", nullptr);
    int out[2];
    REQUIRE(::pipe(out) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::dup2(out[1], 2);
        ::close(out[0]);
        // The test framework's own SIGABRT handler and its report stay out of the child.
        std::signal(SIGABRT, SIG_DFL);
        const int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 1);
        const rlimit no_core{0, 0};
        ::setrlimit(RLIMIT_CORE, &no_core);
        // The classic mistake: completing a future from a thread instead of through
        // call_soon_threadsafe. Debug mode must catch it before the ready queue is corrupted.
        try {
            eddy::run(
                []() -> eddy::task<> {
                    // A timer keeps the loop waiting (it would otherwise stop: nothing it
                    // knows of could complete the future).
                    auto keep_alive = eddy::create_task(nap(5s));
                    eddy::future<int> f;
                    std::thread t([&] {
                        std::this_thread::sleep_for(50ms);
                        f.set_result(1);
                    });
                    const int v = co_await f;
                    t.join();
                    (void)v;
                }(),
                debug_on());
        } catch (...) {
        }
        ::_exit(0); // not reached when the check works
    }
    ::close(out[1]);
    std::string err;
    char buf[512];
    ssize_t n = 0;
    while ((n = ::read(out[0], buf, sizeof buf)) > 0) {
        err.append(buf, static_cast<std::size_t>(n));
    }
    ::close(out[0]);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    INFO(err);
    CHECK(WIFSIGNALED(status));
    CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT));
    CHECK(contains(err, "used from a thread that is not its own"));
    CHECK(contains(err, "call_soon_threadsafe"));
}

// ---- shuffling ready work ----

namespace {

/// The seeds' shared-state race in its smallest form: `reader` sets a global, yields once and
/// expects to read it back; `writer` yields once, then overwrites it. FIFO order always runs
/// reader's second step before writer's, so the bug never shows without shuffling.
struct race {
    int shared = 0;
    bool broken = false;
};

eddy::task<> reader(race& r) {
    r.shared = 1;
    co_await eddy::sleep(0ms);
    if (r.shared != 1) {
        r.broken = true;
    }
}

eddy::task<> writer(race& r) {
    co_await eddy::sleep(0ms);
    r.shared = 2;
}

bool race_breaks(eddy::loop_options o) {
    race r;
    eddy::run(
        [](race& rr) -> eddy::task<> {
            auto a = eddy::create_task(reader(rr));
            auto b = eddy::create_task(writer(rr));
            co_await a;
            co_await b;
        }(r),
        o);
    return r.broken;
}

eddy::loop_options shuffled(std::uint64_t seed) {
    eddy::loop_options o;
    o.shuffle_seed = seed;
    return o;
}

std::vector<int> start_order(eddy::loop_options o) {
    std::vector<int> order;
    eddy::run(
        [](std::vector<int>& out) -> eddy::task<> {
            std::vector<eddy::task_handle<void>> hs;
            hs.reserve(8);
            for (int i = 0; i < 8; ++i) {
                hs.push_back(eddy::create_task([](std::vector<int>& v, int k) -> eddy::task<> {
                    v.push_back(k);
                    co_return;
                }(out, i)));
            }
            for (auto& h : hs) {
                co_await h;
            }
        }(order),
        o);
    return order;
}

} // namespace

TEST_CASE("shuffling finds an order-dependent race that FIFO order hides, and its seed replays "
          "it",
          "[debug][shuffle]") {
    env_var no_env("EDDY_SHUFFLE", nullptr);
    for (int i = 0; i < 20; ++i) {
        REQUIRE_FALSE(race_breaks(eddy::loop_options{}));
    }
    std::uint64_t failing = 0;
    std::uint64_t passing = 0;
    for (std::uint64_t seed = 1; seed <= 200 && (failing == 0 || passing == 0); ++seed) {
        (race_breaks(shuffled(seed)) ? failing : passing) = seed;
    }
    INFO("failing seed " << failing << ", passing seed " << passing);
    REQUIRE(failing != 0);
    REQUIRE(passing != 0);
    for (int i = 0; i < 10; ++i) {
        CHECK(race_breaks(shuffled(failing)));
        CHECK_FALSE(race_breaks(shuffled(passing)));
    }
}

TEST_CASE("the same shuffle seed gives the same order, and some seed differs from FIFO",
          "[debug][shuffle]") {
    env_var no_env("EDDY_SHUFFLE", nullptr);
    const std::vector<int> fifo = start_order(eddy::loop_options{});
    CHECK(fifo == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7});
    bool differs = false;
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
        const std::vector<int> a = start_order(shuffled(seed));
        const std::vector<int> b = start_order(shuffled(seed));
        CHECK(a == b);
        differs = differs || a != fifo;
    }
    CHECK(differs);
}

TEST_CASE("EDDY_SHUFFLE turns shuffling on with a printed seed that replays the order",
          "[debug][shuffle]") {
    std::uint64_t seed = 0;
    std::string err;
    std::vector<int> first;
    {
        env_var random("EDDY_SHUFFLE", "random");
        err = capture_stderr([&] {
            eddy::run([](std::uint64_t& s) -> eddy::task<> {
                s = eddy::get_running_loop().shuffle_seed();
                co_return;
            }(seed));
        });
    }
    REQUIRE(seed != 0);
    CHECK(contains(err, "shuffling ready work with seed " + std::to_string(seed)));
    {
        const std::string s = std::to_string(seed);
        env_var fixed("EDDY_SHUFFLE", s.c_str());
        (void)capture_stderr([&] { first = start_order(eddy::loop_options{}); });
        std::vector<int> again;
        (void)capture_stderr([&] { again = start_order(eddy::loop_options{}); });
        CHECK(first == again);
        CHECK(first == start_order(shuffled(seed))); // the options' seed gives the same order
    }
    {
        env_var one("EDDY_SHUFFLE", "1"); // a seed like any other, not "pick one"
        std::vector<int> by_env;
        (void)capture_stderr([&] { by_env = start_order(eddy::loop_options{}); });
        CHECK(by_env == start_order(shuffled(1)));
    }
    {
        env_var bad("EDDY_SHUFFLE", "often");
        CHECK_THROWS_AS(eddy::run([]() -> eddy::task<> { co_return; }()), eddy::loop_error);
    }
}
