// eddy — start_server and start_unix_server: a listening socket whose connections each run a
// handler task (asyncio.start_server).
#pragma once

#include "eddy/connection.hpp"
#include "eddy/create_task.hpp"
#include "eddy/detail/acceptor.hpp"
#include "eddy/detail/frame_allocator.hpp"
#include "eddy/detail/future_base.hpp"
#include "eddy/detail/list.hpp"
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

/// Options of start_server and start_unix_server.
struct server_options {
    /// listen(2)'s backlog (asyncio's default).
    int backlog = 100;
    /// Each connection's reader bound on read_until and readline.
    std::size_t limit = stream_reader::default_limit;
    /// SO_REUSEADDR: restart on a port with connections in TIME_WAIT (asyncio's default).
    bool reuse_address = true;
    /// SO_REUSEPORT: several servers share the port.
    bool reuse_port = false;
    /// TCP_NODELAY on every accepted TCP connection.
    bool nodelay = true;
    /// AF_INET or AF_INET6 to listen on one family only when the host is a name or "".
    int family = AF_UNSPEC;
};

namespace detail {

class server_core;

/// A task the server tracks (an accept loop or a connection): the waiter parked on the task's
/// state, and the server's link to it.
struct server_child : waiter, pooled {
    struct link : list_node {
        server_child* owner = nullptr;
    };
    link link_;
    task_base* task_ = nullptr;
    server_core* core_ = nullptr;
    bool accept_loop_ = false;
};

/// What a server's tasks share: the handler, the tracked tasks, the closed event. Reference
/// counted: the server object and every tracked task hold a reference, so the handler (and a
/// capturing lambda's captures) lives as long as any connection runs.
class server_core {
  public:
    server_core(const server_core&) = delete;
    server_core& operator=(const server_core&) = delete;
    virtual ~server_core() {
        if (!unix_path_.empty()) {
            remove_unix_path();
        }
    }

    /// Runs the user's handler for one connection.
    virtual task<> handle(stream_reader& reader, stream_writer& writer) = 0;

    void add_ref() noexcept { ++refs_; }
    void release() noexcept {
        if (--refs_ == 0) {
            delete this;
        }
    }

    /// Stops accepting and cancels every connection's handler (see server::close).
    void close() noexcept {
        if (closing_) {
            return;
        }
        closing_ = true;
        for (list_node* n = children_.front(); n != nullptr && n != children_.end();) {
            list_node* next = n->next_;
            try {
                (void)static_cast<server_child::link*>(n)->owner->task_->cancel({});
            } catch (...) { // NOLINT(bugprone-empty-catch): an empty message is never copied
            }
            n = next;
        }
        maybe_closed();
    }

    /// Adopts a task to track (an accept loop, or a connection's).
    void track(task_base* t, server_child* child, bool accept_loop) noexcept {
        child->link_.owner = child;
        child->task_ = t;
        child->core_ = this;
        child->accept_loop_ = accept_loop;
        child->wake_ = &on_child_done;
        child->drop_ = &on_child_dropped;
        t->add_waiter(*child);
        children_.push_back(child->link_);
        ++(accept_loop ? accept_loops_ : connections_);
    }

    /// Wraps an accepted fd in a stream pair and starts its handler task. A connection that
    /// cannot be set up (reset before it is served, out of fds) is reported and dropped.
    void spawn(int fd) noexcept;

    std::vector<endpoint> addresses_;
    std::string unix_path_; // a Unix server's socket file, removed when the core goes
    ::dev_t unix_dev_ = 0;
    ::ino_t unix_ino_ = 0;
    event closed_;
    server_options options_;
    std::size_t connections_ = 0;
    std::size_t accept_loops_ = 0;
    bool closing_ = false;

  protected:
    explicit server_core(server_options options) noexcept : options_(options) {}

  private:
    static void on_child_done(waiter* w) noexcept {
        auto* c = static_cast<server_child*>(w);
        server_core* core = c->core_;
        const bool accept_loop = c->accept_loop_;
        c->link_.unlink();
        delete c;
        --(accept_loop ? core->accept_loops_ : core->connections_);
        if (accept_loop && !core->closing_ && core->accept_loops_ == 0) {
            core->close(); // no listener is left (a fatal accept error): the server is done
        }
        core->maybe_closed();
    }
    /// The task's state went without completing (only while the loop is torn down): the core
    /// may be gone already, so only the node is freed.
    static void on_child_dropped(waiter* w) noexcept {
        auto* c = static_cast<server_child*>(w);
        c->link_.unlink();
        delete c;
    }
    void maybe_closed() noexcept {
        if (closing_ && connections_ == 0 && accept_loops_ == 0 && !closed_.is_set()) {
            closed_.set();
        }
    }
    void remove_unix_path() noexcept {
        // asyncio 3.13's cleanup_socket: only if the file is still the one this server bound.
        struct ::stat st {};
        if (::stat(unix_path_.c_str(), &st) == 0 && st.st_dev == unix_dev_ &&
            st.st_ino == unix_ino_ && S_ISSOCK(st.st_mode)) {
            (void)::unlink(unix_path_.c_str());
        }
    }

    intrusive_list children_;
    unsigned refs_ = 1;
};

template <class Handler> class server_impl final : public server_core {
  public:
    server_impl(Handler h, server_options options) : server_core(options), handler_(std::move(h)) {}
    task<> handle(stream_reader& reader, stream_writer& writer) override {
        return handler_(reader, writer);
    }

  private:
    Handler handler_;
};

/// One counted reference to a server_core, held by the tasks that use it.
class core_ref {
  public:
    explicit core_ref(server_core* c) noexcept : c_(c) { c_->add_ref(); }
    core_ref(core_ref&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
    core_ref(const core_ref&) = delete;
    core_ref& operator=(const core_ref&) = delete;
    core_ref& operator=(core_ref&&) = delete;
    ~core_ref() {
        if (c_ != nullptr) {
            c_->release();
        }
    }
    server_core* operator->() const noexcept { return c_; }

  private:
    server_core* c_;
};

inline void report_server_error(const char* what, const std::string& peer,
                                std::exception_ptr e) noexcept {
    std::string text = "unknown exception";
    try {
        std::rethrow_exception(std::move(e));
    } catch (const std::exception& x) {
        text = x.what();
    } catch (...) { // NOLINT(bugprone-empty-catch): the default text says it
    }
    std::fprintf(stderr, "eddy::server: %s%s%s: %s\n", what, peer.empty() ? "" : " ", peer.c_str(),
                 text.c_str());
}

/// One connection: the handler, then a graceful close that flushes what it wrote. A failing
/// handler is reported and the server goes on (asyncio logs it the same way); a cancelled one
/// (the server closed) has its connection aborted.
inline task<> serve_connection(core_ref core, stream_reader reader, stream_writer writer,
                               std::string peer) {
    bool cancelled = false;
    try {
        co_await core->handle(reader, writer);
    } catch (const cancelled_error&) {
        cancelled = true;
    } catch (...) {
        report_server_error("the handler failed for the connection from", peer,
                            std::current_exception());
    }
    if (cancelled) {
        writer.abort();
        co_return;
    }
    writer.close(); // no-op if the handler closed it; either way what it wrote is flushed
    bool flushed = true;
    try {
        co_await writer.wait_closed();
    } catch (...) {
        flushed = false; // cancelled (the server closed) or the peer went away: nothing to keep
    }
    if (!flushed) {
        writer.abort();
    }
}

inline void server_core::spawn(int fd) noexcept {
    socket s(fd);
    try {
        endpoint peer = s.peer_endpoint();
        if (options_.nodelay && peer.is_ip()) {
            s.set_nodelay(true);
        }
        std::string name = peer.to_string();
        connection c = make_connection(std::move(s), options_.limit, name);
        auto* child = new server_child;
        task_handle<void> h;
        try {
            h = create_task(serve_connection(core_ref(this), std::move(c.reader),
                                             std::move(c.writer), std::move(name)));
        } catch (...) {
            delete child;
            throw;
        }
        track(h.state(), child, false);
    } catch (...) {
        report_server_error("dropped a connection", {}, std::current_exception());
    }
}

[[nodiscard]] inline bool transient_accept_error(int err) noexcept {
    return err == ECONNABORTED || err == EPROTO || err == EPERM || err == EAGAIN || err == EINTR ||
           err == ENETDOWN || err == EHOSTUNREACH || err == ENETUNREACH;
}
[[nodiscard]] inline bool resource_accept_error(int err) noexcept {
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

/// Accepts connections on one listener until cancelled (server::close) or a fatal error.
inline task<> accept_loop(core_ref core, socket listener) {
    acceptor acc(listener.fd());
    for (;;) {
        std::optional<int> fd;
        int err = 0;
        try {
            fd = co_await acc.wait();
        } catch (const std::system_error& e) {
            err = e.code().value();
        }
        if (fd) {
            core->spawn(*fd);
        } else if (resource_accept_error(err)) {
            // Out of fds or memory: pause before trying again, as asyncio does (1 s), so the
            // loop does not spin while connections wait in the backlog.
            report_server_error("accept failed; retrying in 1 s",
                                listener.local_endpoint().to_string(),
                                std::make_exception_ptr(std::system_error(
                                    err, std::system_category(), "eddy::server: accept")));
            co_await sleep(std::chrono::seconds(1));
        } else if (err != 0 && !transient_accept_error(err)) {
            report_server_error("stopped listening on", listener.local_endpoint().to_string(),
                                std::make_exception_ptr(std::system_error(
                                    err, std::system_category(), "eddy::server: accept")));
            co_return;
        }
    }
}

inline task<> wait_server_closed(core_ref core) {
    co_await core->closed_.wait();
}

inline task<> serve_forever(core_ref core) {
    std::exception_ptr cancellation;
    try {
        co_await core->closed_.wait();
    } catch (const cancelled_error&) {
        cancellation = std::current_exception();
    }
    if (cancellation) {
        // asyncio: a cancelled serve_forever closes the server and waits for it.
        core->close();
        co_await core->closed_.wait();
        std::rethrow_exception(cancellation);
    }
}

} // namespace detail

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
    /// close_clients()): each handler gets cancelled_error at its current await and its
    /// connection is aborted. Returns at once; wait_closed() waits for all of it. Idempotent.
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
            h = create_task(accept_loop(core_ref(core), std::move(l)));
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
/// kernel choose (server::port() tells which). The handler is called as
/// `handler(eddy::stream_reader&, eddy::stream_writer&)` and returns eddy::task<>; the
/// connection's reader and writer live until its task ends. When the handler returns, the
/// writer is closed after flushing what was written; when it throws, the error is written to
/// stderr with the peer's address and the server goes on serving.
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

/// Listens on the Unix-domain socket `path` (asyncio.start_unix_server); a stale socket file
/// left there is removed first, and the file is removed when the server is gone (if it is
/// still the one this server made). A leading '\0' makes an abstract address (no file).
/// Otherwise as start_server; throws std::system_error (EADDRINUSE when a live server or a
/// non-socket file holds the path...), std::invalid_argument for a path that does not fit.
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
