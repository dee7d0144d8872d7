// eddy::start_server / start_unix_server: connections served as tasks, and the hostile
// conditions a server must survive (resets, floods, long lines, throwing handlers, many
// connections, closing with connections active).
#include "helpers.hpp"

#include <algorithm>
#include <cerrno>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <vector>

namespace {

/// Echoes lines until end of file.
eddy::task<> echo_lines(eddy::stream_reader& r, eddy::stream_writer& w) {
    for (;;) {
        std::string line = co_await r.readline();
        if (line.empty()) {
            co_return;
        }
        w.write(line);
        co_await w.drain();
    }
}

/// Echoes raw chunks until end of file, recording the largest write buffer it ever had.
std::size_t max_buffered = 0;
eddy::task<> echo_chunks(eddy::stream_reader& r, eddy::stream_writer& w) {
    std::vector<std::byte> buf(std::size_t{64} * 1024);
    for (;;) {
        const std::size_t n = co_await r.read_some(buf);
        if (n == 0) {
            co_return;
        }
        w.write(std::span(buf).first(n));
        max_buffered = std::max(max_buffered, w.write_buffer_size());
        co_await w.drain();
    }
}

eddy::task<std::string> ask(std::uint16_t port, std::string line) {
    auto [r, w] = co_await eddy::open_connection("127.0.0.1", port);
    w.write(line);
    std::string answer = co_await r.readline();
    w.close();
    co_await w.wait_closed();
    co_return answer;
}

/// Raises the open-file limit to at least `want` if the hard limit allows; false if not.
bool raise_fd_limit(rlim_t want) {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur >= want) {
        return true;
    }
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
        return false;
    }
    rl.rlim_cur = want;
    return ::setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

} // namespace

TEST_CASE("start_server serves each connection with the handler on a kernel-chosen port",
          "[server][net]") {
    eddy::run([]() -> eddy::task<> {
        eddy::server srv = co_await eddy::start_server(echo_lines, "127.0.0.1", 0);
        CHECK(srv.is_serving());
        CHECK(srv.port() != 0);
        REQUIRE(srv.addresses().size() == 1);
        CHECK(srv.addresses().front().host() == "127.0.0.1");
        const auto answers = co_await eddy::gather(
            ask(srv.port(), "one\n"), ask(srv.port(), "two\n"), ask(srv.port(), "three\n"));
        CHECK(std::get<0>(answers) == "one\n");
        CHECK(std::get<1>(answers) == "two\n");
        CHECK(std::get<2>(answers) == "three\n");
        srv.close();
        CHECK(!srv.is_serving());
        co_await srv.wait_closed();
        CHECK(srv.connections() == 0);
    }());
    CHECK(eddy::live_frames() == 0);
}

TEST_CASE("start_server on a port in use throws EADDRINUSE naming the address, and a zero limit is "
          "rejected",
          "[server][net]") {
    eddy::run([]() -> eddy::task<> {
        eddy::server a = co_await eddy::start_server(echo_lines, "127.0.0.1", 0);
        const auto [code, what] = co_await eddy_test::system_error_of(
            eddy::start_server(echo_lines, "127.0.0.1", a.port()));
        CHECK(code == EADDRINUSE);
        CHECK(what.find("127.0.0.1:" + std::to_string(a.port())) != std::string::npos);
        eddy::server_options zero;
        zero.limit = 0;
        bool rejected = false;
        try {
            eddy::server c = co_await eddy::start_server(echo_lines, "127.0.0.1", 0, zero);
        } catch (const std::invalid_argument&) {
            rejected = true;
        }
        CHECK(rejected);
    }());
}

TEST_CASE("a handler that throws is reported and the server keeps serving", "[server][net]") {
    const std::string err = eddy_test::capture_stderr([] {
        eddy::run([]() -> eddy::task<> {
            auto handler = [](eddy::stream_reader& r, eddy::stream_writer& w) -> eddy::task<> {
                const std::string line = co_await r.readline();
                if (line == "boom\n") {
                    throw std::runtime_error("the handler blew up");
                }
                w.write(line);
            };
            eddy::server srv = co_await eddy::start_server(handler, "127.0.0.1", 0);
            // The failing connection is closed (the client sees end of file)...
            auto [r, w] = co_await eddy::open_connection("127.0.0.1", srv.port());
            w.write("boom\n");
            const std::string none = co_await r.read();
            CHECK(none.empty());
            // ...and the next one is served.
            const std::string answer = co_await ask(srv.port(), "still here\n");
            CHECK(answer == "still here\n");
        }());
    });
    CHECK(err.find("the handler blew up") != std::string::npos);
    CHECK(err.find("127.0.0.1:") != std::string::npos);
}

TEST_CASE("a handler's last writes are flushed when it returns", "[server][net]") {
    eddy::run([]() -> eddy::task<> {
        auto handler = [](eddy::stream_reader&, eddy::stream_writer& w) -> eddy::task<> {
            w.write(std::string(1 << 20, 'z')); // 1 MiB, more than the socket buffers take
            co_return;
        };
        eddy::server srv = co_await eddy::start_server(handler, "127.0.0.1", 0);
        auto [r, w] = co_await eddy::open_connection("127.0.0.1", srv.port());
        co_await eddy::sleep(std::chrono::milliseconds(20)); // the handler has returned
        const std::string all = co_await r.read();
        CHECK(all.size() == (1U << 20));
    }());
}

TEST_CASE("server close cancels active connections and closes them cleanly", "[server][net]") {
    static int cancelled = 0;
    cancelled = 0;
    eddy::run([]() -> eddy::task<> {
        auto handler = [](eddy::stream_reader& r, eddy::stream_writer& w) -> eddy::task<> {
            w.write("hello\n");
            try {
                (void)co_await r.read(); // until end of file: never, the clients stay
            } catch (const eddy::cancelled_error&) {
                ++cancelled;
                throw;
            }
        };
        eddy::server srv = co_await eddy::start_server(handler, "127.0.0.1", 0);
        std::vector<eddy::connection> clients;
        for (int i = 0; i < 5; ++i) {
            clients.push_back(co_await eddy::open_connection("127.0.0.1", srv.port()));
            const std::string hello = co_await clients.back().reader.readline();
            CHECK(hello == "hello\n");
        }
        CHECK(srv.connections() == 5);
        srv.close();
        co_await srv.wait_closed();
        CHECK(srv.connections() == 0);
        for (auto& c : clients) {
            const std::string eof = co_await c.reader.read();
            CHECK(eof.empty()); // the server's side was shut down, not left hanging
        }
        // The port no longer accepts.
        const eddy_test::system_failure refused =
            co_await eddy_test::system_error_of(eddy::open_connection("127.0.0.1", srv.port()));
        CHECK(refused.code == ECONNREFUSED);
    }());
    CHECK(cancelled == 5);
    CHECK(eddy::live_frames() == 0);
}

TEST_CASE("a client that resets in the middle of a write does not hurt the server",
          "[server][net]") {
    static int handler_errors = 0;
    handler_errors = 0;
    const std::string err = eddy_test::capture_stderr([] {
        eddy::run([]() -> eddy::task<> {
            auto handler = [](eddy::stream_reader& r, eddy::stream_writer& w) -> eddy::task<> {
                const std::string line = co_await r.readline();
                if (line != "flood me\n") {
                    w.write(line);
                    co_return;
                }
                const std::string chunk(std::size_t{64} * 1024, 'x');
                try {
                    for (;;) {
                        w.write(chunk);
                        co_await w.drain();
                    }
                } catch (const std::system_error&) {
                    ++handler_errors; // EPIPE or ECONNRESET from the reset
                    throw;
                }
            };
            eddy::server srv = co_await eddy::start_server(handler, "127.0.0.1", 0);
            {
                auto [r, w] = co_await eddy::open_connection("127.0.0.1", srv.port());
                w.write("flood me\n");
                (void)co_await r.read_exactly(std::size_t{100} * 1024); // the flood is on its way
                ::linger lg{1, 0};
                ::setsockopt(r.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
                r.close();
                w.abort(); // both fds closed with unread data and linger 0: a reset
            }
            while (srv.connections() != 0) {
                co_await eddy::sleep(std::chrono::milliseconds(1));
            }
            const std::string answer = co_await ask(srv.port(), "still serving\n");
            CHECK(answer == "still serving\n");
        }());
    });
    CHECK(handler_errors == 1);
}

TEST_CASE("a client that sends and resets before its connection is handled still reaches the "
          "handler, which reads what it sent",
          "[server][net]") {
    static std::string got;
    got = "none";
    const std::string err = eddy_test::capture_stderr([] {
        eddy::run([]() -> eddy::task<> {
            eddy::event served;
            auto handler = [&served](eddy::stream_reader& r, eddy::stream_writer&) -> eddy::task<> {
                try {
                    got = co_await r.read(100);
                } catch (const std::system_error& e) {
                    got = e.what();
                }
                served.set();
            };
            eddy::server srv = co_await eddy::start_server(handler, "127.0.0.1", 0);
            // A blocking client, all of it before the loop handles the accept: connect, send,
            // then close with linger 0, a reset.
            const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            REQUIRE(fd >= 0);
            const eddy::endpoint to = eddy::endpoint::ip("127.0.0.1", srv.port());
            REQUIRE(::connect(fd, to.data(), to.size()) == 0);
            REQUIRE(::send(fd, "abc", 3, 0) == 3);
            ::linger lg{1, 0};
            ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            ::close(fd);
            co_await eddy::wait_for(served.wait(), std::chrono::seconds(10));
        }());
    });
    CHECK(got == "abc");
    CHECK(err.find("dropped a connection") == std::string::npos);
}

TEST_CASE("a client that sends 10 MB and never reads keeps server memory bounded",
          "[server][net]") {
    max_buffered = 0;
    eddy::run([]() -> eddy::task<> {
        eddy::server srv = co_await eddy::start_server(echo_chunks, "127.0.0.1", 0);
        auto [r, w] = co_await eddy::open_connection("127.0.0.1", srv.port());
        const std::string mb(1 << 20, 'y');
        // The client's own writes are not drained (it would block forever: nobody reads the
        // echo); the server echoes until its socket buffers and high-water mark are full.
        for (int i = 0; i < 10; ++i) {
            w.write(mb);
        }
        co_await eddy::sleep(std::chrono::milliseconds(300));
        CHECK(srv.connections() == 1);
        w.abort();
        r.close();
        srv.close();
        co_await srv.wait_closed();
    }());
    // The handler never held more than one read chunk over the high-water mark.
    CHECK(max_buffered > 0);
    CHECK(max_buffered <= eddy::stream_writer::default_high_water + std::size_t{64} * 1024);
}

TEST_CASE("a line longer than the limit raises limit_overrun_error and loses nothing",
          "[server][net]") {
    static std::string outcome;
    outcome.clear();
    eddy::run([]() -> eddy::task<> {
        auto handler = [](eddy::stream_reader& r, eddy::stream_writer& w) -> eddy::task<> {
            try {
                (void)co_await r.readline();
                outcome = "no error";
            } catch (const eddy::limit_overrun_error&) {
                outcome = "overrun";
            }
            // Every byte is still there: the long line, then the next one.
            const std::string rest = co_await r.read_exactly(5000 + 1);
            const std::string next = co_await r.readline();
            w.write(std::to_string(rest.size()) + " " + next);
        };
        eddy::server_options o;
        o.limit = 1024;
        eddy::server srv = co_await eddy::start_server(handler, "127.0.0.1", 0, o);
        auto [r, w] = co_await eddy::open_connection("127.0.0.1", srv.port());
        w.write(std::string(5000, 'L') + "\nshort\n");
        const std::string answer = co_await r.readline();
        CHECK(answer == "5001 short\n");
    }());
    CHECK(outcome == "overrun");
}

TEST_CASE("1,000 concurrent connections opened and closed repeatedly are all served",
          "[server][net]") {
    // Four fds per connection (each side's reader and writer).
    if (!raise_fd_limit(4 * 1000 + 256)) {
        WARN("the open-file limit is too low for 1,000 connections; test skipped");
        return;
    }
    eddy::run([]() -> eddy::task<> {
        eddy::server_options o;
        o.backlog = 1024;
        eddy::server srv = co_await eddy::start_server(echo_lines, "127.0.0.1", 0, o);
        for (int round = 0; round < 3; ++round) {
            std::vector<eddy::task<std::string>> clients;
            clients.reserve(1000);
            for (int i = 0; i < 1000; ++i) {
                clients.push_back(ask(srv.port(), std::to_string(i) + "\n"));
            }
            const std::vector<std::string> answers = co_await eddy::gather(std::move(clients));
            int right = 0;
            for (int i = 0; i < 1000; ++i) {
                right += answers[static_cast<std::size_t>(i)] == std::to_string(i) + "\n" ? 1 : 0;
            }
            CHECK(right == 1000);
        }
        srv.close();
        co_await srv.wait_closed();
    }());
    CHECK(eddy::live_frames() == 0);
}

TEST_CASE("serve_forever returns when the server is closed, and closes it when cancelled",
          "[server][net]") {
    eddy::run([]() -> eddy::task<> {
        eddy::server srv = co_await eddy::start_server(echo_lines, "127.0.0.1", 0);
        auto forever = eddy::create_task(srv.serve_forever());
        co_await eddy::sleep(std::chrono::milliseconds(1));
        CHECK(!forever.done());
        srv.close();
        co_await forever;
        CHECK(forever.done());
        CHECK_THROWS_AS(srv.serve_forever(), eddy::invalid_state_error);

        eddy::server srv2 = co_await eddy::start_server(echo_lines, "127.0.0.1", 0);
        auto forever2 = eddy::create_task(srv2.serve_forever());
        co_await eddy::sleep(std::chrono::milliseconds(1));
        forever2.cancel();
        const bool cancelled = co_await eddy_test::ends_cancelled(forever2);
        CHECK(cancelled);
        CHECK(!srv2.is_serving());
    }());
}

TEST_CASE("start_unix_server serves a path, replaces a stale socket file and removes it",
          "[server][net]") {
    const std::string path = "/tmp/eddy-test-srv-" + std::to_string(::getpid()) + ".sock";
    {
        // A stale socket file, as a crashed server leaves.
        auto stale = eddy::socket::open(AF_UNIX, SOCK_STREAM);
        ::unlink(path.c_str());
        stale.bind(eddy::endpoint::unix_path(path));
    }
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    eddy::run([&]() -> eddy::task<> {
        eddy::server srv = co_await eddy::start_unix_server(echo_lines, path);
        CHECK(srv.port() == 0);
        auto [r, w] = co_await eddy::open_unix_connection(path);
        w.write("via unix\n");
        const std::string answer = co_await r.readline();
        CHECK(answer == "via unix\n");
        w.close();
        co_await w.wait_closed();
        srv.close();
        co_await srv.wait_closed();
    }());
    CHECK(::stat(path.c_str(), &st) != 0); // removed with the server
}

TEST_CASE("a server left open when run ends is closed and drained by run", "[server][net]") {
    eddy::run([]() -> eddy::task<> {
        eddy::server srv = co_await eddy::start_server(echo_lines, "127.0.0.1", 0);
        auto c = co_await eddy::open_connection("127.0.0.1", srv.port());
        c.writer.write("x\n");
        const std::string x = co_await c.reader.readline();
        CHECK(x == "x\n");
        // Returning with the server, a live connection and its handler still running.
    }());
    CHECK(eddy::live_frames() == 0);
}

TEST_CASE("one multishot accept submission serves many connections", "[server][net]") {
    auto l = eddy::socket::open(AF_INET, SOCK_STREAM);
    l.bind(eddy::endpoint::ipv4_loopback(0));
    l.listen();
    const eddy::endpoint at = l.local_endpoint();
    eddy::run([&]() -> eddy::task<> {
        eddy::detail::acceptor acc(l.fd());
        std::vector<eddy::socket> clients;
        std::vector<eddy::socket> accepted;
        for (int i = 0; i < 5; ++i) {
            auto c = eddy::socket::open(AF_INET, SOCK_STREAM);
            co_await c.connect(at);
            clients.push_back(std::move(c));
            std::optional<int> fd;
            while (!fd) {
                fd = co_await acc.wait();
            }
            accepted.emplace_back(*fd);
            // The one accept stays armed in the kernel between connections.
            CHECK(eddy_test::in_flight() == 1);
        }
        CHECK(acc.multishot()); // kernels >= 5.19; older ones fall back to one per accept
        for (std::size_t i = 0; i < clients.size(); ++i) {
            CHECK(accepted[i].peer_endpoint() == clients[i].local_endpoint());
        }
        // Ending the wait: cancel it, and the kernel lets go of the operation.
        auto waiting = eddy::create_task([&]() -> eddy::task<> { (void)co_await acc.wait(); });
        co_await eddy::sleep(std::chrono::milliseconds(1));
        waiting.cancel();
        const bool cancelled = co_await eddy_test::ends_cancelled(waiting);
        CHECK(cancelled);
        CHECK(eddy_test::in_flight() == 0);
    }());
}

TEST_CASE("start_server with an empty host listens on every interface, one per family",
          "[server][net]") {
    eddy::run([]() -> eddy::task<> {
        eddy::server srv = co_await eddy::start_server(echo_lines, "", 0);
        REQUIRE(!srv.addresses().empty());
        bool v4 = false;
        for (const eddy::endpoint& a : srv.addresses()) {
            CHECK(a.port() != 0);
            if (a.family() == AF_INET) {
                v4 = true;
                CHECK(a.host() == "0.0.0.0");
                const std::string answer = co_await ask(a.port(), "any\n");
                CHECK(answer == "any\n");
            } else {
                CHECK(a.host() == "::");
            }
        }
        CHECK(v4);
    }());
}

TEST_CASE("a connection accepted just before close is refused, and wait_closed returns",
          "[server][net]") {
    static int handlers = 0;
    handlers = 0;
    eddy::run([]() -> eddy::task<> {
        auto handler = [](eddy::stream_reader& r, eddy::stream_writer&) -> eddy::task<> {
            ++handlers;
            (void)co_await r.read(); // until the client goes: never, here
        };
        eddy::server srv = co_await eddy::start_server(handler, "127.0.0.1", 0);
        // A plain blocking connect completes from the backlog; the multishot accept's
        // completion is then reaped together with the nop's, so the accept loop is woken
        // (no longer cancellable in the kernel) when close() comes.
        eddy::socket client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)); // blocking
        REQUIRE(client.is_open());
        const eddy::endpoint at = srv.addresses().front();
        REQUIRE(::connect(client.fd(), at.data(), at.size()) == 0);
        co_await eddy::nop();
        srv.close();
        bool closed = false;
        try {
            co_await eddy::wait_for(srv.wait_closed(), std::chrono::seconds(5));
            closed = true;
        } catch (const eddy::timeout_error&) {
        }
        CHECK(closed);
        CHECK(srv.connections() == 0);
    }());
    CHECK(handlers == 0);
}

TEST_CASE("a Unix server restarted on its path keeps its new socket file", "[server][net]") {
    const std::string path = "/tmp/eddy-test-reload-" + std::to_string(::getpid()) + ".sock";
    ::unlink(path.c_str());
    eddy::run([&]() -> eddy::task<> {
        eddy::server srv = co_await eddy::start_unix_server(echo_lines, path);
        srv.close();
        co_await srv.wait_closed();
        // The move-assignment releases the old server after the new one has bound the path.
        srv = co_await eddy::start_unix_server(echo_lines, path);
        struct stat st {};
        CHECK(::stat(path.c_str(), &st) == 0);
        auto [r, w] = co_await eddy::open_unix_connection(path);
        w.write("again\n");
        const std::string answer = co_await r.readline();
        CHECK(answer == "again\n");
    }());
    struct stat st {};
    CHECK(::stat(path.c_str(), &st) != 0);
}
