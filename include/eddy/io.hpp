// eddy — the generic kernel-operation awaiter and the basic fd operations built on it.
#pragma once

#include "eddy/detail/reactor.hpp"
#include "eddy/errors.hpp"
#include "eddy/loop.hpp"

#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <system_error>

namespace eddy {

/// Offset meaning "the file's current position" (pipes, sockets, eventfds).
inline constexpr std::uint64_t current_position = static_cast<std::uint64_t>(-1);

namespace detail {

/// The most one read or write asks of the kernel (io_op::len is 32 bits): larger requests are
/// cut to this per operation, a short count as read(2) may return anyway.
inline constexpr std::size_t max_transfer = std::size_t{1} << 30;

/// Linux's kernel-internal restart codes (include/linux/errno.h: ERESTARTSYS, ERESTARTNOINTR,
/// ERESTARTNOHAND, ERESTART_RESTARTBLOCK): never meant for user space, yet seen in CQEs (see
/// io_awaiter).
[[nodiscard]] constexpr bool kernel_restart_code(int err) noexcept {
    return err == 512 || err == 513 || err == 514 || err == 516;
}

/// Awaits one kernel operation. The operation's state (io_op) lives in this awaiter, in the
/// awaiting frame; the reactor points at it until the completion arrives: nothing allocated.
///
/// Cancellation: cancelling the task asks the kernel to cancel the operation and the task
/// resumes only after the operation's own completion, so the kernel never writes into freed
/// memory. If the operation completed anyway (it raced the cancel), its result is returned and
/// the task gets cancelled_error at its next suspension: no bytes are lost.
template <class Result> class [[nodiscard]] io_awaiter : suspension {
  public:
    io_awaiter(op_kind kind, int fd, void* buf, std::uint32_t len, std::uint64_t offset,
               std::uint32_t flags, const char* what) noexcept
        : what_(what) {
        op_.kind = kind;
        op_.fd = fd;
        op_.buf = buf;
        op_.len = len;
        op_.offset = offset;
        op_.flags = flags;
    }
    /// `op` fully prepared (kind and fields as op_kind documents). `subject`, when given, names
    /// what the operation is on in error messages (a path) instead of the fd; it must outlive
    /// the await.
    io_awaiter(const io_op& op, const char* what, const char* subject = nullptr) noexcept
        : op_(op), what_(what), subject_(subject) {}
    io_awaiter(const io_awaiter&) = delete;
    io_awaiter& operator=(const io_awaiter&) = delete;
    io_awaiter(io_awaiter&& o) noexcept
        : suspension(), op_(o.op_), what_(o.what_), subject_(o.subject_) {}
    io_awaiter& operator=(io_awaiter&&) = delete;
    ~io_awaiter() {
        if (op_.in_flight) {
            // Unreachable by design (the loop drains operations before frames go); freeing the
            // memory now would let the kernel write into it.
            std::terminate();
        }
    }

    [[nodiscard]] bool await_ready() const noexcept { return false; }

    bool await_suspend(std::coroutine_handle<> h) {
        arm(h, &on_cancel);
        op_.complete = &on_complete;
        op_.owner = this;
        try {
            loop_->io().submit(op_);
        } catch (...) {
            disarm();
            throw;
        }
        deliver_pending_cancel();
        return true;
    }

    /// The operation's result. Throws std::system_error with the errno when it failed,
    /// eddy::cancelled_error when the task was cancelled and the operation did not happen.
    Result await_resume() {
        finish_wait();
        int res = op_.result;
        if (kernel_restart_code(-res)) [[unlikely]] {
            // Linux's internal "restart the call" codes: an operation blocked in an io-wq worker
            // (opening a FIFO nobody opens) that a cancellation interrupted can complete with
            // one (512, ERESTARTSYS) instead of ECANCELED. It means EINTR; "Unknown error 512"
            // must not reach anyone.
            res = -EINTR;
        }
        if (cancel_sent_) {
            if (res == -ECANCELED || res == -EINTR) {
                absorb_pending_cancel();
                throw cancelled_error(task_ != nullptr ? task_->cancel_message() : std::string());
            }
            if (task_ != nullptr) {
                task_->defer_cancel();
            }
        }
        if (res < 0) {
            throw std::system_error(-res, std::system_category(),
                                    subject_ != nullptr
                                        ? std::string("eddy::") + what_ + "(\"" + subject_ + "\")"
                                        : std::string("eddy::") + what_ + " (fd " +
                                              std::to_string(op_.fd) + ")");
        }
        if constexpr (!std::is_void_v<Result>) {
            return static_cast<Result>(res);
        }
    }

  protected:
    /// For awaiters whose operation points into their own members (a msghdr, a sockaddr):
    /// they set those pointers in await_suspend, once the awaiter has its final address.
    [[nodiscard]] io_op& op() noexcept { return op_; }

  private:
    static void on_complete(io_op* op) noexcept { static_cast<io_awaiter*>(op->owner)->wake(); }
    static bool on_cancel(cancel_hook* h, bool abandon) noexcept {
        (void)abandon; // a kernel operation is never abandoned: its memory is the kernel's
        auto* self = static_cast<io_awaiter*>(static_cast<suspension*>(h));
        if (!self->op_.in_flight || self->cancel_sent_) {
            return self->op_.in_flight;
        }
        try {
            self->loop_->io().cancel(self->op_);
            self->cancel_sent_ = true;
            return true;
        } catch (...) {
            return false; // no room to ask: the cancellation waits for the next await
        }
    }

    io_op op_;
    const char* what_;
    const char* subject_ = nullptr;
    bool cancel_sent_ = false;
};

} // namespace detail

/// Reads up to `buf.size()` bytes from `fd` (at `offset`, or the current position) through the
/// kernel's completion queue. Yields the byte count, 0 at end of file. Throws std::system_error
/// (errno) on failure, eddy::cancelled_error if cancelled before any byte was read. `buf` must
/// stay valid until the await finishes; the awaiting frame owns it.
[[nodiscard]] inline detail::io_awaiter<std::size_t>
read_some(int fd, std::span<std::byte> buf, std::uint64_t offset = current_position) noexcept {
    return {detail::op_kind::read,
            fd,
            buf.data(),
            static_cast<std::uint32_t>(buf.size()),
            offset,
            0,
            "read_some"};
}

/// Writes up to `buf.size()` bytes to `fd`. Yields the count written (possibly short).
/// Throws as read_some. On a pipe or socket whose peer closed this fails with EPIPE; the
/// process's SIGPIPE disposition still applies to plain writes (sockets get MSG_NOSIGNAL sends
/// in the networking layer).
[[nodiscard]] inline detail::io_awaiter<std::size_t>
write_some(int fd, std::span<const std::byte> buf,
           std::uint64_t offset = current_position) noexcept {
    return {detail::op_kind::write,
            fd,
            const_cast<std::byte*>(buf.data()), // NOLINT: the kernel only reads it
            static_cast<std::uint32_t>(buf.size()),
            offset,
            0,
            "write_some"};
}

/// Waits until `fd` is ready for `events` (POLLIN, POLLOUT...). Yields the ready events
/// (POLLERR/POLLHUP included when they happen). Throws as read_some.
[[nodiscard]] inline detail::io_awaiter<unsigned> poll(int fd, unsigned events) noexcept {
    return {detail::op_kind::poll, fd, nullptr, 0, current_position, events, "poll"};
}

/// A no-op round trip through the kernel's queues (for tests and benchmarks of the reactor).
[[nodiscard]] inline detail::io_awaiter<void> nop() noexcept {
    return {detail::op_kind::nop, -1, nullptr, 0, current_position, 0, "nop"};
}

} // namespace eddy
