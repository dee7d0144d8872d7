// eddy — open_connection and open_unix_connection: a client's connected stream pair
// (asyncio.open_connection).
#pragma once

#include "eddy/detail/stream_writer_state.hpp"
#include "eddy/endpoint.hpp"
#include "eddy/errors.hpp"
#include "eddy/resolve.hpp"
#include "eddy/socket.hpp"
#include "eddy/stream.hpp"
#include "eddy/task.hpp"

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <fcntl.h>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <system_error>
#include <utility>
#include <vector>

namespace eddy {

/// Both directions of a connected socket: `auto [reader, writer] = co_await
/// eddy::open_connection(host, port);` (asyncio's (reader, writer) pair).
///
/// Each half owns an fd of its own (the writer's is a dup), so either can be moved, closed or
/// destroyed apart. The connection ends for the peer when the writer closes (close():
/// shutdown(SHUT_RDWR), then the reader sees end of file too; write_eof(): a half-close) or is
/// destroyed; the socket itself goes when both halves have closed their fds.
struct connection {
    /// Reads from the socket through its original fd.
    stream_reader reader;
    /// Writes to the socket through a dup of the fd; its close() shuts the connection down.
    stream_writer writer;
};

/// The address of the peer of a stream over a socket (asyncio's
/// get_extra_info("peername")): a server handler's client, say. Throws std::system_error
/// (ENOTSOCK for a pipe's stream, ENOTCONN once the peer is gone on some sockets, EBADF for a
/// closed stream).
[[nodiscard]] inline endpoint peer_endpoint(const stream_writer& w) {
    return detail::socket_name(w.fd(), true);
}
/// As peer_endpoint(writer), from the reader's fd.
[[nodiscard]] inline endpoint peer_endpoint(const stream_reader& r) {
    return detail::socket_name(r.fd(), true);
}
/// The local address of a stream over a socket (asyncio's get_extra_info("sockname")).
/// Throws as peer_endpoint.
[[nodiscard]] inline endpoint local_endpoint(const stream_writer& w) {
    return detail::socket_name(w.fd(), false);
}

/// Options of open_connection and open_unix_connection.
struct connection_options {
    /// The reader's bound on read_until and readline (asyncio's limit).
    std::size_t limit = stream_reader::default_limit;
    /// AF_INET or AF_INET6 to use only that family for a name (AF_UNSPEC: both).
    int family = AF_UNSPEC;
    /// TCP_NODELAY: small writes leave at once (asyncio sets it on every TCP connection).
    bool nodelay = true;
    /// Binds the socket to this address before connecting (asyncio's local_addr).
    std::optional<endpoint> local;
};

namespace detail {

/// Wraps a connected socket in a reader and a writer (the writer gets a dup of the fd).
/// `peer` names the other end in error messages. Throws std::system_error (EMFILE) or
/// std::invalid_argument (limit 0); `s` is closed then.
inline connection make_connection(socket s, std::size_t limit, std::string peer) {
    const int wfd = ::fcntl(s.fd(), F_DUPFD_CLOEXEC, 0);
    if (wfd < 0) {
        throw std::system_error(errno, std::system_category(), "eddy: dup of a socket");
    }
    stream_writer writer(wfd, stream_io::for_socket(peer));
    stream_reader reader(s.release(), limit, stream_io::for_socket(std::move(peer)));
    return connection{std::move(reader), std::move(writer)};
}

/// Connects a stream socket to each of `peers` in turn until one accepts (asyncio's
/// create_connection). Throws the first failure's std::system_error when all fail.
inline task<socket> connect_any(std::vector<endpoint> peers, connection_options options) {
    std::exception_ptr first;
    for (const endpoint& peer : peers) {
        // An address whose socket cannot even be made (a family the machine lacks, a local
        // address of the other family) is skipped like one that refuses, as asyncio does.
        try {
            socket s = socket::open(peer.family(), SOCK_STREAM);
            if (options.local) {
                s.bind(*options.local);
            }
            co_await s.connect(peer);
            if (options.nodelay && peer.is_ip()) {
                s.set_nodelay(true);
            }
            co_return s;
        } catch (const std::system_error&) {
            if (!first) {
                first = std::current_exception();
            }
        }
    }
    if (first) {
        std::rethrow_exception(first);
    }
    throw std::system_error(EADDRNOTAVAIL, std::system_category(),
                            "eddy::open_connection: no address to connect to");
}

} // namespace detail

/// Connects to `host` (a numeric IPv4/IPv6 address, or a name resolved off the loop thread
/// with eddy::resolve) on `port`, trying each address in turn, and yields the connection's
/// reader and writer. Throws std::system_error with the errno and the peer's address
/// (ECONNREFUSED, ENETUNREACH, ETIMEDOUT...; the first address's error when all fail), or a
/// resolve error (see eddy::resolve); eddy::cancelled_error if cancelled (a connect in the
/// kernel is cancelled, nothing is leaked).
[[nodiscard]] inline task<connection> open_connection(std::string host, std::uint16_t port,
                                                      connection_options options = {}) {
    resolve_options how; // a numeric host is answered at once, without a thread
    how.family = options.family;
    how.type = SOCK_STREAM;
    std::vector<endpoint> peers = co_await resolve(std::move(host), port, how);
    socket s = co_await detail::connect_any(std::move(peers), options);
    std::string peer = s.peer_endpoint().to_string();
    co_return detail::make_connection(std::move(s), options.limit, std::move(peer));
}

/// Connects to `peer` (any endpoint: IP or Unix-domain) and yields the connection. Throws as
/// open_connection.
[[nodiscard]] inline task<connection> open_connection(endpoint peer,
                                                      connection_options options = {}) {
    std::string name = peer.to_string();
    std::vector<endpoint> peers{peer};
    socket s = co_await detail::connect_any(std::move(peers), options);
    co_return detail::make_connection(std::move(s), options.limit, std::move(name));
}

/// Connects to the Unix-domain socket at `path` (a leading '\0' names an abstract address;
/// see endpoint::unix_path) and yields the connection. Throws std::invalid_argument for a
/// path that does not fit, the rest as open_connection (ENOENT, ECONNREFUSED...).
[[nodiscard]] inline task<connection> open_unix_connection(std::string path,
                                                           connection_options options = {}) {
    endpoint peer = endpoint::unix_path(path);
    std::vector<endpoint> peers{peer};
    socket s = co_await detail::connect_any(std::move(peers), options);
    co_return detail::make_connection(std::move(s), options.limit, peer.to_string());
}

} // namespace eddy
