// eddy — how a byte stream (stream_reader, stream_writer) moves its bytes through the kernel.
#pragma once

#include "eddy/detail/reactor.hpp"
#include "eddy/io.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <utility>

namespace eddy::detail {

/// How a stream moves its bytes through the kernel. Pipes, ttys and files: read and write.
/// Sockets: recv, and send with MSG_NOSIGNAL (a gone peer is EPIPE, not SIGPIPE); their
/// writer half-closes with shutdown(2) instead of closing, since the reader shares the
/// connection (each side owns its own fd, a dup of the other's).
struct stream_io {
    op_kind read = op_kind::read;
    op_kind write = op_kind::write;
    std::uint32_t read_flags = 0;  // io_op::flags of every read
    std::uint32_t write_flags = 0; // io_op::flags of every write
    bool socket = false;
    bool writes_may_block = false; // a terminal or other character device (io_op::may_block)
    std::string subject;           // what error messages name (the peer's address); empty: the fd

    /// recv/send with MSG_NOSIGNAL; `peer` names the other end in error messages.
    static stream_io for_socket(std::string peer) {
        stream_io io;
        io.read = op_kind::recv;
        io.write = op_kind::send;
        io.write_flags = MSG_NOSIGNAL;
        io.socket = true;
        io.subject = std::move(peer);
        return io;
    }
    [[nodiscard]] const char* subject_or_null() const noexcept {
        return subject.empty() ? nullptr : subject.c_str();
    }
};

inline io_op transfer_op(op_kind kind, int fd, const void* buf, std::size_t len,
                         std::uint32_t flags, bool may_block = false) noexcept {
    io_op op;
    op.kind = kind;
    op.fd = fd;
    op.buf = const_cast<void*>(buf); // NOLINT: a write's buffer is only read by the kernel
    op.len = static_cast<std::uint32_t>(std::min(len, max_transfer));
    op.flags = flags;
    op.may_block = may_block;
    return op;
}

/// Whether writes to `fd` can sleep in the kernel though it polls writable: a terminal (or any
/// character device) ignores non-blocking requests, so io_uring would sleep in io_uring_enter
/// and the epoll backend's write after POLLOUT in write(2), freezing the loop while the terminal
/// does not read (flow control, a slow link). Pipes, sockets and files do not.
[[nodiscard]] inline bool writes_may_block(int fd) noexcept {
    struct stat st {};
    return ::fstat(fd, &st) == 0 && S_ISCHR(st.st_mode);
}

/// Misuse that would let the kernel write into freed memory: stopping is the only safe answer.
[[noreturn]] inline void stream_misuse(const char* what) noexcept {
    std::fprintf(stderr, "eddy: %s\n", what);
    std::terminate();
}

} // namespace eddy::detail
