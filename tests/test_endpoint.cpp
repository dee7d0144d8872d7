// endpoint: parsing numeric addresses, formatting, ports, equality, Unix names, and the buffer
// the kernel fills (getsockname on real loopback and Unix sockets).
#include "helpers.hpp"

#include <cstring>
#include <net/if.h>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

using namespace std::string_view_literals;

namespace {

// A socket that closes itself.
struct fd_guard {
    int fd;
    explicit fd_guard(int f) : fd(f) { REQUIRE(fd >= 0); }
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    ~fd_guard() { ::close(fd); }
};

// getsockname into an endpoint, as the socket layer will do it.
eddy::endpoint local_address(int fd) {
    eddy::endpoint e;
    socklen_t len = eddy::endpoint::capacity();
    REQUIRE(::getsockname(fd, e.data(), &len) == 0);
    e.resize(len);
    return e;
}

} // namespace

TEST_CASE("parse reads numeric IPv4 and IPv6 addresses with the given port", "[endpoint]") {
    const auto v4 = eddy::endpoint::parse("127.0.0.1", 8080);
    REQUIRE(v4.has_value());
    CHECK(v4->family() == AF_INET);
    CHECK(v4->is_ip());
    CHECK_FALSE(v4->is_unix());
    CHECK(v4->size() == sizeof(sockaddr_in));
    CHECK(v4->port() == 8080);
    CHECK(v4->host() == "127.0.0.1");
    sockaddr_in sin{};
    std::memcpy(&sin, v4->data(), sizeof sin);
    CHECK(ntohs(sin.sin_port) == 8080);
    CHECK(ntohl(sin.sin_addr.s_addr) == INADDR_LOOPBACK);

    const auto v6 = eddy::endpoint::parse("2001:db8::1", 443);
    REQUIRE(v6.has_value());
    CHECK(v6->family() == AF_INET6);
    CHECK(v6->size() == sizeof(sockaddr_in6));
    CHECK(v6->port() == 443);
    CHECK(v6->host() == "2001:db8::1");

    // IPv4-mapped IPv6 stays IPv6.
    const auto mapped = eddy::endpoint::parse("::ffff:10.0.0.1", 1);
    REQUIRE(mapped.has_value());
    CHECK(mapped->family() == AF_INET6);
    CHECK(mapped->host() == "::ffff:10.0.0.1");
}

TEST_CASE("parse accepts bracketed IPv6 and scope ids by interface name or number", "[endpoint]") {
    const auto bracketed = eddy::endpoint::parse("[::1]", 80);
    REQUIRE(bracketed.has_value());
    CHECK(*bracketed == eddy::endpoint::ipv6_loopback(80));

    const unsigned lo = ::if_nametoindex("lo");
    REQUIRE(lo != 0);
    const auto by_name = eddy::endpoint::parse("fe80::1%lo", 9);
    REQUIRE(by_name.has_value());
    sockaddr_in6 sin6{};
    std::memcpy(&sin6, by_name->data(), sizeof sin6);
    CHECK(sin6.sin6_scope_id == lo);
    CHECK(by_name->host() == "fe80::1%" + std::to_string(lo));

    const auto by_number = eddy::endpoint::parse("[fe80::1%" + std::to_string(lo) + "]", 9);
    REQUIRE(by_number.has_value());
    CHECK(*by_number == *by_name);
    // host() gives text parse takes back.
    const auto again = eddy::endpoint::parse(by_name->host(), 9);
    REQUIRE(again.has_value());
    CHECK(*again == *by_name);
}

TEST_CASE("parse returns nullopt for text that is not a numeric address", "[endpoint]") {
    const std::string long_text(200, '1');
    for (const std::string_view text : {"1.2.3"sv,
                                        "::g"sv,
                                        "localhost"sv,
                                        ""sv,
                                        "256.1.1.1"sv,
                                        "1.2.3.4 "sv,
                                        " 1.2.3.4"sv,
                                        "[127.0.0.1]"sv,
                                        "[::1"sv,
                                        "::1]"sv,
                                        "[]"sv,
                                        "fe80::1%"sv,
                                        "fe80::1%nosuchif0"sv,
                                        "1.2.3.4%lo"sv,
                                        "::1%99999999999"sv,
                                        "1.2.3.4:80"sv,
                                        "::1\0"sv,
                                        "example.com"sv,
                                        "1:2:3:4:5:6:7:8:9"sv,
                                        std::string_view(long_text)}) {
        INFO("text: " << text);
        CHECK_FALSE(eddy::endpoint::parse(text, 1).has_value());
    }
}

TEST_CASE("ip throws invalid_argument naming the text, and parses what parse accepts",
          "[endpoint]") {
    CHECK(eddy::endpoint::ip("10.1.2.3", 7).to_string() == "10.1.2.3:7");
    bool thrown = false;
    try {
        (void)eddy::endpoint::ip("localhost", 80);
    } catch (const std::invalid_argument& e) {
        thrown = std::string(e.what()).find("\"localhost\"") != std::string::npos;
    }
    CHECK(thrown);
}

TEST_CASE("to_string writes every family in its usual notation", "[endpoint]") {
    CHECK(eddy::endpoint().to_string() == "(none)");
    CHECK(eddy::endpoint::ip("127.0.0.1", 8080).to_string() == "127.0.0.1:8080");
    CHECK(eddy::endpoint::ip("::1", 8080).to_string() == "[::1]:8080");
    CHECK(eddy::endpoint::ip("fe80::1%1", 53).to_string() == "[fe80::1%1]:53");
    CHECK(eddy::endpoint::unix_path("/tmp/x.sock").to_string() == "unix:/tmp/x.sock");
    CHECK(eddy::endpoint::unix_path("\0abstract"sv).to_string() == "unix:@abstract");
    CHECK(eddy::endpoint::unix_path("\0a\0b"sv).to_string() == "unix:@a@b");
    sockaddr_un unnamed{};
    unnamed.sun_family = AF_UNIX;
    const eddy::endpoint u(reinterpret_cast<const sockaddr*>(&unnamed), sizeof(sa_family_t));
    CHECK(u.to_string() == "unix:(unnamed)");
    CHECK(u.host().empty());
    CHECK(u.path().empty());
    std::ostringstream out;
    out << eddy::endpoint::ipv6_any(1) << ' ' << eddy::endpoint();
    CHECK(out.str() == "[::]:1 (none)");
}

TEST_CASE("the any and loopback endpoints hold the well-known addresses", "[endpoint]") {
    CHECK(eddy::endpoint::ipv4_any(1) == eddy::endpoint::ip("0.0.0.0", 1));
    CHECK(eddy::endpoint::ipv4_loopback(2) == eddy::endpoint::ip("127.0.0.1", 2));
    CHECK(eddy::endpoint::ipv6_any(3) == eddy::endpoint::ip("::", 3));
    CHECK(eddy::endpoint::ipv6_loopback(4) == eddy::endpoint::ip("::1", 4));
    CHECK(eddy::endpoint::ipv6_loopback(4).to_string() == "[::1]:4");
}

TEST_CASE("the port round-trips in host byte order and set_port ignores non-IP endpoints",
          "[endpoint]") {
    for (const std::uint16_t port :
         {std::uint16_t{0}, std::uint16_t{1}, std::uint16_t{0x1234}, std::uint16_t{65535}}) {
        auto v4 = eddy::endpoint::ipv4_loopback(0);
        v4.set_port(port);
        CHECK(v4.port() == port);
        CHECK(v4.host() == "127.0.0.1");
        auto v6 = eddy::endpoint::ip("fe80::2%3", 0);
        v6.set_port(port);
        CHECK(v6.port() == port);
        CHECK(v6.host() == "fe80::2%3");
    }
    auto u = eddy::endpoint::unix_path("/tmp/p");
    u.set_port(80);
    CHECK(u.port() == 0);
    CHECK(u == eddy::endpoint::unix_path("/tmp/p"));
    eddy::endpoint none;
    none.set_port(80);
    CHECK(none.port() == 0);
    CHECK(none.family() == AF_UNSPEC);
}

TEST_CASE("endpoints are equal when family, address, port and scope match", "[endpoint]") {
    const auto a = eddy::endpoint::ip("10.0.0.1", 80);
    CHECK(a == eddy::endpoint::ip("10.0.0.1", 80));
    CHECK_FALSE(a == eddy::endpoint::ip("10.0.0.1", 81));
    CHECK_FALSE(a == eddy::endpoint::ip("10.0.0.2", 80));
    CHECK_FALSE(a == eddy::endpoint::ip("::ffff:10.0.0.1", 80));
    CHECK_FALSE(eddy::endpoint::ip("fe80::1%1", 80) == eddy::endpoint::ip("fe80::1%2", 80));
    CHECK_FALSE(a == eddy::endpoint());
    CHECK(eddy::endpoint() == eddy::endpoint());

    // The flow label and sin_zero are not part of the address.
    sockaddr_in sin{};
    std::memcpy(&sin, a.data(), sizeof sin);
    std::memset(sin.sin_zero, 0xab, sizeof sin.sin_zero);
    CHECK(eddy::endpoint(reinterpret_cast<const sockaddr*>(&sin), sizeof sin) == a);
    const auto b = eddy::endpoint::ip("::1", 80);
    sockaddr_in6 sin6{};
    std::memcpy(&sin6, b.data(), sizeof sin6);
    sin6.sin6_flowinfo = htonl(0x12345);
    CHECK(eddy::endpoint(reinterpret_cast<const sockaddr*>(&sin6), sizeof sin6) == b);

    // A path with or without its terminating NUL in the length is the same path; an abstract
    // name with the same letters is not.
    const auto p = eddy::endpoint::unix_path("/tmp/s");
    sockaddr_un sun{};
    std::memcpy(&sun, p.data(), p.size());
    CHECK(eddy::endpoint(reinterpret_cast<const sockaddr*>(&sun), p.size() - 1) == p);
    CHECK(eddy::endpoint(reinterpret_cast<const sockaddr*>(&sun), sizeof sun) == p);
    CHECK_FALSE(p == eddy::endpoint::unix_path("/tmp/t"));
    CHECK_FALSE(eddy::endpoint::unix_path("\0tmp/s"sv) == eddy::endpoint::unix_path("tmp/s"));
    CHECK_FALSE(eddy::endpoint::unix_path("\0a"sv) == eddy::endpoint::unix_path("\0a\0"sv));
}

TEST_CASE("unix_path takes paths up to 107 bytes and abstract names up to 108", "[endpoint]") {
    const std::string fits(107, 'p');
    const auto e = eddy::endpoint::unix_path(fits);
    CHECK(e.is_unix());
    CHECK_FALSE(e.is_abstract());
    CHECK(e.path() == fits);
    CHECK(e.size() == offsetof(sockaddr_un, sun_path) + 108);
    CHECK_THROWS_AS(eddy::endpoint::unix_path(std::string(108, 'p')), std::invalid_argument);
    CHECK_THROWS_AS(eddy::endpoint::unix_path(""), std::invalid_argument);
    CHECK_THROWS_AS(eddy::endpoint::unix_path("/tmp/a\0b"sv), std::invalid_argument);
    bool named = false;
    try {
        (void)eddy::endpoint::unix_path("/tmp/" + std::string(200, 'z'));
    } catch (const std::invalid_argument& err) {
        named = std::string(err.what()).find("/tmp/zzz") != std::string::npos;
    }
    CHECK(named);

    const std::string abstract = std::string(1, '\0') + std::string(107, 'a');
    const auto a = eddy::endpoint::unix_path(abstract);
    CHECK(a.is_abstract());
    CHECK(a.path() == abstract);
    CHECK(a.host() == "@" + std::string(107, 'a'));
    CHECK(a.size() == offsetof(sockaddr_un, sun_path) + 108);
    CHECK_THROWS_AS(eddy::endpoint::unix_path(abstract + 'a'), std::invalid_argument);
    // '@' is an ordinary character: a relative path, not an abstract name.
    CHECK_FALSE(eddy::endpoint::unix_path("@x").is_abstract());
    CHECK(eddy::endpoint::unix_path("@x").path() == "@x");
}

TEST_CASE("an endpoint built from a sockaddr copies it, and rejects what it cannot hold",
          "[endpoint]") {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(5000);
    sin6.sin6_addr = in6addr_loopback;
    const eddy::endpoint e(reinterpret_cast<const sockaddr*>(&sin6), sizeof sin6);
    CHECK(e == eddy::endpoint::ipv6_loopback(5000));
    CHECK(e.size() == sizeof sin6);
    CHECK(std::memcmp(e.data(), &sin6, sizeof sin6) == 0);

    const eddy::endpoint empty(nullptr, 0);
    CHECK(empty.family() == AF_UNSPEC);
    CHECK(empty.size() == 0);

    sockaddr_storage big{};
    big.ss_family = AF_INET;
    CHECK_THROWS_AS(
        eddy::endpoint(reinterpret_cast<const sockaddr*>(&big), eddy::endpoint::capacity() + 1),
        std::invalid_argument);
    CHECK_THROWS_AS(eddy::endpoint(reinterpret_cast<const sockaddr*>(&big), 8),
                    std::invalid_argument); // too short for sockaddr_in
    big.ss_family = AF_NETLINK;
    CHECK_THROWS_AS(eddy::endpoint(reinterpret_cast<const sockaddr*>(&big), 12),
                    std::invalid_argument);
    big.ss_family = AF_UNSPEC;
    CHECK_THROWS_AS(eddy::endpoint(reinterpret_cast<const sockaddr*>(&big), 16),
                    std::invalid_argument);
}

TEST_CASE("resize accepts up to capacity and clears what an earlier address left", "[endpoint]") {
    CHECK(eddy::endpoint::capacity() == sizeof(sockaddr_storage));
    STATIC_REQUIRE(eddy::endpoint::capacity() >= sizeof(sockaddr_un));
    auto e = eddy::endpoint::ip("2001:db8::ffff", 1);
    CHECK_THROWS_AS(e.resize(eddy::endpoint::capacity() + 1), std::invalid_argument);
    CHECK(e.size() == sizeof(sockaddr_in6)); // unchanged by the failed resize
    // The kernel writes a shorter IPv4 address over it.
    const auto v4 = eddy::endpoint::ipv4_loopback(2);
    std::memcpy(e.data(), v4.data(), v4.size());
    e.resize(v4.size());
    CHECK(e == v4);
    const auto* bytes = reinterpret_cast<const unsigned char*>(e.data());
    bool clean = true;
    for (socklen_t i = e.size(); i < eddy::endpoint::capacity(); ++i) {
        clean = clean && bytes[i] == 0;
    }
    CHECK(clean);
    e.resize(0);
    CHECK(e.family() == AF_UNSPEC);
    CHECK(e.to_string() == "(none)");
}

TEST_CASE("getsockname fills an endpoint for IPv4, IPv6 and Unix sockets", "[endpoint]") {
    {
        fd_guard s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        const auto want = eddy::endpoint::ipv4_loopback(0);
        REQUIRE(::bind(s.fd, want.data(), want.size()) == 0);
        const auto got = local_address(s.fd);
        CHECK(got.family() == AF_INET);
        CHECK(got.host() == "127.0.0.1");
        CHECK(got.port() != 0);
    }
    {
        const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0) { // a machine may lack IPv6
            fd_guard s(fd);
            const auto want = eddy::endpoint::ipv6_loopback(0);
            if (::bind(s.fd, want.data(), want.size()) == 0) {
                const auto got = local_address(s.fd);
                CHECK(got.family() == AF_INET6);
                CHECK(got.host() == "::1");
                CHECK(got.port() != 0);
            }
        }
    }
    {
        const std::string path = "/tmp/eddy-endpoint-" + std::to_string(::getpid()) + ".sock";
        ::unlink(path.c_str());
        fd_guard s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        const auto want = eddy::endpoint::unix_path(path);
        REQUIRE(::bind(s.fd, want.data(), want.size()) == 0);
        const auto got = local_address(s.fd);
        ::unlink(path.c_str());
        CHECK(got == want);
        CHECK(got.path() == path);
        CHECK(got.to_string() == "unix:" + path);
    }
    {
        const std::string name =
            std::string(1, '\0') + "eddy-endpoint-" + std::to_string(::getpid());
        fd_guard s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        const auto want = eddy::endpoint::unix_path(name);
        REQUIRE(::bind(s.fd, want.data(), want.size()) == 0);
        const auto got = local_address(s.fd);
        CHECK(got == want);
        CHECK(got.path() == name);
    }
    {
        int pair[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
        fd_guard a(pair[0]);
        fd_guard b(pair[1]);
        const auto got = local_address(a.fd);
        CHECK(got.is_unix());
        CHECK(got.to_string() == "unix:(unnamed)");
    }
}
