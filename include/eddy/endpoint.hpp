// eddy — endpoint: one socket address (IPv4, IPv6 or Unix-domain) as a value type.
#pragma once

#include <arpa/inet.h>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <net/if.h>
#include <netinet/in.h>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/un.h>
#include <system_error>

namespace eddy {

/// One socket address: IPv4 (sockaddr_in), IPv6 (sockaddr_in6) or Unix-domain (sockaddr_un),
/// stored by value in a zero-initialised sockaddr_storage with its valid length. What sockets
/// connect to, bind to and report as peers. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) stay
/// IPv6: nothing is converted behind the caller's back.
///
/// Unix-domain names come in three kinds, as unix(7) describes them: a pathname, an abstract
/// name (Linux; its first byte is '\0' and every following byte counts, NULs included) and
/// unnamed (an unbound socket's address, nothing after the family). eddy spells an abstract
/// name with an explicit leading '\0' in the string (`unix_path(std::string_view("\0name", 5))`),
/// never with '@': "@name" is an ordinary relative path; '@' appears only in the display forms
/// (host(), to_string()), as ss(8) shows them.
class endpoint {
  public:
    /// The empty endpoint: family() == AF_UNSPEC, size() == 0, to_string() == "(none)".
    endpoint() noexcept = default;

    /// Copies the `len` bytes at `addr` (what accept, recvfrom or getaddrinfo returned). A `len`
    /// of 0 gives the empty endpoint (recvmsg on a stream socket reports no address so).
    /// Throws std::invalid_argument if `len` > capacity(), if the family is not AF_INET,
    /// AF_INET6 or AF_UNIX, or if `len` is too short for the family's address.
    endpoint(const sockaddr* addr, socklen_t len) {
        if (len > capacity()) {
            throw std::invalid_argument("eddy::endpoint: a " + std::to_string(len) +
                                        "-byte address does not fit in " +
                                        std::to_string(capacity()) + " bytes");
        }
        if (len == 0) {
            return;
        }
        if (addr == nullptr || len < sizeof(sa_family_t)) {
            throw std::invalid_argument("eddy::endpoint: an address too short to hold a family");
        }
        sa_family_t fam = 0;
        std::memcpy(&fam, addr, sizeof fam);
        std::size_t need = 0;
        switch (fam) {
        case AF_INET:
            need = sizeof(sockaddr_in);
            break;
        case AF_INET6:
            need = sizeof(sockaddr_in6);
            break;
        case AF_UNIX:
            need = sizeof(sa_family_t); // an unnamed socket's address is the family alone
            break;
        default:
            throw std::invalid_argument("eddy::endpoint: unsupported address family " +
                                        std::to_string(fam));
        }
        if (len < need) {
            throw std::invalid_argument("eddy::endpoint: a " + std::to_string(len) +
                                        "-byte address is too short for family " +
                                        std::to_string(fam));
        }
        std::memcpy(&storage_, addr, len);
        size_ = len;
    }

    /// A numeric IPv4 ("127.0.0.1", dotted quad only) or IPv6 address ("::1", "[::1]",
    /// "fe80::1%lo" or "fe80::1%2": the scope id by interface name or number) with `port` (host
    /// byte order). Never looks a name up (interface names go through if_nametoindex). Returns
    /// std::nullopt when `host` is not such an address ("localhost", "1.2.3", "::g", "",
    /// "[127.0.0.1]", an unknown interface name).
    [[nodiscard]] static std::optional<endpoint> parse(std::string_view host, std::uint16_t port) {
        bool bracketed = false;
        if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
            host = host.substr(1, host.size() - 2);
            bracketed = true;
        }
        // Room for the longest address text, '%' and the longest interface name.
        char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
        if (host.empty() || host.size() >= sizeof text ||
            host.find('\0') != std::string_view::npos) {
            return std::nullopt;
        }
        if (host.find(':') == std::string_view::npos) {
            if (bracketed) {
                return std::nullopt; // brackets are for IPv6 only (RFC 3986)
            }
            sockaddr_in sin{};
            sin.sin_family = AF_INET;
            sin.sin_port = htons(port);
            if (::inet_pton(AF_INET, c_string(text, host), &sin.sin_addr) != 1) {
                return std::nullopt;
            }
            return endpoint(sin);
        }
        sockaddr_in6 sin6{};
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(port);
        const std::size_t pct = host.find('%');
        if (::inet_pton(AF_INET6, c_string(text, host.substr(0, pct)), &sin6.sin6_addr) != 1) {
            return std::nullopt;
        }
        if (pct != std::string_view::npos) {
            const std::string_view scope = host.substr(pct + 1);
            if (scope.empty()) {
                return std::nullopt;
            }
            std::uint32_t id = 0;
            const auto [end, ec] = std::from_chars(scope.data(), scope.data() + scope.size(), id);
            if (ec == std::errc() && end == scope.data() + scope.size()) {
                sin6.sin6_scope_id = id;
            } else if (ec == std::errc::result_out_of_range) {
                return std::nullopt;
            } else {
                id = ::if_nametoindex(c_string(text, scope));
                if (id == 0) {
                    return std::nullopt;
                }
                sin6.sin6_scope_id = id;
            }
        }
        return endpoint(sin6);
    }

    /// As parse, but throws std::invalid_argument naming the text when it is not a numeric
    /// IPv4 or IPv6 address.
    [[nodiscard]] static endpoint ip(std::string_view host, std::uint16_t port) {
        if (std::optional<endpoint> e = parse(host, port)) {
            return *e;
        }
        throw std::invalid_argument("eddy::endpoint::ip: \"" + std::string(host) +
                                    "\" is not a numeric IPv4 or IPv6 address");
    }

    /// 0.0.0.0:`port`, what a server binds to listen on every IPv4 interface.
    [[nodiscard]] static endpoint ipv4_any(std::uint16_t port) noexcept {
        return ipv4(INADDR_ANY, port);
    }
    /// 127.0.0.1:`port`.
    [[nodiscard]] static endpoint ipv4_loopback(std::uint16_t port) noexcept {
        return ipv4(INADDR_LOOPBACK, port);
    }
    /// [::]:`port`, every IPv6 interface (and IPv4 too unless the socket sets IPV6_V6ONLY).
    [[nodiscard]] static endpoint ipv6_any(std::uint16_t port) noexcept {
        return ipv6(in6addr_any, port);
    }
    /// [::1]:`port`.
    [[nodiscard]] static endpoint ipv6_loopback(std::uint16_t port) noexcept {
        return ipv6(in6addr_loopback, port);
    }

    /// A Unix-domain address. A `path` starting with '\0' is a Linux abstract name: all its
    /// bytes count (up to 108, sizeof sun_path), no terminator is added. Otherwise it is a
    /// filesystem path of at most 107 bytes (sun_path keeps room for the terminating NUL, which
    /// size() includes, as getsockname reports it) and without NUL bytes. Throws
    /// std::invalid_argument naming the path if it is empty, too long or holds a NUL.
    [[nodiscard]] static endpoint unix_path(std::string_view path) {
        if (path.empty()) {
            throw std::invalid_argument("eddy::endpoint::unix_path: the path is empty");
        }
        const bool abstract = path.front() == '\0';
        const std::string shown = abstract ? "@" + std::string(path.substr(1)) : std::string(path);
        sockaddr_un sun{};
        sun.sun_family = AF_UNIX;
        if (!abstract && path.find('\0') != std::string_view::npos) {
            throw std::invalid_argument("eddy::endpoint::unix_path: \"" + shown +
                                        "\" holds a NUL byte");
        }
        const std::size_t room = abstract ? sizeof sun.sun_path : sizeof sun.sun_path - 1;
        if (path.size() > room) {
            throw std::invalid_argument("eddy::endpoint::unix_path: \"" + shown + "\" is " +
                                        std::to_string(path.size()) + " bytes, at most " +
                                        std::to_string(room) + " fit");
        }
        std::memcpy(sun.sun_path, path.data(), path.size());
        endpoint e;
        std::memcpy(&e.storage_, &sun, sizeof sun);
        e.size_ = static_cast<socklen_t>(unix_base + path.size() + (abstract ? 0 : 1));
        return e;
    }

    /// AF_INET, AF_INET6, AF_UNIX, or AF_UNSPEC when empty. After resize() it is whatever
    /// family the kernel wrote.
    [[nodiscard]] int family() const noexcept {
        return size_ < sizeof(sa_family_t) ? AF_UNSPEC : storage_.ss_family;
    }
    /// True for IPv4 and IPv6 addresses.
    [[nodiscard]] bool is_ip() const noexcept {
        return family() == AF_INET || family() == AF_INET6;
    }
    /// True for Unix-domain addresses (pathname, abstract or unnamed).
    [[nodiscard]] bool is_unix() const noexcept { return family() == AF_UNIX; }
    /// True for a Unix-domain abstract name.
    [[nodiscard]] bool is_abstract() const noexcept {
        const std::string_view name = unix_name();
        return !name.empty() && name.front() == '\0';
    }

    /// The address, for connect/bind/sendto; valid for size() bytes while this endpoint lives.
    [[nodiscard]] const sockaddr* data() const noexcept {
        return reinterpret_cast<const sockaddr*>(&storage_);
    }
    /// The storage itself (capacity() bytes), for accept/recvfrom/getsockname to fill; call
    /// resize() with the length they report afterwards.
    [[nodiscard]] sockaddr* data() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
    /// The valid length of data().
    [[nodiscard]] socklen_t size() const noexcept { return size_; }
    /// The bytes data() can hold: sizeof(sockaddr_storage), enough for every family.
    [[nodiscard]] static constexpr socklen_t capacity() noexcept {
        return static_cast<socklen_t>(sizeof(sockaddr_storage));
    }
    /// Sets the valid length after the kernel filled data() (accept, recvmsg, getsockname) and
    /// zeroes the bytes past it, so nothing stale from an earlier address remains. The kernel
    /// reports a length larger than the buffer when it truncated the address: throws
    /// std::invalid_argument if `len` > capacity().
    void resize(socklen_t len) {
        if (len > capacity()) {
            throw std::invalid_argument("eddy::endpoint::resize: " + std::to_string(len) +
                                        " bytes do not fit in " + std::to_string(capacity()));
        }
        std::memset(reinterpret_cast<char*>(&storage_) + len, 0, capacity() - len);
        size_ = len;
    }

    /// The port in host byte order; 0 for non-IP endpoints.
    [[nodiscard]] std::uint16_t port() const noexcept {
        if (family() == AF_INET) {
            return ntohs(as<sockaddr_in>().sin_port);
        }
        if (family() == AF_INET6) {
            return ntohs(as<sockaddr_in6>().sin6_port);
        }
        return 0;
    }
    /// Sets the port (host byte order); does nothing for non-IP endpoints.
    void set_port(std::uint16_t port) noexcept {
        if (family() == AF_INET) {
            auto sin = as<sockaddr_in>();
            sin.sin_port = htons(port);
            std::memcpy(&storage_, &sin, sizeof sin);
        } else if (family() == AF_INET6) {
            auto sin6 = as<sockaddr_in6>();
            sin6.sin6_port = htons(port);
            std::memcpy(&storage_, &sin6, sizeof sin6);
        }
    }

    /// The address without the port, numeric: "127.0.0.1", "::1", "fe80::1%2" (the scope id
    /// as a number, which parse accepts back). For Unix: the path; an abstract name as "@name"
    /// (every NUL shown as '@', as ss(8) does); "" when unnamed. "" when empty.
    [[nodiscard]] std::string host() const {
        char buf[INET6_ADDRSTRLEN];
        switch (family()) {
        case AF_INET: {
            const auto sin = as<sockaddr_in>();
            return ::inet_ntop(AF_INET, &sin.sin_addr, buf, sizeof buf) != nullptr ? buf : "";
        }
        case AF_INET6: {
            const auto sin6 = as<sockaddr_in6>();
            std::string s =
                ::inet_ntop(AF_INET6, &sin6.sin6_addr, buf, sizeof buf) != nullptr ? buf : "";
            if (sin6.sin6_scope_id != 0) {
                s += '%';
                s += std::to_string(sin6.sin6_scope_id);
            }
            return s;
        }
        case AF_UNIX: {
            std::string s(unix_name());
            for (char& c : s) {
                c = c == '\0' ? '@' : c;
            }
            return s;
        }
        default:
            return {};
        }
    }

    /// The Unix-domain name as bind would take it: a pathname, or an abstract name with its
    /// leading '\0'; "" for unnamed and non-Unix endpoints.
    [[nodiscard]] std::string path() const { return std::string(unix_name()); }

    /// "127.0.0.1:8080", "[::1]:8080", "[fe80::1%2]:8080", "unix:/tmp/x.sock",
    /// "unix:@abstract", "unix:(unnamed)"; "(none)" when empty; "(family N)" for another
    /// family the kernel wrote.
    [[nodiscard]] std::string to_string() const {
        switch (family()) {
        case AF_UNSPEC:
            return "(none)";
        case AF_INET:
            return host() + ':' + std::to_string(port());
        case AF_INET6:
            return '[' + host() + "]:" + std::to_string(port());
        case AF_UNIX:
            return unix_name().empty() ? "unix:(unnamed)" : "unix:" + host();
        default:
            return "(family " + std::to_string(family()) + ')';
        }
    }

    /// Same family and same address: IPv4 address and port; IPv6 address, port and scope id
    /// (not the flow label); the Unix name (a path's trailing NUL and the unused rest of
    /// sun_path do not count). Two empty endpoints are equal.
    friend bool operator==(const endpoint& a, const endpoint& b) noexcept {
        if (a.family() != b.family()) {
            return false;
        }
        switch (a.family()) {
        case AF_UNSPEC:
            return true;
        case AF_INET: {
            const auto x = a.as<sockaddr_in>();
            const auto y = b.as<sockaddr_in>();
            return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
        }
        case AF_INET6: {
            const auto x = a.as<sockaddr_in6>();
            const auto y = b.as<sockaddr_in6>();
            return x.sin6_port == y.sin6_port && x.sin6_scope_id == y.sin6_scope_id &&
                   std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof x.sin6_addr) == 0;
        }
        case AF_UNIX:
            return a.unix_name() == b.unix_name();
        default:
            return a.size_ == b.size_ && std::memcmp(&a.storage_, &b.storage_, a.size_) == 0;
        }
    }

  private:
    static constexpr std::size_t unix_base = offsetof(sockaddr_un, sun_path);

    explicit endpoint(const sockaddr_in& sin) noexcept : size_(sizeof sin) {
        std::memcpy(&storage_, &sin, sizeof sin);
    }
    explicit endpoint(const sockaddr_in6& sin6) noexcept : size_(sizeof sin6) {
        std::memcpy(&storage_, &sin6, sizeof sin6);
    }

    static endpoint ipv4(in_addr_t host_order, std::uint16_t port) noexcept {
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_port = htons(port);
        sin.sin_addr.s_addr = htonl(host_order);
        return endpoint(sin);
    }
    static endpoint ipv6(const in6_addr& addr, std::uint16_t port) noexcept {
        sockaddr_in6 sin6{};
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(port);
        sin6.sin6_addr = addr;
        return endpoint(sin6);
    }

    // Copies `s` into `buf` with a terminating NUL; the caller checked that it fits.
    static const char* c_string(char* buf, std::string_view s) noexcept {
        std::memcpy(buf, s.data(), s.size());
        buf[s.size()] = '\0';
        return buf;
    }

    // The family's struct, copied out (memcpy keeps the access free of aliasing questions).
    template <class T> [[nodiscard]] T as() const noexcept {
        T v;
        std::memcpy(&v, &storage_, sizeof v);
        return v;
    }

    // The meaningful bytes of a Unix name: a path up to its NUL, an abstract name whole, ""
    // when unnamed or not AF_UNIX.
    [[nodiscard]] std::string_view unix_name() const noexcept {
        if (family() != AF_UNIX || size_ <= unix_base) {
            return {};
        }
        const char* p = reinterpret_cast<const char*>(&storage_) + unix_base;
        std::size_t n = size_ - unix_base;
        n = n < sizeof(sockaddr_un::sun_path) ? n : sizeof(sockaddr_un::sun_path);
        if (p[0] == '\0') {
            return {p, n};
        }
        const void* nul = std::memchr(p, '\0', n);
        return {p,
                nul == nullptr ? n : static_cast<std::size_t>(static_cast<const char*>(nul) - p)};
    }

    sockaddr_storage storage_{};
    socklen_t size_ = 0;
};

/// Writes `e.to_string()`.
inline std::ostream& operator<<(std::ostream& os, const endpoint& e) {
    return os << e.to_string();
}

} // namespace eddy
