// eddy — the reactor boundary: what the loop asks of an I/O backend, and nothing more.
#pragma once

#include <cstdint>
#include <optional>
#include <poll.h>

namespace eddy::detail {

/// What an io_op asks the kernel to do. Field use per kind (see io_op):
/// read/write: fd, buf, len, offset. poll: fd, flags = event mask. openat: fd = directory fd,
/// buf = NUL-terminated path, flags = open flags, len = mode. close: fd. fsync: fd, flags =
/// IORING_FSYNC_DATASYNC or 0. statx: fd = directory fd, buf = path, flags = AT_* flags,
/// len = mask, buf2 = struct statx*. waitid: fd = the id (a pidfd), len = idtype (P_PIDFD),
/// flags = options (WEXITED), buf2 = siginfo_t*. recv/send: fd, buf, len, flags = MSG_* flags.
/// accept: fd = listening socket, buf = sockaddr* (or null), buf2 = socklen_t* (or null),
/// flags = accept4 flags (SOCK_CLOEXEC). accept_multishot: as accept, but one submission keeps
/// completing (a CQE per connection, IORING_CQE_F_MORE in cqe_flags while it stays armed).
/// connect: fd, buf = sockaddr*, len = its length. shutdown: fd, len = SHUT_RD/WR/RDWR.
/// recvmsg/sendmsg: fd, buf = msghdr*, flags = MSG_* flags.
enum class op_kind : std::uint8_t {
    nop,
    read,
    write,
    poll,
    openat,
    close,
    fsync,
    statx,
    waitid,
    recv,
    send,
    accept,
    accept_multishot,
    connect,
    shutdown,
    recvmsg,
    sendmsg,
};

/// Operations on an fd that may not be ready: on a non-blocking fd the call reports EAGAIN
/// instead of waiting. Both backends wait for `readiness_events(kind)` and try again.
[[nodiscard]] constexpr bool may_would_block(op_kind k) noexcept {
    switch (k) {
    case op_kind::read:
    case op_kind::write:
    case op_kind::recv:
    case op_kind::send:
    case op_kind::recvmsg:
    case op_kind::sendmsg:
    case op_kind::accept:
        return true;
    default:
        return false;
    }
}
/// The readiness an operation of `kind` waits for: POLLOUT for writes and connects, POLLIN
/// otherwise (epoll's EPOLLIN/EPOLLOUT have the same values).
[[nodiscard]] constexpr std::uint32_t readiness_events(op_kind k) noexcept {
    switch (k) {
    case op_kind::write:
    case op_kind::send:
    case op_kind::sendmsg:
    case op_kind::connect:
        return POLLOUT;
    default:
        return POLLIN;
    }
}

/// One kernel operation. It lives in the awaiter that started it (in the awaiting coroutine's
/// frame): no allocation per operation. The backend keeps a pointer to it from `submit` until
/// it calls `complete`, exactly once; the owner must not be destroyed in between, which the
/// loop guarantees by cancelling and draining every operation before any frame goes away.
/// A multishot operation calls `complete` once per completion; `in_flight` stays true (and the
/// memory stays the kernel's) until the completion without IORING_CQE_F_MORE.
struct io_op {
    op_kind kind = op_kind::nop;
    int fd = -1;
    void* buf = nullptr;
    std::uint32_t len = 0;
    std::uint32_t flags = 0;                               // poll: event mask
    std::uint64_t offset = static_cast<std::uint64_t>(-1); // -1: the file position
    void* buf2 = nullptr;                                  // statx: result; waitid: siginfo
    int result = 0;              // >= 0 the kernel's result, < 0 a negated errno (-ECANCELED...)
    std::uint32_t cqe_flags = 0; // the completion's flags (IORING_CQE_F_MORE...)
    bool in_flight = false;
    /// The call may sleep in the kernel even when its fd polls ready (a write to a terminal,
    /// whose driver ignores non-blocking requests): io_uring runs it on an io-wq worker
    /// (IOSQE_ASYNC), which a cancellation interrupts; epoll makes the fd O_NONBLOCK for the
    /// call only and waits for readiness after EAGAIN.
    bool may_block = false;
    void (*complete)(io_op*) noexcept = nullptr;
    void* owner = nullptr; // the awaiter, for `complete`
    // The backend's own bookkeeping while the operation is in flight (its intrusive lists and
    // state); owners leave these alone.
    io_op* link = nullptr;
    std::uint8_t backend_state = 0;
    std::uint8_t backend_flags = 0;
};

/// A backend (io_uring, or epoll where io_uring cannot run) behind a narrow interface so that task
/// and loop code never sees which one runs. Completion callbacks only schedule work on the ready
/// queue, so a backend may dispatch completions at any point without re-entering user code.
class reactor {
  public:
    reactor() = default;
    reactor(const reactor&) = delete;
    reactor& operator=(const reactor&) = delete;
    virtual ~reactor() = default;

    /// The backend's name ("io_uring", "epoll").
    [[nodiscard]] virtual const char* name() const noexcept = 0;
    /// Queues `op`; the kernel sees it at the next `poll` at the latest. Throws
    /// std::system_error if the backend cannot take it even after flushing.
    virtual void submit(io_op& op) = 0;
    /// Asks for `op` to be cancelled. Its own completion still arrives (-ECANCELED, or its real
    /// result if it won the race); until then its memory stays owned by the kernel.
    virtual void cancel(io_op& op) = 0;
    /// Flushes queued operations, waits up to `timeout_ns` (none: indefinitely; 0: not at all)
    /// for at least one completion, and dispatches every completion available.
    virtual void poll(std::optional<std::int64_t> timeout_ns) = 0;
    /// Whether this backend can run `kind` (io_uring: the kernel's opcode probe; epoll: all but
    /// waitid, files through its worker threads).
    [[nodiscard]] virtual bool supports(op_kind kind) const noexcept = 0;
    /// Operations submitted whose completion has not been dispatched yet.
    [[nodiscard]] virtual std::uint64_t in_flight() const noexcept = 0;
};

} // namespace eddy::detail
