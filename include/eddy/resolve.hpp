// eddy — resolve: host names to endpoints through getaddrinfo on the loop's thread pool
// (asyncio's loop.getaddrinfo).
#pragma once

#include "eddy/detail/c_string.hpp"
#include "eddy/endpoint.hpp"
#include "eddy/task.hpp"
#include "eddy/to_thread.hpp"

#include <cerrno>
#include <cstdint>
#include <memory>
#include <netdb.h>
#include <optional>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <system_error>
#include <vector>

namespace eddy {

/// What `resolve` asks getaddrinfo for (the fields of its `hints`).
struct resolve_options {
    /// AF_INET, AF_INET6 or AF_UNSPEC (both).
    int family = AF_UNSPEC;
    /// SOCK_STREAM or SOCK_DGRAM (0: any). It filters what getaddrinfo considers; the
    /// endpoints returned do not carry it.
    int type = SOCK_STREAM;
    /// 0, or IPPROTO_TCP/IPPROTO_UDP.
    int protocol = 0;
    /// AI_* flags: AI_PASSIVE for servers (host "" then means the any addresses), AI_ADDRCONFIG,
    /// AI_V4MAPPED with AF_INET6...
    int flags = 0;
};

namespace detail {

class resolve_category_impl final : public std::error_category {
  public:
    [[nodiscard]] const char* name() const noexcept override { return "eddy.resolve"; }
    [[nodiscard]] std::string message(int code) const override { return ::gai_strerror(code); }
};

} // namespace detail

/// The error category of getaddrinfo's EAI_* codes (EAI_NONAME, EAI_AGAIN...): the value is the
/// code itself (negative on glibc), the message gai_strerror's.
[[nodiscard]] inline const std::error_category& resolve_category() noexcept {
    static const detail::resolve_category_impl category;
    return category;
}

namespace detail {

#ifdef EAI_ADDRFAMILY
inline constexpr int eai_addrfamily = EAI_ADDRFAMILY; // glibc's answer to a family mismatch
#else
inline constexpr int eai_addrfamily = EAI_NONAME;
#endif

/// The error `resolve` throws: `eddy::resolve("<host>", <port>): <gai_strerror>`, or the errno
/// with the system category for EAI_SYSTEM.
[[nodiscard]] inline std::system_error resolve_error(int code, int sys_errno, std::string_view host,
                                                     std::uint16_t port) {
    std::string what = "eddy::resolve(\"" + std::string(host) + "\", " + std::to_string(port) + ")";
    if (code == EAI_SYSTEM && sys_errno != 0) {
        return {sys_errno, std::system_category(), what};
    }
    return {code, resolve_category(), what};
}

inline void add_unique(std::vector<endpoint>& out, const endpoint& e) {
    for (const endpoint& seen : out) {
        if (seen == e) {
            return;
        }
    }
    out.push_back(e);
}

/// getaddrinfo itself, blocking: on a pool thread for names, on the loop thread for the empty
/// host (no lookup: the any or loopback addresses). Returns the IP endpoints in getaddrinfo's
/// order without duplicates (type 0 lists each address once per socket type). Throws
/// resolve_error's exception. A plain function (to_thread keeps copies of its arguments for the
/// call), not a capturing lambda: see the g++ 12 trap in the field notes.
inline std::vector<endpoint> getaddrinfo_blocking(const std::string& host, std::uint16_t port,
                                                  resolve_options options) {
    addrinfo hints{};
    hints.ai_family = options.family;
    hints.ai_socktype = options.type;
    hints.ai_protocol = options.protocol;
    hints.ai_flags = options.flags;
    // A name needs no service (the port is set afterwards, which works for every socket type);
    // the null node must have one, or getaddrinfo has nothing to answer.
    const char* node = host.empty() ? nullptr : host.c_str();
    std::string service;
    if (node == nullptr) {
        service = std::to_string(port);
        hints.ai_flags |= AI_NUMERICSERV;
    }
    addrinfo* list = nullptr;
    errno = 0;
    const int rc = ::getaddrinfo(node, node == nullptr ? service.c_str() : nullptr, &hints, &list);
    if (rc != 0) {
        throw resolve_error(rc, errno, host, port);
    }
    const std::unique_ptr<addrinfo, void (*)(addrinfo*)> owner(list, &::freeaddrinfo);
    std::vector<endpoint> out;
    for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
        if (ai->ai_addr == nullptr || (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)) {
            continue;
        }
        endpoint e(ai->ai_addr, ai->ai_addrlen);
        e.set_port(port);
        add_unique(out, e);
    }
    if (out.empty()) {
        throw resolve_error(EAI_NONAME, 0, host, port);
    }
    return out;
}

/// A numeric host, answered on the calling thread as getaddrinfo would: the family filter
/// applies (EAI_ADDRFAMILY on a mismatch) and AI_V4MAPPED with AF_INET6 maps an IPv4 address.
inline std::vector<endpoint> resolve_numeric(const endpoint& e, std::string_view host,
                                             std::uint16_t port, const resolve_options& options) {
    if (options.family != AF_UNSPEC && options.family != AF_INET && options.family != AF_INET6) {
        throw resolve_error(EAI_FAMILY, 0, host, port);
    }
    if (options.family == AF_INET6 && e.family() == AF_INET && (options.flags & AI_V4MAPPED)) {
        return {endpoint::ip("::ffff:" + e.host(), port)};
    }
    if (options.family != AF_UNSPEC && options.family != e.family()) {
        throw resolve_error(eai_addrfamily, 0, host, port);
    }
    return {e};
}

} // namespace detail

/// Resolves `host` to the endpoints for `port` (asyncio's loop.getaddrinfo): getaddrinfo's
/// answers in its order, without duplicates, never empty. A numeric host (endpoint::parse
/// accepts it, "[::1]" and "fe80::1%lo" included) is answered at once, with no thread. ""
/// means no host: the any addresses with AI_PASSIVE (0.0.0.0 and ::), the loopback addresses
/// without; it does no lookup and runs on the loop thread. Names go through getaddrinfo on the
/// loop's thread pool (to_thread), so the loop keeps running meanwhile. Throws
/// std::system_error with resolve_category() and the EAI_* code (EAI_NONAME, EAI_AGAIN...), or
/// the errno with system_category() for EAI_SYSTEM, its message naming host and port
/// (`eddy::resolve("nosuch.invalid", 80): Name or service not known`); eddy::cancelled_error if
/// the task is cancelled meanwhile (a getaddrinfo already running finishes in the background
/// and its result is dropped); std::invalid_argument for a host holding a NUL byte. Must run on
/// a loop's thread; the task owns `host`.
[[nodiscard]] inline task<std::vector<endpoint>> resolve(std::string host, std::uint16_t port,
                                                         resolve_options options = {}) {
    detail::reject_embedded_nul(host, "resolve: the host");
    if (const std::optional<endpoint> numeric = endpoint::parse(host, port)) {
        co_return detail::resolve_numeric(*numeric, host, port, options);
    }
    if (host.empty()) {
        co_return detail::getaddrinfo_blocking(host, port, options);
    }
    std::vector<endpoint> found =
        co_await to_thread(&detail::getaddrinfo_blocking, host, port, options);
    co_return found;
}

} // namespace eddy
