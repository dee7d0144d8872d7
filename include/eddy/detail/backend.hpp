// eddy — choosing a loop's reactor: io_uring where it works, epoll where it does not.
#pragma once

#include "eddy/detail/epoll_reactor.hpp"
#include "eddy/detail/reactor.hpp"
#include "eddy/detail/uring_reactor.hpp"
#include "eddy/errors.hpp"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace eddy {

/// Which reactor a loop runs on (loop_options::backend; the EDDY_BACKEND environment variable
/// says the same with "io_uring", "epoll" or "auto").
enum class backend_kind {
    automatic, ///< io_uring when it can be set up and has the opcodes eddy needs, else epoll
    io_uring,  ///< io_uring or an error
    epoll,     ///< epoll even where io_uring works
};

namespace detail {

struct chosen_backend {
    std::unique_ptr<reactor> io;
    std::string reason; // why this one: shown by event_loop::backend_reason()
};

[[nodiscard]] inline const char* opcode_name(op_kind k) noexcept {
    switch (k) {
    case op_kind::read:
        return "IORING_OP_READ";
    case op_kind::write:
        return "IORING_OP_WRITE";
    case op_kind::poll:
        return "IORING_OP_POLL_ADD";
    case op_kind::recv:
        return "IORING_OP_RECV";
    case op_kind::send:
        return "IORING_OP_SEND";
    case op_kind::accept:
        return "IORING_OP_ACCEPT";
    case op_kind::connect:
        return "IORING_OP_CONNECT";
    case op_kind::shutdown:
        return "IORING_OP_SHUTDOWN";
    case op_kind::recvmsg:
        return "IORING_OP_RECVMSG";
    case op_kind::sendmsg:
        return "IORING_OP_SENDMSG";
    default:
        return "an io_uring opcode";
    }
}

/// "Operation not permitted (EPERM)".
[[nodiscard]] inline std::string describe_errno(int e) {
    std::string s = std::strerror(e);
    if (const char* name = ::strerrorname_np(e)) {
        s += " (";
        s += name;
        s += ')';
    }
    return s;
}

/// The backend asked for: the loop option unless automatic, else EDDY_BACKEND. Sets `source`
/// to where the choice came from. Throws eddy::loop_error for an unknown EDDY_BACKEND value.
[[nodiscard]] inline backend_kind asked_backend(backend_kind option, std::string& source) {
    if (option != backend_kind::automatic) {
        source = "loop_options::backend";
        return option;
    }
    const char* env = std::getenv("EDDY_BACKEND");
    if (env == nullptr || *env == '\0' || std::string_view(env) == "auto") {
        return backend_kind::automatic;
    }
    source = std::string("EDDY_BACKEND=") + env;
    if (std::string_view(env) == "io_uring") {
        return backend_kind::io_uring;
    }
    if (std::string_view(env) == "epoll") {
        return backend_kind::epoll;
    }
    throw loop_error(std::string("eddy: EDDY_BACKEND must be io_uring, epoll or auto, not \"") +
                     env + "\"");
}

/// Makes the reactor for a new loop. Automatic: io_uring, or epoll when io_uring setup fails
/// (EPERM under seccomp or the io_uring_disabled sysctl, ENOSYS, EOPNOTSUPP, EINVAL, ENOMEM
/// from the memlock limit, any other errno too) or a required opcode is missing. Forced
/// io_uring that cannot start throws std::system_error with the setup's errno (EOPNOTSUPP for
/// a missing opcode); epoll that cannot start throws std::system_error.
[[nodiscard]] inline chosen_backend make_reactor(backend_kind option, unsigned ring_entries) {
    std::string source;
    const backend_kind asked = asked_backend(option, source);
    if (asked == backend_kind::epoll) {
        return {std::make_unique<epoll_reactor>(), "forced by " + source};
    }
    std::string why;
    try {
        auto ring = std::make_unique<uring_reactor>(ring_entries);
        if (auto missing = ring->missing_required()) {
            why = std::string("io_uring lacks ") + opcode_name(*missing) + " (kernel too old)";
            if (asked == backend_kind::io_uring) {
                throw std::system_error(EOPNOTSUPP, std::system_category(),
                                        "eddy: io_uring forced by " + source + ", but " + why);
            }
        } else {
            return {std::move(ring), asked == backend_kind::io_uring ? "forced by " + source
                                                                     : "io_uring works here"};
        }
    } catch (const std::system_error& e) {
        if (asked == backend_kind::io_uring) {
            if (!why.empty()) {
                throw;
            }
            throw std::system_error(e.code(), "eddy: io_uring forced by " + source +
                                                  ", but its setup failed");
        }
        why = "io_uring setup failed: " + describe_errno(e.code().value());
    }
    try {
        return {std::make_unique<epoll_reactor>(), why};
    } catch (const std::system_error& e) {
        throw std::system_error(e.code(), "eddy: no backend can start (" + why +
                                              "; epoll: " + describe_errno(e.code().value()) + ")");
    }
}

} // namespace detail
} // namespace eddy
