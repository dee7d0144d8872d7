// eddy benchmarks, W5 — the load generator, the same for every server: plain C++ on epoll
// (neither eddy nor Asio, so it favours no contender).
//
//   echo_load --port=N [--conns=50] [--size=64] [--seconds=3] [--warmup=0.5] [--cpu=1]
//             [--server-pid=PID] [--label=NAME]
//
// Each connection keeps exactly one message in flight: send `size` bytes, wait until all of
// them came back (checked byte for byte), send the next. After the warm-up, messages completed
// during `seconds` are counted. With --server-pid the server's CPU time over the same window
// is read from /proc (user and system separately), giving the server's CPU cost per message,
// which does not depend on whether the load generator or the server was the bottleneck.
// Prints one line: label=... size=... conns=... msgs_per_s=... server_cpu_pct=...
// server_usr_pct=... server_sys_pct=... server_us_per_msg=... load_cpu_pct=... total_msgs=...
// (total_msgs: every message, warm-up included, for counters read over the whole run)
#include "echo_common.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string>
#include <string_view>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

[[noreturn]] void die(const char* what, int err) {
    std::fprintf(stderr, "echo_load: %s: %s\n", what, std::strerror(err));
    std::exit(1);
}

struct connection {
    int fd = -1;
    std::vector<char> out; // the message in flight
    std::vector<char> in;  // what came back so far
    std::size_t got = 0;
    std::uint64_t seq = 0;
};

/// Fills the message with a pattern that changes every message, so a server that echoed stale
/// or misplaced bytes is caught.
void next_message(connection& c, std::size_t index) {
    ++c.seq;
    const auto base = static_cast<unsigned char>(c.seq * 131 + index * 7);
    for (std::size_t i = 0; i < c.out.size(); ++i) {
        c.out[i] = static_cast<char>(base + i);
    }
    c.got = 0;
}

void send_all(const connection& c) {
    std::size_t off = 0;
    while (off < c.out.size()) {
        const ssize_t n = ::send(c.fd, c.out.data() + off, c.out.size() - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += static_cast<std::size_t>(n);
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            pollfd p{c.fd, POLLOUT, 0};
            ::poll(&p, 1, 1000);
        } else {
            die("send", n < 0 ? errno : EPIPE);
        }
    }
}

struct cpu_times {
    double usr = 0; // seconds
    double sys = 0;
};

/// A process's user and system CPU time from /proc/<pid>/stat (fields 14 and 15).
cpu_times process_cpu(long pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const std::size_t close = text.rfind(')'); // the command name may hold spaces
    cpu_times t;
    if (close == std::string::npos) {
        return t;
    }
    const char* p = text.c_str() + close + 2;
    for (int field = 3; field < 14; ++field) { // skip fields 3..13
        p = std::strchr(p, ' ');
        if (p == nullptr) {
            return t;
        }
        ++p;
    }
    const auto hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
    char* end = nullptr;
    t.usr = static_cast<double>(std::strtoull(p, &end, 10)) / hz;
    t.sys = static_cast<double>(std::strtoull(end, nullptr, 10)) / hz;
    return t;
}

double own_cpu() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

} // namespace

int main(int argc, char** argv) {
    int port = 0;
    int conns = 50;
    std::size_t size = 64;
    double seconds = 3;
    double warmup = 0.5;
    int cpu = -1;
    long server_pid = 0;
    std::string label = "server";
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        const char* v = std::strchr(argv[i], '=');
        v = v != nullptr ? v + 1 : "";
        if (a.starts_with("--port=")) {
            port = std::atoi(v);
        } else if (a.starts_with("--conns=")) {
            conns = std::atoi(v);
        } else if (a.starts_with("--size=")) {
            size = std::strtoull(v, nullptr, 10);
        } else if (a.starts_with("--seconds=")) {
            seconds = std::atof(v);
        } else if (a.starts_with("--warmup=")) {
            warmup = std::atof(v);
        } else if (a.starts_with("--cpu=")) {
            cpu = std::atoi(v);
        } else if (a.starts_with("--server-pid=")) {
            server_pid = std::atol(v);
        } else if (a.starts_with("--label=")) {
            label = v;
        } else {
            std::fprintf(stderr, "echo_load: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (port <= 0 || conns <= 0 || size == 0 || seconds <= 0) {
        std::fprintf(stderr, "echo_load: --port is required; conns, size, seconds positive\n");
        return 2;
    }
    echo::pin_to_cpu(cpu);

    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    std::vector<connection> cs(static_cast<std::size_t>(conns));
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_port = htons(static_cast<std::uint16_t>(port));
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (std::size_t i = 0; i < cs.size(); ++i) {
        connection& c = cs[i];
        c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (::connect(c.fd, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0) {
            die("connect", errno);
        }
        const int one = 1;
        ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int fl = 1;
        if (::ioctl(c.fd, FIONBIO, &fl) != 0) {
            die("FIONBIO", errno);
        }
        c.out.resize(size);
        c.in.resize(size);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    }

    const auto start = clock_type::now();
    const auto measure_from = start + std::chrono::duration<double>(warmup);
    const auto measure_to = measure_from + std::chrono::duration<double>(seconds);
    for (std::size_t i = 0; i < cs.size(); ++i) {
        next_message(cs[i], i);
        send_all(cs[i]);
    }

    bool measuring = false;
    std::uint64_t done = 0;
    std::uint64_t total = 0; // warm-up included
    cpu_times server0{};
    double load0 = 0;
    clock_type::time_point t0{};
    std::vector<epoll_event> events(cs.size());
    for (;;) {
        const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
        if (n < 0 && errno != EINTR) {
            die("epoll_wait", errno);
        }
        for (int k = 0; k < n; ++k) {
            const std::size_t i = events[static_cast<std::size_t>(k)].data.u64;
            connection& c = cs[i];
            const ssize_t r = ::recv(c.fd, c.in.data() + c.got, size - c.got, 0);
            if (r == 0) {
                std::fprintf(stderr, "echo_load: %s closed connection %zu\n", label.c_str(), i);
                return 1;
            }
            if (r < 0) {
                if (errno == EAGAIN || errno == EINTR) {
                    continue;
                }
                die("recv", errno);
            }
            c.got += static_cast<std::size_t>(r);
            if (c.got == size) {
                if (std::memcmp(c.in.data(), c.out.data(), size) != 0) {
                    std::fprintf(stderr, "echo_load: %s echoed wrong bytes on connection %zu\n",
                                 label.c_str(), i);
                    return 1;
                }
                ++done;
                ++total;
                next_message(c, i);
                send_all(c);
            }
        }
        const auto now = clock_type::now();
        if (!measuring && now >= measure_from) {
            measuring = true;
            done = 0;
            t0 = now;
            load0 = own_cpu();
            if (server_pid > 0) {
                server0 = process_cpu(server_pid);
            }
        } else if (measuring && now >= measure_to) {
            const double wall = std::chrono::duration<double>(now - t0).count();
            const double load = own_cpu() - load0;
            cpu_times server1{};
            if (server_pid > 0) {
                server1 = process_cpu(server_pid);
            }
            const double usr = server1.usr - server0.usr;
            const double sys = server1.sys - server0.sys;
            const double rate = static_cast<double>(done) / wall;
            std::printf("label=%s size=%zu conns=%d msgs_per_s=%.0f", label.c_str(), size, conns,
                        rate);
            if (server_pid > 0) {
                std::printf(" server_cpu_pct=%.1f server_usr_pct=%.1f server_sys_pct=%.1f "
                            "server_us_per_msg=%.3f",
                            100 * (usr + sys) / wall, 100 * usr / wall, 100 * sys / wall,
                            done > 0 ? 1e6 * (usr + sys) / static_cast<double>(done) : 0.0);
            }
            std::printf(" load_cpu_pct=%.1f total_msgs=%llu\n", 100 * load / wall,
                        static_cast<unsigned long long>(total));
            break;
        }
    }
    // A graceful end: each server sees end of file after echoing the message in flight, not a
    // reset (which some servers would report as an error).
    for (connection& c : cs) {
        ::shutdown(c.fd, SHUT_WR);
    }
    for (connection& c : cs) {
        for (;;) {
            pollfd p{c.fd, POLLIN, 0};
            if (::poll(&p, 1, 2000) <= 0) {
                break;
            }
            const ssize_t r = ::recv(c.fd, c.in.data(), c.in.size(), 0);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                break;
            }
        }
        ::close(c.fd);
    }
    ::close(ep);
    return 0;
}
