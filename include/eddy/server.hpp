// eddy — start_server and start_unix_server: a listening socket whose connections each run a
// handler task (asyncio.start_server).
#pragma once

#include "eddy/connection.hpp"
#include "eddy/create_task.hpp"
#include "eddy/detail/acceptor.hpp"
#include "eddy/detail/frame_allocator.hpp"
#include "eddy/detail/future_base.hpp"
#include "eddy/detail/list.hpp"
#include "eddy/detail/server_core.hpp"
#include "eddy/endpoint.hpp"
#include "eddy/errors.hpp"
#include "eddy/event.hpp"
#include "eddy/resolve.hpp"
#include "eddy/sleep.hpp"
#include "eddy/socket.hpp"
#include "eddy/stream.hpp"
#include "eddy/task.hpp"

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <netinet/in.h>
#include <optional>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <system_error>
#include <type_traits>
#include <unistd.h>
#include <utility>
#include <vector>

namespace eddy {

/// A listening server (asyncio.Server): each accepted connection runs the handler as a task.
///
/// Ownership: the server object owns the listening sockets and the connections' tasks through
/// a shared core that those tasks also hold, so the handler object lives while any connection
/// runs. Destroying the server closes it (close()); the tasks then finish on the loop.
class server {
  public:
    /// No server: the accessors return empty values, close() does nothing, wait_closed and
    /// serve_forever throw eddy::invalid_state_error.
    server() noexcept = default;
    /// Adopts one reference to `core` (eddy internal; use start_server or start_unix_server).
    explicit server(detail::server_core* core) noexcept : core_(core) {}
    server(const server&) = delete;
    server& operator=(const server&) = delete;
    server(server&& o) noexcept : core_(std::exchange(o.core_, nullptr)) {}
    server& operator=(server&& o) noexcept {
        if (this != &o) {
            reset();
            core_ = std::exchange(o.core_, nullptr);
        }
        return *this;
    }
    /// close().
    ~server() { reset(); }

    /// The addresses listened on (asyncio's sockets' names), with the ports the kernel chose
    /// for port 0.
    [[nodiscard]] const std::vector<endpoint>& addresses() const noexcept {
        static const std::vector<endpoint> none;
        return core_ != nullptr ? core_->addresses_ : none;
    }
    /// The first listening address's port (0 for a Unix server or no server).
    [[nodiscard]] std::uint16_t port() const noexcept {
        return addresses().empty() ? 0 : addresses().front().port();
    }
    /// True until close() (asyncio's is_serving()).
    [[nodiscard]] bool is_serving() const noexcept { return core_ != nullptr && !core_->closing_; }
    /// Connections whose handler has not finished yet.
    [[nodiscard]] std::size_t connections() const noexcept {
        return core_ != nullptr ? core_->connections_ : 0;
    }

    /// Stops listening and cancels every connection's handler (asyncio's close() followed by
    /// abort_clients(), and the handlers cancelled): each handler gets cancelled_error at its
    /// current await and its connection is aborted (a connection accepted in the same instant
    /// is refused). A connection whose handler has returned but whose last writes are still
    /// being flushed is aborted too, so its peer sees the response cut short: to shut down
    /// gracefully, let the handlers finish first. A Unix server's socket file is removed.
    /// Returns at once; wait_closed() waits for all of it. Idempotent.
    void close() noexcept {
        if (core_ != nullptr) {
            core_->close();
        }
    }
    /// Waits until the server is closed: close() was called, the listeners are shut and every
    /// connection's task has finished. Throws cancelled_error if cancelled (the server is not
    /// affected); eddy::invalid_state_error (at the call) for no server.
    [[nodiscard]] task<> wait_closed() {
        return detail::wait_server_closed(detail::core_ref(checked("wait_closed")));
    }
    /// Serves until the server is closed, then returns (after wait_closed). If cancelled, it
    /// closes the server, waits for it, then throws cancelled_error (asyncio's serve_forever).
    /// Throws eddy::invalid_state_error (at the call) if the server is already closed, or for
    /// no server.
    [[nodiscard]] task<> serve_forever() {
        detail::server_core* core = checked("serve_forever");
        if (core->closing_) {
            throw invalid_state_error("eddy::server::serve_forever: the server is closed");
        }
        return detail::serve_forever(detail::core_ref(core));
    }

  private:
    detail::server_core* checked(const char* what) const {
        if (core_ == nullptr) {
            throw invalid_state_error(std::string("eddy::server::") + what + ": no server");
        }
        return core_;
    }
    void reset() noexcept {
        if (core_ != nullptr) {
            core_->close();
            std::exchange(core_, nullptr)->release();
        }
    }

    detail::server_core* core_ = nullptr;
};

namespace detail {

/// Starts an accept loop per listener and yields the server.
template <class Handler>
server start_serving(Handler handler, server_options options, std::vector<socket> listeners,
                     const std::string& unix_path = {}) {
    static_assert(std::is_invocable_r_v<task<>, Handler&, stream_reader&, stream_writer&>,
                  "eddy::start_server: the handler must be callable as "
                  "handler(eddy::stream_reader&, eddy::stream_writer&) and return eddy::task<>");
    auto* core = new server_impl<Handler>(std::move(handler), options);
    server srv(core); // owns the core from here: an exception below closes it
    for (socket& l : listeners) {
        core->addresses_.push_back(l.local_endpoint());
    }
    if (!unix_path.empty()) {
        struct ::stat st {};
        if (::stat(unix_path.c_str(), &st) == 0) {
            core->unix_path_ = unix_path;
            core->unix_dev_ = st.st_dev;
            core->unix_ino_ = st.st_ino;
        }
    }
    for (socket& l : listeners) {
        auto* child = new server_child;
        task_handle<void> h;
        try {
            h = create_task(accept_loop(core_ref(core), std::move(l)),
                            task_options{.eager_start = false}, code_location());
        } catch (...) {
            delete child;
            throw;
        }
        core->track(h.state(), child, true);
    }
    return srv;
}

inline void check_options(const server_options& options) {
    if (options.limit == 0) {
        throw std::invalid_argument("eddy::start_server: the limit must be positive");
    }
}

inline socket listen_on(const endpoint& at, const server_options& options, bool v6only) {
    socket s = socket::open(at.family(), SOCK_STREAM);
    if (at.is_ip()) {
        if (options.reuse_address) {
            s.set_reuse_address(true);
        }
        if (options.reuse_port) {
            s.set_option(SOL_SOCKET, SO_REUSEPORT, 1);
        }
        if (v6only && at.family() == AF_INET6) {
            s.set_option(IPPROTO_IPV6, IPV6_V6ONLY, 1);
        }
    }
    s.bind(at);
    s.listen(options.backlog);
    return s;
}

} // namespace detail

/// Listens on `host`:`port` and runs `handler(reader, writer)` as a task for each accepted
/// connection (asyncio.start_server). `host` is a numeric address, a name (resolved off the
/// loop thread) or "" for every interface (one listener per address family); port 0 lets the
/// kernel choose (server::port() tells which; with several listeners each gets its own port,
/// see server::addresses()). The handler is called as
/// `handler(eddy::stream_reader&, eddy::stream_writer&)` and returns eddy::task<>; the
/// connection's reader and writer live until its task ends. When the handler returns, the
/// writer is closed after flushing what was written; when it throws, the error is written to
/// stderr with the peer's address and the server goes on serving. (As with any socket, bytes
/// the peer sent that nobody read when the connection closes make Linux reset it, which can
/// cut off the end of a response still in the kernel: read requests to their end.)
///
/// Yields the server, already accepting. Throws std::system_error naming the address
/// (EADDRINUSE, EACCES...), resolve errors for a name, std::invalid_argument for a zero
/// options.limit, cancelled_error if cancelled.
template <class Handler>
[[nodiscard]] task<server> start_server(Handler handler, std::string host, std::uint16_t port,
                                        server_options options = {}) {
    detail::check_options(options);
    resolve_options how; // a numeric host (or "") is answered at once, without a thread
    how.family = options.family;
    how.type = SOCK_STREAM;
    how.flags = AI_PASSIVE;
    const std::vector<endpoint> at = co_await resolve(std::move(host), port, how);
    std::vector<socket> listeners;
    std::exception_ptr skipped;
    for (const endpoint& a : at) {
        try {
            listeners.push_back(detail::listen_on(a, options, at.size() > 1));
        } catch (const std::system_error& e) {
            // Of several addresses, one whose family this machine lacks (IPv6 disabled) is
            // skipped, as asyncio skips the sockets it cannot create.
            const int err = e.code().value();
            if (at.size() == 1 || (err != EAFNOSUPPORT && err != EADDRNOTAVAIL)) {
                throw;
            }
            skipped = std::current_exception();
        }
    }
    if (listeners.empty()) {
        std::rethrow_exception(skipped);
    }
    co_return detail::start_serving(std::move(handler), options, std::move(listeners));
}

/// Listens on the Unix-domain socket `path` (asyncio.start_unix_server). A socket file already
/// there is removed first, as asyncio does, whether or not a server still listens on it (that
/// server then gets no new connections); the file is removed when this server stops serving
/// (if it is still the one this server made). A leading '\0' makes an abstract address (no
/// file). Otherwise as start_server; throws std::system_error (EADDRINUSE when a non-socket
/// file holds the path...), std::invalid_argument for a path that does not fit.
template <class Handler>
[[nodiscard]] task<server> start_unix_server(Handler handler, std::string path,
                                             server_options options = {}) {
    detail::check_options(options);
    const endpoint at = endpoint::unix_path(path);
    const bool has_file = !path.empty() && path.front() != '\0';
    if (has_file) {
        struct ::stat st {};
        if (::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
            (void)::unlink(path.c_str()); // asyncio removes a stale socket file the same way
        }
    }
    std::vector<socket> listeners;
    listeners.push_back(detail::listen_on(at, options, false));
    co_return detail::start_serving(std::move(handler), options, std::move(listeners),
                                    has_file ? path : std::string());
}

} // namespace eddy
