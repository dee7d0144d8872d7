// eddy — files: open, positioned and sequential reads and writes, fsync, statx and close through
// the ring; read_file and write_file for whole files (what aiofiles gives Python users).
#pragma once

#include "eddy/detail/blocking_workers.hpp"
#include "eddy/detail/c_string.hpp"
#include "eddy/detail/file_ops.hpp"
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
