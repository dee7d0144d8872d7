// pizza_and_burger — ordering food from two hotels.
//
// Seed idea: a pizza takes 5 minutes, a burger 3. Ordering one, waiting, then ordering the
// other takes 8 minutes; ordering both and waiting for both takes 5 (the longest wait).
// Here a "minute" is one second.
//
//   pizza_and_burger [--scale F]   (F multiplies every duration; default 1.0)
#include <eddy/eddy.hpp>

#include "common.hpp"

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <thread>

namespace {

using namespace example; // --scale, say(), secs(), since(), timed(): examples/common.hpp

std::chrono::duration<double> minutes(double m) {
    return std::chrono::duration<double>(m * example::scale);
}

// Seconds since `since`.
double elapsed(std::chrono::steady_clock::time_point since) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// ---- Synchronous: you stand at the counter until the food is ready.
std::string order_blocking(const char* food, double mins) {
    say("Ordered %s (ready in %g min)\n", food, mins);
    std::this_thread::sleep_for(minutes(mins));
    say("%s ready\n", food);
    return food;
}

// ---- Asynchronous: place the order, and while the kitchen works, do something else.
// (Parameters are taken by value: the coroutine frame keeps its own copy.)
eddy::task<std::string> order(std::string food, double mins) {
    say("Ordered %s (ready in %g min)\n", food.c_str(), mins);
    co_await eddy::sleep(minutes(mins)); // the kitchen works; the loop serves other orders
    say("%s ready\n", food.c_str());
    co_return food;
}

eddy::task<> order_both() {
    auto [pizza, burger] = co_await eddy::gather(order("Pizza", 5), order("Burger", 3));
    say("Eating: %s + %s\n", pizza.c_str(), burger.c_str());
}

} // namespace

int main(int argc, char** argv) try {
    if (!parse_args(argc, argv)) {
        std::fprintf(stderr, "usage: %s [--scale F]\n", argv[0]);
        return 2;
    }

    say("== sequential: order pizza, wait 5 min, then order burger, wait 3 min ==\n");
    auto t0 = std::chrono::steady_clock::now();
    const std::string pizza = order_blocking("Pizza", 5);
    const std::string burger = order_blocking("Burger", 3);
    say("Eating: %s + %s\n", pizza.c_str(), burger.c_str());
    const double sequential = elapsed(t0);
    say("sequential: %.2f s (5 + 3 minutes)\n\n", sequential);

    say("== concurrent: eddy::gather(order(pizza), order(burger)) ==\n");
    t0 = std::chrono::steady_clock::now();
    eddy::run(order_both());
    const double concurrent = elapsed(t0);
    say("concurrent: %.2f s (max(5, 3) minutes)\n\n", concurrent);

    say("saved %.2f s of waiting: the burger was cooked while the pizza was\n",
        sequential - concurrent);
    return 0;
} catch (const std::exception& e) { // e.g. std::system_error: io_uring is not available here
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
