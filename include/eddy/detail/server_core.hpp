// eddy — what a server's tasks share: the handler, the tracked accept loops and connections,
// and the accept loop and per-connection task themselves (server.hpp is the public side).
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
    virtual ~server_core() = default;

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
        stop_serving();
        if (children_cancelled_) {
            return;
        }
        children_cancelled_ = true;
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
    std::string unix_path_; // a Unix server's socket file, removed when it stops serving
    ::dev_t unix_dev_ = 0;
    ::ino_t unix_ino_ = 0;
    event closed_;
    server_options options_;
    std::size_t connections_ = 0;
    std::size_t accept_loops_ = 0;
    bool closing_ = false;            // not serving any more (close(), or no listener left)
    bool children_cancelled_ = false; // close() cancelled the connections

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
        if (accept_loop && core->accept_loops_ == 0) {
            // No listener is left (a fatal accept error): the server stops serving, and is
            // closed once its connections end; they are not cut short (asyncio's behaviour).
            core->stop_serving();
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
    /// No more connections: is_serving() turns false and a Unix server's file goes.
    void stop_serving() noexcept {
        if (closing_) {
            return;
        }
        closing_ = true;
        if (!unix_path_.empty()) {
            // asyncio 3.13's cleanup_socket, done while the listener is still bound, so the
            // inode cannot have been reused: the file goes only if it is still this server's.
            struct ::stat st {};
            if (::stat(unix_path_.c_str(), &st) == 0 && st.st_dev == unix_dev_ &&
                st.st_ino == unix_ino_ && S_ISSOCK(st.st_mode)) {
                (void)::unlink(unix_path_.c_str());
            }
            unix_path_.clear();
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
    // No allocation here: this also reports std::bad_alloc.
    const char* text = "unknown exception";
    try {
        std::rethrow_exception(std::move(e));
    } catch (const std::exception& x) {
        std::fprintf(stderr, "eddy::server: %s%s%s: %s\n", what, peer.empty() ? "" : " ",
                     peer.c_str(), x.what());
        return;
    } catch (...) { // NOLINT(bugprone-empty-catch): the default text says it
    }
    std::fprintf(stderr, "eddy::server: %s%s%s: %s\n", what, peer.empty() ? "" : " ", peer.c_str(),
                 text);
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
    if (cancelled || core->children_cancelled_) {
        // Cancelled, or the server closed while the handler ran (it swallowed the
        // cancellation): no unbounded flush to a peer that may never read.
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
        std::optional<endpoint> peer;
        try {
            peer = s.peer_endpoint();
        } catch (const std::system_error&) {
            // ENOTCONN: the client reset the connection after the kernel accepted it. What it
            // sent before is still there to read, so the handler runs (asyncio takes the
            // address from accept and runs it too), with no peer name; its reads report the
            // reset.
        }
        if (peer && options_.nodelay && peer->is_ip()) {
            s.set_nodelay(true);
        }
        std::string name = peer ? peer->to_string() : std::string();
        connection c = make_connection(std::move(s), options_.limit, name);
        auto* child = new server_child;
        task_handle<void> h;
        try {
            // Lazy whatever the loop's default: track() below listens for the end of a task
            // that has not started yet.
            h = create_task(serve_connection(core_ref(this), std::move(c.reader),
                                             std::move(c.writer), std::move(name)),
                            task_options{.eager_start = false});
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
        if (core->closing_) {
            // close() came while this loop was about to run (its cancellation is pending):
            // refuse what was accepted; the next wait delivers the cancellation, which ends
            // the kernel's accept before this frame (and the acceptor) goes.
            if (fd) {
                ::close(*fd);
            }
            continue;
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

} // namespace eddy
