// The generic kernel-operation awaiter on pipes and eventfds: results, errors, cancellation,
// and the rule that an operation's memory outlives its completion.
#include "helpers.hpp"

#include <array>
#include <csignal>
#include <cstring>
#include <random>
#include <string>
#include <sys/eventfd.h>

using namespace std::chrono_literals;
using eddy_test::pipe_pair;

namespace {
std::span<const std::byte> bytes_of(const std::string& s) {
    return std::as_bytes(std::span(s));
}
std::uint64_t in_flight() {
    return eddy::get_running_loop().in_flight();
}
} // namespace

TEST_CASE("read_some gets what write_some wrote through a pipe", "[io]") {
    pipe_pair p;
    eddy::run([&]() -> eddy::task<> {
        auto reader = eddy::create_task([&]() -> eddy::task<std::string> {
            std::array<std::byte, 64> buf{};
            const std::size_t n = co_await eddy::read_some(p.r, buf);
            co_return std::string(reinterpret_cast<const char*>(buf.data()), n);
        });
        co_await eddy::sleep(2ms); // the reader is now suspended in the kernel
        const std::string msg = "hello, ring";
        const auto got = co_await eddy::write_some(p.w, bytes_of(msg));
        CHECK(got == msg.size());
        const auto got2 = co_await reader;
        CHECK(got2 == msg);
    }());
}

TEST_CASE("read_some yields 0 at end of file", "[io]") {
    pipe_pair p;
    p.close_write();
    eddy::run([&]() -> eddy::task<> {
        std::array<std::byte, 8> buf{};
        const auto got3 = co_await eddy::read_some(p.r, buf);
        CHECK(got3 == 0);
    }());
}

TEST_CASE("a failed operation throws std::system_error with its errno", "[io]") {
    eddy::run([]() -> eddy::task<> {
        std::array<std::byte, 8> buf{};
        try {
            (void)co_await eddy::read_some(-1, buf);
            FAIL("expected an error");
        } catch (const std::system_error& e) {
            CHECK(e.code().value() == EBADF);
            CHECK(std::string(e.what()).find("read_some") != std::string::npos);
        }
    }());
}

TEST_CASE("writing to a pipe whose reader closed fails with EPIPE", "[io]") {
    std::signal(SIGPIPE, SIG_IGN); // plain writes raise SIGPIPE; the error must still arrive
    pipe_pair p;
    p.close_read();
    eddy::run([&]() -> eddy::task<> {
        const std::string msg = "x";
        try {
            (void)co_await eddy::write_some(p.w, bytes_of(msg));
            FAIL("expected EPIPE");
        } catch (const std::system_error& e) {
            CHECK(e.code().value() == EPIPE);
        }
    }());
}

TEST_CASE("poll on an eventfd waits until it is written", "[io]") {
    const int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    REQUIRE(efd >= 0);
    eddy::run([&]() -> eddy::task<> {
        auto waiter = eddy::create_task(
            [&]() -> eddy::task<unsigned> { co_return co_await eddy::poll(efd, POLLIN); });
        co_await eddy::sleep(2ms);
        CHECK_FALSE(waiter.done());
        const std::uint64_t one = 1;
        CHECK(::write(efd, &one, sizeof one) == sizeof one);
        const auto got4 = co_await waiter;
        CHECK((got4 & POLLIN) != 0);
    }());
    ::close(efd);
}

TEST_CASE("nop makes a round trip through the ring", "[io]") {
    eddy::run([]() -> eddy::task<> {
        for (int i = 0; i < 100; ++i) {
            co_await eddy::nop();
        }
        CHECK(in_flight() == 0);
    }());
}

TEST_CASE("a task blocked on a read that never gets data resumes with cancelled_error only after "
          "the read's own completion",
          "[io][cancel]") {
    pipe_pair p;
    eddy::run([&]() -> eddy::task<> {
        std::uint64_t in_flight_at_resume = 99;
        auto reader = eddy::create_task([&]() -> eddy::task<> {
            std::array<std::byte, 16> buf{};
            try {
                (void)co_await eddy::read_some(p.r, buf);
            } catch (const eddy::cancelled_error&) {
                in_flight_at_resume = in_flight();
                throw;
            }
        });
        co_await eddy::sleep(2ms);
        REQUIRE(in_flight() == 1);
        reader.cancel();
        CHECK_THROWS_AS(co_await reader, eddy::cancelled_error);
        CHECK(in_flight_at_resume == 0);
    }());
}

TEST_CASE("a read still in the kernel when run ends is cancelled and drained, leaking nothing",
          "[io][cancel]") {
    pipe_pair p;
    const auto frames = eddy::live_frames();
    eddy::run([&]() -> eddy::task<> {
        for (int i = 0; i < 8; ++i) {
            // The handles are dropped at once: the loop alone owns these tasks.
            (void)eddy::create_task([&]() -> eddy::task<> {
                std::array<std::byte, 4096> buf{};
                (void)co_await eddy::read_some(p.r, buf);
            });
        }
        co_await eddy::sleep(2ms);
        CHECK(in_flight() == 8);
    }());
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("a read racing its cancellation loses no byte", "[io][cancel]") {
    // Each round writes a byte and cancels the blocked reader in the same loop turn. The kernel
    // either cancels the read (the byte stays in the pipe) or completes it (the reader keeps the
    // byte and is cancelled at its next await). Either way every byte is accounted for.
    pipe_pair p;
    constexpr int rounds = 10'000;
    std::mt19937 rng(2024); // deterministic: the same interleaving choices every run
    std::size_t delivered = 0;
    std::size_t still_in_pipe = 0;
    std::size_t written = 0;
    eddy::run([&]() -> eddy::task<> {
        for (int round = 0; round < rounds; ++round) {
            auto reader = eddy::create_task([&]() -> eddy::task<> {
                std::array<std::byte, 1> buf{};
                const std::size_t n = co_await eddy::read_some(p.r, buf);
                delivered += n;
                co_await eddy::yield(); // the deferred cancellation lands here
            });
            co_await eddy::yield(); // the reader submits its read
            const std::string one = "z";
            if (rng() % 2 == 0) {
                (void)co_await eddy::write_some(p.w, bytes_of(one));
            } else {
                REQUIRE(::write(p.w, one.data(), 1) == 1);
            }
            ++written;
            reader.cancel();
            CHECK_THROWS_AS(co_await reader, eddy::cancelled_error);
            // Drain what the cancelled reads left in the pipe before the next round.
            while (true) {
                pollfd pfd{p.r, POLLIN, 0};
                if (::poll(&pfd, 1, 0) != 1) {
                    break;
                }
                char c = 0;
                REQUIRE(::read(p.r, &c, 1) == 1);
                ++still_in_pipe;
            }
        }
    }());
    // Which way each race went depends on the kernel; both are correct outcomes.
    INFO("read won " << delivered << " races, cancel won " << still_in_pipe);
    CHECK(written == rounds);
    CHECK(delivered + still_in_pipe == written);
}

TEST_CASE("kernel operations allocate nothing in steady state", "[io][alloc]") {
    pipe_pair p;
    eddy::run([&]() -> eddy::task<> {
        const std::string msg = "ping";
        std::array<std::byte, 4> buf{};
        (void)co_await eddy::write_some(p.w, bytes_of(msg)); // warm-up
        (void)co_await eddy::read_some(p.r, buf);
        const auto allocs = eddy_test::allocations();
        for (int i = 0; i < 1000; ++i) {
            (void)co_await eddy::write_some(p.w, bytes_of(msg));
            (void)co_await eddy::read_some(p.r, buf);
        }
        CHECK(eddy_test::allocations() == allocs);
    }());
}
