// eddy — the fault-injection seam between the reactors and the kernel (tests only).
//
// Compiled in only with EDDY_FAULT_INJECTION defined (eddy's own test suite defines it); user
// builds see empty inline functions, so the seam costs nothing there. With it, a test installs a
// fault_plan on its thread and the backends consult it at each point where the kernel could
// misbehave: ring setup failing, a wait interrupted, a full submission queue, a busy completion
// queue, a short transfer, an operation that would block.
#pragma once

#include <cstdint>

namespace eddy::detail {

/// What to inject, counted down as it is injected. `injected` counts every fault delivered, so a
/// test can tell that the path it meant to exercise was really taken.
struct fault_plan {
    int uring_setup_errno = 0;           ///< every io_uring setup fails with this errno
    unsigned uring_einval_flags = 0;     ///< setups asking for any of these IORING_SETUP_* flags
                                         ///< fail with EINVAL (an older kernel)
    std::uint32_t uring_missing_ops = 0; ///< op_kinds (bit per kind) the opcode probe lacks
    unsigned wait_eintr = 0;             ///< the next N waits return EINTR at once
    unsigned sq_full = 0;                ///< the next N submission slots are found taken
    unsigned submit_ebusy = 0;           ///< the next N flushing submits fail with EBUSY
    unsigned short_io = 0; ///< the next N reads/writes/recvs/sends move at most short_len bytes
    std::uint32_t short_len = 1;
    unsigned eagain = 0; ///< the next N reads/writes/recvs/sends/accepts find the fd not ready
                         ///< (io_uring: the operation completes with EAGAIN without running)
    unsigned injected = 0;
};

#ifdef EDDY_FAULT_INJECTION
/// The plan in force on this thread (set by fault_scope), or none.
inline thread_local fault_plan* faults_ = nullptr;

/// Installs `plan` on this thread for a scope.
class fault_scope {
  public:
    explicit fault_scope(fault_plan& plan) noexcept : previous_(faults_) { faults_ = &plan; }
    fault_scope(const fault_scope&) = delete;
    fault_scope& operator=(const fault_scope&) = delete;
    ~fault_scope() { faults_ = previous_; }

  private:
    fault_plan* previous_;
};

/// Takes one fault from a countdown of the plan in force: true if one is to be injected now.
inline bool take_fault(unsigned fault_plan::*which) noexcept {
    fault_plan* p = faults_;
    if (p == nullptr || p->*which == 0) {
        return false;
    }
    --(p->*which);
    ++p->injected;
    return true;
}
/// The errno an io_uring setup asking for `flags` is to fail with, or 0.
inline int uring_setup_fault(unsigned flags) noexcept {
    fault_plan* p = faults_;
    if (p == nullptr) {
        return 0;
    }
    if (p->uring_setup_errno != 0) {
        ++p->injected;
        return p->uring_setup_errno;
    }
    if ((flags & p->uring_einval_flags) != 0) {
        ++p->injected;
        return 22; // EINVAL
    }
    return 0;
}
/// Op kinds (bit per op_kind) the probe is to report missing.
inline std::uint32_t uring_missing_ops() noexcept {
    return faults_ != nullptr ? faults_->uring_missing_ops : 0;
}
/// The length a transfer of `len` bytes is to be cut to.
inline std::uint32_t short_io_len(std::uint32_t len) noexcept {
    fault_plan* p = faults_;
    if (p == nullptr || p->short_io == 0 || len <= p->short_len) {
        return len;
    }
    --p->short_io;
    ++p->injected;
    return p->short_len;
}
#else
inline bool take_fault(unsigned fault_plan::* /*which*/) noexcept {
    return false;
}
inline int uring_setup_fault(unsigned /*flags*/) noexcept {
    return 0;
}
inline std::uint32_t uring_missing_ops() noexcept {
    return 0;
}
inline std::uint32_t short_io_len(std::uint32_t len) noexcept {
    return len;
}
#endif

} // namespace eddy::detail
