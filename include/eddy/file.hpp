// eddy — files: open, positioned and sequential reads and writes, fsync, statx and close through
// the ring; read_file and write_file for whole files (what aiofiles gives Python users).
#pragma once

#include "eddy/detail/blocking_workers.hpp"
#include "eddy/detail/c_string.hpp"
#include "eddy/io.hpp"
#include "eddy/loop.hpp"
#include "eddy/task.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <fcntl.h>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace eddy {

/// What `file::stat` and `eddy::stat` report (a subset of struct statx, and all of it in `raw`).
struct file_stat {
    /// Size in bytes (0 for most /proc and /sys files, whatever they hold).
    std::uint64_t size = 0;
    /// st_mode: the file type (S_IFREG, S_IFDIR...) and the permission bits.
    std::uint32_t mode = 0;
    /// Last modification time.
    std::chrono::system_clock::time_point mtime{};
    /// Everything the kernel returned (STATX_BASIC_STATS).
    struct statx raw {};

    /// True for a regular file.
    [[nodiscard]] bool is_regular() const noexcept { return S_ISREG(mode); }
    /// True for a directory.
    [[nodiscard]] bool is_directory() const noexcept { return S_ISDIR(mode); }
};

namespace detail {

[[nodiscard]] inline std::uint32_t clamp_len(std::size_t n) noexcept {
    return static_cast<std::uint32_t>(std::min(n, max_transfer));
}

/// The error eddy's file operations throw: `eddy::<what>("<path>"): <strerror>`, as io_awaiter
/// words it, so the blocking fallback reads the same as the ring.
[[nodiscard]] inline std::system_error file_error(int err, const char* what, const char* path) {
    return {err, std::system_category(), std::string("eddy::") + what + "(\"" + path + "\")"};
}

/// The blocking system call equivalent to `op`: for kernels whose ring lacks the opcode. Runs on
/// the loop thread. Returns the result or a negated errno. The epoll backend's workers run the
/// same implementation.
inline int run_blocking(const io_op& op) noexcept {
    return blocking_workers::perform(op);
}

/// A file operation: through the ring (an io_awaiter, with its cancellation rules) when the
/// kernel has the opcode, else the blocking call at once, without suspending. The io_awaiter is
/// built only when the operation starts, when this awaiter no longer moves, so `op_` may point
/// into the awaiter itself (statx's result).
template <class Result> class [[nodiscard]] file_awaiter {
  public:
    /// `what` and `path` (for error messages) must outlive the await.
    file_awaiter(const io_op& op, const char* what, const char* path) noexcept
        : op_(op), what_(what), path_(path) {}
    file_awaiter(file_awaiter&&) noexcept = default;
    file_awaiter(const file_awaiter&) = delete;
    file_awaiter& operator=(const file_awaiter&) = delete;
    file_awaiter& operator=(file_awaiter&&) = delete;
    ~file_awaiter() = default;

    [[nodiscard]] bool await_ready() {
        if (get_running_loop().io().supports(op_.kind)) {
            return false;
        }
        blocking_ = run_blocking(op_);
        return true;
    }
    bool await_suspend(std::coroutine_handle<> h) {
        io_.emplace(op_, what_, path_);
        return io_->await_suspend(h);
    }
    /// The operation's result; throws as io_awaiter does (std::system_error naming the path,
    /// eddy::cancelled_error).
    Result await_resume() {
        if (io_) {
            return io_->await_resume();
        }
        if (blocking_ < 0) {
            throw file_error(-blocking_, what_, path_);
        }
        if constexpr (!std::is_void_v<Result>) {
            return static_cast<Result>(blocking_);
        }
    }

  protected:
    io_op op_;
    const char* what_;
    const char* path_;

  private:
    int blocking_ = 0;
    std::optional<io_awaiter<Result>> io_;
};

/// statx into a buffer of its own, yielding a file_stat. Owns the path it looks up: the free
/// eddy::stat names that path in errors; a file's stat looks up "" with AT_EMPTY_PATH on the fd
/// and names the file's path.
class [[nodiscard]] stat_awaiter : file_awaiter<void> {
  public:
    /// `subject` (null: the looked-up path itself) and `what` must outlive the await.
    stat_awaiter(int dirfd, std::string lookup, unsigned at_flags, const char* subject,
                 const char* what) noexcept
        : file_awaiter<void>(make_op(dirfd, at_flags), what, subject), lookup_(std::move(lookup)) {}
    stat_awaiter(stat_awaiter&&) noexcept = default;

    [[nodiscard]] bool await_ready() {
        reject_embedded_nul(lookup_, what_);
        // Pointers into this awaiter are taken now: it does not move once awaited.
        op_.buf = lookup_.data();
        op_.buf2 = &sx_;
        if (path_ == nullptr) {
            path_ = lookup_.c_str();
        }
        return file_awaiter<void>::await_ready();
    }
    using file_awaiter<void>::await_suspend;
    /// The file's size, mode, mtime and raw statx. Throws std::system_error naming the path,
    /// eddy::cancelled_error.
    file_stat await_resume() {
        file_awaiter<void>::await_resume();
        file_stat st;
        st.size = sx_.stx_size;
        st.mode = sx_.stx_mode;
        st.mtime = std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                std::chrono::seconds(sx_.stx_mtime.tv_sec) +
                std::chrono::nanoseconds(sx_.stx_mtime.tv_nsec)));
        st.raw = sx_;
        return st;
    }

  private:
    static io_op make_op(int dirfd, unsigned at_flags) noexcept {
        io_op op;
        op.kind = op_kind::statx;
        op.fd = dirfd;
        op.flags = at_flags;
        op.len = STATX_BASIC_STATS;
        return op;
    }

    std::string lookup_;
    struct statx sx_ {};
};

/// close(2) through the ring. Not cancellable: a close is quick, and a cancelled one would
/// leave it unknown whether the fd is still open. A cancellation that arrives meanwhile is
/// delivered at the task's next suspension. The file gives up its fd when the close starts.
class [[nodiscard]] close_awaiter : suspension {
  public:
    /// `fd` (the file's) and `path` must outlive the await; awaited at once, they do.
    close_awaiter(int& fd, const char* path) noexcept : fd_(&fd), path_(path) {}
    close_awaiter(close_awaiter&& o) noexcept : suspension(), fd_(o.fd_), path_(o.path_) {}
    close_awaiter(const close_awaiter&) = delete;
    close_awaiter& operator=(const close_awaiter&) = delete;
    close_awaiter& operator=(close_awaiter&&) = delete;
    ~close_awaiter() {
        if (op_.in_flight) {
            std::terminate(); // unreachable: the loop drains operations before frames go
        }
    }

    [[nodiscard]] bool await_ready() {
        if (*fd_ < 0) {
            return true; // closed already: a no-op
        }
        if (!get_running_loop().io().supports(op_kind::close)) {
            op_.fd = std::exchange(*fd_, -1);
            op_.kind = op_kind::close;
            op_.result = run_blocking(op_);
            return true;
        }
        return false;
    }
    bool await_suspend(std::coroutine_handle<> h) {
        arm(h, &refuse_cancel);
        op_.kind = op_kind::close;
        op_.fd = *fd_;
        op_.complete = &on_complete;
        op_.owner = this;
        try {
            loop_->io().submit(op_);
        } catch (...) {
            disarm(); // the file keeps its fd: its destructor closes it
            throw;
        }
        *fd_ = -1;
        deliver_pending_cancel();
        return true;
    }
    /// Throws std::system_error naming the path when close(2) reports an error (the fd is
    /// closed all the same, as Linux's close always does).
    void await_resume() {
        finish_wait();
        if (op_.result < 0) {
            throw file_error(-op_.result, "file::close", path_);
        }
    }

  private:
    static void on_complete(io_op* op) noexcept { static_cast<close_awaiter*>(op->owner)->wake(); }
    static bool refuse_cancel(cancel_hook*, bool) noexcept { return false; }

    int* fd_;
    const char* path_;
    io_op op_;
};

/// open(2) flags for a Python mode string: one of r w a x, optionally '+', optionally 'b'
/// (ignored: there is no text mode). Throws std::invalid_argument for anything else.
[[nodiscard]] inline int open_flags(std::string_view mode) {
    int kinds = 0;
    int plus = 0;
    int binary = 0;
    int flags = 0;
    for (const char c : mode) {
        switch (c) {
        case 'r':
            ++kinds;
            break;
        case 'w':
            ++kinds;
            flags = O_CREAT | O_TRUNC;
            break;
        case 'a':
            ++kinds;
            flags = O_CREAT | O_APPEND;
            break;
        case 'x':
            ++kinds;
            flags = O_CREAT | O_EXCL;
            break;
        case '+':
            ++plus;
            break;
        case 'b':
            ++binary;
            break;
        default:
            kinds = 99;
        }
    }
    if (kinds != 1 || plus > 1 || binary > 1) {
        throw std::invalid_argument("eddy::file::open: invalid mode \"" + std::string(mode) +
                                    "\" (expected r, w, a or x, then optionally + and b)");
    }
    const bool reads = mode.find('r') != std::string_view::npos;
    return flags | (plus != 0 ? O_RDWR : reads ? O_RDONLY : O_WRONLY);
}

} // namespace detail

/// An open file: a move-only owner of a file descriptor and the path it was opened with (which
/// every error message names). Its operations go through the loop's io_uring ring; on kernels
/// whose ring lacks an opcode (openat, statx... before 5.6) that operation runs as the blocking
/// system call on the loop thread instead.
///
/// Every awaiter it returns points at this object: the file must stay alive, unmoved and open
/// while its operations run. Buffers passed to an operation must stay valid until it finishes;
/// awaiting the call directly does that.
///
/// Close it with `co_await f.close()`; a file destroyed (or assigned to) while still open is
/// closed synchronously with ::close(2), whose errors are then lost.
class file {
  public:
    /// A closed file.
    file() noexcept = default;
    /// Takes ownership of `fd` (closed by this object); `path` is used in error messages.
    explicit file(int fd, std::string path = {}) noexcept : fd_(fd), path_(std::move(path)) {}
    file(file&& o) noexcept : fd_(std::exchange(o.fd_, -1)), path_(std::move(o.path_)) {}
    /// Closes this file synchronously if open, then takes `o`'s.
    file& operator=(file&& o) noexcept {
        if (this != &o) {
            close_now();
            fd_ = std::exchange(o.fd_, -1);
            path_ = std::move(o.path_);
        }
        return *this;
    }
    file(const file&) = delete;
    file& operator=(const file&) = delete;
    /// Closes the fd with ::close(2) if still open (blocking, errors ignored).
    ~file() { close_now(); }

    /// Opens `path` with a Python mode: "r" (read), "w" (truncate or create), "a" (append,
    /// create), "x" (create, fails with EEXIST if it exists), each optionally with "+" (read and
    /// write) and "b" (ignored). Files are created with permissions 0666 & ~umask, always with
    /// O_CLOEXEC. Throws std::invalid_argument for a bad mode at once (before any await); the
    /// await throws std::invalid_argument for a path holding a NUL byte, std::system_error
    /// naming the path (ENOENT, EACCES...), cancelled_error. An
    /// open whose completion raced its cancellation still yields the file (nothing leaks) and
    /// the cancellation comes at the next suspension.
    [[nodiscard]] static task<file> open(std::string path, std::string_view mode = "r") {
        return open(std::move(path), detail::open_flags(mode), 0666);
    }
    /// Opens `path` with raw open(2) `flags` (O_RDONLY, O_WRONLY | O_CREAT...) and `perms` for a
    /// created file; O_CLOEXEC is always added. Throws as the mode-string form.
    [[nodiscard]] static task<file> open(std::string path, int flags, ::mode_t perms = 0666) {
        detail::reject_embedded_nul(path, "file::open");
        detail::io_op op;
        op.kind = detail::op_kind::openat;
        op.fd = AT_FDCWD;
        op.buf = path.data();
        op.flags = static_cast<std::uint32_t>(flags | O_CLOEXEC);
        op.len = perms;
        const int fd = co_await detail::file_awaiter<int>(op, "file::open", path.c_str());
        co_return file(fd, std::move(path));
    }

    /// True while the file holds an fd.
    [[nodiscard]] bool is_open() const noexcept { return fd_ >= 0; }
    /// The fd (-1 when closed); still owned by this object.
    [[nodiscard]] int fd() const noexcept { return fd_; }
    /// The path the file was opened with.
    [[nodiscard]] const std::string& path() const noexcept { return path_; }
    /// Gives up ownership: returns the fd (the caller closes it) and leaves this file closed.
    [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }

    /// Reads up to `buf.size()` bytes at `offset` (at most 1 GiB per call: io_uring takes a
    /// 32-bit length). Yields the count, possibly short; 0 at or past the end of the file.
    /// Throws std::system_error naming the path (EBADF on a file not opened for reading or
    /// closed), cancelled_error if cancelled before the kernel read anything.
    [[nodiscard]] detail::file_awaiter<std::size_t> read_at(std::span<std::byte> buf,
                                                            std::uint64_t offset) const noexcept {
        return rw(detail::op_kind::read, buf.data(), buf.size(), offset, "file::read_at");
    }
    /// read_at into characters (a std::string's or a char array's storage).
    [[nodiscard]] detail::file_awaiter<std::size_t> read_at(std::span<char> buf,
                                                            std::uint64_t offset) const noexcept {
        return read_at(std::as_writable_bytes(buf), offset);
    }
    /// Writes up to `data.size()` bytes at `offset` (at most 1 GiB per call). Yields the count
    /// written, possibly short. On a file opened in append mode Linux appends whatever
    /// `offset` says. Throws as read_at (EBADF on a file opened read-only).
    [[nodiscard]] detail::file_awaiter<std::size_t> write_at(std::span<const std::byte> data,
                                                             std::uint64_t offset) const noexcept {
        // NOLINTNEXTLINE(cppcoreguidelines-pro-type-const-cast): the kernel only reads it
        return rw(detail::op_kind::write, const_cast<std::byte*>(data.data()), data.size(), offset,
                  "file::write_at");
    }
    /// write_at of characters.
    [[nodiscard]] detail::file_awaiter<std::size_t> write_at(std::string_view data,
                                                             std::uint64_t offset) const noexcept {
        return write_at(std::as_bytes(std::span(data.data(), data.size())), offset);
    }
    /// Reads at the file position and advances it (read(2)). As read_at otherwise.
    [[nodiscard]] detail::file_awaiter<std::size_t>
    read_some(std::span<std::byte> buf) const noexcept {
        return rw(detail::op_kind::read, buf.data(), buf.size(), current_position,
                  "file::read_some");
    }
    /// read_some into characters.
    [[nodiscard]] detail::file_awaiter<std::size_t> read_some(std::span<char> buf) const noexcept {
        return read_some(std::as_writable_bytes(buf));
    }
    /// Writes at the file position (the end in append mode) and advances it (write(2)). As
    /// write_at otherwise.
    [[nodiscard]] detail::file_awaiter<std::size_t>
    write_some(std::span<const std::byte> data) const noexcept {
        // NOLINTNEXTLINE(cppcoreguidelines-pro-type-const-cast): the kernel only reads it
        return rw(detail::op_kind::write, const_cast<std::byte*>(data.data()), data.size(),
                  current_position, "file::write_some");
    }
    /// write_some of characters.
    [[nodiscard]] detail::file_awaiter<std::size_t>
    write_some(std::string_view data) const noexcept {
        return write_some(std::as_bytes(std::span(data.data(), data.size())));
    }

    /// Writes all of `data` at the file position, as many writes as it takes. Throws as
    /// write_some; after a failure or a cancellation some of the data may have been written.
    [[nodiscard]] task<void> write_all(std::span<const std::byte> data) const {
        return write_all_at(data, current_position);
    }
    /// write_all of characters.
    [[nodiscard]] task<void> write_all(std::string_view data) const {
        return write_all_at(std::as_bytes(std::span(data.data(), data.size())), current_position);
    }
    /// Writes all of `data` starting at `offset` (eddy::current_position: at the file
    /// position). Throws as write_all.
    [[nodiscard]] task<void> write_all_at(std::span<const std::byte> data,
                                          std::uint64_t offset) const {
        while (!data.empty()) {
            const std::size_t n = co_await rw(detail::op_kind::write,
                                              const_cast<std::byte*>(data.data()), // NOLINT
                                              data.size(), offset, "file::write_all");
            if (n == 0) { // cannot happen for a non-empty write; never loop forever on it
                throw detail::file_error(EIO, "file::write_all", path_.c_str());
            }
            data = data.subspan(n);
            if (offset != current_position) {
                offset += n;
            }
        }
    }

    /// Flushes the file's data and metadata to the device (fsync(2)). Throws std::system_error
    /// naming the path, cancelled_error.
    [[nodiscard]] detail::file_awaiter<void> fsync() const noexcept {
        return sync(0, "file::fsync");
    }
    /// Flushes the data, and only the metadata needed to read it back (fdatasync(2)).
    [[nodiscard]] detail::file_awaiter<void> fdatasync() const noexcept {
        return sync(IORING_FSYNC_DATASYNC, "file::fdatasync");
    }
    /// The file's size, mode and modification time (statx on the fd). Throws std::system_error
    /// naming the path, cancelled_error.
    [[nodiscard]] detail::stat_awaiter stat() const noexcept {
        return {fd_, std::string(), AT_EMPTY_PATH, path_.c_str(), "file::stat"};
    }

    /// Closes the file through the ring; it is closed from the moment the close starts. Closing
    /// a closed file does nothing. Throws std::system_error naming the path if close(2)
    /// reports an error (the fd is closed anyway). Not cancellable (see close_awaiter): a
    /// cancellation meanwhile lands at the next suspension.
    [[nodiscard]] detail::close_awaiter close() noexcept { return {fd_, path_.c_str()}; }

  private:
    [[nodiscard]] detail::file_awaiter<std::size_t> rw(detail::op_kind kind, void* buf,
                                                       std::size_t n, std::uint64_t offset,
                                                       const char* what) const noexcept {
        detail::io_op op;
        op.kind = kind;
        op.fd = fd_;
        op.buf = buf;
        op.len = detail::clamp_len(n);
        op.offset = offset;
        return {op, what, path_.c_str()};
    }
    [[nodiscard]] detail::file_awaiter<void> sync(std::uint32_t flags,
                                                  const char* what) const noexcept {
        detail::io_op op;
        op.kind = detail::op_kind::fsync;
        op.fd = fd_;
        op.flags = flags;
        return {op, what, path_.c_str()};
    }
    void close_now() noexcept {
        if (fd_ >= 0) {
            ::close(std::exchange(fd_, -1));
        }
    }

    int fd_ = -1;
    std::string path_;
};

/// The size, mode and modification time of `path` (statx, following symlinks). Throws
/// std::system_error naming the path (ENOENT...), cancelled_error; std::invalid_argument for a
/// path holding a NUL byte.
[[nodiscard]] inline detail::stat_awaiter stat(std::string path) noexcept {
    return {AT_FDCWD, std::move(path), 0, nullptr, "stat"};
}

/// The whole content of `path` (aiofiles' `await f.read()`). Reads until end of file, so files
/// whose size statx reports as 0 (/proc, /sys) come out whole. Throws std::system_error naming
/// the path, cancelled_error; std::invalid_argument for a path holding a NUL byte.
[[nodiscard]] inline task<std::string> read_file(std::string path) {
    file f = co_await file::open(std::move(path), O_RDONLY);
    const file_stat st = co_await f.stat();
    // One byte more than the size, so a file read whole takes one read and one 0-byte read.
    std::string out(std::max<std::size_t>(static_cast<std::size_t>(st.size) + 1, 4096), '\0');
    std::size_t len = 0;
    for (;;) {
        if (len == out.size()) {
            out.resize(out.size() * 2);
        }
        const std::size_t n = co_await f.read_at(std::span(out).subspan(len), len);
        if (n == 0) {
            break;
        }
        len += n;
    }
    out.resize(len);
    co_await f.close();
    co_return out;
}

/// Replaces the content of `path` with `data` (creating it with permissions 0666 & ~umask),
/// then closes it through the ring. `data` must stay valid until the await finishes (awaiting
/// the call directly does that). Throws std::system_error naming the path, cancelled_error,
/// std::invalid_argument for a path holding a NUL byte; a failure can leave the file partly
/// written.
[[nodiscard]] inline task<void> write_file(std::string path, std::span<const std::byte> data) {
    file f = co_await file::open(std::move(path), O_WRONLY | O_CREAT | O_TRUNC);
    co_await f.write_all_at(data, 0);
    co_await f.close();
}

/// write_file of characters.
[[nodiscard]] inline task<void> write_file(std::string path, std::string_view data) {
    return write_file(std::move(path), std::as_bytes(std::span(data.data(), data.size())));
}

} // namespace eddy
