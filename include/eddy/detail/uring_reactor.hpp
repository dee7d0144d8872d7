// eddy — the io_uring backend.
#pragma once

#include "eddy/detail/faults.hpp"
#include "eddy/detail/reactor.hpp"

#include <liburing.h>

#include <cerrno>
#include <cstdint>
#include <fcntl.h>
#include <linux/stat.h>
#include <optional>
#include <poll.h>
#include <sys/socket.h>
#include <system_error>

namespace eddy::detail {

class uring_reactor final : public reactor {
  public:
    /// Sets up a ring of `entries` submission slots. Newer setup flags are tried first and
    /// dropped one by one when the kernel rejects them (EINVAL), so older kernels still work.
    /// Throws std::system_error (EPERM: io_uring blocked by seccomp or the
    /// kernel.io_uring_disabled sysctl; ENOSYS: no io_uring; ENOMEM: memlock limit).
    explicit uring_reactor(unsigned entries = 4096) {
        const unsigned candidates[] = {
            IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
            IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN,
            IORING_SETUP_COOP_TASKRUN,
            0,
        };
        int rc = -EINVAL;
        for (unsigned flags : candidates) {
            io_uring_params p{};
            p.flags = flags | IORING_SETUP_SUBMIT_ALL;
            rc = setup(entries, p);
            if (rc == -EINVAL) {
                p = {};
                p.flags = flags;
                rc = setup(entries, p);
            }
            if (rc == 0) {
                flags_ = p.flags;
                features_ = p.features;
                break;
            }
            if (rc != -EINVAL) {
                break;
            }
        }
        if (rc < 0) {
            throw std::system_error(-rc, std::system_category(), "eddy: io_uring setup failed");
        }
        capacity_ = ring_.cq.ring_entries;
        probe_opcodes();
    }

    ~uring_reactor() override { io_uring_queue_exit(&ring_); }

    [[nodiscard]] const char* name() const noexcept override { return "io_uring"; }
    [[nodiscard]] unsigned setup_flags() const noexcept { return flags_; }

    void submit(io_op& op) override {
        io_uring_sqe* sqe = acquire();
        op.backend_flags = 0;
        if (may_would_block(op.kind) && take_fault(&fault_plan::eagain)) {
            // Injected: the operation "would block" without running; reap turns the NOP's
            // completion into -EAGAIN and the retry path takes over.
            io_uring_prep_nop(sqe);
            op.backend_flags = flag_fake_eagain;
        } else {
            prepare(sqe, op);
        }
        io_uring_sqe_set_data(sqe, &op);
        op.in_flight = true;
        ++in_flight_;
    }

    void cancel(io_op& op) override {
        if (!op.in_flight) {
            return;
        }
        op.backend_flags |= flag_cancelled;
        io_uring_sqe* sqe = acquire();
        // While it waits for readiness after EAGAIN its poll carries the tagged address.
        const std::uintptr_t target = reinterpret_cast<std::uintptr_t>(&op) |
                                      ((op.backend_flags & flag_polling) != 0 ? poll_tag : 0);
        io_uring_prep_cancel64(sqe, target, 0);
        // user_data 0 marks completions that belong to no operation (the cancel's own).
        io_uring_sqe_set_data64(sqe, 0);
    }

    void poll(std::optional<std::int64_t> timeout_ns) override {
        if (retry_head_ != nullptr) {
            // Retries queued by a reap outside poll (a full ring while tasks submitted) are
            // not in the kernel yet: waiting now could sleep past their readiness.
            timeout_ns = 0;
        }
        int rc = 0;
        if (take_fault(&fault_plan::wait_eintr)) {
            rc = -EINTR;
        } else if (timeout_ns && *timeout_ns <= 0) {
            rc = io_uring_submit_and_get_events(&ring_);
        } else {
            io_uring_cqe* cqe = nullptr;
            __kernel_timespec ts{};
            __kernel_timespec* tsp = nullptr;
            if (timeout_ns) {
                ts.tv_sec = *timeout_ns / 1'000'000'000;
                ts.tv_nsec = *timeout_ns % 1'000'000'000;
                tsp = &ts;
            }
            rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, tsp, nullptr);
        }
        // ETIME: the deadline passed; EINTR: a signal; EBUSY: the completion queue is full
        // (overflow backlog) and must be reaped first, which is what we do next.
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
            throw std::system_error(-rc, std::system_category(), "eddy: io_uring wait failed");
        }
        reap();
        retry_waiting();
    }

    [[nodiscard]] std::uint64_t in_flight() const noexcept override { return in_flight_; }

    [[nodiscard]] bool supports(op_kind kind) const noexcept override {
        return (supported_ & (1U << static_cast<unsigned>(kind))) != 0;
    }

    /// The op kinds eddy cannot do without (the loop picks epoll when one is missing): the
    /// first one missing, or nullopt.
    [[nodiscard]] std::optional<op_kind> missing_required() const noexcept {
        for (op_kind k : {op_kind::read, op_kind::write, op_kind::poll, op_kind::recv,
                          op_kind::send, op_kind::accept, op_kind::connect, op_kind::shutdown,
                          op_kind::recvmsg, op_kind::sendmsg}) {
            if (!supports(k)) {
                return k;
            }
        }
        return std::nullopt;
    }

  private:
    /// IORING_OP_WAITID's number in the kernel's enum (after READ_MULTISHOT, 49).
    static constexpr int opcode_waitid = 50;
    // backend_flags bits.
    static constexpr std::uint8_t flag_fake_eagain = 1; // an injected EAGAIN (NOP) in flight
    static constexpr std::uint8_t flag_polling = 2;     // waiting for readiness after EAGAIN
    static constexpr std::uint8_t flag_cancelled = 4;   // cancel() was asked
    // Low bit of user_data on the readiness poll of an operation that got EAGAIN (io_op is
    // pointer-aligned, so the bit is free).
    static constexpr std::uintptr_t poll_tag = 1;

    int setup(unsigned entries, io_uring_params& p) noexcept {
        if (const int e = uring_setup_fault(p.flags); e != 0) {
            return -e;
        }
        return io_uring_queue_init_params(entries, &ring_, &p);
    }

    void prepare(io_uring_sqe* sqe, io_op& op) {
        switch (op.kind) {
        case op_kind::nop:
            io_uring_prep_nop(sqe);
            break;
        case op_kind::read:
            io_uring_prep_read(sqe, op.fd, op.buf, short_io_len(op.len), op.offset);
            break;
        case op_kind::write:
            io_uring_prep_write(sqe, op.fd, op.buf, short_io_len(op.len), op.offset);
            break;
        case op_kind::poll:
            io_uring_prep_poll_add(sqe, op.fd, op.flags);
            break;
        case op_kind::openat:
            io_uring_prep_openat(sqe, op.fd, static_cast<const char*>(op.buf),
                                 static_cast<int>(op.flags), op.len);
            break;
        case op_kind::close:
            io_uring_prep_close(sqe, op.fd);
            break;
        case op_kind::fsync:
            io_uring_prep_fsync(sqe, op.fd, op.flags);
            break;
        case op_kind::statx:
            io_uring_prep_statx(sqe, op.fd, static_cast<const char*>(op.buf),
                                static_cast<int>(op.flags), op.len,
                                static_cast<struct statx*>(op.buf2));
            break;
        case op_kind::waitid:
            // liburing 2.3 (Debian 12) predates IORING_OP_WAITID (kernel 6.7): the SQE is
            // filled by hand as io_uring_prep_waitid does in liburing >= 2.5.
            io_uring_prep_rw(opcode_waitid, sqe, op.fd, nullptr, op.len, 0);
            sqe->rw_flags = 0;          // waitid_flags
            sqe->file_index = op.flags; // the waitid options
            sqe->addr2 = reinterpret_cast<std::uintptr_t>(op.buf2);
            break;
        case op_kind::recv:
            io_uring_prep_recv(sqe, op.fd, op.buf, short_io_len(op.len),
                               static_cast<int>(op.flags));
            break;
        case op_kind::send:
            io_uring_prep_send(sqe, op.fd, op.buf, short_io_len(op.len),
                               static_cast<int>(op.flags));
            break;
        case op_kind::accept:
            io_uring_prep_accept(sqe, op.fd, static_cast<sockaddr*>(op.buf),
                                 static_cast<socklen_t*>(op.buf2), static_cast<int>(op.flags));
            break;
        case op_kind::accept_multishot:
            io_uring_prep_multishot_accept(sqe, op.fd, static_cast<sockaddr*>(op.buf),
                                           static_cast<socklen_t*>(op.buf2),
                                           static_cast<int>(op.flags));
            break;
        case op_kind::connect:
            io_uring_prep_connect(sqe, op.fd, static_cast<const sockaddr*>(op.buf), op.len);
            break;
        case op_kind::shutdown:
            io_uring_prep_shutdown(sqe, op.fd, static_cast<int>(op.len));
            break;
        case op_kind::recvmsg:
            io_uring_prep_recvmsg(sqe, op.fd, static_cast<msghdr*>(op.buf), op.flags);
            break;
        case op_kind::sendmsg:
            io_uring_prep_sendmsg(sqe, op.fd, static_cast<const msghdr*>(op.buf), op.flags);
            break;
        }
        if (op.may_block) {
            // Straight to an io-wq worker: issued inline, a terminal's write sleeps in
            // io_uring_enter itself, the loop's only wait.
            io_uring_sqe_set_flags(sqe, sqe->flags | IOSQE_ASYNC);
        }
    }

    void probe_opcodes() noexcept {
        static constexpr struct {
            op_kind kind;
            int opcode;
        } table[] = {
            {op_kind::nop, IORING_OP_NOP},
            {op_kind::read, IORING_OP_READ},
            {op_kind::write, IORING_OP_WRITE},
            {op_kind::poll, IORING_OP_POLL_ADD},
            {op_kind::openat, IORING_OP_OPENAT},
            {op_kind::close, IORING_OP_CLOSE},
            {op_kind::fsync, IORING_OP_FSYNC},
            {op_kind::statx, IORING_OP_STATX},
            {op_kind::waitid, opcode_waitid},
            {op_kind::recv, IORING_OP_RECV},
            {op_kind::send, IORING_OP_SEND},
            {op_kind::accept, IORING_OP_ACCEPT},
            // Multishot accept (5.19) is a flag on ACCEPT the probe cannot show: a kernel
            // without it fails the first completion with EINVAL, and users fall back.
            {op_kind::accept_multishot, IORING_OP_ACCEPT},
            {op_kind::connect, IORING_OP_CONNECT},
            {op_kind::shutdown, IORING_OP_SHUTDOWN},
            {op_kind::recvmsg, IORING_OP_RECVMSG},
            {op_kind::sendmsg, IORING_OP_SENDMSG},
        };
        io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
        for (const auto& row : table) {
            // Without a probe (kernels < 5.6) only the oldest opcodes can be assumed.
            const bool ok = probe != nullptr ? (row.opcode <= probe->last_op &&
                                                io_uring_opcode_supported(probe, row.opcode) != 0)
                                             : row.opcode <= IORING_OP_POLL_ADD;
            if (ok && (uring_missing_ops() & (1U << static_cast<unsigned>(row.kind))) == 0) {
                supported_ |= 1U << static_cast<unsigned>(row.kind);
            }
        }
        if (probe != nullptr) {
            io_uring_free_probe(probe);
        }
    }

    // A full submission queue is flushed to the kernel and retried. When the kernel refuses
    // (EBUSY: completion backlog), completions are reaped first; they only enqueue work.
    io_uring_sqe* acquire() {
        for (int attempt = 0;; ++attempt) {
            if (!take_fault(&fault_plan::sq_full)) {
                if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) {
                    return sqe;
                }
            }
            const int rc = take_fault(&fault_plan::submit_ebusy) ? -EBUSY : io_uring_submit(&ring_);
            if (rc < 0 && rc != -EBUSY && rc != -EAGAIN && rc != -EINTR) {
                throw std::system_error(-rc, std::system_category(),
                                        "eddy: io_uring submit failed");
            }
            reap();
            if (attempt > 1000) {
                throw std::system_error(EBUSY, std::system_category(),
                                        "eddy: io_uring submission queue stays full");
            }
        }
    }

    void reap() noexcept {
        io_uring_cqe* cqe = nullptr;
        unsigned head = 0;
        unsigned seen = 0;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            ++seen;
            // 0: a cancel request's own completion. LIBURING_UDATA_TIMEOUT: the timeout entry
            // liburing adds to a timed wait on kernels without IORING_FEAT_EXT_ARG (< 5.11).
            if (cqe->user_data == 0 || cqe->user_data == LIBURING_UDATA_TIMEOUT) {
                continue;
            }
            const auto data = static_cast<std::uintptr_t>(cqe->user_data);
            // A tagged pointer: the low bit marks the readiness poll of a retried operation.
            auto* op =
                reinterpret_cast<io_op*>(data & ~poll_tag); // NOLINT(performance-no-int-to-ptr)
            int res = cqe->res;
            if ((data & poll_tag) != 0) {
                // The readiness poll after EAGAIN: run the operation again unless the poll
                // failed or the operation was cancelled meanwhile.
                op->backend_flags &= static_cast<std::uint8_t>(~flag_polling);
                if (res >= 0 && (op->backend_flags & flag_cancelled) == 0) {
                    queue_retry(*op, false);
                    continue;
                }
                res = res >= 0 ? -ECANCELED : res;
            } else if ((op->backend_flags & flag_fake_eagain) != 0) {
                op->backend_flags &= static_cast<std::uint8_t>(~flag_fake_eagain);
                res = -EAGAIN;
            }
            if (res == -EAGAIN && may_would_block(op->kind)) {
                if ((op->backend_flags & flag_cancelled) == 0) {
                    queue_retry(*op, true);
                    continue;
                }
                res = -ECANCELED; // it did not happen, and it was asked to stop
            }
            op->result = res;
            op->cqe_flags = cqe->flags;
            if ((cqe->flags & IORING_CQE_F_MORE) == 0) {
                op->in_flight = false; // a multishot operation stays armed while F_MORE is set
                --in_flight_;
            }
            op->complete(op);
        }
        io_uring_cq_advance(&ring_, seen);
    }

    // An operation that got EAGAIN stays in flight: it first polls for readiness (`poll`
    // true), then runs again. Queued here and submitted after the completion queue was
    // advanced, since taking a submission slot may reap.
    void queue_retry(io_op& op, bool poll) noexcept {
        op.backend_flags = static_cast<std::uint8_t>((op.backend_flags & ~flag_polling) |
                                                     (poll ? flag_polling : 0));
        op.link = nullptr;
        (retry_tail_ != nullptr ? retry_tail_->link : retry_head_) = &op;
        retry_tail_ = &op;
    }
    void retry_waiting() {
        while (io_op* op = retry_head_) {
            retry_head_ = op->link;
            if (retry_head_ == nullptr) {
                retry_tail_ = nullptr;
            }
            op->link = nullptr;
            if ((op->backend_flags & flag_cancelled) != 0) {
                // Cancelled while queued here: its cancel request went to the ring before this
                // submission, found nothing, and would leave the retry waiting for good.
                finish_now(*op, -ECANCELED);
                continue;
            }
            io_uring_sqe* sqe = nullptr;
            try {
                sqe = acquire();
            } catch (...) {
                // No slot: it fails as it would have without the retry.
                finish_now(*op, -EAGAIN);
                continue;
            }
            if ((op->backend_flags & flag_polling) != 0) {
                io_uring_prep_poll_add(sqe, op->fd, readiness_events(op->kind));
                io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uintptr_t>(op) | poll_tag);
            } else {
                prepare(sqe, *op);
                io_uring_sqe_set_data(sqe, op);
            }
        }
    }
    void finish_now(io_op& op, int res) noexcept {
        op.result = res;
        op.cqe_flags = 0;
        op.in_flight = false;
        --in_flight_;
        op.complete(&op);
    }

    io_uring ring_{};
    unsigned flags_ = 0;
    unsigned features_ = 0;
    unsigned capacity_ = 0;
    std::uint64_t in_flight_ = 0;
    unsigned supported_ = 0;
    io_op* retry_head_ = nullptr;
    io_op* retry_tail_ = nullptr;
};

} // namespace eddy::detail
