// eddy — a stream_writer's state, shared with its background send.
#pragma once

#include "eddy/create_task.hpp"
#include "eddy/detail/reactor.hpp"
#include "eddy/detail/stream_io.hpp"
#include "eddy/errors.hpp"
#include "eddy/event.hpp"
#include "eddy/io.hpp"
#include "eddy/task.hpp"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <sys/socket.h>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace eddy::detail {

/// A new writer's flow-control marks (stream_writer::default_high_water and default_low_water):
/// asyncio's 64 KiB, and a quarter of it.
inline constexpr std::size_t writer_high_water = std::size_t{64} * 1024;
inline constexpr std::size_t writer_low_water = writer_high_water / 4;

/// A stream_writer's state, allocated once per writer and shared (reference counted) by the
/// writer, its background send task and any drain/wait_closed in progress. The send task's
/// kernel write points into `inflight_`, so the state outlives the writer when the writer is
/// destroyed during a send: it goes when the send task has seen its write's completion.
///
/// Two buffers so that write() never reallocates memory the kernel is reading: write() appends
/// to `pending_`; the send task swaps it into `inflight_` when `inflight_` is fully sent. Both
/// keep their capacity, so a writer in steady state allocates nothing.
struct writer_state {
    writer_state(int fd, stream_io io) : fd_(fd), io_(std::move(io)) { writable_.set(); }
    writer_state(const writer_state&) = delete;
    writer_state& operator=(const writer_state&) = delete;
    ~writer_state() {
        if (!fd_closed_ && fd_ >= 0) {
            ::close(fd_); // a socket half-closed by write_eof() (see close_fd)
        }
    }

    [[nodiscard]] std::size_t size() const noexcept {
        return pending_.size() + inflight_.size() - sent_;
    }
    void add_ref() noexcept { ++refs_; }
    void release() noexcept {
        if (--refs_ == 0) {
            delete this;
        }
    }

    /// asyncio's _maybe_pause_protocol: over the high-water mark, drain() starts waiting.
    void maybe_pause() noexcept {
        if (!paused_ && size() > high_) {
            paused_ = true;
            writable_.clear();
        }
    }
    /// asyncio's _maybe_resume_protocol: down to the low-water mark, drain() returns.
    void update_flow() noexcept {
        if (paused_ && size() <= low_) {
            paused_ = false;
            writable_.set();
        }
    }
    /// Forgets every unsent byte. Only while no kernel write is in flight.
    void drop() noexcept {
        pending_.clear();
        inflight_.clear();
        sent_ = 0;
        paused_ = false;
        writable_.set();
    }
    void close_fd() noexcept {
        if (!fd_closed_) {
            if (fd_ >= 0 && io_.socket && eof_ && !closing_) {
                // write_eof(): the peer sees end of file now, and the reader still holds the
                // connection. The fd stays open, so that a later close() or abort() can still
                // shut the connection down for this side's reader too (asyncio closes the
                // socket then); the state's destructor closes it otherwise.
                if (!half_closed_) {
                    half_closed_ = true;
                    (void)::shutdown(fd_, SHUT_WR);
                }
            } else {
                fd_closed_ = true;
                if (fd_ >= 0) {
                    if (io_.socket) {
                        // close() or abort(): the peer and this side's reader see end of file.
                        (void)::shutdown(fd_, SHUT_RDWR);
                    }
                    ::close(fd_);
                }
            }
        }
        paused_ = false;
        writable_.set();
        closed_.set();
    }
    static std::exception_ptr shutdown_error() noexcept {
        return std::make_exception_ptr(
            std::system_error(ECANCELED, std::system_category(),
                              "eddy::stream_writer: the send was cancelled (the loop shut down)"));
    }
    /// The send task's clean-up: the send is over; a failure closes the writer, and so does an
    /// abort, a close() or a write_eof() (the buffer is flushed: nothing remains to send).
    void send_ended(std::exception_ptr failure) noexcept {
        sending_ = false;
        in_kernel_ = false;
        sender_ = nullptr;
        if (failure) {
            fail(std::move(failure));
        } else if (aborted_ || closing_ || eof_) {
            drop();
            close_fd();
        }
    }
    /// A send failed: the writer is closed (asyncio's _fatal_error → connection_lost(exc)).
    void fail(std::exception_ptr e) noexcept {
        if (!error_) {
            error_ = std::move(e);
        }
        closing_ = true;
        drop();
        close_fd();
    }

    int fd_;
    stream_io io_;
    std::string pending_;
    std::string inflight_;
    std::size_t sent_ = 0; // bytes of inflight_ the kernel has taken
    std::size_t high_ = writer_high_water;
    std::size_t low_ = writer_low_water;
    std::exception_ptr error_;
    // The send task; used only while it waits in the kernel (it cannot be gone then). No
    // handle is kept: the task's frame must go when it ends, which is what ends its send.
    task_base* sender_ = nullptr;
    event writable_;         // set while not paused: drain() returns
    event closed_;           // set once the fd is closed
    unsigned refs_ = 1;      // the writer's
    bool sending_ = false;   // a send task exists and has not ended
    bool in_kernel_ = false; // the send task waits for a kernel write
    bool paused_ = false;
    bool eof_ = false;     // write_eof() called
    bool closing_ = false; // close() or abort() called, or a send failed
    bool aborted_ = false;
    bool fd_closed_ = false;
    bool half_closed_ = false; // a socket's write side shut down by write_eof(), fd still open
};

/// One counted reference to a writer_state (held by the coroutines that use it).
class writer_ref {
  public:
    explicit writer_ref(writer_state* s) noexcept : s_(s) { s_->add_ref(); }
    writer_ref(const writer_ref& o) noexcept : s_(o.s_) {
        if (s_ != nullptr) {
            s_->add_ref();
        }
    }
    writer_ref(writer_ref&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    writer_ref& operator=(const writer_ref&) = delete;
    writer_ref& operator=(writer_ref&&) = delete;
    ~writer_ref() {
        if (s_ != nullptr) {
            s_->release();
        }
    }
    writer_state* operator->() const noexcept { return s_; }

  private:
    writer_state* s_;
};

/// The send task's reference to its state, in the task's frame. If the task ends without
/// running its body to the end (the loop's shutdown cancelled it before its first step: such a
/// task never runs, as in asyncio), the frame's destruction does the task's clean-up.
class sender_ref {
  public:
    explicit sender_ref(writer_state* s) noexcept : s_(s) { s_->add_ref(); }
    sender_ref(sender_ref&& o) noexcept : s_(std::exchange(o.s_, nullptr)), ended_(o.ended_) {}
    sender_ref(const sender_ref&) = delete;
    sender_ref& operator=(const sender_ref&) = delete;
    sender_ref& operator=(sender_ref&&) = delete;
    ~sender_ref() {
        if (s_ != nullptr) {
            // sending_ is false when create_task failed: no task ever existed to clean up for.
            if (!ended_ && s_->sending_) {
                s_->send_ended(s_->aborted_ ? nullptr : writer_state::shutdown_error());
            }
            s_->release();
        }
    }
    writer_state* operator->() const noexcept { return s_; }
    /// The body's own end.
    void end(std::exception_ptr failure) noexcept {
        ended_ = true;
        s_->send_ended(std::move(failure));
    }

  private:
    writer_state* s_;
    bool ended_ = false;
};

/// The background send: writes the buffers out until they are empty, then ends (write()
/// starts a new one). Never fails: errors are stored in the state for write, drain and
/// wait_closed. Being a task, it is cancelled with the others when the loop shuts down, and
/// its kernel write with it: a send blocked on a pipe nobody reads cannot hang the shutdown.
inline task<> send_loop(sender_ref s) {
    std::exception_ptr failure;
    try {
        while (!s->aborted_) {
            if (s->sent_ == s->inflight_.size()) {
                s->inflight_.clear();
                s->sent_ = 0;
                if (s->pending_.empty()) {
                    break;
                }
                std::swap(s->inflight_, s->pending_);
            }
            s->in_kernel_ = true;
            const std::size_t n = co_await io_awaiter<std::size_t>(
                transfer_op(s->io_.write, s->fd_, s->inflight_.data() + s->sent_,
                            s->inflight_.size() - s->sent_, s->io_.write_flags,
                            s->io_.writes_may_block),
                "stream_writer::write", s->io_.subject_or_null());
            s->in_kernel_ = false;
            s->sent_ += n;
            s->update_flow();
        }
    } catch (const cancelled_error&) {
        // Only abort() (while a write is in the kernel) and the loop's shutdown cancel this task.
        if (!s->aborted_) {
            failure = writer_state::shutdown_error();
        }
    } catch (...) {
        failure = std::current_exception();
    }
    s.end(std::move(failure));
}

inline task<> drain(writer_ref s) {
    for (;;) {
        if (s->error_) {
            std::rethrow_exception(s->error_);
        }
        if (!s->paused_) {
            co_return;
        }
        co_await s->writable_.wait();
    }
}

inline task<> wait_closed(writer_ref s) {
    co_await s->closed_.wait();
    if (s->error_) {
        std::rethrow_exception(s->error_);
    }
}

} // namespace eddy::detail
