// eddy::socket: connect, accept, recv, send, recvfrom/sendto and shutdown through the ring,
// cancellation of each wait, errors naming the peer, no SIGPIPE.
#include "helpers.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <system_error>
#include <vector>

namespace {

std::span<const std::byte> bytes(std::string_view s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}
std::string text(std::span<const std::byte> b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

/// A TCP listener on 127.0.0.1 with a kernel-chosen port.
eddy::socket listener(int family = AF_INET) {
    auto s = eddy::socket::open(family, SOCK_STREAM);
    s.set_reuse_address(true);
    s.bind(family == AF_INET ? eddy::endpoint::ipv4_loopback(0) : eddy::endpoint::ipv6_loopback(0));
    s.listen();
    return s;
}

eddy::task<eddy::socket> connect_to(eddy::endpoint peer) {
    auto s = eddy::socket::open(peer.family(), SOCK_STREAM);
    co_await s.connect(peer);
    co_return s;
}

} // namespace

TEST_CASE("socket connects, accepts and echoes bytes over loopback", "[socket][net]") {
    for (int family : {AF_INET, AF_INET6}) {
        eddy::socket l;
        try {
            l = listener(family);
        } catch (const std::system_error& e) {
            WARN("no " << (family == AF_INET ? "IPv4" : "IPv6") << " loopback: " << e.what());
            continue;
        }
        const eddy::endpoint at = l.local_endpoint();
        CHECK(at.port() != 0);
        eddy::run([&]() -> eddy::task<> {
            // A loopback connect completes from the listen backlog, before the accept.
            eddy::socket client = co_await connect_to(at);
            eddy::endpoint peer;
            eddy::socket conn = co_await l.accept(&peer);
            CHECK(conn.is_open());
            CHECK(peer.family() == family);
            CHECK(peer == client.local_endpoint());
            CHECK(conn.peer_endpoint() == client.local_endpoint());
            CHECK((::fcntl(conn.fd(), F_GETFD) & FD_CLOEXEC) != 0);

            co_await client.send_all("ping");
            std::vector<std::byte> buf(64);
            const std::size_t n = co_await conn.recv(buf);
            CHECK(text(std::span(buf).first(n)) == "ping");
            const std::size_t sent = co_await conn.send(bytes("pong"));
            CHECK(sent == 4);
            const std::size_t m = co_await client.recv(buf);
            CHECK(text(std::span(buf).first(m)) == "pong");

            // A half-close: the peer reads end of file, and can still answer.
            co_await client.shutdown(SHUT_WR);
            const std::size_t eof = co_await conn.recv(buf);
            CHECK(eof == 0);
            co_await conn.send_all("bye");
            const std::size_t b = co_await client.recv(buf);
            CHECK(text(std::span(buf).first(b)) == "bye");
        }());
    }
}

TEST_CASE("socket connect to a closed port throws ECONNREFUSED naming the peer", "[socket][net]") {
    const std::uint16_t port = eddy_test::unused_port();
    eddy_test::system_failure f;
    eddy::run([&]() -> eddy::task<> {
        auto s = eddy::socket::open(AF_INET, SOCK_STREAM);
        f = co_await eddy_test::system_error_of(s.connect(eddy::endpoint::ipv4_loopback(port)));
    }());
    const auto& [code, what] = f;
    CHECK(code == ECONNREFUSED);
    CHECK(what.find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
}

TEST_CASE("socket bind to a port in use throws EADDRINUSE naming the address", "[socket][net]") {
    auto l = listener();
    auto s = eddy::socket::open(AF_INET, SOCK_STREAM);
    try {
        s.bind(l.local_endpoint());
        FAIL("bind succeeded");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == EADDRINUSE);
        CHECK(std::string(e.what()).find(l.local_endpoint().to_string()) != std::string::npos);
    }
}

TEST_CASE("a cancelled accept and a cancelled recv end cancelled with nothing in flight",
          "[socket][net]") {
    auto l = listener();
    const eddy::endpoint at = l.local_endpoint();
    eddy::run([&]() -> eddy::task<> {
        auto acc =
            eddy::create_task([&]() -> eddy::task<eddy::socket> { co_return co_await l.accept(); });
        co_await eddy::sleep(std::chrono::milliseconds(1));
        acc.cancel();
        const bool accept_cancelled = co_await eddy_test::ends_cancelled(acc);
        CHECK(accept_cancelled);

        // The listener still works after the cancelled accept.
        eddy::socket client = co_await connect_to(at);
        eddy::socket conn = co_await l.accept();
        std::vector<std::byte> buf(16);
        auto rd = eddy::create_task(
            [&]() -> eddy::task<std::size_t> { co_return co_await conn.recv(buf); });
        co_await eddy::sleep(std::chrono::milliseconds(1));
        rd.cancel();
        const bool recv_cancelled = co_await eddy_test::ends_cancelled(rd);
        CHECK(recv_cancelled);
        CHECK(eddy_test::in_flight() == 0);
        // Nothing was lost: bytes sent after the cancel arrive whole.
        co_await client.send_all("after");
        const std::size_t n = co_await conn.recv(buf);
        CHECK(text(std::span(buf).first(n)) == "after");
    }());
}

TEST_CASE("send to a peer that reset fails with an errno, never SIGPIPE", "[socket][net]") {
    // SIGPIPE keeps its default action here: a plain write would kill the test program.
    struct sigaction before {};
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGPIPE, &dfl, &before);
    auto l = listener();
    const eddy::endpoint at = l.local_endpoint();
    int code = 0;
    eddy::run([&]() -> eddy::task<> {
        eddy::socket client = co_await connect_to(at);
        eddy::socket conn = co_await l.accept();
        // RST instead of FIN: linger 0 on close.
        ::linger lg{1, 0};
        ::setsockopt(conn.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        conn.close();
        std::string chunk(std::size_t{64} * 1024, 'x');
        try {
            for (int i = 0; i < 100; ++i) {
                co_await client.send_all(chunk);
            }
        } catch (const std::system_error& e) {
            code = e.code().value();
        }
    }());
    ::sigaction(SIGPIPE, &before, nullptr);
    CHECK((code == EPIPE || code == ECONNRESET));
}

TEST_CASE("udp sockets exchange datagrams with recvfrom and sendto", "[socket][net]") {
    auto a = eddy::socket::open(AF_INET, SOCK_DGRAM);
    auto b = eddy::socket::open(AF_INET, SOCK_DGRAM);
    a.bind(eddy::endpoint::ipv4_loopback(0));
    b.bind(eddy::endpoint::ipv4_loopback(0));
    const eddy::endpoint at_a = a.local_endpoint();
    const eddy::endpoint at_b = b.local_endpoint();
    eddy::run([&]() -> eddy::task<> {
        const std::size_t sent = co_await a.sendto(bytes("hello"), at_b);
        CHECK(sent == 5);
        std::vector<std::byte> buf(3);
        const eddy::datagram_info d = co_await b.recvfrom(buf);
        CHECK(d.size == 3);
        CHECK(d.truncated);
        CHECK(d.peer == at_a);
        CHECK(text(std::span(buf).first(d.size)) == "hel");
        std::vector<std::byte> big(64);
        co_await b.sendto(bytes("back"), d.peer);
        const eddy::datagram_info e = co_await a.recvfrom(big);
        CHECK(!e.truncated);
        CHECK(e.peer == at_b);
        CHECK(text(std::span(big).first(e.size)) == "back");
    }());
}

TEST_CASE("socket options and names are readable", "[socket][net]") {
    auto s = eddy::socket::open(AF_INET, SOCK_STREAM);
    s.set_nodelay(true);
    CHECK(s.get_option(IPPROTO_TCP, TCP_NODELAY) != 0);
    s.set_reuse_address(true);
    CHECK(s.get_option(SOL_SOCKET, SO_REUSEADDR) != 0);
    CHECK(s.error() == 0);
    CHECK_THROWS_AS(s.peer_endpoint(), std::system_error); // not connected
    const int fd = s.release();
    CHECK(!s.is_open());
    ::close(fd);
    CHECK_THROWS_AS(eddy::socket::open(-1, SOCK_STREAM), std::system_error);
}

TEST_CASE("eddy's sockets are non-blocking and close-on-exec, accepted ones too, as asyncio's are",
          "[socket][net]") {
    eddy::run([]() -> eddy::task<> {
        auto l = eddy::socket::open(AF_INET, SOCK_STREAM);
        l.bind(eddy::endpoint::ipv4_loopback(0));
        l.listen();
        auto c = eddy::socket::open(AF_INET, SOCK_STREAM);
        auto accept_one = [&]() -> eddy::task<eddy::socket> { co_return co_await l.accept(); };
        // Not a structured binding: clang 14 cannot capture one in the lambda below.
        auto both = co_await eddy::gather(accept_one(), c.connect(l.local_endpoint()));
        eddy::socket a = std::move(std::get<0>(both));
        for (const eddy::socket* s : {&l, &c, &a}) {
            CHECK((::fcntl(s->fd(), F_GETFL) & O_NONBLOCK) != 0);
            CHECK((::fcntl(s->fd(), F_GETFD) & FD_CLOEXEC) != 0);
        }
        // Non-blocking fds still wait in eddy's operations: a recv with nothing to read waits.
        std::array<std::byte, 4> buf{};
        auto recv_some = [&]() -> eddy::task<std::size_t> { co_return co_await a.recv(buf); };
        auto reader = eddy::create_task(recv_some());
        co_await eddy::sleep(std::chrono::milliseconds(10));
        CHECK_FALSE(reader.done());
        co_await c.send_all(std::as_bytes(std::span("hey", 3)));
        const std::size_t n = co_await reader;
        CHECK(n == 3);
    }());
}
