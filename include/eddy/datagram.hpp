// eddy — create_datagram_endpoint: a UDP (or Unix datagram) socket, bound and optionally
// connected, with whole-datagram receive and send (asyncio.create_datagram_endpoint).
#pragma once

#include "eddy/endpoint.hpp"
#include "eddy/resolve.hpp"
#include "eddy/socket.hpp"
#include "eddy/task.hpp"

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <system_error>
#include <utility>
#include <vector>

namespace eddy {

/// One datagram received by datagram_endpoint::recvfrom(): its bytes and its sender.
struct datagram {
    /// Its bytes, cut to the endpoint's max_size (a longer datagram's tail is dropped).
    std::string data;
    /// The sender's address.
    endpoint peer;
    /// True when the datagram was longer than max_size and `data` holds only its start.
    bool truncated = false;
};

/// Where a datagram endpoint lives and talks to (asyncio's local_addr / remote_addr).
struct datagram_options {
    /// Binds to this host and port ("" with port 0: the kernel picks on the first send).
    std::string local_host;
    /// The port to bind to; 0 lets the kernel pick one.
    std::uint16_t local_port = 0;
    /// Connects to this host and port (send() then goes there, and only its datagrams are
    /// received). Empty: not connected; use sendto().
    std::string remote_host;
    /// The port to connect to; ignored while remote_host is empty.
    std::uint16_t remote_port = 0;
    /// AF_INET or AF_INET6 to pick one family for names (AF_UNSPEC: the first resolved).
    int family = AF_UNSPEC;
    /// SO_REUSEPORT, set before binding: sockets that all set it may share the port.
    bool reuse_port = false;
    /// SO_BROADCAST: lets sendto() reach a broadcast address.
    bool allow_broadcast = false;
    /// The largest datagram recvfrom() returns whole (longer ones are cut, as the kernel does).
    std::size_t max_size = 65536;
};

/// A datagram socket (asyncio's DatagramTransport, with awaits instead of a protocol). Owns
/// its socket; every receive and send is a kernel operation on the loop's ring, cancellable;
/// errors are std::system_error with the errno (ECONNREFUSED after an ICMP port unreachable on
/// a connected endpoint, EMSGSIZE...).
class datagram_endpoint {
  public:
    datagram_endpoint() noexcept = default;
    /// Adopts `s`. `remote`: the peer `s` is connected to, or nullopt (send() then throws);
    /// `max_size`: recvfrom()'s buffer size. Throws std::invalid_argument for max_size 0 (every
    /// datagram would be consumed and come back empty); `s` is closed then.
    datagram_endpoint(eddy::socket s, std::optional<endpoint> remote, std::size_t max_size)
        : sock_(std::move(s)), remote_(remote), max_size_(max_size) {
        if (max_size == 0) {
            throw std::invalid_argument("eddy::datagram_endpoint: max_size must be positive");
        }
    }

    /// The socket, for options and the span-based operations (recvfrom(span) allocates
    /// nothing).
    [[nodiscard]] eddy::socket& sock() noexcept { return sock_; }
    /// The bound address (the kernel's choice for port 0 after the first send), named as
    /// socket::local_endpoint and the streams' local_endpoint(writer). Throws std::system_error
    /// (getsockname's errno).
    [[nodiscard]] endpoint local_endpoint() const { return sock_.local_endpoint(); }
    /// The connected peer, if the endpoint was made with a remote address; nullopt otherwise.
    [[nodiscard]] const std::optional<endpoint>& peer_endpoint() const noexcept { return remote_; }
    /// Former name of local_endpoint().
    [[deprecated("use local_endpoint()")]] [[nodiscard]] endpoint local_address() const {
        return local_endpoint();
    }
    /// Former name of peer_endpoint().
    [[deprecated("use peer_endpoint()")]] [[nodiscard]] const std::optional<endpoint>&
    remote_address() const noexcept {
        return peer_endpoint();
    }

    /// Receives one datagram (cut to max_size). Allocates its buffer; use
    /// sock().recvfrom(span) to receive into memory of your own. Throws std::system_error,
    /// cancelled_error.
    [[nodiscard]] task<datagram> recvfrom() {
        datagram d;
        d.data.resize(max_size_);
        const datagram_info info = co_await sock_.recvfrom(
            std::as_writable_bytes(std::span(d.data.data(), d.data.size())));
        d.data.resize(info.size);
        d.peer = info.peer;
        d.truncated = info.truncated;
        co_return d;
    }
    /// Sends `data` as one datagram to `to` (copied into the operation). Throws
    /// std::system_error (EMSGSIZE for a datagram too large, EISCONN...), cancelled_error.
    [[nodiscard]] task<> sendto(std::span<const std::byte> data, endpoint to) {
        const std::size_t n = co_await sock_.sendto(data, to);
        if (n != data.size()) {
            throw std::system_error(EMSGSIZE, std::system_category(),
                                    "eddy::datagram_endpoint::sendto(" + to.to_string() + ")");
        }
    }
    /// As sendto(span) for text; `text` must stay valid until the await ends.
    [[nodiscard]] task<> sendto(std::string_view text, endpoint to) {
        return sendto(std::as_bytes(std::span(text.data(), text.size())), to);
    }
    /// Sends one datagram to the connected peer. Throws eddy::invalid_state_error (at the
    /// call) if the endpoint is not connected; the rest as sendto.
    [[nodiscard]] detail::io_awaiter<std::size_t> send(std::span<const std::byte> data) {
        if (!remote_) {
            throw invalid_state_error("eddy::datagram_endpoint::send: not connected; use sendto");
        }
        return sock_.send(data);
    }
    /// As send(span) for text.
    [[nodiscard]] detail::io_awaiter<std::size_t> send(std::string_view text) {
        return send(std::as_bytes(std::span(text.data(), text.size())));
    }
    /// Closes the socket. No operation may be in progress.
    void close() noexcept { sock_.close(); }

  private:
    eddy::socket sock_;
    std::optional<endpoint> remote_;
    std::size_t max_size_ = 65536;
};

/// Makes a datagram endpoint (asyncio.create_datagram_endpoint): a UDP socket bound to
/// options.local_host/local_port if given, and connected to options.remote_host/remote_port if
/// given (names are resolved off the loop thread). With neither, an unbound IPv4 socket
/// (options.family AF_INET6 for IPv6). Throws std::system_error naming the address
/// (EADDRINUSE...), resolve errors, std::invalid_argument for max_size 0.
///
/// Pass a named datagram_options: g++ 12 destroys a braced temporary in a co_await operand
/// twice, a double free of its strings (GCC PR 99576's family; see the README's compiler
/// notes).
[[nodiscard]] inline task<datagram_endpoint> create_datagram_endpoint(datagram_options options) {
    if (options.max_size == 0) {
        throw std::invalid_argument("eddy::create_datagram_endpoint: max_size must be positive");
    }
    std::optional<endpoint> local;
    std::optional<endpoint> remote;
    int family = options.family;
    if (!options.remote_host.empty()) {
        resolve_options how; // a numeric host is answered at once, without a thread
        how.family = family;
        how.type = SOCK_DGRAM;
        std::vector<endpoint> r = co_await resolve(options.remote_host, options.remote_port, how);
        remote = r.front();
        family = remote->family();
    }
    if (!options.local_host.empty() || options.local_port != 0) {
        resolve_options how;
        how.family = family;
        how.type = SOCK_DGRAM;
        how.flags = AI_PASSIVE;
        std::vector<endpoint> l = co_await resolve(options.local_host, options.local_port, how);
        local = l.front();
        family = local->family();
    }
    if (family == AF_UNSPEC) {
        family = AF_INET;
    }
    socket s = socket::open(family, SOCK_DGRAM);
    if (options.reuse_port) {
        s.set_option(SOL_SOCKET, SO_REUSEPORT, 1);
    }
    if (options.allow_broadcast) {
        s.set_option(SOL_SOCKET, SO_BROADCAST, 1);
    }
    if (local) {
        s.bind(*local);
    }
    if (remote) {
        co_await s.connect(*remote);
    }
    co_return datagram_endpoint(std::move(s), remote, options.max_size);
}

} // namespace eddy
