// eddy::create_datagram_endpoint: UDP endpoints, bound and connected, whole datagrams.
#include "helpers.hpp"

#include <cerrno>
#include <string>
#include <system_error>

TEST_CASE("datagram endpoints exchange datagrams and name their senders", "[datagram][net]") {
    eddy::run([]() -> eddy::task<> {
        eddy::datagram_options so;
        so.local_host = "127.0.0.1";
        eddy::datagram_endpoint server = co_await eddy::create_datagram_endpoint(so);
        const eddy::endpoint at = server.local_endpoint();
        CHECK(at.port() != 0);

        eddy::datagram_options co;
        co.remote_host = "127.0.0.1";
        co.remote_port = at.port();
        eddy::datagram_endpoint client = co_await eddy::create_datagram_endpoint(co);
        REQUIRE(client.peer_endpoint().has_value());
        CHECK(*client.peer_endpoint() == at);

        const std::size_t sent = co_await client.send("ping");
        CHECK(sent == 4);
        const eddy::datagram d = co_await server.recvfrom();
        CHECK(d.data == "ping");
        CHECK(d.peer == client.local_endpoint());
        co_await server.sendto("pong", d.peer);
        const eddy::datagram back = co_await client.recvfrom();
        CHECK(back.data == "pong");
        CHECK(back.peer == at);
    }());
}

TEST_CASE("a datagram longer than max_size is cut and says so, and the next one is whole",
          "[datagram][net]") {
    eddy::run([]() -> eddy::task<> {
        eddy::datagram_options so;
        so.local_host = "127.0.0.1";
        so.max_size = 8;
        auto server = co_await eddy::create_datagram_endpoint(so);
        eddy::datagram_options co;
        co.remote_host = "127.0.0.1";
        co.remote_port = server.local_endpoint().port();
        auto client = co_await eddy::create_datagram_endpoint(co);
        (void)co_await client.send("0123456789abcdef");
        (void)co_await client.send("short");
        const eddy::datagram a = co_await server.recvfrom();
        const eddy::datagram b = co_await server.recvfrom();
        CHECK(a.data == "01234567");
        CHECK(a.truncated);
        CHECK(b.data == "short");
        CHECK_FALSE(b.truncated);
    }());
}

TEST_CASE("a datagram endpoint made with max_size 0 is refused: every datagram would come empty",
          "[datagram][net]") {
    eddy::run([]() -> eddy::task<> {
        eddy::socket s(eddy::socket::open(AF_INET, SOCK_DGRAM));
        CHECK_THROWS_AS(eddy::datagram_endpoint(std::move(s), std::nullopt, 0),
                        std::invalid_argument);
        co_return;
    }());
}

TEST_CASE("a connected datagram endpoint sees ECONNREFUSED when nobody listens",
          "[datagram][net]") {
    const std::uint16_t port = eddy_test::unused_port(SOCK_DGRAM);
    int code = 0;
    eddy::run([&]() -> eddy::task<> {
        eddy::datagram_options co;
        co.remote_host = "127.0.0.1";
        co.remote_port = port;
        auto client = co_await eddy::create_datagram_endpoint(co);
        try {
            (void)co_await client.send("anyone?");
            // The ICMP port-unreachable comes back as an error on the next operation.
            (void)co_await client.recvfrom();
        } catch (const std::system_error& e) {
            code = e.code().value();
        }
    }());
    CHECK(code == ECONNREFUSED);
}

TEST_CASE("a cancelled datagram receive ends cancelled with nothing in flight", "[datagram][net]") {
    eddy::run([]() -> eddy::task<> {
        eddy::datagram_options so;
        so.local_host = "127.0.0.1";
        auto server = co_await eddy::create_datagram_endpoint(so);
        auto t = eddy::create_task(server.recvfrom());
        co_await eddy::sleep(std::chrono::milliseconds(1));
        t.cancel();
        const bool cancelled = co_await eddy_test::ends_cancelled(t);
        CHECK(cancelled);
        CHECK(eddy_test::in_flight() == 0);
        eddy::datagram_endpoint unconnected;
        CHECK_THROWS_AS(unconnected.send("x"), eddy::invalid_state_error);
    }());
}
