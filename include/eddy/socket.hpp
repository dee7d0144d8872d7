// eddy — socket: a non-blocking BSD socket whose every operation goes through the kernel's
// completion queue (asyncio's loop.sock_* functions, as one RAII type).
#pragma once

#include "eddy/detail/reactor.hpp"
#include "eddy/detail/sigpipe.hpp"
#include "eddy/endpoint.hpp"
#include "eddy/errors.hpp"
#include "eddy/io.hpp"
#include "eddy/task.hpp"

#include <algorithm>
#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <span>
#include <string>
#include <sys/socket.h>
#include <sys/uio.h>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace eddy {

class socket;

/// One datagram received by socket::recvfrom: its size and who sent it.
struct datagram_info {
    /// Bytes stored in the buffer: at most its size, even when the datagram was longer.
    std::size_t size = 0;
    /// The sender's address.
    endpoint peer;
    /// True when the datagram was longer than the buffer and its tail was dropped (MSG_TRUNC).
    bool truncated = false;
};

namespace detail {

[[nodiscard]] inline std::system_error socket_error(int err, const char* what,
                                                    const endpoint* peer = nullptr) {
    std::string msg = std::string("eddy::") + what;
    if (peer != nullptr) {
        msg += "(" + peer->to_string() + ")";
    }
    return {err, std::system_category(), msg};
}

/// The local or peer address of `fd` (getsockname / getpeername).
inline endpoint socket_name(int fd, bool peer) {
    endpoint ep;
    socklen_t len = endpoint::capacity();
    const int rc = peer ? ::getpeername(fd, ep.data(), &len) : ::getsockname(fd, ep.data(), &len);
    if (rc != 0) {
        throw socket_error(errno, peer ? "socket::peer_endpoint" : "socket::local_endpoint");
    }
    ep.resize(len);
    return ep;
}

/// accept(2) through the ring; yields the accepted fd, and the peer's address if asked.
class [[nodiscard]] accept_awaiter : public io_awaiter<int> {
  public:
    accept_awaiter(int fd, endpoint* peer) noexcept
        : io_awaiter<int>(make_op(fd), "socket::accept"), peer_(peer) {}
    bool await_suspend(std::coroutine_handle<> h) {
        if (peer_ != nullptr) {
            len_ = endpoint::capacity();
            op().buf = peer_->data();
            op().buf2 = &len_;
        }
        return io_awaiter<int>::await_suspend(h);
    }
    socket await_resume();

  private:
    static io_op make_op(int fd) noexcept {
        detail::io_op op;
        op.kind = op_kind::accept;
        op.fd = fd;
        op.flags = SOCK_CLOEXEC | SOCK_NONBLOCK; // as socket::open
        return op;
    }
    endpoint* peer_;
    socklen_t len_ = 0;
};

/// recvmsg/sendmsg through the ring with one iovec and an address: recvfrom and sendto. The
/// msghdr and the sender's address live in the awaiter (in the awaiting frame), where the
/// kernel reads and writes them while the operation runs.
class [[nodiscard]] msg_awaiter : public io_awaiter<std::size_t> {
  public:
    msg_awaiter(op_kind kind, int fd, void* buf, std::size_t len, const endpoint* to,
                const char* what) noexcept
        : io_awaiter<std::size_t>(make_op(kind, fd), what), to_(to) {
        iov_.iov_base = buf;
        iov_.iov_len = std::min(len, max_transfer);
    }
    msg_awaiter(msg_awaiter&& o) noexcept
        : io_awaiter<std::size_t>(std::move(o)), iov_(o.iov_), to_(o.to_) {}
    msg_awaiter(const msg_awaiter&) = delete;
    msg_awaiter& operator=(const msg_awaiter&) = delete;
    msg_awaiter& operator=(msg_awaiter&&) = delete;
    ~msg_awaiter() = default;

    bool await_suspend(std::coroutine_handle<> h) {
        msg_ = {};
        msg_.msg_iov = &iov_;
        msg_.msg_iovlen = 1;
        if (to_ != nullptr) {
            msg_.msg_name = const_cast<sockaddr*>(to_->data()); // NOLINT: only read
            msg_.msg_namelen = to_->size();
        } else {
            msg_.msg_name = from_.data();
            msg_.msg_namelen = endpoint::capacity();
        }
        op().buf = &msg_;
        return io_awaiter<std::size_t>::await_suspend(h);
    }

  protected:
    /// recvfrom's result: the size, the sender and whether the datagram was cut.
    datagram_info received() {
        datagram_info d;
        d.size = io_awaiter<std::size_t>::await_resume();
        from_.resize(msg_.msg_namelen);
        d.peer = from_;
        d.truncated = (msg_.msg_flags & MSG_TRUNC) != 0;
        return d;
    }

  private:
    static io_op make_op(op_kind kind, int fd) noexcept {
        detail::io_op op;
        op.kind = kind;
        op.fd = fd;
        op.flags = kind == op_kind::sendmsg ? MSG_NOSIGNAL : 0;
        return op;
    }
    ::msghdr msg_{};
    ::iovec iov_{};
    const endpoint* to_;
    endpoint from_;
};

/// recvfrom: yields the size, the sender and whether the datagram was cut.
class [[nodiscard]] recvfrom_awaiter : public msg_awaiter {
  public:
    recvfrom_awaiter(int fd, std::span<std::byte> buf) noexcept
        : msg_awaiter(op_kind::recvmsg, fd, buf.data(), buf.size(), nullptr, "socket::recvfrom") {}
    datagram_info await_resume() { return received(); }
};

} // namespace detail

/// A socket file descriptor, owned: closed by close() or the destructor. Every operation that
/// waits (connect, accept, recv, send, recvfrom, sendto, shutdown) is a kernel operation on the
/// loop's ring, cancellable like any await: cancelling asks the kernel to cancel it and the
/// task resumes only once the kernel is done with the buffers. Nothing is allocated per
/// operation. Sends use MSG_NOSIGNAL: a peer that went away is an EPIPE error, never SIGPIPE.
///
/// The awaiting task owns the buffers it passes; they must stay valid until the await ends.
/// A socket must not be closed or destroyed while one of its operations is in progress.
class socket {
  public:
    /// No socket.
    socket() noexcept = default;
    /// Adopts `fd` (closed by this object from now on).
    explicit socket(int fd) noexcept : fd_(fd) {}
    socket(const socket&) = delete;
    socket& operator=(const socket&) = delete;
    socket(socket&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    socket& operator=(socket&& o) noexcept {
        if (this != &o) {
            close();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    ~socket() { close(); }

    /// socket(2) with SOCK_CLOEXEC and SOCK_NONBLOCK (as asyncio's sockets): `family` AF_INET,
    /// AF_INET6 or AF_UNIX; `type` SOCK_STREAM or SOCK_DGRAM. Throws std::system_error (EMFILE,
    /// EAFNOSUPPORT...). Non-blocking costs io_uring nothing (it waits on sockets either way)
    /// and lets the epoll backend accept and connect without touching the fd's flags.
    [[nodiscard]] static socket open(int family, int type, int protocol = 0) {
        const int fd = ::socket(family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
        if (fd < 0) {
            throw detail::socket_error(errno, "socket::open");
        }
        return socket(fd);
    }

    /// The fd, or -1.
    [[nodiscard]] int fd() const noexcept { return fd_; }
    /// True while this object owns an fd (false after close(), release() or a move).
    [[nodiscard]] bool is_open() const noexcept { return fd_ >= 0; }
    /// Gives the fd up without closing it (-1 if none).
    [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
    /// Closes the fd (no-op without one).
    void close() noexcept {
        if (fd_ >= 0) {
            ::close(std::exchange(fd_, -1));
        }
    }

    /// bind(2). Throws std::system_error naming `local` (EADDRINUSE, EACCES...).
    void bind(const endpoint& local) {
        if (::bind(fd_, local.data(), local.size()) != 0) {
            throw detail::socket_error(errno, "socket::bind", &local);
        }
    }
    /// listen(2). Throws std::system_error.
    void listen(int backlog = SOMAXCONN) {
        if (::listen(fd_, backlog) != 0) {
            throw detail::socket_error(errno, "socket::listen");
        }
    }

    /// Connects to `peer`. Throws std::system_error with the errno (ECONNREFUSED,
    /// ENETUNREACH, ETIMEDOUT...) and a message naming the peer; cancelled_error if cancelled
    /// (the kernel's connect is cancelled first). `peer` is copied into the operation.
    [[nodiscard]] task<> connect(endpoint peer) {
        detail::io_op op;
        op.kind = detail::op_kind::connect;
        op.fd = fd_;
        op.buf = peer.data();
        op.len = peer.size();
        try {
            co_await detail::io_awaiter<void>(op, "socket::connect");
        } catch (const std::system_error& e) {
            throw detail::socket_error(e.code().value(), "socket::connect", &peer);
        }
    }

    /// Accepts one connection on a listening socket; yields it (close-on-exec), and stores
    /// the peer's address in `*peer` if given (it must stay valid until the await ends).
    /// Throws std::system_error (EMFILE, ECONNABORTED...), cancelled_error if cancelled.
    [[nodiscard]] detail::accept_awaiter accept(endpoint* peer = nullptr) noexcept {
        return {fd_, peer};
    }

    /// Receives up to `buf.size()` bytes; 0 means the peer closed its side (or an empty
    /// datagram). Throws std::system_error (ECONNRESET...), cancelled_error if cancelled
    /// before any byte arrived.
    [[nodiscard]] detail::io_awaiter<std::size_t> recv(std::span<std::byte> buf,
                                                       int flags = 0) noexcept {
        return {detail::op_kind::recv,
                fd_,
                buf.data(),
                static_cast<std::uint32_t>(std::min(buf.size(), detail::max_transfer)),
                current_position,
                static_cast<std::uint32_t>(flags),
                "socket::recv"};
    }
    /// Sends up to `buf.size()` bytes (MSG_NOSIGNAL added); yields how many the kernel took
    /// (possibly fewer). Throws std::system_error (EPIPE, ECONNRESET...), cancelled_error.
    [[nodiscard]] detail::io_awaiter<std::size_t> send(std::span<const std::byte> buf,
                                                       int flags = 0) noexcept {
        return {detail::op_kind::send,
                fd_,
                const_cast<std::byte*>(buf.data()), // NOLINT: the kernel only reads it
                static_cast<std::uint32_t>(std::min(buf.size(), detail::max_transfer)),
                current_position,
                static_cast<std::uint32_t>(flags | MSG_NOSIGNAL),
                "socket::send"};
    }
    /// Sends every byte of `buf` (asyncio's sock_sendall). Throws as send; after a
    /// cancellation or an error an unknown prefix of `buf` was sent.
    [[nodiscard]] task<> send_all(std::span<const std::byte> buf) {
        while (!buf.empty()) {
            const std::size_t n = co_await send(buf);
            buf = buf.subspan(n);
        }
    }
    /// As send_all(span) for text.
    [[nodiscard]] task<> send_all(std::string_view text) {
        return send_all(std::as_bytes(std::span(text.data(), text.size())));
    }

    /// Receives one datagram into `buf`; yields its size (cut to `buf`, with `truncated` set),
    /// and its sender. Throws as recv.
    [[nodiscard]] detail::recvfrom_awaiter recvfrom(std::span<std::byte> buf) noexcept {
        return {fd_, buf};
    }
    /// Sends one datagram to `to` (which must stay valid until the await ends); yields the
    /// bytes sent. Throws std::system_error (EMSGSIZE, ECONNREFUSED after an ICMP error...).
    [[nodiscard]] detail::msg_awaiter sendto(std::span<const std::byte> buf,
                                             const endpoint& to) noexcept {
        return {detail::op_kind::sendmsg,
                fd_,
                const_cast<std::byte*>(buf.data()), // NOLINT: the kernel only reads it
                buf.size(),
                &to,
                "socket::sendto"};
    }

    /// shutdown(2) through the ring: SHUT_WR sends the peer end of file (a half-close), SHUT_RD
    /// makes further receives see end of file. Throws std::system_error (ENOTCONN...).
    [[nodiscard]] detail::io_awaiter<void> shutdown(int how) noexcept {
        return {detail::op_kind::shutdown, fd_, nullptr,           static_cast<std::uint32_t>(how),
                current_position,          0,   "socket::shutdown"};
    }

    /// setsockopt(2) with an int value. Throws std::system_error.
    void set_option(int level, int name, int value) {
        if (::setsockopt(fd_, level, name, &value, sizeof value) != 0) {
            throw detail::socket_error(errno, "socket::set_option");
        }
    }
    /// getsockopt(2) of an int value. Throws std::system_error.
    [[nodiscard]] int get_option(int level, int name) const {
        int value = 0;
        socklen_t len = sizeof value;
        if (::getsockopt(fd_, level, name, &value, &len) != 0) {
            throw detail::socket_error(errno, "socket::get_option");
        }
        return value;
    }
    /// TCP_NODELAY (Nagle's algorithm off). Throws std::system_error.
    void set_nodelay(bool on) { set_option(IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0); }
    /// SO_REUSEADDR. Throws std::system_error.
    void set_reuse_address(bool on) { set_option(SOL_SOCKET, SO_REUSEADDR, on ? 1 : 0); }
    /// The pending error (SO_ERROR), 0 if none; reading it clears it.
    [[nodiscard]] int error() const { return get_option(SOL_SOCKET, SO_ERROR); }

    /// The address this socket is bound to (getsockname): a server's port after binding port 0.
    [[nodiscard]] endpoint local_endpoint() const { return detail::socket_name(fd_, false); }
    /// The connected peer's address (getpeername). Throws std::system_error (ENOTCONN).
    [[nodiscard]] endpoint peer_endpoint() const { return detail::socket_name(fd_, true); }

  private:
    int fd_ = -1;
};

inline socket detail::accept_awaiter::await_resume() {
    const int fd = io_awaiter<int>::await_resume();
    socket s(fd);
    if (peer_ != nullptr) {
        peer_->resize(len_);
    }
    return s;
}

} // namespace eddy
