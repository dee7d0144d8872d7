// shared_global_race — one thread, no locks, and still a race on a global.
//
// Seed idea ("there will be clash between the global variables", current_user): two
// coroutines set a global `current_user`, await something, then read it back. At the await the
// first one pauses, the second overwrites the global, and when the first resumes it reads the
// second one's value. Not a thread problem: a concurrency problem. Locals and parameters live
// in each coroutine's own frame and are safe; when a value must reach deep callees without
// being passed along, an eddy::context_var (Python's contextvars) gives each task its own.
//
//   shared_global_race [--scale F]   (F multiplies every duration; default 1.0)
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

std::string current_user; // shared by every coroutine on the loop

// Racy: stores the user in the global, then reads the global after an await.
eddy::task<> handle_request(std::string user) {
    current_user = user;
    say("  [%s] current_user = \"%s\"; waiting for the payment service...\n", user.c_str(),
        current_user.c_str());
    co_await eddy::sleep(secs(1)); // pauses here; the other request runs and overwrites it
    say("  [%s] Processing order for %s\n", user.c_str(), current_user.c_str());
}

// Fixed: the user is a parameter, stored in this coroutine's own frame. (Take it by value:
// a `const std::string&` parameter would refer to the caller's string, which may be gone by
// the time the coroutine resumes.)
eddy::task<> handle_request_fixed(std::string user) {
    say("  [%s] keeps the user in its own frame; waiting for the payment service...\n",
        user.c_str());
    co_await eddy::sleep(secs(1));
    say("  [%s] Processing order for %s\n", user.c_str(), user.c_str());
}

// Fixed with a context variable: each task created by gather starts with its own context, so
// each request's set() is seen by that request only, however deep the reader is.
eddy::context_var<std::string> request_user("request_user");

eddy::task<> charge_card() {
    co_await eddy::sleep(secs(1)); // the payment service
    // Deep in the call chain, no parameter needed:
    say("  [%s] Processing order for %s\n", request_user.get().c_str(), request_user.get().c_str());
}

eddy::task<> handle_request_context(std::string user) {
    request_user.set(user);
    say("  [%s] request_user set in this task's context; waiting for the payment service...\n",
        user.c_str());
    co_await charge_card();
}

eddy::task<> racy() {
    co_await eddy::gather(handle_request("Alice"), handle_request("Bob"));
}

eddy::task<> fixed() {
    co_await eddy::gather(handle_request_fixed("Alice"), handle_request_fixed("Bob"));
}

eddy::task<> with_context() {
    co_await eddy::gather(handle_request_context("Alice"), handle_request_context("Bob"));
}

} // namespace

int main(int argc, char** argv) try {
    if (!parse_args(argc, argv)) {
        std::fprintf(stderr, "usage: %s [--scale F]\n", argv[0]);
        return 2;
    }

    say("== racy: a global current_user, read back after an await ==\n");
    auto start = std::chrono::steady_clock::now();
    eddy::run(racy());
    double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    say("racy: %.2f s\n", t);
    say("Why Bob twice? Alice's request set current_user and paused at co_await. While it\n"
        "waited, Bob's request ran and overwrote the global. When Alice's resumed, the global\n"
        "said \"Bob\". Only one coroutine runs at a time, but they interleave at every await,\n"
        "so shared mutable state can change under you between two lines of the same function.\n\n");

    say("== fixed: the user passed as a parameter (a local of each coroutine) ==\n");
    start = std::chrono::steady_clock::now();
    eddy::run(fixed());
    t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    say("fixed: %.2f s\n", t);
    say("Each coroutine frame has its own copy of `user`.\n\n");

    say("== fixed: an eddy::context_var, read deep in the call chain ==\n");
    start = std::chrono::steady_clock::now();
    eddy::run(with_context());
    t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    say("context_var: %.2f s\n", t);
    say("gather wraps each request in a task, and each task starts with a copy of its\n"
        "creator's context: a set() in one request is invisible to the other, like Python's\n"
        "contextvars.\n");
    return 0;
} catch (const std::exception& e) { // e.g. std::system_error: io_uring is not available here
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
