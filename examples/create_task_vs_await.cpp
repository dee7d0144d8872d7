// create_task_vs_await — awaiting coroutines one by one vs scheduling them as tasks first.
//
// Seed idea ("Coroutines vs Tasks", "Awaiting a Task DOES NOT mean it runs next"):
//   A. `co_await fetch(1); co_await fetch(2);` runs them one after the other: 1 + 2 = 3 s.
//   B. `create_task` both, then await them: they run concurrently, max(1, 2) = 2 s.
//   C. the same, awaiting task 2 before task 1: still 2 s. Awaiting a task only waits for it;
//      the loop decides what runs, and task 1 finished long before we asked for it.
//
//   create_task_vs_await [--scale F]   (F multiplies every duration; default 1.0)
#include <eddy/eddy.hpp>

#include "common.hpp"

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

namespace {

using namespace example; // --scale, say(), secs(), since(), timed(): examples/common.hpp

// The seed's fetch_data: "works" for `param` seconds without blocking the loop.
eddy::task<std::string> fetch_data(int param) {
    say("Do something with %d...\n", param);
    co_await eddy::sleep(secs(param));
    say("Done with %d\n", param);
    co_return "Result of " + std::to_string(param);
}

// A. Plain awaits: fetch_data(2) is not even created until fetch_data(1) has finished.
eddy::task<> awaits_in_sequence() {
    std::string r1 = co_await fetch_data(1);
    std::string r2 = co_await fetch_data(2);
    say("[%s, %s]\n", r1.c_str(), r2.c_str());
}

// B. create_task schedules both at once; awaiting then only collects the results.
eddy::task<> tasks_awaited_in_order() {
    auto task1 = eddy::create_task(fetch_data(1));
    auto task2 = eddy::create_task(fetch_data(2));
    std::string r1 = co_await task1;
    say("Task 1 fully completed\n");
    std::string r2 = co_await task2;
    say("Task 2 fully completed\n");
    say("[%s, %s]\n", r1.c_str(), r2.c_str());
}

// C. As B, but awaiting task 2 first: task 1 still finishes first, and the total is the same.
eddy::task<> tasks_awaited_in_reverse() {
    auto task1 = eddy::create_task(fetch_data(1));
    auto task2 = eddy::create_task(fetch_data(2));
    std::string r2 = co_await task2;
    say("Task 2 fully completed\n");
    say("(task 1 done already? %s)\n", task1.done() ? "yes" : "no");
    std::string r1 = co_await task1; // ready: returns at once
    say("Task 1 fully completed\n");
    say("[%s, %s]\n", r1.c_str(), r2.c_str());
}

double timed_run(const char* title, eddy::task<> (*scenario)()) {
    say("== %s ==\n", title);
    const auto start = std::chrono::steady_clock::now();
    eddy::run(scenario());
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

} // namespace

int main(int argc, char** argv) try {
    if (!parse_args(argc, argv)) {
        std::fprintf(stderr, "usage: %s [--scale F]\n", argv[0]);
        return 2;
    }
    const double a =
        timed_run("A: co_await fetch_data(1); co_await fetch_data(2)", awaits_in_sequence);
    say("sequential awaits: %.2f s (1 + 2)\n\n", a);

    const double b =
        timed_run("B: create_task both, await task1 then task2", tasks_awaited_in_order);
    say("tasks, awaited 1 then 2: %.2f s (max of 1, 2)\n\n", b);

    const double c =
        timed_run("C: create_task both, await task2 then task1", tasks_awaited_in_reverse);
    say("tasks, awaited 2 then 1: %.2f s (the order of awaits does not change the total)\n", c);
    return 0;
} catch (const std::exception& e) { // e.g. std::system_error: io_uring is not available here
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
