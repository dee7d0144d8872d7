// eddy — the epoll backend, for where io_uring cannot run (seccomp, sysctl, old kernels).
#pragma once

#include "eddy/detail/blocking_workers.hpp"
#include "eddy/detail/faults.hpp"
#include "eddy/detail/reactor.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <memory>
#include <optional>
#include <poll.h>
#include <sys/epoll.h>
#include <system_error>
#include <unistd.h>
#include <vector>

namespace eddy::detail {

/// Emulates eddy's completion-based operations with readiness. A submitted operation is tried
/// at the next `poll` as a non-blocking call; if it would block it waits on its fd (FIFO per
/// fd) and is tried again when epoll reports the fd ready. The fds keep their own blocking
/// mode: eddy never sets O_NONBLOCK on them (an fd is shared with io_uring code and with other
/// processes); each call is made non-blocking on its own (RWF_NOWAIT, MSG_DONTWAIT), except
/// accept and connect, which switch O_NONBLOCK on for the call only. Regular files cannot be
/// waited for: their reads and writes, opens, fsyncs and statx run on worker threads.
///
/// Registration is one-shot and level-triggered, re-armed with the waiters' events after each
/// report, so an fd closed and reused by another file never leaves a stale registration that
/// eddy trusts: a failed MOD becomes an ADD, and a spurious report (a stale registration of a
/// closed fd whose file lives on in a dup fires once for the fd number's new file) only makes a
/// call that finds EAGAIN and waits again. A poll operation has no such call, so it asks the
/// fd itself with poll(2) before it reports readiness.
class epoll_reactor final : public reactor {
  public:
    /// Throws std::system_error when epoll or its eventfd cannot be made.
    epoll_reactor() {
        epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
        if (epfd_ < 0) {
            throw std::system_error(errno, std::system_category(), "eddy: epoll_create1");
        }
        try {
            workers_ = std::make_unique<blocking_workers>();
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u64 = workers_key;
            if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, workers_->fd(), &ev) != 0) {
                throw std::system_error(errno, std::system_category(), "eddy: epoll_ctl");
            }
        } catch (...) {
            ::close(epfd_);
            throw;
        }
    }
    ~epoll_reactor() override {
        workers_.reset();
        ::close(epfd_);
    }

    [[nodiscard]] const char* name() const noexcept override { return "epoll"; }

    void submit(io_op& op) override {
        op.backend_state = pending;
        op.backend_flags = 0;
        op.in_flight = true;
        ++in_flight_;
        append(pending_, op);
    }

    void cancel(io_op& op) override {
        if (!op.in_flight) {
            return;
        }
        op.backend_flags |= flag_cancelled;
        if (op.backend_state == waiting && unlink_waiter(op)) {
            op.result = -ECANCELED;
            op.backend_state = done;
            append(done_, op);
        }
        // pending: completes with ECANCELED when taken; running (on a worker, or being tried
        // right now): its real result arrives; done: already has its result.
    }

    void poll(std::optional<std::int64_t> timeout_ns) override {
        run_pending();
        dispatch_done();
        arm_dirty();
        if (progressed_) {
            timeout_ns = 0; // completions are waiting for the loop: do not sleep
        }
        progressed_ = false;
        const int n = wait(timeout_ns);
        for (int i = 0; i < n; ++i) {
            const epoll_event& ev = events_[static_cast<std::size_t>(i)];
            if (ev.data.u64 == workers_key) {
                for (io_op* op = workers_->take_finished(); op != nullptr;) {
                    io_op* next = op->link;
                    finish(*op, op->result);
                    op = next;
                }
            } else {
                on_ready(static_cast<int>(ev.data.u64), ev.events);
            }
        }
        dispatch_done();
        progressed_ = false;
    }

    [[nodiscard]] bool supports(op_kind kind) const noexcept override {
        return kind != op_kind::waitid; // a pidfd is polled instead
    }
    [[nodiscard]] std::uint64_t in_flight() const noexcept override { return in_flight_; }

  private:
    // backend_state values.
    static constexpr std::uint8_t pending = 1; // submitted, not tried yet
    static constexpr std::uint8_t waiting = 2; // in its fd's waiter list
    static constexpr std::uint8_t running = 3; // being tried, or on a worker thread
    static constexpr std::uint8_t done = 4;    // result set, in done_ for dispatch
    // backend_flags bits.
    static constexpr std::uint8_t flag_cancelled = 1;
    static constexpr std::uint8_t flag_plain = 2;      // no RWF_NOWAIT here: call after readiness
    static constexpr std::uint8_t flag_connecting = 4; // connect in progress: ask SO_ERROR
    static constexpr std::uint64_t workers_key = UINT64_MAX;

    struct op_list {
        io_op* head = nullptr;
        io_op* tail = nullptr;
    };
    struct fd_state {
        op_list waiters;
        bool registered = false; // added to epoll (possibly for an earlier file of this number)
        bool dirty = false;      // in dirty_: its registration must be re-armed
    };
    enum class outcome : std::uint8_t { finished, blocked, offload };

    static void append(op_list& l, io_op& op) noexcept {
        op.link = nullptr;
        (l.tail != nullptr ? l.tail->link : l.head) = &op;
        l.tail = &op;
    }
    static io_op* take_all(op_list& l) noexcept {
        io_op* h = l.head;
        l.head = l.tail = nullptr;
        return h;
    }

    fd_state& state_of(int fd) {
        const auto i = static_cast<std::size_t>(fd);
        if (i >= fds_.size()) {
            // Both grow only with the highest fd: each fd is in dirty_ at most once, so a
            // re-arm list as long as the table never allocates in steady state.
            fds_.resize(std::max<std::size_t>(i + 1, fds_.size() * 2));
            dirty_.reserve(fds_.size());
        }
        return fds_[i];
    }

    bool unlink_waiter(io_op& op) noexcept {
        if (op.fd < 0 || static_cast<std::size_t>(op.fd) >= fds_.size()) {
            return false;
        }
        op_list& l = fds_[static_cast<std::size_t>(op.fd)].waiters;
        io_op* prev = nullptr;
        for (io_op* p = l.head; p != nullptr; prev = p, p = p->link) {
            if (p == &op) {
                (prev != nullptr ? prev->link : l.head) = p->link;
                if (l.tail == p) {
                    l.tail = prev;
                }
                return true;
            }
        }
        return false; // taken out for a try right now: the try sees the flag
    }

    /// Completes `op` for good (not a multishot result).
    void finish(io_op& op, int res) noexcept {
        op.result = res;
        op.cqe_flags = 0;
        op.backend_state = 0;
        op.in_flight = false;
        --in_flight_;
        progressed_ = true;
        op.complete(&op);
    }
    void dispatch_done() noexcept {
        while (io_op* op = take_all(done_)) {
            for (; op != nullptr;) {
                io_op* next = op->link;
                finish(*op, op->result);
                op = next;
            }
        }
    }

    void run_pending() {
        for (io_op* op = take_all(pending_); op != nullptr;) {
            io_op* next = op->link;
            if ((op->backend_flags & flag_cancelled) != 0) {
                finish(*op, -ECANCELED);
            } else {
                advance(*op, false);
            }
            op = next;
        }
    }

    /// Tries `op` (after its fd was reported ready with `revents`, or first time); finishes it,
    /// parks it on its fd, or hands it to a worker.
    void advance(io_op& op, bool after_ready, std::uint32_t revents = 0) {
        op.backend_state = running;
        outcome o = outcome::blocked;
        try {
            o = attempt(op, after_ready, revents);
        } catch (...) {
            finish(op, -ENOMEM); // a multishot result could not be queued by its owner
            return;
        }
        if (o == outcome::finished) {
            finish(op, op.result);
        } else if ((op.backend_flags & flag_cancelled) != 0) {
            finish(op, -ECANCELED);
        } else if (o == outcome::offload) {
            offload(op);
        } else if (op.fd < 0) {
            finish(op, -EBADF); // no fd to wait on (and no fd_state slot for it)
        } else {
            fd_state& st = state_of(op.fd);
            op.backend_state = waiting;
            append(st.waiters, op);
            mark_dirty(op.fd, st);
        }
    }

    void offload(io_op& op) noexcept {
        try {
            workers_->run(op);
        } catch (const std::system_error& e) {
            finish(op, -e.code().value()); // no worker thread could start
        } catch (...) {
            finish(op, -ENOMEM);
        }
    }

    void mark_dirty(int fd, fd_state& st) {
        if (!st.dirty) {
            dirty_.push_back(fd); // never grows: reserved as long as fds_
            st.dirty = true;
        }
    }

    static std::uint32_t events_of(const io_op& op) noexcept {
        return op.kind == op_kind::poll ? op.flags : readiness_events(op.kind);
    }

    /// Re-arms the one-shot registration of each fd whose waiters changed or were reported.
    void arm_dirty() {
        for (const int fd : dirty_) {
            fd_state& st = fds_[static_cast<std::size_t>(fd)];
            st.dirty = false;
            std::uint32_t mask = 0;
            for (io_op* p = st.waiters.head; p != nullptr; p = p->link) {
                mask |= events_of(*p);
            }
            if (st.waiters.head == nullptr) {
                continue; // nobody waits: the disarmed one-shot registration can stay
            }
            // A poll for no event at all still hears EPOLLERR/EPOLLHUP, as with io_uring.
            epoll_event ev{};
            ev.events = mask | EPOLLONESHOT;
            ev.data.u64 = static_cast<std::uint64_t>(fd);
            int rc = ::epoll_ctl(epfd_, st.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
            if (rc != 0 && (errno == ENOENT || errno == EEXIST)) {
                // The number now names another file than the one registered (or the
                // reverse): the kernel's view wins.
                rc = ::epoll_ctl(epfd_, errno == ENOENT ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
            }
            if (rc == 0) {
                st.registered = true;
                continue;
            }
            cannot_wait(st, errno);
        }
        dirty_.clear();
    }

    /// epoll refused the fd (EPERM: a regular file or a directory; EBADF: closed): reads and
    /// writes go to a worker, a poll reports what poll(2) would (always ready), the rest fail.
    void cannot_wait(fd_state& st, int err) {
        for (io_op* op = take_all(st.waiters); op != nullptr;) {
            io_op* next = op->link;
            op->backend_state = running;
            if (err == EPERM && (op->kind == op_kind::read || op->kind == op_kind::write)) {
                offload(*op);
            } else if (err == EPERM && op->kind == op_kind::poll) {
                finish(*op,
                       static_cast<int>(op->flags & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM)));
            } else {
                finish(*op, -err);
            }
            op = next;
        }
    }

    void on_ready(int fd, std::uint32_t revents) {
        if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) {
            return;
        }
        // The one-shot registration is disarmed now. The waiters are taken out and tried in
        // order; those still blocked go back (behind any that joined meanwhile) and re-arm it.
        io_op* op = take_all(fds_[static_cast<std::size_t>(fd)].waiters);
        for (; op != nullptr;) {
            io_op* next = op->link;
            if ((op->backend_flags & flag_cancelled) != 0) {
                finish(*op, -ECANCELED);
            } else if ((revents & (events_of(*op) | EPOLLERR | EPOLLHUP)) != 0) {
                advance(*op, true, revents);
            } else {
                fd_state& st = fds_[static_cast<std::size_t>(fd)];
                append(st.waiters, *op);
                mark_dirty(fd, st);
            }
            op = next;
        }
    }

    int wait(std::optional<std::int64_t> timeout_ns) {
        if (take_fault(&fault_plan::wait_eintr)) {
            return 0; // as if interrupted by a signal: the loop just turns again
        }
        const int cap = static_cast<int>(events_.size());
        int n = 0;
        if (!timeout_ns) {
            n = ::epoll_wait(epfd_, events_.data(), cap, -1);
        } else if (*timeout_ns <= 0) {
            n = ::epoll_wait(epfd_, events_.data(), cap, 0);
        } else if (has_pwait2_) {
            timespec ts{};
            ts.tv_sec = static_cast<time_t>(*timeout_ns / 1'000'000'000);
            ts.tv_nsec = static_cast<long>(*timeout_ns % 1'000'000'000);
            n = ::epoll_pwait2(epfd_, events_.data(), cap, &ts, nullptr);
            if (n < 0 && errno == ENOSYS) {
                has_pwait2_ = false; // kernel < 5.11: millisecond timeouts, rounded up
                return wait(timeout_ns);
            }
        } else {
            const std::int64_t ms = (*timeout_ns + 999'999) / 1'000'000;
            n = ::epoll_wait(epfd_, events_.data(), cap,
                             static_cast<int>(std::min<std::int64_t>(ms, INT_MAX)));
        }
        if (n < 0) {
            if (errno == EINTR) {
                return 0;
            }
            throw std::system_error(errno, std::system_category(), "eddy: epoll_wait failed");
        }
        return n;
    }

    /// One non-blocking try. Sets op.result and returns finished, or says why not.
    outcome attempt(io_op& op, bool after_ready, std::uint32_t revents);

    class nonblocking_for_call; // in epoll_attempt.hpp

    int epfd_ = -1;
    std::unique_ptr<blocking_workers> workers_;
    std::vector<fd_state> fds_;
    std::vector<int> dirty_;
    op_list pending_;
    op_list done_;
    std::uint64_t in_flight_ = 0;
    bool progressed_ = false;
    bool has_pwait2_ = true;
    std::array<epoll_event, 256> events_{};
};

} // namespace eddy::detail

// The non-blocking calls that try each kind of operation.
#include "eddy/detail/epoll_attempt.hpp"
