// eddy — epoll_reactor::attempt: one operation tried as a non-blocking call, the way the epoll
// backend emulates a completion (included at the end of epoll_reactor.hpp, not on its own).
#pragma once

#include "eddy/detail/epoll_reactor.hpp"
#include "eddy/detail/faults.hpp"
#include "eddy/detail/reactor.hpp"

#include <cerrno>
#include <climits>
#include <cstdint>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

namespace eddy::detail {

// Switches O_NONBLOCK on for one call on an fd that is blocking (accept, connect).
class epoll_reactor::nonblocking_for_call {
  public:
    explicit nonblocking_for_call(int fd) noexcept : fd_(fd), flags_(::fcntl(fd, F_GETFL)) {
        if (flags_ >= 0 && (flags_ & O_NONBLOCK) == 0) {
            switched_ = ::fcntl(fd, F_SETFL, flags_ | O_NONBLOCK) == 0;
        }
    }
    nonblocking_for_call(const nonblocking_for_call&) = delete;
    nonblocking_for_call& operator=(const nonblocking_for_call&) = delete;
    ~nonblocking_for_call() {
        if (switched_) {
            const int saved = errno;
            (void)::fcntl(fd_, F_SETFL, flags_);
            errno = saved;
        }
    }

  private:
    int fd_;
    int flags_;
    bool switched_ = false;
};

inline epoll_reactor::outcome epoll_reactor::attempt(io_op& op, bool after_ready,
                                                     std::uint32_t revents) {
    const bool at_position = op.offset == static_cast<std::uint64_t>(-1);
    const auto offset = at_position ? static_cast<off_t>(-1) : static_cast<off_t>(op.offset);
    const auto set = [&op](long rc) {
        op.result = rc >= 0 ? static_cast<int>(rc) : -errno;
        return outcome::finished;
    };
    // An injected would-block, on the first try only (the fd is in fact ready, so epoll
    // reports it at once and the second try runs).
    if (!after_ready && may_would_block(op.kind) && take_fault(&fault_plan::eagain)) {
        return outcome::blocked;
    }
    for (;;) {
        long rc = 0;
        switch (op.kind) {
        case op_kind::nop:
            return set(0);
        case op_kind::read:
        case op_kind::write: {
            const bool reading = op.kind == op_kind::read;
            iovec iov{op.buf, short_io_len(op.len)};
            if (op.may_block && !reading) {
                // A terminal ignores RWF_NOWAIT and its POLLOUT promises no room: the write is
                // made non-blocking for the call only, as accept and connect are, and waits for
                // POLLOUT after EAGAIN. (Not a worker: a write stuck there cannot be cancelled,
                // and an abort() would wait for the terminal.)
                nonblocking_for_call nb(op.fd);
                rc = at_position ? ::writev(op.fd, &iov, 1) : ::pwritev(op.fd, &iov, 1, offset);
                break;
            }
            if ((op.backend_flags & flag_plain) != 0) {
                if (!after_ready) {
                    return outcome::blocked;
                }
                // Without RWF_NOWAIT (older kernels, some fds) the call follows readiness; a
                // write is cut to PIPE_BUF so a blocking pipe cannot block it.
                if (!reading && iov.iov_len > PIPE_BUF) {
                    iov.iov_len = PIPE_BUF;
                }
                if (at_position) {
                    rc = reading ? ::readv(op.fd, &iov, 1) : ::writev(op.fd, &iov, 1);
                } else {
                    rc = reading ? ::preadv(op.fd, &iov, 1, offset)
                                 : ::pwritev(op.fd, &iov, 1, offset);
                }
            } else {
                rc = reading ? ::preadv2(op.fd, &iov, 1, offset, RWF_NOWAIT)
                             : ::pwritev2(op.fd, &iov, 1, offset, RWF_NOWAIT);
                if (rc < 0 && errno == EOPNOTSUPP) {
                    op.backend_flags |= flag_plain;
                    return outcome::blocked; // waits for readiness; a regular file: a worker
                }
            }
            break;
        }
        case op_kind::poll:
            if (!after_ready) {
                return outcome::blocked; // the level-triggered arm reports a ready fd at once
            }
            if ((revents & (op.flags | EPOLLERR | EPOLLHUP)) == 0) {
                return outcome::blocked;
            }
            {
                // The report may be a stale registration's (see the class comment): believe
                // the fd itself. POLL* and EPOLL* values are the same bits.
                pollfd p{op.fd, static_cast<short>(op.flags), 0};
                int n = 0;
                while ((n = ::poll(&p, 1, 0)) < 0 && errno == EINTR) {
                }
                if (n < 0) {
                    return set(-1);
                }
                op.result = static_cast<int>(static_cast<unsigned>(p.revents) &
                                             (op.flags | POLLERR | POLLHUP | POLLNVAL));
            }
            return op.result != 0 ? outcome::finished : outcome::blocked;
        case op_kind::recv:
            rc = ::recv(op.fd, op.buf, short_io_len(op.len),
                        static_cast<int>(op.flags) | MSG_DONTWAIT);
            break;
        case op_kind::send:
            rc = ::send(op.fd, op.buf, short_io_len(op.len),
                        static_cast<int>(op.flags) | MSG_DONTWAIT);
            break;
        case op_kind::recvmsg:
            rc = ::recvmsg(op.fd, static_cast<msghdr*>(op.buf),
                           static_cast<int>(op.flags) | MSG_DONTWAIT);
            break;
        case op_kind::sendmsg:
            rc = ::sendmsg(op.fd, static_cast<const msghdr*>(op.buf),
                           static_cast<int>(op.flags) | MSG_DONTWAIT);
            break;
        case op_kind::accept: {
            nonblocking_for_call nb(op.fd);
            rc = ::accept4(op.fd, static_cast<sockaddr*>(op.buf), static_cast<socklen_t*>(op.buf2),
                           static_cast<int>(op.flags));
            break;
        }
        case op_kind::accept_multishot: {
            // Every connection waiting is handed over now, each as a result with F_MORE; the
            // operation stays armed until it fails or is cancelled.
            nonblocking_for_call nb(op.fd);
            for (;;) {
                rc = ::accept4(op.fd, static_cast<sockaddr*>(op.buf),
                               static_cast<socklen_t*>(op.buf2), static_cast<int>(op.flags));
                if (rc < 0) {
                    break;
                }
                op.result = static_cast<int>(rc);
                op.cqe_flags = IORING_CQE_F_MORE;
                progressed_ = true;
                op.complete(&op);
                if ((op.backend_flags & flag_cancelled) != 0) {
                    return outcome::blocked; // advance() finishes it as cancelled
                }
            }
            break;
        }
        case op_kind::connect: {
            if ((op.backend_flags & flag_connecting) != 0) {
                int err = 0;
                socklen_t len = sizeof err;
                if (::getsockopt(op.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
                    return set(-1);
                }
                if (err != 0) {
                    op.result = -err;
                    return outcome::finished;
                }
                sockaddr_storage peer{};
                socklen_t plen = sizeof peer;
                if (::getpeername(op.fd, reinterpret_cast<sockaddr*>(&peer), &plen) == 0) {
                    return set(0);
                }
                return errno == ENOTCONN ? outcome::blocked : set(-1); // a spurious report
            }
            nonblocking_for_call nb(op.fd);
            rc = ::connect(op.fd, static_cast<const sockaddr*>(op.buf), op.len);
            if (rc < 0 && (errno == EINPROGRESS || errno == EINTR)) {
                op.backend_flags |= flag_connecting;
                return outcome::blocked;
            }
            if (rc < 0 && errno == EAGAIN) {
                // A Unix listener's backlog is full: an unconnected socket reports itself
                // writable at once, so waiting would spin. The caller gets EAGAIN.
                return set(rc);
            }
            break;
        }
        case op_kind::shutdown:
            rc = ::shutdown(op.fd, static_cast<int>(op.len));
            break;
        case op_kind::openat:
        case op_kind::close:
        case op_kind::fsync:
        case op_kind::statx:
            return outcome::offload;
        case op_kind::waitid:
            op.result = -EOPNOTSUPP;
            return outcome::finished;
        }
        if (rc >= 0) {
            return set(rc);
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return outcome::blocked; // a regular file that would block goes to a worker
        }
        if (errno == ESPIPE && !at_position &&
            (op.kind == op_kind::read || op.kind == op_kind::write)) {
            // A pipe, FIFO or terminal has no position: io_uring ignores the offset there and
            // reads or writes the stream (read_file("/dev/stdin") works). Do the same.
            op.offset = static_cast<std::uint64_t>(-1);
            return attempt(op, after_ready, revents);
        }
        return set(rc);
    }
}

} // namespace eddy::detail
