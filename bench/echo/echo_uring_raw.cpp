// eddy benchmarks, W5 — the practical limit: a minimal echo server on plain liburing, no
// framework. One ring (SINGLE_ISSUER | DEFER_TASKRUN, falling back to COOP_TASKRUN, then to no
// flags on older kernels), one submit_and_wait per loop turn, every completion of the turn
// reaped at once. Per connection: accept, then recv -> send (the rest again if short) -> recv.
// user_data is the connection's address with the operation's kind in its low bits.
#include "echo_common.hpp"

#include <liburing.h>

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

enum kind : std::uintptr_t { k_accept = 0, k_recv = 1, k_send = 2, k_signal = 3 };

struct alignas(8) connection {
    int fd = -1;
    std::uint32_t len = 0;  // bytes received, to echo
    std::uint32_t sent = 0; // of which sent
    char buf[echo::buffer_size];
};

io_uring ring;

[[noreturn]] void die(const char* what, int err) {
    std::fprintf(stderr, "echo_uring_raw: %s: %s\n", what, std::strerror(err));
    std::exit(1);
}

io_uring_sqe* sqe() {
    for (;;) {
        if (io_uring_sqe* s = io_uring_get_sqe(&ring)) {
            return s;
        }
        io_uring_submit(&ring);
    }
}

std::uint64_t tag(void* p, kind k) {
    return reinterpret_cast<std::uintptr_t>(p) | k;
}

void arm_accept(int listen_fd) {
    io_uring_sqe* s = sqe();
    io_uring_prep_accept(s, listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(s, tag(nullptr, k_accept));
}
void arm_recv(connection* c) {
    io_uring_sqe* s = sqe();
    io_uring_prep_recv(s, c->fd, c->buf, sizeof c->buf, 0);
    io_uring_sqe_set_data64(s, tag(c, k_recv));
}
void arm_send(connection* c) {
    io_uring_sqe* s = sqe();
    io_uring_prep_send(s, c->fd, c->buf + c->sent, c->len - c->sent, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, tag(c, k_send));
}
void drop(connection* c) {
    ::close(c->fd);
    delete c;
}

void setup_ring() {
    const unsigned candidates[] = {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
                                   IORING_SETUP_COOP_TASKRUN, 0};
    int rc = -EINVAL;
    for (unsigned flags : candidates) {
        io_uring_params p{};
        p.flags = flags;
        rc = io_uring_queue_init_params(1024, &ring, &p);
        if (rc != -EINVAL) {
            break;
        }
    }
    if (rc < 0) {
        die("io_uring_queue_init_params", -rc);
    }
}

} // namespace

int main(int argc, char** argv) {
    const echo::server_args args = echo::parse_server_args(argc, argv);
    echo::pin_to_cpu(args.cpu);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    ::sigprocmask(SIG_BLOCK, &mask, nullptr);
    const int sfd = ::signalfd(-1, &mask, SFD_CLOEXEC);
    if (sfd < 0) {
        die("signalfd", errno);
    }

    const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_port = htons(static_cast<std::uint16_t>(args.port));
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(lfd, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0 || ::listen(lfd, 128) != 0) {
        die("bind/listen", errno);
    }
    socklen_t len = sizeof at;
    ::getsockname(lfd, reinterpret_cast<sockaddr*>(&at), &len);

    setup_ring();
    signalfd_siginfo si{};
    io_uring_sqe* s = sqe();
    io_uring_prep_read(s, sfd, &si, sizeof si, 0);
    io_uring_sqe_set_data64(s, tag(nullptr, k_signal));
    arm_accept(lfd);
    echo::announce(ntohs(at.sin_port));

    bool stop = false;
    while (!stop) {
        const int rc = io_uring_submit_and_wait(&ring, 1);
        if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
            die("io_uring_submit_and_wait", -rc);
        }
        io_uring_cqe* cqe = nullptr;
        unsigned head = 0;
        unsigned seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            ++seen;
            const std::uint64_t ud = cqe->user_data;
            const int res = cqe->res;
            // NOLINTNEXTLINE(performance-no-int-to-ptr): user_data is a tagged pointer, by design
            auto* c = reinterpret_cast<connection*>(ud & ~std::uint64_t{7});
            switch (static_cast<kind>(ud & 7)) {
            case k_accept:
                if (res >= 0) {
                    ::setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    auto* fresh = new connection;
                    fresh->fd = res;
                    arm_recv(fresh);
                }
                arm_accept(lfd);
                break;
            case k_recv:
                if (res <= 0) {
                    drop(c);
                } else {
                    c->len = static_cast<std::uint32_t>(res);
                    c->sent = 0;
                    arm_send(c);
                }
                break;
            case k_send:
                if (res < 0) {
                    drop(c);
                } else {
                    c->sent += static_cast<std::uint32_t>(res);
                    if (c->sent < c->len) {
                        arm_send(c);
                    } else {
                        arm_recv(c);
                    }
                }
                break;
            case k_signal:
                stop = true;
                break;
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
    io_uring_queue_exit(
        &ring); // cancels what is left; the connections' memory goes with the process
    ::close(lfd);
    ::close(sfd);
    return 0;
}
