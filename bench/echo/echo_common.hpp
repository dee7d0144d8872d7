// eddy benchmarks, W5 (TCP echo) — what every echo server shares: its command line, CPU
// pinning, and the "ready" line the run script waits for.
//
// Every server: listens on 127.0.0.1:<port> (0: the kernel chooses), echoes every byte it
// receives on the same connection, prints "port <n>" on stdout once it accepts, and exits
// cleanly on SIGTERM or SIGINT.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sched.h>
#include <string>
#include <string_view>

namespace echo {

/// Bytes each connection reads at a time (the same for every server).
inline constexpr std::size_t buffer_size = 16 * 1024;

struct server_args {
    int port = 0;
    int cpu = -1;       // -1: not pinned
    std::string server; // eddy's executable: "streams" or "socket"
};

inline server_args parse_server_args(int argc, char** argv) {
    server_args a;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg.starts_with("--port=")) {
            a.port = std::atoi(argv[i] + 7);
        } else if (arg.starts_with("--cpu=")) {
            a.cpu = std::atoi(argv[i] + 6);
        } else if (arg.starts_with("--server=")) {
            a.server = std::string(arg.substr(9));
        } else {
            std::fprintf(stderr, "usage: %s [--port=N] [--cpu=N] [--server=KIND]\n", argv[0]);
            std::exit(2);
        }
    }
    return a;
}

/// Pins the calling thread (and the threads it starts later) to `cpu`; no-op for -1.
inline void pin_to_cpu(int cpu) {
    if (cpu < 0) {
        return;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (::sched_setaffinity(0, sizeof set, &set) != 0) {
        std::fprintf(stderr, "echo: sched_setaffinity(%d): %s\n", cpu, std::strerror(errno));
        std::exit(1);
    }
}

/// The line the run script waits for.
inline void announce(int port) {
    std::printf("port %d\n", port);
    std::fflush(stdout);
}

} // namespace echo
