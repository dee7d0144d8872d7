// eddy benchmarks, W5 — standalone Asio's echo server: co_spawn per connection, awaitable
// async_read_some then async_write. Built twice: with Asio's default epoll reactor, and with its
// io_uring backend (ASIO_HAS_IO_URING + ASIO_DISABLE_EPOLL change Asio's types, hence a separate
// executable). The io_context gets concurrency hint 1 (one thread: no locking), the setting a
// single-threaded Asio server would use.
#include "echo_common.hpp"

#include <asio.hpp>

#include <csignal>
#include <cstdio>
#include <memory>

namespace {

using asio::ip::tcp;

asio::awaitable<void> echo_connection(tcp::socket s) {
    auto buf = std::make_unique<char[]>(echo::buffer_size);
    try {
        for (;;) {
            const std::size_t n = co_await s.async_read_some(
                asio::buffer(buf.get(), echo::buffer_size), asio::use_awaitable);
            co_await asio::async_write(s, asio::buffer(buf.get(), n), asio::use_awaitable);
        }
    } catch (const std::exception&) {
        // End of file or a reset: the connection is over.
    }
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor) {
    for (;;) {
        tcp::socket s = co_await acceptor.async_accept(asio::use_awaitable);
        s.set_option(tcp::no_delay(true));
        asio::co_spawn(acceptor.get_executor(), echo_connection(std::move(s)), asio::detached);
    }
}

} // namespace

int main(int argc, char** argv) {
    const echo::server_args args = echo::parse_server_args(argc, argv);
    echo::pin_to_cpu(args.cpu);
    asio::io_context ctx(1);
    tcp::acceptor acceptor(ctx);
    const tcp::endpoint at(asio::ip::make_address("127.0.0.1"),
                           static_cast<unsigned short>(args.port));
    acceptor.open(at.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(at);
    acceptor.listen(128);
    asio::signal_set signals(ctx, SIGINT, SIGTERM);
    signals.async_wait([&](const std::error_code&, int) { ctx.stop(); });
    asio::co_spawn(ctx, accept_loop(acceptor), asio::detached);
    echo::announce(acceptor.local_endpoint().port());
    ctx.run();
    return 0;
}
