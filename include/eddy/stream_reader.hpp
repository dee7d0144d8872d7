// eddy — stream_reader: buffered reads from a file descriptor (asyncio's StreamReader). Pipes
// make them (pipe.hpp); sockets and subprocesses too.
#pragma once

#include "eddy/detail/reactor.hpp"
#include "eddy/detail/stream_io.hpp"
#include "eddy/errors.hpp"
#include "eddy/io.hpp"
#include "eddy/task.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
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

} // namespace eddy
