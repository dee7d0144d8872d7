// eddy::open_connection / open_unix_connection: stream pairs over TCP and Unix sockets, name
// resolution, errors naming the peer, half-close, cancellation.
#include "helpers.hpp"

#include <cerrno>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>

using namespace std::chrono_literals;

namespace {

/// A raw listener on 127.0.0.1 (the peer of these tests is plain eddy::socket code).
eddy::socket listener() {
    auto s = eddy::socket::open(AF_INET, SOCK_STREAM);
    s.bind(eddy::endpoint::ipv4_loopback(0));
    s.listen();
    return s;
}

eddy::task<std::string> recv_all(eddy::socket& s) {
    std::string out;
    std::vector<std::byte> buf(4096);
    for (;;) {
        const std::size_t n = co_await s.recv(buf);
        if (n == 0) {
            co_return out;
        }
        out.append(reinterpret_cast<const char*>(buf.data()), n);
    }
}

} // namespace

TEST_CASE("open_connection gives a reader and a writer over TCP with nodelay set",
          "[connection][net]") {
    auto l = listener();
    const std::uint16_t port = l.local_endpoint().port();
    eddy::run([&]() -> eddy::task<> {
        auto [reader, writer] = co_await eddy::open_connection("127.0.0.1", port);
        eddy::socket peer = co_await l.accept();
        int nodelay = 0;
        socklen_t len = sizeof nodelay;
        ::getsockopt(writer.fd(), IPPROTO_TCP, TCP_NODELAY, &nodelay, &len);
        CHECK(nodelay != 0);
        CHECK(reader.fd() != writer.fd()); // each half owns its fd

        writer.write("hello\n");
        co_await writer.drain();
        co_await peer.send_all("line one\nline two\n");
        const std::string one = co_await reader.readline();
        CHECK(one == "line one\n");
        // write_eof is a half-close: the peer sees end of file, this side still reads.
        writer.write_eof();
        co_await writer.wait_closed();
        const std::string got = co_await recv_all(peer);
        CHECK(got == "hello\n");
        const std::string two = co_await reader.readline();
        CHECK(two == "line two\n");
        peer.close();
        const std::string eof = co_await reader.read(10);
        CHECK(eof.empty());
        CHECK(reader.at_eof());
    }());
}

TEST_CASE("closing the writer ends the connection for the peer and for the reader",
          "[connection][net]") {
    auto l = listener();
    const std::uint16_t port = l.local_endpoint().port();
    eddy::run([&]() -> eddy::task<> {
        auto conn = co_await eddy::open_connection("127.0.0.1", port);
        eddy::socket peer = co_await l.accept();
        conn.writer.write("last words");
        conn.writer.close();
        co_await conn.writer.wait_closed();
        const std::string got = co_await recv_all(peer);
        CHECK(got == "last words");
        const std::string eof = co_await conn.reader.read(10); // shut down by close()
        CHECK(eof.empty());
    }());
}

TEST_CASE("close or abort after write_eof still ends the connection for this side's reader",
          "[connection][net]") {
    auto l = listener();
    const std::uint16_t port = l.local_endpoint().port();
    const bool abort_it = GENERATE(false, true);
    eddy::run([&]() -> eddy::task<> {
        auto conn = co_await eddy::open_connection("127.0.0.1", port);
        eddy::socket peer = co_await l.accept(); // never writes, never closes
        auto line = [&]() -> eddy::task<std::string> { co_return co_await conn.reader.readline(); };
        auto reading = eddy::create_task(line);
        co_await eddy::sleep(5ms);
        conn.writer.write_eof(); // the write side is shut down at once (nothing buffered)
        if (abort_it) {
            conn.writer.abort();
        } else {
            conn.writer.close();
        }
        CHECK(conn.writer.is_closing());
        co_await conn.writer.wait_closed();
        // Before, the fd was gone with write_eof(), and close()/abort() shut nothing down: the
        // reader waited for the peer forever.
        const std::string got = co_await eddy::wait_for(reading, 10s);
        CHECK(got.empty());
        const std::string seen = co_await recv_all(peer);
        CHECK(seen.empty());
    }());
}

TEST_CASE("open_connection resolves a name off the loop thread", "[connection][net][resolve]") {
    auto l = listener();
    const std::uint16_t port = l.local_endpoint().port();
    eddy::run([&]() -> eddy::task<> {
        eddy::connection_options o;
        o.family = AF_INET; // localhost may list ::1 first, where nobody listens
        auto [reader, writer] = co_await eddy::open_connection("localhost", port, o);
        eddy::socket peer = co_await l.accept();
        co_await peer.send_all("hi");
        const std::string got = co_await reader.read_exactly(2);
        CHECK(got == "hi");
    }());
}

TEST_CASE("open_connection to a closed port throws ECONNREFUSED naming the peer",
          "[connection][net]") {
    const std::uint16_t port = eddy_test::unused_port();
    eddy_test::system_failure f;
    eddy::run([&]() -> eddy::task<> {
        f = co_await eddy_test::system_error_of(eddy::open_connection("127.0.0.1", port));
    }());
    const auto& [code, what] = f;
    CHECK(code == ECONNREFUSED);
    CHECK(what.find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
}

TEST_CASE("a read error on a reset connection names the peer", "[connection][net]") {
    auto l = listener();
    const std::uint16_t port = l.local_endpoint().port();
    eddy_test::system_failure f;
    eddy::run([&]() -> eddy::task<> {
        auto [reader, writer] = co_await eddy::open_connection("127.0.0.1", port);
        {
            eddy::socket peer = co_await l.accept();
            ::linger lg{1, 0}; // close with RST
            ::setsockopt(peer.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        f = co_await eddy_test::system_error_of(reader.read(10));
    }());
    const auto& [code, what] = f;
    CHECK(code == ECONNRESET);
    CHECK(what.find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
}

TEST_CASE("open_unix_connection connects to a Unix-domain socket", "[connection][net]") {
    const std::string path = "/tmp/eddy-test-conn-" + std::to_string(::getpid()) + ".sock";
    ::unlink(path.c_str());
    auto l = eddy::socket::open(AF_UNIX, SOCK_STREAM);
    l.bind(eddy::endpoint::unix_path(path));
    l.listen();
    eddy::run([&]() -> eddy::task<> {
        auto [reader, writer] = co_await eddy::open_unix_connection(path);
        eddy::socket peer = co_await l.accept();
        writer.write("over unix\n");
        co_await writer.drain();
        std::vector<std::byte> buf(64);
        const std::size_t n = co_await peer.recv(buf);
        CHECK(std::string(reinterpret_cast<const char*>(buf.data()), n) == "over unix\n");
    }());
    ::unlink(path.c_str());
    eddy_test::system_failure f;
    eddy::run([&]() -> eddy::task<> {
        f = co_await eddy_test::system_error_of(eddy::open_unix_connection(path));
    }());
    CHECK(f.code == ENOENT);
}

TEST_CASE("a cancelled open_connection leaves nothing behind", "[connection][net]") {
    // A listener nobody accepts from, with a full backlog: the kernel drops further SYNs, so
    // the next connect hangs (retransmitting) until it is cancelled.
    auto l = eddy::socket::open(AF_INET, SOCK_STREAM);
    l.bind(eddy::endpoint::ipv4_loopback(0));
    l.listen(0);
    const eddy::endpoint at = l.local_endpoint();
    eddy::run([&]() -> eddy::task<> {
        bool hung = false;
        for (int i = 0; i < 8 && !hung; ++i) {
            auto t = eddy::create_task(eddy::open_connection("127.0.0.1", at.port()));
            co_await eddy::sleep(std::chrono::milliseconds(50));
            if (t.done()) {
                continue; // it filled the backlog (it stays queued there after it closes)
            }
            hung = true;
            t.cancel();
            const bool cancelled = co_await eddy_test::ends_cancelled(t);
            CHECK(cancelled);
            CHECK(eddy_test::in_flight() == 0);
        }
        CHECK(hung);
    }());
}

TEST_CASE("peer_endpoint and local_endpoint name both ends of a stream", "[connection][net]") {
    auto l = listener();
    const eddy::endpoint at = l.local_endpoint();
    eddy::run([&]() -> eddy::task<> {
        auto [reader, writer] = co_await eddy::open_connection("127.0.0.1", at.port());
        eddy::socket peer = co_await l.accept();
        CHECK(eddy::peer_endpoint(writer) == at);
        CHECK(eddy::peer_endpoint(reader) == at);
        CHECK(eddy::local_endpoint(writer) == peer.peer_endpoint());
        auto p = eddy::pipe();
        CHECK_THROWS_AS(eddy::peer_endpoint(p.writer), std::system_error); // not a socket
    }());
}
