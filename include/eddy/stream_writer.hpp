// eddy — stream_writer: buffered writes to a file descriptor, sent in the background (asyncio's
// StreamWriter). Pipes make them (pipe.hpp); sockets and subprocesses too.
#pragma once

#include "eddy/create_task.hpp"
#include "eddy/detail/reactor.hpp"
#include "eddy/detail/sigpipe.hpp"
#include "eddy/detail/stream_writer_state.hpp"
#include "eddy/errors.hpp"
#include "eddy/event.hpp"
#include "eddy/io.hpp"
#include "eddy/task.hpp"

#include <cstddef>
#include <exception>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace eddy {

/// Writes bytes to a file descriptor through a buffer sent in the background
/// (asyncio.StreamWriter with its transport's flow control).
///
/// write() never waits: it appends to the buffer and starts a background send (a task on the
/// running loop) if none runs. drain() is the backpressure point: it waits while more than the
/// high-water mark (64 KiB) is buffered, until the send brings it down to the low-water mark
/// (16 KiB). A send error (EPIPE when the reader has gone) closes the writer, drops what was
/// buffered, and is stored: write, drain and wait_closed rethrow it from then on.
///
/// Ownership: the writer owns its fd, closed after the buffer is flushed by close() or
/// write_eof(), or at once by abort(). Destroying a writer that was not closed aborts it (the
/// unsent bytes are dropped and an in-flight send is cancelled in the kernel); destroying one
/// after close() or write_eof() lets the flush finish in the background. The buffers live in a
/// state allocated once per writer and shared with the background send, so the kernel never
/// reads freed memory; buffers grow to the largest burst and are reused (no allocation per
/// write in steady state). If the loop shuts down while a send runs, the send is cancelled and
/// stored as std::system_error(ECANCELED). Constructing a writer ignores SIGPIPE if it has its
/// default action (detail::ignore_sigpipe).
class stream_writer {
  public:
    /// The high-water mark a new writer starts with (asyncio's 64 KiB).
    static constexpr std::size_t default_high_water = detail::writer_high_water;
    /// The low-water mark a new writer starts with (a quarter of the high one, as asyncio).
    static constexpr std::size_t default_low_water = detail::writer_low_water;

    /// A writer without an fd: write, drain and wait_closed throw eddy::invalid_state_error.
    stream_writer() noexcept = default;
    /// Takes ownership of `fd` (a pipe's write end, a child's stdin...). Throws
    /// std::bad_alloc (closing `fd`). `io` is for eddy's socket layer.
    explicit stream_writer(int fd, detail::stream_io io = {}) {
        detail::ignore_sigpipe();
        if (!io.socket) {
            io.writes_may_block = detail::writes_may_block(fd);
        }
        try {
            s_ = new detail::writer_state(fd, std::move(io));
        } catch (...) {
            ::close(fd);
            throw;
        }
    }
    stream_writer(const stream_writer&) = delete;
    stream_writer& operator=(const stream_writer&) = delete;
    /// Takes over `o`'s fd, buffer and background send; `o` becomes a writer without an fd.
    stream_writer(stream_writer&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    stream_writer& operator=(stream_writer&& o) noexcept {
        if (this != &o) {
            reset();
            s_ = std::exchange(o.s_, nullptr);
        }
        return *this;
    }
    /// abort() unless close() or write_eof() was called (then the flush goes on without it).
    ~stream_writer() { reset(); }

    /// The fd written to, or -1 once it is closed (or released, or for a writer without one).
    /// A socket's fd stays open after write_eof() (only its write side is shut down).
    [[nodiscard]] int fd() const noexcept {
        return s_ != nullptr && !s_->fd_closed_ ? s_->fd_ : -1;
    }

    /// Buffers `data` and starts sending it in the background. Throws the stored send error
    /// (std::system_error, e.g. EPIPE); eddy::invalid_state_error after close(), write_eof()
    /// or abort(), or for a writer without an fd; eddy::loop_error outside a running loop.
    void write(std::span<const std::byte> data) {
        detail::writer_state& s = checked("write");
        if (s.error_) {
            std::rethrow_exception(s.error_);
        }
        if (s.closing_ || s.eof_) {
            throw invalid_state_error(s.closing_
                                          ? "eddy::stream_writer::write after close() or abort()"
                                          : "eddy::stream_writer::write after write_eof()");
        }
        if (data.empty()) {
            return;
        }
        if (!s.sending_) {
            // The loop owns the task; its handle is dropped (see writer_state::sender_).
            s.sender_ = create_task(detail::send_loop(detail::sender_ref(&s)),
                                    task_options{.eager_start = false}, code_location())
                            .state();
            s.sending_ = true;
        }
        s.pending_.append(reinterpret_cast<const char*>(data.data()), data.size());
        s.maybe_pause();
    }
    /// As write(span).
    void write(std::string_view data) { write(std::as_bytes(std::span(data))); }

    /// Waits until the buffer is down to the low-water mark if it went over the high-water mark
    /// (at once otherwise): `w.write(x); co_await w.drain();` bounds the memory a fast producer
    /// takes. Throws the stored send error; eddy::cancelled_error if cancelled (the data stays
    /// queued); eddy::invalid_state_error (at the call) for a writer without an fd.
    [[nodiscard]] task<> drain() { return detail::drain(detail::writer_ref(&checked("drain"))); }

    /// Closes the write side once the buffer is flushed: for a pipe, the fd is closed and the
    /// reader sees end of file; for a socket, shutdown(SHUT_WR) sends the peer end of file while
    /// the connection stays readable (a half-close). Further writes throw. No-op if already
    /// closing or closed.
    void write_eof() noexcept {
        detail::writer_state* s = s_;
        if (s != nullptr && !s->eof_ && !s->closing_) {
            s->eof_ = true;
            if (!s->sending_) {
                s->close_fd();
            }
        }
    }
    /// Closes the writer once the buffer is flushed (asyncio's close(): it does not wait; see
    /// wait_closed). For a socket the whole connection is shut down (shutdown(SHUT_RDWR)): the
    /// peer sees end of file, and so does this side's reader. Further writes throw. Idempotent.
    void close() noexcept {
        detail::writer_state* s = s_;
        if (s != nullptr && !s->closing_) {
            s->closing_ = true;
            if (!s->sending_) {
                s->close_fd();
            }
        }
    }
    /// Closes now (asyncio's transport.abort()): drops the unsent bytes, cancels the send in
    /// the kernel; the fd is closed once that send has ended. For a socket both directions are
    /// shut down: the peer and this side's reader see end of file.
    void abort() noexcept {
        detail::writer_state* s = s_;
        if (s == nullptr || s->fd_closed_) {
            return;
        }
        s->aborted_ = true;
        s->closing_ = true;
        s->pending_.clear();
        if (s->sending_) {
            // The send task closes the fd as it ends. It is cancelled only while it waits for
            // the kernel (when it is sure to be alive); otherwise it is about to run and sees
            // aborted_ at the top of its loop.
            if (s->in_kernel_) {
                try {
                    s->sender_->cancel({});
                } catch (...) {
                    // Only a cancel message could throw; none is given.
                }
            }
        } else {
            s->drop();
            s->close_fd();
        }
    }
    /// True once close() or abort() was called or a send failed (and for a writer without an
    /// fd).
    [[nodiscard]] bool is_closing() const noexcept { return s_ == nullptr || s_->closing_; }
    /// Waits until the fd is closed (after close() or write_eof() flushed, abort(), or a send
    /// error), then rethrows the stored send error if there is one. Throws cancelled_error if
    /// cancelled; eddy::invalid_state_error (at the call) for a writer without an fd.
    [[nodiscard]] task<> wait_closed() {
        return detail::wait_closed(detail::writer_ref(&checked("wait_closed")));
    }

    /// Bytes written and not yet accepted by the kernel (asyncio's get_write_buffer_size()).
    [[nodiscard]] std::size_t write_buffer_size() const noexcept {
        return s_ != nullptr ? s_->size() : 0;
    }
    /// Sets the flow-control marks (asyncio's set_write_buffer_limits): drain() waits once more
    /// than `high` bytes are buffered, until at most `low` are. Throws std::invalid_argument
    /// unless low <= high; eddy::invalid_state_error for a writer without an fd.
    void set_write_buffer_limits(std::size_t high, std::size_t low) {
        detail::writer_state& s = checked("set_write_buffer_limits");
        if (low > high) {
            throw std::invalid_argument("eddy::stream_writer: low-water mark above high-water");
        }
        s.high_ = high;
        s.low_ = low;
        s.maybe_pause();
        s.update_flow();
    }
    /// As above with low = high / 4 (asyncio's default ratio).
    void set_write_buffer_limits(std::size_t high) { set_write_buffer_limits(high, high / 4); }
    /// The high-water mark (0 for a writer without an fd).
    [[nodiscard]] std::size_t high_water() const noexcept { return s_ ? s_->high_ : 0; }
    /// The low-water mark (0 for a writer without an fd).
    [[nodiscard]] std::size_t low_water() const noexcept { return s_ ? s_->low_ : 0; }
    /// The stored send error, or null.
    [[nodiscard]] std::exception_ptr exception() const noexcept {
        return s_ != nullptr ? s_->error_ : nullptr;
    }

    /// Gives the fd up without closing it (-1 if it is closed) and leaves the writer closed.
    /// Throws eddy::invalid_state_error while bytes are still being sent or for a writer
    /// without an fd.
    [[nodiscard]] int release() {
        detail::writer_state& s = checked("release");
        if (s.sending_) {
            throw invalid_state_error("eddy::stream_writer::release: bytes are still being sent");
        }
        if (s.fd_closed_) {
            return -1;
        }
        const int fd = std::exchange(s.fd_, -1);
        s.closing_ = true;
        s.close_fd();
        return fd;
    }

  private:
    detail::writer_state& checked(const char* what) const {
        if (s_ == nullptr) {
            throw invalid_state_error(std::string("eddy::stream_writer::") + what +
                                      " on a writer without an fd");
        }
        return *s_;
    }
    void reset() noexcept {
        if (detail::writer_state* s = s_) {
            if (!s->closing_ && !s->eof_) {
                abort();
            }
            std::exchange(s_, nullptr)->release();
        }
    }

    detail::writer_state* s_ = nullptr;
};

} // namespace eddy
