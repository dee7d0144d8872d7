// eddy — a listening socket's stream of accepted connections, from one multishot accept.
#pragma once

#include "eddy/detail/reactor.hpp"
#include "eddy/detail/ring.hpp"
#include "eddy/errors.hpp"
#include "eddy/loop.hpp"

#include <cerrno>
#include <coroutine>
#include <exception>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>

namespace eddy::detail {

/// Accepts connections on a listening socket with one multishot accept: a single submission
/// that completes once per connection (kernel >= 5.19), so a busy server pays no SQE per
/// accept. Kernels without it fail the first completion with EINVAL; the acceptor then falls
/// back to one accept per connection for good.
///
/// Connections the kernel delivers while nobody waits are queued (their fds are closed if the
/// acceptor is destroyed with them queued). The operation lives in this object: it must stay
/// in place and alive until the kernel is done with it, which `wait()`'s cancellation
/// guarantees (it resumes only after the operation's last completion). Destroying an acceptor
/// whose operation is still in the kernel terminates the process.
class acceptor {
  public:
    explicit acceptor(int listen_fd) noexcept {
        op_.kind = op_kind::accept_multishot;
        op_.fd = listen_fd;
        op_.flags = SOCK_CLOEXEC | SOCK_NONBLOCK; // as socket::open
        op_.complete = &on_complete;
        op_.owner = this;
    }
    acceptor(const acceptor&) = delete;
    acceptor& operator=(const acceptor&) = delete;
    ~acceptor() {
        if (op_.in_flight) {
            std::terminate(); // the kernel would write a completion for freed memory
        }
        while (!ready_.empty()) {
            ::close(ready_.pop_front());
        }
    }

    /// Whether the kernel supports multishot accept here (false after the fallback).
    [[nodiscard]] bool multishot() const noexcept { return op_.kind == op_kind::accept_multishot; }

    /// Awaits the next connection: yields its fd (owned by the caller, close-on-exec), or
    /// nullopt when the operation ended without one and the caller should wait again. Throws
    /// std::system_error for a failed accept (EMFILE, ENFILE, ENOBUFS...: the caller decides
    /// whether to retry), eddy::cancelled_error if cancelled (after the kernel let go).
    struct [[nodiscard]] wait_awaiter : suspension {
        acceptor& a_;
        explicit wait_awaiter(acceptor& a) noexcept : a_(a) {}

        [[nodiscard]] bool await_ready() const noexcept {
            return !a_.ready_.empty() || a_.error_ != 0;
        }
        bool await_suspend(std::coroutine_handle<> h) {
            arm(h, &on_cancel);
            if (!a_.op_.in_flight) {
                try {
                    loop_->io().submit(a_.op_);
                } catch (...) {
                    disarm();
                    throw;
                }
            }
            a_.waiter_ = this;
            deliver_pending_cancel();
            return true;
        }
        std::optional<int> await_resume() {
            a_.waiter_ = nullptr;
            finish_wait(); // throws cancelled_error if the wait was called off
            if (!a_.ready_.empty()) {
                return a_.ready_.pop_front(); // connections accepted before an error go first
            }
            if (a_.error_ != 0) {
                const int err = std::exchange(a_.error_, 0);
                throw std::system_error(err, std::system_category(), "eddy::server: accept");
            }
            return std::nullopt;
        }

        static bool on_cancel(cancel_hook* h, bool abandon) noexcept {
            (void)abandon; // the operation's memory is the kernel's until its last completion
            auto* self = static_cast<wait_awaiter*>(static_cast<suspension*>(h));
            acceptor& a = self->a_;
            if (!a.op_.in_flight) {
                return false; // already woken: the cancellation waits for the next await
            }
            try {
                self->loop_->io().cancel(a.op_);
            } catch (...) {
                return false; // no room to ask now: the next await tries again
            }
            self->cancelled_ = true; // woken by the operation's last completion
            return true;
        }
    };
    [[nodiscard]] wait_awaiter wait() noexcept { return wait_awaiter(*this); }

  private:
    static void on_complete(io_op* op) noexcept {
        auto* self = static_cast<acceptor*>(op->owner);
        const bool last = !op->in_flight;
        if (op->result >= 0) {
            self->accepted_any_ = true;
            try {
                self->ready_.push_back(int{op->result});
            } catch (...) {
                ::close(op->result); // out of memory: the connection is refused, not leaked
            }
        } else if (op->result == -EINVAL && op->kind == op_kind::accept_multishot &&
                   !self->accepted_any_) {
            op->kind = op_kind::accept; // no multishot accept on this kernel: one per connection
        } else if (op->result != -ECANCELED) {
            self->error_ = -op->result;
        }
        // A waiter is woken by a connection, an error, or the operation's end (to re-arm, or to
        // finish a cancellation); a multishot completion with nothing to report is skipped.
        if (suspension* w = self->waiter_;
            w != nullptr && (last || !self->ready_.empty() || self->error_ != 0)) {
            if (!w->cancelled_ || last) {
                self->waiter_ = nullptr;
                w->wake();
            }
        }
    }

    io_op op_;
    ring<int> ready_;
    suspension* waiter_ = nullptr;
    int error_ = 0; // a failed accept's errno, reported to the next wait
    bool accepted_any_ = false;
};

} // namespace eddy::detail
