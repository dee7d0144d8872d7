// eddy — worker threads that run io_ops as blocking syscalls (the epoll backend's file I/O).
#pragma once

#include "eddy/detail/reactor.hpp"
#include "eddy/thread_pool.hpp"

#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <fcntl.h>
#include <liburing.h>
#include <linux/stat.h>
#include <mutex>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <system_error>
#include <thread>
#include <unistd.h>
#include <vector>

namespace eddy::detail {

/// Runs operations epoll cannot wait for (regular files, opens, fsync, statx) on up to
/// `max_threads` threads, started on demand with every signal blocked. A finished operation is
/// handed back through a list and an eventfd the backend polls: the loop thread, not a worker,
/// calls its `complete`. Operations are linked through io_op::link, so nothing is allocated
/// per operation. A started operation cannot be cancelled; it completes with its real result.
class blocking_workers {
  public:
    explicit blocking_workers(unsigned max_threads = 4) : max_(max_threads) {
        fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd_ < 0) {
            throw std::system_error(errno, std::system_category(), "eddy: eventfd");
        }
    }
    blocking_workers(const blocking_workers&) = delete;
    blocking_workers& operator=(const blocking_workers&) = delete;
    /// Joins the threads. The backend only goes once nothing is in flight, so the queue is empty.
    ~blocking_workers() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        work_ready_.notify_all();
        for (std::thread& t : threads_) {
            t.join();
        }
        ::close(fd_);
    }

    /// Readable when finished operations wait in `take_finished`.
    [[nodiscard]] int fd() const noexcept { return fd_; }

    /// Queues `op`. Throws std::system_error when no thread exists and none can start.
    void run(io_op& op) {
        std::unique_lock lock(mutex_);
        if (queued_ >= idle_ && threads_.size() < max_) {
            try {
                start_thread();
            } catch (...) {
                if (threads_.empty()) {
                    throw;
                }
            }
        }
        op.link = nullptr;
        (work_tail_ != nullptr ? work_tail_->link : work_head_) = &op;
        work_tail_ = &op;
        ++queued_;
        lock.unlock();
        work_ready_.notify_one();
    }

    /// The operations finished since the last call, oldest first (linked through `link`).
    [[nodiscard]] io_op* take_finished() noexcept {
        std::uint64_t count = 0;
        (void)::read(fd_, &count, sizeof count);
        std::lock_guard lock(mutex_);
        io_op* head = done_head_;
        done_head_ = done_tail_ = nullptr;
        return head;
    }

    /// Does what `op` asks as a blocking call; the kernel's result (-errno on failure). The one
    /// blocking implementation of the file operations: the epoll backend's workers and the
    /// ring's missing-opcode fallback (detail::run_blocking) both call it.
    static int perform(const io_op& op) noexcept {
        return perform(op, op.offset == static_cast<std::uint64_t>(-1));
    }

  private:
    static int perform(const io_op& op, bool at_position) noexcept {
        const auto offset = static_cast<off_t>(op.offset);
        long rc = 0;
        do {
            switch (op.kind) {
            case op_kind::read:
                rc = at_position ? ::read(op.fd, op.buf, op.len)
                                 : ::pread(op.fd, op.buf, op.len, offset);
                break;
            case op_kind::write:
                rc = at_position ? ::write(op.fd, op.buf, op.len)
                                 : ::pwrite(op.fd, op.buf, op.len, offset);
                break;
            case op_kind::openat:
                rc = ::openat(op.fd, static_cast<const char*>(op.buf), static_cast<int>(op.flags),
                              static_cast<mode_t>(op.len));
                break;
            case op_kind::close:
                // Linux frees the descriptor even when close fails with EINTR: never retried.
                return ::close(op.fd) == 0 || errno == EINTR ? 0 : -errno;
            case op_kind::fsync:
                rc = (op.flags & IORING_FSYNC_DATASYNC) != 0 ? ::fdatasync(op.fd) : ::fsync(op.fd);
                break;
            case op_kind::statx:
                rc = ::statx(op.fd, static_cast<const char*>(op.buf), static_cast<int>(op.flags),
                             op.len, static_cast<struct statx*>(op.buf2));
                break;
            default:
                return -EOPNOTSUPP;
            }
        } while (rc < 0 && errno == EINTR);
        if (rc < 0 && errno == ESPIPE && !at_position &&
            (op.kind == op_kind::read || op.kind == op_kind::write)) {
            // A pipe, FIFO or terminal has no position: io_uring ignores the offset there and
            // reads or writes the stream; so does this (as the epoll reactor does).
            return perform(op, true);
        }
        return rc < 0 ? -errno : static_cast<int>(rc);
    }

    void start_thread() {
        threads_.reserve(threads_.size() + 1); // the push below cannot throw
        threads_.push_back(start_signal_blocked_thread([this] { work(); }));
        ++idle_;
    }

    void work() noexcept {
        std::unique_lock lock(mutex_);
        for (;;) {
            work_ready_.wait(lock, [this] { return stopping_ || work_head_ != nullptr; });
            if (work_head_ == nullptr) {
                return; // stopping, and nothing left
            }
            io_op* op = work_head_;
            work_head_ = op->link;
            if (work_head_ == nullptr) {
                work_tail_ = nullptr;
            }
            --queued_;
            --idle_;
            lock.unlock();
            op->result = perform(*op);
            lock.lock();
            ++idle_;
            op->link = nullptr;
            const bool was_empty = done_head_ == nullptr;
            (done_tail_ != nullptr ? done_tail_->link : done_head_) = op;
            done_tail_ = op;
            if (was_empty) {
                // Only the first of a batch wakes the loop; it takes the whole list.
                const std::uint64_t one = 1;
                (void)::write(fd_, &one, sizeof one);
            }
        }
    }

    std::mutex mutex_;
    std::condition_variable work_ready_;
    std::vector<std::thread> threads_;
    io_op* work_head_ = nullptr;
    io_op* work_tail_ = nullptr;
    io_op* done_head_ = nullptr;
    io_op* done_tail_ = nullptr;
    std::size_t queued_ = 0;
    std::size_t idle_ = 0;
    unsigned max_;
    int fd_ = -1;
    bool stopping_ = false;
};

} // namespace eddy::detail
