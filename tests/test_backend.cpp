// The loop's backend choice (io_uring, else epoll; EDDY_BACKEND; loop_options::backend) and the
// reactors under injected faults (detail/faults.hpp): ring setup failing, EINTR while waiting, a
// full submission queue, EBUSY on submit, short transfers, EAGAIN. Each fault case moves real
// data and checks that none is lost, nothing hangs and no frame or fd leaks.
#include "helpers.hpp"

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <fcntl.h>
#include <liburing.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <optional>
#include <poll.h>
#include <string>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>

using namespace std::chrono_literals;
using eddy::backend_kind;
using eddy::detail::fault_plan;
using eddy::detail::fault_scope;
using eddy_test::env_var;
using eddy_test::open_fds;
using eddy_test::pattern;

namespace {

eddy::task<> echo(eddy::stream_reader& r, eddy::stream_writer& w) {
    std::vector<std::byte> buf(std::size_t{16} * 1024);
    for (;;) {
        const std::size_t n = co_await r.read_some(buf);
        if (n == 0) {
            co_return;
        }
        w.write(std::span(buf).first(n));
        co_await w.drain();
    }
}

eddy::task<> pipe_writer(eddy::stream_writer& w, const std::string& data) {
    for (std::size_t at = 0; at < data.size(); at += 10'000) {
        w.write(std::string_view(data).substr(at, 10'000));
        co_await w.drain();
    }
    w.close();
    co_await w.wait_closed();
}

eddy::task<std::string> tcp_echo_round(const std::string& data) {
    eddy::server srv = co_await eddy::start_server(echo, "127.0.0.1", 0);
    auto [r, w] = co_await eddy::open_connection("127.0.0.1", srv.port());
    auto reply = eddy::create_task(r.read_exactly(data.size()));
    w.write(data);
    co_await w.drain();
    std::string got = co_await reply;
    w.close();
    co_await w.wait_closed();
    srv.close();
    co_await srv.wait_closed();
    co_return got;
}

/// Moves `size` bytes through a pipe and through a TCP echo on a loop with `opts`; both must
/// arrive whole and in order. Returns the loop's backend name.
std::string move_data(eddy::loop_options opts, std::size_t size) {
    const std::string data = pattern(size);
    const auto frames = eddy::live_frames();
    const auto fds = open_fds();
    std::string backend;
    eddy::run(
        [&]() -> eddy::task<> {
            backend = eddy::get_running_loop().backend();
            auto [r, w] = eddy::pipe();
            auto sender = eddy::create_task(pipe_writer(w, data));
            const std::string through_pipe = co_await r.read();
            co_await sender;
            CHECK(through_pipe.size() == data.size());
            CHECK(through_pipe == data);
            const std::string through_tcp = co_await tcp_echo_round(data);
            CHECK(through_tcp.size() == data.size());
            CHECK(through_tcp == data);
            co_await eddy::sleep(1ms);
        }(),
        opts);
    CHECK(eddy::live_frames() == frames);
    CHECK(open_fds() == fds);
    return backend;
}

eddy::loop_options on(backend_kind k) {
    eddy::loop_options o;
    o.backend = k;
    return o;
}

} // namespace

TEST_CASE("the loop runs on io_uring by default and says why", "[backend]") {
    env_var unset("EDDY_BACKEND", nullptr);
    eddy::event_loop loop;
    CHECK(std::string(loop.backend()) == "io_uring");
    CHECK(loop.backend_reason() == "io_uring works here");
}

TEST_CASE("EDDY_BACKEND=epoll and loop_options::backend force epoll, and every kind of "
          "operation works on it",
          "[backend]") {
    SECTION("by the environment") {
        env_var forced("EDDY_BACKEND", "epoll");
        eddy::event_loop loop;
        CHECK(std::string(loop.backend()) == "epoll");
        CHECK(loop.backend_reason() == "forced by EDDY_BACKEND=epoll");
        CHECK(move_data({}, 300'000) == "epoll");
    }
    SECTION("by the loop option, which wins over the environment") {
        env_var forced("EDDY_BACKEND", "io_uring");
        eddy::event_loop loop(on(backend_kind::epoll));
        CHECK(std::string(loop.backend()) == "epoll");
        CHECK(loop.backend_reason() == "forced by loop_options::backend");
    }
}

TEST_CASE("an unknown EDDY_BACKEND value is a clear error", "[backend]") {
    env_var bad("EDDY_BACKEND", "kqueue");
    try {
        eddy::event_loop loop;
        FAIL("the loop started");
    } catch (const eddy::loop_error& e) {
        CHECK(std::string(e.what()).find("\"kqueue\"") != std::string::npos);
    }
}

TEST_CASE("when io_uring setup fails the loop falls back to epoll and says why", "[backend]") {
    env_var unset("EDDY_BACKEND", nullptr);
    const auto [err, name] = GENERATE(table<int, const char*>({{EPERM, "EPERM"},
                                                               {ENOSYS, "ENOSYS"},
                                                               {EOPNOTSUPP, "EOPNOTSUPP"},
                                                               {EINVAL, "EINVAL"},
                                                               {ENOMEM, "ENOMEM"}}));
    INFO(name);
    fault_plan plan;
    plan.uring_setup_errno = err;
    fault_scope scope(plan);
    {
        eddy::event_loop loop;
        CHECK(std::string(loop.backend()) == "epoll");
        CHECK(loop.backend_reason().find("io_uring setup failed") != std::string::npos);
        CHECK(loop.backend_reason().find(name) != std::string::npos);
    }
    CHECK(plan.injected > 0);
    CHECK(move_data({}, 100'000) == "epoll");
}

TEST_CASE("forcing io_uring where it cannot start throws its errno", "[backend]") {
    env_var unset("EDDY_BACKEND", nullptr);
    fault_plan plan;
    plan.uring_setup_errno = EPERM;
    fault_scope scope(plan);
    try {
        eddy::event_loop loop(on(backend_kind::io_uring));
        FAIL("the loop started");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == EPERM);
        CHECK(std::string(e.what()).find("io_uring forced by loop_options::backend") !=
              std::string::npos);
    }
    env_var forced("EDDY_BACKEND", "io_uring");
    CHECK_THROWS_AS(eddy::event_loop(), std::system_error);
}

TEST_CASE("a kernel without an opcode eddy needs gets epoll, and forcing io_uring there is an "
          "error",
          "[backend]") {
    env_var unset("EDDY_BACKEND", nullptr);
    fault_plan plan;
    plan.uring_missing_ops = 1U << static_cast<unsigned>(eddy::detail::op_kind::shutdown);
    fault_scope scope(plan);
    {
        eddy::event_loop loop;
        CHECK(std::string(loop.backend()) == "epoll");
        CHECK(loop.backend_reason() == "io_uring lacks IORING_OP_SHUTDOWN (kernel too old)");
    }
    try {
        eddy::event_loop loop(on(backend_kind::io_uring));
        FAIL("the loop started");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == EOPNOTSUPP);
        CHECK(std::string(e.what()).find("IORING_OP_SHUTDOWN") != std::string::npos);
    }
}

TEST_CASE("newer io_uring setup flags are dropped one by one when the kernel refuses them",
          "[backend]") {
    env_var unset("EDDY_BACKEND", nullptr);
    fault_plan plan;
    SECTION("no DEFER_TASKRUN: SINGLE_ISSUER with COOP_TASKRUN") {
        plan.uring_einval_flags = IORING_SETUP_DEFER_TASKRUN;
        fault_scope scope(plan);
        eddy::event_loop loop;
        REQUIRE(std::string(loop.backend()) == "io_uring");
        const unsigned flags = dynamic_cast<eddy::detail::uring_reactor&>(loop.io()).setup_flags();
        CHECK((flags & IORING_SETUP_DEFER_TASKRUN) == 0);
        CHECK((flags & IORING_SETUP_SINGLE_ISSUER) != 0);
        CHECK((flags & IORING_SETUP_COOP_TASKRUN) != 0);
    }
    SECTION("none of them: a plain ring") {
        plan.uring_einval_flags = IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER |
                                  IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL;
        fault_scope scope(plan);
        eddy::event_loop loop;
        REQUIRE(std::string(loop.backend()) == "io_uring");
        CHECK(dynamic_cast<eddy::detail::uring_reactor&>(loop.io()).setup_flags() == 0);
    }
    CHECK(plan.injected > 0);
}

TEST_CASE("EDDY_DEBUG=1 prints the backend and why it was chosen", "[backend]") {
    env_var debug("EDDY_DEBUG", "1");
    env_var forced("EDDY_BACKEND", "epoll");
    const std::string err = eddy_test::capture_stderr([] { eddy::event_loop loop; });
    CHECK(err == "eddy: loop backend: epoll (forced by EDDY_BACKEND=epoll)\n");
}

TEST_CASE("EINTR while waiting loses no timer and no completion", "[backend][faults]") {
    const backend_kind kind = GENERATE(backend_kind::io_uring, backend_kind::epoll);
    fault_plan plan;
    plan.wait_eintr = 1'000'000;
    fault_scope scope(plan);
    const auto start = eddy::clock::now();
    std::vector<int> fired;
    eddy::run(
        [&]() -> eddy::task<> {
            auto t = [&](int i) -> eddy::task<> {
                co_await eddy::sleep(std::chrono::milliseconds(5 * i));
                fired.push_back(i);
            };
            std::vector<eddy::task<>> all;
            for (int i = 5; i >= 1; --i) {
                all.push_back(t(i));
            }
            co_await eddy::gather(std::move(all));
        }(),
        on(kind));
    CHECK(fired == std::vector<int>{1, 2, 3, 4, 5});
    CHECK(eddy_test::ms_since(start) >= 25);
    CHECK(plan.injected > 0);
    CHECK(move_data(on(kind), 200'000).size() > 0);
}

TEST_CASE("short reads and writes lose and reorder no byte", "[backend][faults]") {
    const backend_kind kind = GENERATE(backend_kind::io_uring, backend_kind::epoll);
    fault_plan plan;
    plan.short_io = 1'000'000;
    plan.short_len = 777;
    fault_scope scope(plan);
    CHECK(move_data(on(kind), 250'000).size() > 0);
    CHECK(plan.injected > 100);
}

TEST_CASE("an operation that would block (EAGAIN) waits for readiness and runs again",
          "[backend][faults]") {
    const backend_kind kind = GENERATE(backend_kind::io_uring, backend_kind::epoll);
    fault_plan plan;
    plan.eagain = 1'000'000;
    fault_scope scope(plan);
    CHECK(move_data(on(kind), 250'000).size() > 0);
    CHECK(plan.injected > 10);
}

TEST_CASE("a full submission queue and EBUSY on submit are flushed, reaped and retried",
          "[backend][faults]") {
    fault_plan plan;
    plan.sq_full = 200;
    plan.submit_ebusy = 100;
    fault_scope scope(plan);
    eddy::loop_options opts = on(backend_kind::io_uring);
    opts.ring_entries = 4; // a tiny ring: its completion queue overflows too
    int done = 0;
    eddy::run(
        [&]() -> eddy::task<> {
            auto one = [&]() -> eddy::task<> {
                co_await eddy::nop();
                ++done;
            };
            std::vector<eddy::task<>> all;
            all.reserve(2000);
            for (int i = 0; i < 2000; ++i) {
                all.push_back(one());
            }
            co_await eddy::gather(std::move(all));
        }(),
        opts);
    CHECK(done == 2000);
    CHECK(plan.injected == 300);
    CHECK(move_data(opts, 100'000) == "io_uring");
}

TEST_CASE("an fd someone else made O_NONBLOCK is still waited for, and such a wait can be "
          "cancelled",
          "[backend]") {
    const backend_kind kind = GENERATE(backend_kind::io_uring, backend_kind::epoll);
    eddy_test::pipe_pair p;
    REQUIRE(::fcntl(p.r, F_SETFL, ::fcntl(p.r, F_GETFL) | O_NONBLOCK) == 0);
    eddy::run(
        [&]() -> eddy::task<> {
            std::array<std::byte, 8> buf{};
            auto later = [&]() -> eddy::task<> {
                co_await eddy::sleep(20ms);
                (void)::write(p.w, "hi", 2);
            };
            auto writer = eddy::create_task(later());
            const std::size_t n = co_await eddy::read_some(p.r, buf);
            CHECK(n == 2);
            co_await writer;

            auto reader = [&]() -> eddy::task<std::size_t> {
                co_return co_await eddy::read_some(p.r, buf);
            };
            auto blocked = eddy::create_task(reader());
            co_await eddy::sleep(10ms);
            CHECK_FALSE(blocked.done());
            blocked.cancel();
            const bool cancelled = co_await eddy_test::ends_cancelled(blocked);
            CHECK(cancelled);
            CHECK(eddy_test::in_flight() == 0);
        }(),
        on(kind));
}

TEST_CASE("under a seccomp filter that blocks io_uring_setup, as Docker's default profile does, "
          "eddy runs on epoll",
          "[backend]") {
    env_var unset("EDDY_BACKEND", nullptr);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // The child filters io_uring_setup to EPERM, then runs a loop: the real kernel path of
        // a container, not the test seam. It reports through its exit status only.
        sock_filter filter[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        sock_fprog prog{static_cast<unsigned short>(std::size(filter)), filter};
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
            ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
            ::_exit(3);
        }
        int status = 4;
        try {
            io_uring probe{};
            if (io_uring_queue_init(8, &probe, 0) != -EPERM) {
                ::_exit(5); // the filter did not take
            }
            eddy::run([&]() -> eddy::task<> {
                eddy::event_loop& loop = eddy::get_running_loop();
                const bool epoll = std::string(loop.backend()) == "epoll" &&
                                   loop.backend_reason().find("EPERM") != std::string::npos;
                auto [r, w] = eddy::pipe();
                w.write("through epoll\n");
                const std::string line = co_await r.readline();
                co_await eddy::sleep(1ms);
                const std::string echoed = co_await tcp_echo_round(pattern(50'000));
                status = epoll && line == "through epoll\n" && echoed == pattern(50'000) ? 0 : 6;
            }());
        } catch (...) {
            status = 7;
        }
        ::_exit(status);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("a completion queue overflow loses no completion", "[backend][faults]") {
    // 300 polls on one eventfd complete together when it is written: far more completions than
    // a 4-entry ring's 8-entry completion queue holds, so the kernel parks the rest in its
    // overflow list (IORING_FEAT_NODROP) and eddy must reap them all.
    const backend_kind kind = GENERATE(backend_kind::io_uring, backend_kind::epoll);
    eddy::loop_options opts = on(kind);
    opts.ring_entries = 4;
    const int efd = ::eventfd(0, EFD_CLOEXEC);
    REQUIRE(efd >= 0);
    int woken = 0;
    eddy::run(
        [&]() -> eddy::task<> {
            auto waiter = [&]() -> eddy::task<> {
                const unsigned ev = co_await eddy::poll(efd, POLLIN);
                if ((ev & POLLIN) != 0) {
                    ++woken;
                }
            };
            std::vector<eddy::task_handle<void>> all;
            all.reserve(300);
            for (int i = 0; i < 300; ++i) {
                all.push_back(eddy::create_task(waiter()));
            }
            co_await eddy::sleep(20ms); // every poll is in the kernel now
            CHECK(eddy_test::in_flight() == 300);
            const std::uint64_t one = 1;
            CHECK(::write(efd, &one, sizeof one) == sizeof one);
            for (auto& t : all) {
                co_await t;
            }
        }(),
        opts);
    ::close(efd);
    CHECK(woken == 300);
}

TEST_CASE("kernel operations allocate nothing in steady state on either backend", "[io][alloc]") {
    const backend_kind kind = GENERATE(backend_kind::io_uring, backend_kind::epoll);
    eddy_test::pipe_pair a;
    eddy_test::pipe_pair b;
    std::uint64_t during = 1;
    eddy::run(
        [&]() -> eddy::task<> {
            // An echo task and this one bounce a byte through two pipes: every round trip is
            // two reads and two writes, half of them waiting for readiness.
            auto echo_back = [&]() -> eddy::task<> {
                std::array<std::byte, 1> byte{};
                for (;;) {
                    if (co_await eddy::read_some(a.r, byte) == 0) {
                        co_return;
                    }
                    (void)co_await eddy::write_some(b.w, byte);
                }
            };
            auto echo = eddy::create_task(echo_back());
            std::array<std::byte, 1> byte{std::byte{7}};
            auto round_trips = [&](int n) -> eddy::task<> {
                for (int i = 0; i < n; ++i) {
                    (void)co_await eddy::write_some(a.w, byte);
                    (void)co_await eddy::read_some(b.r, byte);
                }
            };
            co_await round_trips(200); // warm-up: pools and tables reach their size
            const std::uint64_t before = eddy_test::allocations();
            co_await round_trips(2000);
            during = eddy_test::allocations() - before;
            ::close(std::exchange(a.w, -1));
            co_await echo;
        }(),
        on(kind));
    CHECK(during == 0);
}
