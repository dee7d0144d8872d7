// The reactors' edges found in review: bad fds, cancellations that land between an operation's
// steps (the io_uring EAGAIN retry, the epoll waiter lists), on both backends.
#include "helpers.hpp"

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <poll.h>
#include <span>
#include <thread>
#include <unistd.h>

using namespace std::chrono_literals;
using eddy::backend_kind;
using eddy::detail::fault_plan;
using eddy::detail::fault_scope;

namespace {

eddy::loop_options on(backend_kind k) {
    eddy::loop_options o;
    o.backend = k;
    return o;
}

eddy::task<std::size_t> read_from(int fd, std::span<std::byte> buf) {
    co_return co_await eddy::read_some(fd, buf);
}

/// Takes a submission slot while the ring is "full": the flush reaps what completed so far.
eddy::task<> submit_on_full_ring(fault_plan& plan) {
    plan.sq_full = 1;
    co_await eddy::nop();
}

eddy::task<std::size_t> read_on_full_ring(fault_plan& plan, int fd, std::span<std::byte> buf) {
    plan.sq_full = 1;
    co_return co_await eddy::read_some(fd, buf);
}

eddy::task<> cancel_it(eddy::task_handle<std::size_t>& h) {
    h.cancel();
    co_return;
}

} // namespace

TEST_CASE("polling an invalid fd fails with EBADF", "[backend]") {
    const backend_kind kind = GENERATE(backend_kind::io_uring, backend_kind::epoll);
    eddy::run(
        []() -> eddy::task<> {
            const auto bad = co_await eddy_test::system_error_of(eddy::poll(-1, POLLIN));
            CHECK(bad.code == EBADF);
        }(),
        on(kind));
}

TEST_CASE("a read cancelled after its EAGAIN was reaped but before its readiness poll was "
          "submitted still ends cancelled",
          "[backend][faults]") {
    eddy_test::pipe_pair p;
    fault_plan plan;
    fault_scope scope(plan);
    bool unblocked = false;
    eddy::run(
        [&]() -> eddy::task<> {
            std::array<std::byte, 8> buf{};
            // One turn runs the three in order: the read "would block" (its completion waits
            // in the ring), a submission on a full ring reaps that completion (the read now
            // waits to poll for readiness), the cancellation arrives before the poll went in.
            plan.eagain = 1;
            auto blocked = eddy::create_task(read_from(p.r, buf));
            auto reaper = eddy::create_task(submit_on_full_ring(plan));
            auto stopper = eddy::create_task(cancel_it(blocked));
            co_await reaper;
            co_await stopper;
            co_await eddy::sleep(100ms);
            if (!blocked.done()) {
                unblocked = true; // the cancellation was lost: free the read to end the test
                (void)::write(p.w, "x", 1);
            }
            (void)co_await eddy_test::ends_cancelled(blocked);
        }(),
        on(backend_kind::io_uring));
    CHECK(plan.injected == 2);
    CHECK_FALSE(unblocked);
}

TEST_CASE("a multishot accept on a listening socket someone made O_NONBLOCK waits for a "
          "connection",
          "[backend][net]") {
    const backend_kind kind = GENERATE(backend_kind::io_uring, backend_kind::epoll);
    auto listener = eddy::socket::open(AF_INET, SOCK_STREAM);
    listener.bind(eddy::endpoint::ipv4_loopback(0));
    listener.listen();
    REQUIRE(::fcntl(listener.fd(), F_SETFL, ::fcntl(listener.fd(), F_GETFL) | O_NONBLOCK) == 0);
    const std::uint16_t port = listener.local_endpoint().port();
    eddy::run(
        [&]() -> eddy::task<> {
            eddy::detail::acceptor acc(listener.fd());
            auto dial = [port]() -> eddy::task<int> {
                co_await eddy::sleep(20ms);
                auto s = eddy::socket::open(AF_INET, SOCK_STREAM);
                co_await s.connect(eddy::endpoint::ipv4_loopback(port));
                co_return s.release();
            };
            auto client = eddy::create_task(dial());
            std::optional<int> got;
            int error = 0;
            try {
                while (!got) {
                    got = co_await acc.wait();
                }
            } catch (const std::system_error& e) {
                error = e.code().value();
            }
            CHECK(error == 0);
            CHECK(got.has_value());
            if (got) {
                ::close(*got);
            }
            ::close(co_await client);
            auto stop = [&acc]() -> eddy::task<> { (void)co_await acc.wait(); };
            auto stopper = eddy::create_task(stop());
            co_await eddy::sleep(1ms);
            stopper.cancel();
            (void)co_await eddy_test::ends_cancelled(stopper);
        }(),
        on(kind));
}

TEST_CASE("a read whose EAGAIN was reaped while tasks ran still gets its readiness poll "
          "before the loop sleeps",
          "[backend][faults]") {
    eddy_test::pipe_pair a;
    eddy_test::pipe_pair b;
    fault_plan plan;
    fault_scope scope(plan);
    std::atomic<bool> finished{false};
    // Writes `a` soon; `b` only if the loop is still stuck after 3 s (so the test ends).
    std::thread feeder([&] {
        std::this_thread::sleep_for(50ms);
        (void)::write(a.w, "x", 1);
        for (int i = 0; i < 300 && !finished; ++i) {
            std::this_thread::sleep_for(10ms);
        }
        (void)::write(b.w, "y", 1);
    });
    double took_ms = 0;
    eddy::run(
        [&]() -> eddy::task<> {
            std::array<std::byte, 8> buf1{};
            std::array<std::byte, 8> buf2{};
            // One turn: the first read "would block"; the second, taking a slot on a full
            // ring, reaps that completion, so the first is queued for its readiness poll.
            // Then nothing is ready and the loop waits for the kernel.
            plan.eagain = 1;
            const auto start = eddy::clock::now();
            auto first = eddy::create_task(read_from(a.r, buf1));
            auto second = eddy::create_task(read_on_full_ring(plan, b.r, buf2));
            (void)co_await first;
            took_ms = eddy_test::ms_since(start);
            finished = true;
            second.cancel();
            (void)co_await eddy_test::ends_cancelled(second);
        }(),
        on(backend_kind::io_uring));
    feeder.join();
    CHECK(plan.injected == 2);
    CHECK(took_ms < 2000);
}

TEST_CASE("many reads waiting on one fd, some cancelled from the middle and the ends, leave "
          "the rest waiting in order",
          "[backend]") {
    const backend_kind kind = GENERATE(backend_kind::io_uring, backend_kind::epoll);
    eddy_test::pipe_pair p;
    eddy::run(
        [&]() -> eddy::task<> {
            constexpr int n = 12;
            std::array<std::array<std::byte, 1>, n> bufs{};
            std::vector<eddy::task_handle<std::size_t>> readers;
            readers.reserve(n);
            for (int i = 0; i < n; ++i) {
                readers.push_back(eddy::create_task(read_from(p.r, bufs[i])));
            }
            co_await eddy::sleep(10ms);
            // The last, the first, then every third: tail, head and middle unlinks.
            std::vector<bool> cancelled(n, false);
            for (int i : {n - 1, 0, 3, 6, 9}) {
                readers[i].cancel();
                cancelled[i] = true;
            }
            for (int i = 0; i < n; ++i) {
                if (cancelled[i]) {
                    const bool c = co_await eddy_test::ends_cancelled(readers[i]);
                    CHECK(c);
                }
            }
            CHECK(eddy_test::in_flight() == n - 5);
            (void)::write(p.w, "abcdefg", n - 5);
            std::string got;
            for (int i = 0; i < n; ++i) {
                if (!cancelled[i]) {
                    const std::size_t k = co_await readers[i];
                    CHECK(k == 1);
                    got += static_cast<char>(bufs[i][0]);
                }
            }
            std::sort(got.begin(), got.end());
            CHECK(got == "abcdefg");
            CHECK(eddy_test::in_flight() == 0);
        }(),
        on(kind));
}

namespace {
/// Waits for `fd` by a read into `buf` (yields the count) or by a poll for POLLIN (yields the
/// events).
eddy::task<std::size_t> wait_by(bool by_poll, int fd, std::span<std::byte> buf) {
    if (by_poll) {
        co_return co_await eddy::poll(fd, POLLIN);
    }
    co_return co_await eddy::read_some(fd, buf);
}
} // namespace

TEST_CASE("an fd number closed and reused while its old file lives on (a dup) is waited for "
          "as the new file, by a read and by a poll",
          "[backend]") {
    const backend_kind kind = GENERATE(backend_kind::io_uring, backend_kind::epoll);
    // A poll has no call to find EAGAIN after a stale report: it asks the fd itself (a process
    // reaper polling a pidfd took an old socket's report and blocked the loop in waitid).
    const bool by_poll = GENERATE(false, true);
    eddy::run(
        [&]() -> eddy::task<> {
            std::array<std::byte, 8> buf{};
            eddy_test::pipe_pair old_pipe;
            // Registered for the old pipe (a read that is cancelled: its arm stays in epoll).
            auto first = eddy::create_task(read_from(old_pipe.r, buf));
            co_await eddy::sleep(5ms);
            first.cancel();
            (void)co_await eddy_test::ends_cancelled(first);
            const int number = old_pipe.r;
            const int keep = ::dup(number); // the old file outlives its fd number
            REQUIRE(keep >= 0);
            ::close(number);
            int fds[2];
            REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
            int new_r = fds[0];
            if (new_r != number) { // make the new pipe's read end take the old number
                REQUIRE(::dup3(fds[0], number, O_CLOEXEC) == number);
                ::close(fds[0]);
                new_r = number;
            }
            old_pipe.r = -1;
            auto second = eddy::create_task(wait_by(by_poll, new_r, buf));
            co_await eddy::sleep(5ms);
            (void)::write(old_pipe.w, "old", 3); // readiness of the old file, same number
            co_await eddy::sleep(5ms);
            CHECK_FALSE(second.done());
            (void)::write(fds[1], "new", 3);
            const std::size_t got = co_await second;
            if (by_poll) {
                CHECK((got & POLLIN) != 0);
            } else {
                CHECK(got == 3);
                CHECK(std::string(reinterpret_cast<const char*>(buf.data()), 3) == "new");
            }
            ::close(keep);
            ::close(new_r);
            ::close(fds[1]);
        }(),
        on(kind));
}

TEST_CASE("a read cancelled in the turn it was started ends cancelled and moves no data",
          "[backend]") {
    const backend_kind kind = GENERATE(backend_kind::io_uring, backend_kind::epoll);
    eddy_test::pipe_pair p;
    (void)::write(p.w, "z", 1);
    eddy::run(
        [&]() -> eddy::task<> {
            std::array<std::byte, 8> buf{};
            auto reader = eddy::create_task(read_from(p.r, buf));
            auto stopper = eddy::create_task(cancel_it(reader));
            co_await stopper;
            const bool c = co_await eddy_test::ends_cancelled(reader);
            // io_uring may win the race and read; epoll cancels what it has not tried yet.
            if (std::string(eddy::get_running_loop().backend()) == "epoll") {
                CHECK(c);
            }
            CHECK(eddy_test::in_flight() == 0);
        }(),
        on(kind));
}

TEST_CASE("a poll for no event still reports a hang-up", "[backend]") {
    const backend_kind kind = GENERATE(backend_kind::io_uring, backend_kind::epoll);
    eddy_test::pipe_pair p;
    eddy::run(
        [&]() -> eddy::task<> {
            auto hang_up = [&]() -> eddy::task<> {
                co_await eddy::sleep(std::chrono::milliseconds(5));
                ::close(std::exchange(p.w, -1));
            };
            auto closer = eddy::create_task(hang_up());
            const unsigned ev = co_await eddy::poll(p.r, 0);
            CHECK((ev & POLLHUP) != 0);
            co_await closer;
        }(),
        on(kind));
}
