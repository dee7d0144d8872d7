// Instruction counts per operation (callgrind), independent of machine noise.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <eddy/eddy.hpp>
volatile long sink;
eddy::task<int> trivial() {
    co_return 1;
}
eddy::task<> w1(int n) {
    for (int i = 0; i < n; ++i) {
        int v = co_await eddy::create_task(trivial());
        sink = v;
    }
}
eddy::task<> gath(int n) {
    std::vector<eddy::task<int>> v;
    for (int r = 0; r < n / 1000; ++r) {
        v.clear();
        for (int i = 0; i < 1000; ++i)
            v.push_back(trivial());
        std::vector<int> out = co_await eddy::gather(std::move(v));
        sink = out[0];
    }
}
eddy::task<void> partner(eddy::event& ping, eddy::event& pong) {
    while (true) {
        co_await ping.wait();
        ping.clear();
        pong.set();
    }
}
eddy::task<> ev(int n) {
    eddy::event ping, pong;
    auto p = eddy::create_task(partner(ping, pong));
    for (int i = 0; i < n; ++i) {
        ping.set();
        co_await pong.wait();
        pong.clear();
    }
    p.cancel();
    try {
        co_await p;
    } catch (const eddy::cancelled_error&) {
    }
}
eddy::task<> echo(eddy::queue<int>& ping, eddy::queue<int>& pong) {
    while (true) {
        const int v = co_await ping.get();
        co_await pong.put(v);
    }
}
eddy::task<> q(int n) {
    eddy::queue<int> ping, pong;
    auto e = eddy::create_task(echo(ping, pong));
    long sum = 0;
    for (int i = 0; i < n; ++i) {
        co_await ping.put(i);
        sum += co_await pong.get();
    }
    sink = sum;
    e.cancel();
    try {
        co_await e;
    } catch (const eddy::cancelled_error&) {
    }
}
int main(int argc, char** argv) {
    const char* m = argv[1];
    int n = std::atoi(argv[2]);
    if (!std::strcmp(m, "w1"))
        eddy::run(w1(n));
    else if (!std::strcmp(m, "gather"))
        eddy::run(gath(n));
    else if (!std::strcmp(m, "event"))
        eddy::run(ev(n));
    else
        eddy::run(q(n));
}
