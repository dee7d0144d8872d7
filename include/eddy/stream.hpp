// eddy — byte streams over a file descriptor: stream_reader and stream_writer (asyncio's
// StreamReader and StreamWriter). Pipes make them (pipe.hpp); sockets and subprocesses too.
#pragma once

#include "eddy/create_task.hpp"
#include "eddy/detail/reactor.hpp"
#include "eddy/detail/sigpipe.hpp"
#include "eddy/detail/stream_writer_state.hpp"
#include "eddy/errors.hpp"
#include "eddy/event.hpp"
#include "eddy/io.hpp"
#include "eddy/task.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unistd.h>
#include <utility>

namespace eddy {

/// Reads bytes from a file descriptor through a buffer (asyncio.StreamReader).
///
/// One read at a time: starting a read while another waits for data throws
/// eddy::invalid_state_error (asyncio raises RuntimeError). Cancelling a read loses no byte:
/// what the kernel delivered stays buffered (or is returned) and the next read gets it.
///
/// Ownership: the reader owns its fd (closed by close() or the destructor) and a buffer that
/// grows to the largest need seen (64 KiB, or limit + 4 KiB, at least; n for read_exactly(n))
/// and never shrinks: no allocation per read in steady state. The read operations are
/// coroutines on this object: it must outlive every read awaiting on it, and must not be moved
/// or destroyed while one is in progress (the kernel may be writing into its buffer): that
/// terminates the process.
class stream_reader {
  public:
    /// asyncio's default limit for read_until and readline: 64 KiB.
    static constexpr std::size_t default_limit = std::size_t{64} * 1024;

    /// A reader without an fd: every read sees end of file.
    stream_reader() noexcept = default;
    /// Takes ownership of `fd` (a pipe's read end, a child's stdout...). `limit` bounds what
    /// read_until and readline search. Throws std::invalid_argument (closing `fd`) if `limit` is
    /// 0. `io` is for eddy's socket layer. Allocates nothing until the first read.
    explicit stream_reader(int fd, std::size_t limit = default_limit, detail::stream_io io = {})
        : fd_(fd), limit_(limit), io_(std::move(io)), eof_(false) {
        if (limit == 0) {
            ::close(fd);
            throw std::invalid_argument("eddy::stream_reader: the limit must be positive");
        }
    }
    stream_reader(const stream_reader&) = delete;
    stream_reader& operator=(const stream_reader&) = delete;
    /// Takes `o`'s fd and buffered bytes; `o` becomes a reader without an fd.
    stream_reader(stream_reader&& o) noexcept { take_from(o); }
    stream_reader& operator=(stream_reader&& o) noexcept {
        if (this != &o) {
            if (busy_) {
                detail::stream_misuse("stream_reader assigned to while a read is in progress");
            }
            close_fd();
            take_from(o);
        }
        return *this;
    }
    /// Closes the fd. Buffered bytes are dropped.
    ~stream_reader() {
        if (busy_) {
            detail::stream_misuse("stream_reader destroyed while a read is in progress");
        }
        close_fd();
    }

    /// The fd read from, or -1 after close() or release() (and for a reader without one).
    [[nodiscard]] int fd() const noexcept { return fd_; }
    /// The bound on read_until and readline.
    [[nodiscard]] std::size_t limit() const noexcept { return limit_; }
    /// Bytes received and not consumed yet.
    [[nodiscard]] std::size_t buffered() const noexcept { return end_ - begin_; }
    /// True when end of file was seen and every buffered byte was consumed (asyncio's at_eof()).
    [[nodiscard]] bool at_eof() const noexcept { return eof_ && begin_ == end_; }

    /// Up to `n` bytes: what is buffered, or else what one kernel read brings. Empty at end of
    /// file (and for n == 0). Throws std::system_error (errno) if the read fails,
    /// eddy::cancelled_error if cancelled before any byte arrived.
    [[nodiscard]] task<std::string> read(std::size_t n) {
        busy_scope busy(*this, "read");
        if (n == 0) {
            co_return std::string();
        }
        if (buffered() == 0 && !eof_) {
            const std::size_t got = co_await fill();
            commit(got);
        }
        co_return take(std::min(n, buffered()));
    }

    /// Every byte until end of file (asyncio's read(-1)). Throws as read(n); a cancellation
    /// drops the bytes gathered so far, as asyncio's does.
    [[nodiscard]] task<std::string> read() {
        busy_scope busy(*this, "read");
        std::string out;
        for (;;) {
            out.append(data(), buffered());
            consume(buffered());
            if (eof_) {
                co_return out;
            }
            const std::size_t got = co_await fill();
            commit(got);
        }
    }

    /// Exactly `n` bytes. Throws eddy::incomplete_read_error at end of file with the bytes
    /// that came (consumed) and `n`; std::system_error and cancelled_error as read(n) (a
    /// cancelled read_exactly consumes nothing). The buffer grows with what arrives, up to n: a
    /// huge n that end of file cuts short allocates only what came.
    [[nodiscard]] task<std::string> read_exactly(std::size_t n) {
        busy_scope busy(*this, "read_exactly");
        if (n == 0) {
            co_return std::string();
        }
        reserve(std::min(n, max_eager_reserve));
        while (buffered() < n) {
            if (eof_) {
                throw incomplete_read_error(take(buffered()), n);
            }
            const std::size_t got = co_await fill();
            commit(got);
        }
        co_return take(n);
    }

    /// The bytes up to and including the first `separator` (asyncio's readuntil). Throws
    /// eddy::limit_overrun_error when the separator does not start within limit() bytes,
    /// consuming nothing (the bytes stay buffered for other reads); eddy::incomplete_read_error
    /// at end of file without a separator, with what was buffered (consumed; nullopt expected);
    /// std::invalid_argument for an empty separator; the rest as read(n). `separator` must stay
    /// valid until the await finishes.
    [[nodiscard]] task<std::string> read_until(std::string_view separator) {
        return until(separator, false, "read_until");
    }

    /// One line, "\n" included (asyncio's readline). At end of file: what remains without a
    /// "\n", or "" when nothing does. Throws eddy::limit_overrun_error, consuming nothing, when
    /// no "\n" starts within limit() bytes (asyncio raises ValueError there and drops the
    /// bytes; eddy keeps them readable); the rest as read(n).
    [[nodiscard]] task<std::string> readline() { return until("\n", true, "readline"); }

    /// Up to `out.size()` bytes into `out`: copied from the buffer if it holds any, else read
    /// by the kernel straight into `out` (no copy). Yields the count, 0 at end of file (or for
    /// an empty `out`). Throws as read(n). `out` must stay valid until the await finishes.
    [[nodiscard]] task<std::size_t> read_some(std::span<std::byte> out) {
        busy_scope busy(*this, "read_some");
        if (out.empty() || (buffered() == 0 && eof_)) {
            co_return std::size_t{0};
        }
        if (buffered() == 0) {
            const std::size_t got = co_await detail::io_awaiter<std::size_t>(
                detail::transfer_op(io_.read, fd_, out.data(), out.size(), io_.read_flags),
                "stream_reader::read_some", io_.subject_or_null());
            eof_ = got == 0;
            co_return got;
        }
        const std::size_t n = std::min(out.size(), buffered());
        std::memcpy(out.data(), buf_.get() + begin_, n);
        consume(n);
        co_return n;
    }

    /// read_some into characters (as eddy::file's reads accept).
    [[nodiscard]] task<std::size_t> read_some(std::span<char> out) {
        return read_some(std::as_writable_bytes(out));
    }

    /// Closes the fd now; buffered bytes stay readable, then reads see end of file. Throws
    /// eddy::invalid_state_error while a read is in progress.
    void close() {
        ensure_idle("close");
        close_fd();
        eof_ = true;
    }
    /// Gives the fd up without closing it (-1 if none); afterwards as close(). Throws as close().
    [[nodiscard]] int release() {
        ensure_idle("release");
        eof_ = true;
        return std::exchange(fd_, -1);
    }

  private:
    class busy_scope {
      public:
        busy_scope(stream_reader& r, const char* what) : r_(r) {
            r.ensure_idle(what);
            r.busy_ = true;
        }
        busy_scope(const busy_scope&) = delete;
        busy_scope& operator=(const busy_scope&) = delete;
        ~busy_scope() { r_.busy_ = false; }

      private:
        stream_reader& r_;
    };

    void ensure_idle(const char* what) const {
        if (busy_) {
            throw invalid_state_error(std::string("eddy::stream_reader::") + what +
                                      ": another read of this stream is in progress");
        }
    }

    [[nodiscard]] task<std::string> until(std::string_view sep, bool partial_at_eof,
                                          const char* what) {
        busy_scope busy(*this, what);
        if (sep.empty()) {
            throw std::invalid_argument("eddy::stream_reader::read_until: empty separator");
        }
        // The buffer grows as the chunk does (fill() doubles a full one), not to the limit up
        // front: a huge limit ("no limit") costs nothing until a line is that long.
        std::size_t offset = 0; // where the separator can start that was not searched yet
        for (;;) {
            const std::size_t len = buffered();
            if (len - offset >= sep.size()) {
                const std::size_t pos = std::string_view(data(), len).find(sep, offset);
                if (pos != std::string_view::npos) {
                    if (pos > limit_) {
                        throw limit_overrun_error("eddy::stream_reader: the separator is found, "
                                                  "but the chunk is longer than the limit",
                                                  pos);
                    }
                    co_return take(pos + sep.size());
                }
                offset = len + 1 - sep.size();
                if (offset > limit_) {
                    throw limit_overrun_error("eddy::stream_reader: the separator is not found, "
                                              "and the chunk exceeds the limit",
                                              offset);
                }
            }
            if (eof_) {
                if (partial_at_eof) {
                    co_return take(buffered());
                }
                throw incomplete_read_error(take(buffered()), std::nullopt);
            }
            const std::size_t got = co_await fill();
            commit(got);
        }
    }

    /// The kernel read that appends to the buffer. The buffer is never reallocated or moved
    /// while it is in flight: only the reader's own (busy) operation touches it.
    [[nodiscard]] detail::io_awaiter<std::size_t> fill() {
        reserve(min_capacity);
        if (end_ == cap_) {
            if (begin_ > 0) {
                std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
                end_ -= begin_;
                begin_ = 0;
            } else {
                reserve(cap_ * 2); // a chunk (a long line, read_exactly) that fills the buffer
            }
        }
        return {detail::transfer_op(io_.read, fd_, buf_.get() + end_, cap_ - end_, io_.read_flags),
                "stream_reader::read", io_.subject_or_null()};
    }
    void commit(std::size_t got) noexcept {
        end_ += got;
        eof_ = got == 0;
    }

    void reserve(std::size_t need) {
        if (cap_ >= need) {
            return;
        }
        const std::size_t cap = round_up(std::max(need, min_capacity));
        auto fresh = std::make_unique_for_overwrite<std::byte[]>(cap);
        if (end_ > begin_) {
            std::memcpy(fresh.get(), buf_.get() + begin_, end_ - begin_);
        }
        end_ -= begin_;
        begin_ = 0;
        buf_ = std::move(fresh);
        cap_ = cap;
    }
    static std::size_t round_up(std::size_t n) noexcept { return (n + 4095) / 4096 * 4096; }

    [[nodiscard]] const char* data() const noexcept {
        return reinterpret_cast<const char*>(buf_.get() + begin_);
    }
    void consume(std::size_t n) noexcept {
        begin_ += n;
        if (begin_ == end_) {
            begin_ = end_ = 0;
        }
    }
    std::string take(std::size_t n) {
        std::string s = n == 0 ? std::string() : std::string(data(), n);
        consume(n);
        return s;
    }

    void close_fd() noexcept {
        if (fd_ >= 0) {
            ::close(std::exchange(fd_, -1));
        }
    }
    void take_from(stream_reader& o) noexcept {
        if (o.busy_) {
            detail::stream_misuse("stream_reader moved while a read is in progress");
        }
        fd_ = std::exchange(o.fd_, -1);
        limit_ = o.limit_;
        io_ = std::move(o.io_);
        buf_ = std::move(o.buf_);
        cap_ = std::exchange(o.cap_, 0);
        begin_ = std::exchange(o.begin_, 0);
        end_ = std::exchange(o.end_, 0);
        eof_ = std::exchange(o.eof_, true);
    }

    int fd_ = -1;
    // The first buffer's size, and the most read_exactly reserves before bytes arrive.
    static constexpr std::size_t min_capacity = std::size_t{64} * 1024;
    static constexpr std::size_t max_eager_reserve = std::size_t{1} << 20;
    std::size_t limit_ = default_limit;
    detail::stream_io io_;
    std::unique_ptr<std::byte[]> buf_;
    std::size_t cap_ = 0;
    std::size_t begin_ = 0; // buffered bytes are [begin_, end_)
    std::size_t end_ = 0;
    bool eof_ = true;
    bool busy_ = false;
};

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
