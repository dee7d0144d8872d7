// echo_server — a TCP echo server: every line a client sends comes straight back.
//
// asyncio's start_server in C++: eddy::start_server listens and runs the handler as a task for
// each connection, so one thread serves every client at once; a client waiting for its next
// line costs a suspended coroutine, not a thread. The handler reads a line, writes it back and
// drains (the backpressure point: a client that sends faster than it reads cannot make the
// server buffer without bound).
//
//   echo_server [--scale F]   the demo: the server on 127.0.0.1 (a port the kernel picks) and
//                             two clients talking to it at once; then the server closes
//   echo_server --port N      serves on 127.0.0.1:N until Ctrl-C (try: nc 127.0.0.1 N, or
//                             echo_client --port N)
#include <eddy/eddy.hpp>

#include "common.hpp"

#include <cstdio>
#include <exception>
#include <string>
#include <sys/socket.h>
#include <utility>
#include <vector>

namespace {

using namespace example; // --scale, say(), since(): examples/common.hpp

bool verbose = false; // --port mode: log connections (the demo's output stays deterministic)

// ---- The server: one call of this per connection, as its own task.
eddy::task<> echo(eddy::stream_reader& reader, eddy::stream_writer& writer) {
    const std::string peer = verbose ? eddy::peer_endpoint(writer).to_string() : std::string();
    if (verbose) {
        say("%s connected\n", peer.c_str());
    }
    for (;;) {
        std::string line = co_await reader.readline(); // "" at end of file: the client is done
        if (line.empty()) {
            break;
        }
        writer.write(line);
        co_await writer.drain();
    }
    if (verbose) {
        say("%s disconnected\n", peer.c_str());
    }
    // Returning is enough: the server flushes and closes the writer.
}

// ---- A client: connects, sends each line, prints what comes back.
eddy::task<std::vector<std::string>> client(std::uint16_t port, std::vector<std::string> lines) {
    auto [reader, writer] = co_await eddy::open_connection("127.0.0.1", port);
    std::vector<std::string> echoes;
    for (const std::string& line : lines) {
        writer.write(line + "\n");
        co_await writer.drain();
        std::string echoed = co_await reader.readline();
        echoed.pop_back(); // the "\n"
        echoes.push_back(std::move(echoed));
        co_await eddy::sleep(secs(0.1)); // think time: the other client's lines go meanwhile
    }
    writer.close(); // the server's readline sees end of file and its handler returns
    co_await writer.wait_closed();
    co_return echoes;
}

eddy::task<> demo() {
    std::size_t served = 0;
    // The handler is any callable; this one counts, then hands over to the coroutine. It is not
    // a coroutine itself, so nothing it captures has to outlive a suspension.
    auto counting_echo = [&served](eddy::stream_reader& r, eddy::stream_writer& w) {
        ++served;
        return echo(r, w);
    };
    eddy::server srv = co_await eddy::start_server(counting_echo, "127.0.0.1", 0);
    say("server: listening on %s\n", srv.addresses().front().to_string().c_str());

    say("two clients, gathered: both connected at once, each with its own handler task\n");
    // (The tasks are made before the co_await: g++ 12 mishandles braced lists inside it.)
    eddy::task<std::vector<std::string>> first = client(srv.port(), {"hello", "how are you?"});
    eddy::task<std::vector<std::string>> second =
        client(srv.port(), {"bonjour", "ça va ?", "salut"});
    auto [one, two] = co_await eddy::gather(std::move(first), std::move(second));
    for (const std::string& e : one) {
        say("  client 1 got back: %s\n", e.c_str());
    }
    for (const std::string& e : two) {
        say("  client 2 got back: %s\n", e.c_str());
    }

    srv.close(); // stop listening; a handler still running would be cancelled
    co_await srv.wait_closed();
    say("server: closed after serving %zu connections\n", served);
}

eddy::task<> serve(std::uint16_t port) {
    verbose = true;
    eddy::server srv = co_await eddy::start_server(echo, "127.0.0.1", port);
    say("echo server on %s; Ctrl-C stops it\n", srv.addresses().front().to_string().c_str());
    co_await srv.serve_forever(); // Ctrl-C cancels it: it closes the server, then rethrows
}

} // namespace

int main(int argc, char** argv) try {
    unsigned port = 0;
    if (!parse_args(argc, argv, &port)) {
        std::fprintf(stderr, "usage: %s [--scale F] [--port N]\n", argv[0]);
        return 2;
    }
    if (port != 0) {
        return serve_until_interrupted(serve(static_cast<std::uint16_t>(port)));
    }
    const double total = timed([] { eddy::run(demo()); });
    // The clients pause 0.1 s after each echo (2 and 3 times): 0.5 s one after the other.
    say("total: %.2f s (the clients' pauses overlapped: about %.2f s, not %.2f s)\n", total,
        secs(0.3).count(), secs(0.5).count());
    return 0;
} catch (const std::exception& e) { // std::system_error: the port is taken, no io_uring...
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
