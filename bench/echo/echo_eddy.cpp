// eddy benchmarks, W5 — eddy's two echo servers, chosen with --server:
//   streams  start_server; each connection reads with stream_reader::read_some into its own
//            buffer, then stream_writer::write + drain (asyncio's streams, the intended API)
//   socket   eddy::socket: an accept loop, a task per connection, recv then send_all
//
// Allocations are counted (alloc_counter.cpp interposes malloc and operator new). After a
// warm-up of `warmup_recvs` echoed chunks (every connection accepted and its buffers grown), the
// server keeps the allocation count of its latest echo; at exit it prints to stderr
//   allocs <after warm-up> recvs <after warm-up> bytes <after warm-up>
// so that the run script can report allocations per message. Teardown is not counted.
#include "../alloc_counter.hpp"
#include "echo_common.hpp"

#include <eddy/eddy.hpp>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace {

constexpr std::uint64_t warmup_recvs = 20'000;

struct counters {
    std::uint64_t recvs = 0;
    std::uint64_t bytes = 0;
    std::uint64_t allocs_at_warmup = 0;
    std::uint64_t bytes_at_warmup = 0;
    std::uint64_t allocs_at_last = 0; // after the latest echo's write was issued
};
counters g;

/// One echoed chunk of `n` bytes has been handed to the kernel (or to the writer).
inline void echoed(std::size_t n) noexcept {
    ++g.recvs;
    g.bytes += n;
    if (g.recvs == warmup_recvs) {
        g.allocs_at_warmup = bench::allocations();
        g.bytes_at_warmup = g.bytes;
    }
    g.allocs_at_last = bench::allocations();
}

void report() {
    if (g.recvs < warmup_recvs) {
        std::fprintf(stderr, "allocs n/a recvs %llu bytes %llu (no warm-up reached)\n",
                     static_cast<unsigned long long>(g.recvs),
                     static_cast<unsigned long long>(g.bytes));
        return;
    }
    std::fprintf(stderr, "allocs %llu recvs %llu bytes %llu\n",
                 static_cast<unsigned long long>(g.allocs_at_last - g.allocs_at_warmup),
                 static_cast<unsigned long long>(g.recvs - warmup_recvs),
                 static_cast<unsigned long long>(g.bytes - g.bytes_at_warmup));
}

// ---------------------------------------------------------------- streams
eddy::task<> echo_stream(eddy::stream_reader& r, eddy::stream_writer& w) {
    auto buf = std::make_unique<std::byte[]>(echo::buffer_size);
    const std::span<std::byte> span(buf.get(), echo::buffer_size);
    for (;;) {
        const std::size_t n = co_await r.read_some(span);
        if (n == 0) {
            co_return;
        }
        w.write(span.first(n));
        co_await w.drain();
        echoed(n);
    }
}

eddy::task<> serve_streams(int port) {
    eddy::server srv = co_await eddy::start_server(echo_stream, "127.0.0.1", port);
    echo::announce(srv.port());
    (void)co_await eddy::wait_signal(eddy::signal_set(SIGINT, SIGTERM));
    report();
}

// ---------------------------------------------------------------- socket
eddy::task<> echo_socket(eddy::socket s) {
    auto buf = std::make_unique<std::byte[]>(echo::buffer_size);
    const std::span<std::byte> span(buf.get(), echo::buffer_size);
    try {
        for (;;) {
            const std::size_t n = co_await s.recv(span);
            if (n == 0) {
                co_return;
            }
            co_await s.send_all(span.first(n));
            echoed(n);
        }
    } catch (const std::system_error&) {
        // A reset by the load generator ends the connection.
    }
}

eddy::task<> accept_loop(eddy::socket& listener) {
    for (;;) {
        eddy::socket c = co_await listener.accept();
        c.set_nodelay(true);
        (void)eddy::create_task(echo_socket(std::move(c)));
    }
}

eddy::task<> serve_socket(int port) {
    eddy::socket listener = eddy::socket::open(AF_INET, SOCK_STREAM);
    listener.set_reuse_address(true);
    listener.bind(*eddy::endpoint::parse("127.0.0.1", static_cast<std::uint16_t>(port)));
    listener.listen(128);
    echo::announce(listener.local_endpoint().port());
    eddy::task_handle<void> acceptor = eddy::create_task(accept_loop(listener));
    (void)co_await eddy::wait_signal(eddy::signal_set(SIGINT, SIGTERM));
    report();
    acceptor.cancel();
    try {
        co_await acceptor;
    } catch (const eddy::cancelled_error&) {
    }
}

} // namespace

int main(int argc, char** argv) {
    try {
        const echo::server_args args = echo::parse_server_args(argc, argv);
        echo::pin_to_cpu(args.cpu);
        // "-epoll" after the kind runs the same server on eddy's epoll backend.
        std::string kind = args.server.empty() ? "streams" : args.server;
        eddy::loop_options opts;
        if (kind.ends_with("-epoll")) {
            opts.backend = eddy::backend_kind::epoll;
            kind.resize(kind.size() - std::string_view("-epoll").size());
        }
        if (kind == "streams") {
            eddy::run(serve_streams(args.port), opts);
        } else if (kind == "socket") {
            eddy::run(serve_socket(args.port), opts);
        } else {
            std::fprintf(stderr,
                         "echo_eddy: unknown --server=%s (streams, socket, streams-epoll, "
                         "socket-epoll)\n",
                         args.server.c_str());
            return 2;
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "echo_eddy: %s\n", e.what());
        return 1;
    }
}
