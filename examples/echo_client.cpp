// echo_client — round trips to an echo server, timed.
//
// asyncio's open_connection in C++: `auto [reader, writer] = co_await eddy::open_connection(
// host, port)` gives the two halves of a TCP connection. Part A sends N messages one at a time
// on one connection, each waiting for its echo (a round trip costs the network's latency plus
// both sides' turn through their loop); part B spreads the same N messages over 10 connections
// gathered, so 10 round trips are in flight at once and the waits overlap.
//
//   echo_client [--count N]             the demo: starts its own echo server in this program
//   echo_client --port P [--count N]    talks to an echo server on 127.0.0.1:P (echo_server
//                                       --port P); N messages (default 2000)
#include <eddy/eddy.hpp>

#include "common.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace example; // --port, --count, say(), since(): examples/common.hpp

using clock_type = std::chrono::steady_clock;

// The same handler as echo_server's: the demo's own server.
eddy::task<> echo(eddy::stream_reader& reader, eddy::stream_writer& writer) {
    for (;;) {
        std::string line = co_await reader.readline();
        if (line.empty()) {
            co_return;
        }
        writer.write(line);
        co_await writer.drain();
    }
}

struct stats {
    unsigned sent = 0;
    unsigned matched = 0;            // echoes equal to what was sent
    std::vector<double> round_trips; // microseconds
};

// Sends `count` numbered messages on one connection, one round trip at a time.
eddy::task<stats> ping(std::uint16_t port, unsigned first, unsigned count) {
    auto [reader, writer] = co_await eddy::open_connection("127.0.0.1", port);
    stats s;
    s.round_trips.reserve(count);
    for (unsigned i = first; i < first + count; ++i) {
        const std::string message = "message " + std::to_string(i) + "\n";
        const auto start = clock_type::now();
        writer.write(message);
        co_await writer.drain();
        const std::string echoed = co_await reader.readline();
        s.round_trips.push_back(since(start) * 1e6);
        ++s.sent;
        s.matched += echoed == message ? 1 : 0;
    }
    writer.close();
    co_await writer.wait_closed();
    co_return s;
}

void report(const char* label, stats s, double seconds) {
    std::sort(s.round_trips.begin(), s.round_trips.end());
    const auto at = [&](double q) {
        return s.round_trips[static_cast<std::size_t>(q * static_cast<double>(s.sent - 1))];
    };
    say("%s: %u messages, %u echoes matched\n", label, s.sent, s.matched);
    say("  total: %.3f s, %.0f messages/s\n", seconds, s.sent / seconds);
    say("  per round trip: %.1f µs on average (wall time / messages)\n", seconds * 1e6 / s.sent);
    say("  each round trip as one client saw it: median %.1f µs, p99 %.1f µs, max %.1f µs\n",
        at(0.5), at(0.99), s.round_trips.back());
}

eddy::task<> measure(std::uint16_t port, unsigned count) {
    say("A: one connection, %u messages one after the other\n", count);
    auto start = clock_type::now();
    stats one = co_await ping(port, 0, count);
    report("A", std::move(one), since(start));

    constexpr unsigned connections = 10;
    say("B: %u connections gathered, %u messages each\n", connections, count / connections);
    std::vector<eddy::task<stats>> clients;
    for (unsigned c = 0; c < connections; ++c) {
        clients.push_back(ping(port, c * (count / connections), count / connections));
    }
    start = clock_type::now();
    std::vector<stats> all = co_await eddy::gather(std::move(clients));
    const double seconds = since(start);
    stats merged;
    for (stats& s : all) {
        merged.sent += s.sent;
        merged.matched += s.matched;
        merged.round_trips.insert(merged.round_trips.end(), s.round_trips.begin(),
                                  s.round_trips.end());
    }
    report("B", std::move(merged), seconds);
}

eddy::task<> demo(unsigned count) {
    eddy::server srv = co_await eddy::start_server(echo, "127.0.0.1", 0);
    say("echo server started in this program on port %u\n", srv.port());
    co_await measure(srv.port(), count);
    srv.close();
    co_await srv.wait_closed();
    say("server closed\n");
}

} // namespace

int main(int argc, char** argv) try {
    unsigned port = 0;
    unsigned count = 2000;
    if (!parse_args(argc, argv, &port, &count) || count < 10) {
        std::fprintf(stderr, "usage: %s [--port P] [--count N (>= 10)] [--scale F]\n", argv[0]);
        return 2;
    }
    if (port != 0) {
        say("talking to the echo server on 127.0.0.1:%u\n", port);
        eddy::run(measure(static_cast<std::uint16_t>(port), count));
    } else {
        eddy::run(demo(count));
    }
    say("(the round trips cross the loopback interface and both loops: latency, not bandwidth)\n");
    return 0;
} catch (const std::exception& e) { // ECONNREFUSED: nothing listens on --port; no io_uring...
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
