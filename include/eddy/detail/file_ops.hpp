// eddy — the operations behind eddy::file (file.hpp): the ring or, on kernels without the
// opcode, the blocking call; close; Python's open modes.
#pragma once

#include "eddy/detail/blocking_workers.hpp"
#include "eddy/io.hpp"
#include "eddy/loop.hpp"

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <fcntl.h>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace eddy::detail {

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

} // namespace eddy::detail
