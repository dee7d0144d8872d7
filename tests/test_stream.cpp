// stream_reader and stream_writer over pipes: asyncio's StreamReader semantics (read, read_exactly,
// read_until, readline, limits, EOF), the writer's background send, backpressure, errors,
// cancellation, and the rule that the kernel never touches freed memory.
#include "helpers.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <termios.h>
#include <thread>

using namespace std::chrono_literals;
using eddy_test::in_flight;

namespace {

/// n bytes of a pattern that a shifted or truncated copy cannot match.
std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) {
        s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
    }
    return s;
}

/// Writes `s` to `fd` with plain blocking writes (a peer that is not an eddy stream).
void raw_write(int fd, const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
        const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
        REQUIRE(n > 0);
        off += static_cast<std::size_t>(n);
    }
}

/// Awaits `t` and reports whether it threw E (any other exception propagates).
template <class E, class T> eddy::task<bool> throws(eddy::task<T> t) {
    try {
        (void)co_await std::move(t);
    } catch (const E&) {
        co_return true;
    }
    co_return false;
}

} // namespace

TEST_CASE("read(n) returns what is buffered up to n, then waits for more, then empty at EOF",
          "[stream]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    eddy::run([&]() -> eddy::task<> {
        w.write("hello world");
        const auto a = co_await r.read(5);
        CHECK(a == "hello");
        CHECK(r.buffered() == 6);
        const auto b = co_await r.read(100);
        CHECK(b == " world");
        auto later =
            eddy::create_task([&]() -> eddy::task<std::string> { co_return co_await r.read(100); });
        co_await eddy::sleep(2ms);
        CHECK_FALSE(later.done());
        w.write("!");
        const auto c = co_await later;
        CHECK(c == "!");
        w.close();
        co_await w.wait_closed();
        const auto d = co_await r.read(100);
        CHECK(d.empty());
        CHECK(r.at_eof());
        const auto e = co_await r.read(0);
        CHECK(e.empty());
    }());
}

TEST_CASE("read() returns every byte until EOF", "[stream]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    const std::string data = pattern(300'000);
    eddy::run([&]() -> eddy::task<> {
        w.write(data);
        w.close();
        const auto all = co_await r.read();
        CHECK(all == data);
        CHECK(r.at_eof());
        co_await w.wait_closed();
    }());
}

TEST_CASE("read_exactly gathers n bytes from several writes", "[stream]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    eddy::run([&]() -> eddy::task<> {
        auto writer = eddy::create_task([&]() -> eddy::task<> {
            const std::array<std::string_view, 3> parts{"abc", "defg", "hij"};
            for (const auto part : parts) {
                w.write(part);
                co_await eddy::sleep(1ms);
            }
        });
        const auto got = co_await r.read_exactly(8);
        CHECK(got == "abcdefgh");
        co_await writer;
        const auto rest = co_await r.read_exactly(2);
        CHECK(rest == "ij");
    }());
}

TEST_CASE("read_exactly at EOF throws incomplete_read_error carrying the partial bytes",
          "[stream]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    eddy::run([&]() -> eddy::task<> {
        w.write("12345");
        w.write_eof();
        std::string partial;
        std::optional<std::size_t> expected;
        bool threw = false;
        try {
            (void)co_await r.read_exactly(10);
        } catch (const eddy::incomplete_read_error& e) {
            threw = true;
            partial = e.partial();
            expected = e.expected();
        }
        CHECK(threw);
        CHECK(partial == "12345");
        CHECK(expected == std::optional<std::size_t>(10));
        CHECK(r.at_eof()); // the partial bytes were consumed
    }());
}

TEST_CASE("read_exactly larger than the buffer grows it and returns every byte", "[stream]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    const std::string data = pattern(1'000'000);
    eddy::run([&]() -> eddy::task<> {
        w.write(data);
        const auto got = co_await r.read_exactly(data.size());
        CHECK(got == data);
    }());
}

TEST_CASE("a huge limit or a huge read_exactly allocates only what arrives", "[stream]") {
    constexpr std::size_t huge = std::size_t{1} << 40; // "no limit": a TiB would not fit in RAM
    auto p = eddy::pipe(huge);
    auto& r = p.reader;
    auto& w = p.writer;
    const std::string long_line = pattern(300'000) + "\n"; // beyond the first buffer: it grows
    eddy::run([&]() -> eddy::task<> {
        w.write("short line\n");
        w.write(long_line);
        w.write("abc");
        w.close();
        const auto first = co_await r.readline();
        CHECK(first == "short line\n");
        const auto second = co_await r.readline();
        CHECK(second == long_line);
        std::string partial;
        std::optional<std::size_t> expected;
        try {
            (void)co_await r.read_exactly(huge);
        } catch (const eddy::incomplete_read_error& e) {
            partial = e.partial();
            expected = e.expected();
        }
        CHECK(partial == "abc"); // asyncio: IncompleteReadError with the 3 bytes, not MemoryError
        CHECK(expected == huge);
        co_await w.wait_closed();
    }());
}

TEST_CASE("readline and read_until find separators split across writes", "[stream]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    eddy::run([&]() -> eddy::task<> {
        auto writer = eddy::create_task([&]() -> eddy::task<> {
            const std::array<std::string_view, 5> parts{"first li", "ne\nsecond", " line\nrecord<",
                                                        "=", ">next<=>"};
            for (const auto part : parts) {
                w.write(part);
                co_await w.drain();
                co_await eddy::sleep(1ms); // each part arrives in its own kernel read
            }
            w.close();
        });
        const auto l1 = co_await r.readline();
        CHECK(l1 == "first line\n");
        const auto l2 = co_await r.readline();
        CHECK(l2 == "second line\n");
        const auto rec = co_await r.read_until("<=>");
        CHECK(rec == "record<=>");
        const auto next = co_await r.read_until("<=>");
        CHECK(next == "next<=>");
        co_await writer;
        const auto eof = co_await r.readline();
        CHECK(eof.empty());
        CHECK(r.at_eof());
    }());
}

TEST_CASE("readline at EOF returns the last line without its newline", "[stream]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    eddy::run([&]() -> eddy::task<> {
        w.write("a\nlast");
        w.close();
        const auto a = co_await r.readline();
        const auto last = co_await r.readline();
        const auto none = co_await r.readline();
        CHECK(a == "a\n");
        CHECK(last == "last");
        CHECK(none.empty());
    }());
}

TEST_CASE("read_until at EOF without the separator throws incomplete_read_error and consumes "
          "the rest",
          "[stream]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    eddy::run([&]() -> eddy::task<> {
        w.write("abc;de");
        w.close();
        const auto first = co_await r.read_until(";");
        CHECK(first == "abc;");
        bool threw = false;
        std::string partial;
        std::optional<std::size_t> expected = 1;
        try {
            (void)co_await r.read_until(";");
        } catch (const eddy::incomplete_read_error& e) {
            threw = true;
            partial = e.partial();
            expected = e.expected();
        }
        CHECK(threw);
        CHECK(partial == "de");
        CHECK_FALSE(expected.has_value());
        CHECK(r.at_eof());
        const bool empty_sep = co_await throws<std::invalid_argument>(r.read_until(""));
        CHECK(empty_sep);
    }());
}

TEST_CASE("a line longer than the limit throws limit_overrun_error and loses no byte", "[stream]") {
    auto p = eddy::pipe(16);
    auto& r = p.reader;
    auto& w = p.writer;
    CHECK(r.limit() == 16);
    const std::string long_line = pattern(40) + "\n";
    eddy::run([&]() -> eddy::task<> {
        w.write(long_line);
        w.write("short\n");
        std::size_t consumed = 0;
        bool threw = false;
        try {
            (void)co_await r.readline();
        } catch (const eddy::limit_overrun_error& e) {
            threw = true;
            consumed = e.consumed();
        }
        CHECK(threw);
        CHECK(consumed > 16);
        CHECK(r.buffered() >= 17); // what was read stays buffered
        // Nothing was consumed: the long line can still be read in pieces.
        const auto head = co_await r.read_exactly(40);
        CHECK(head == long_line.substr(0, 40));
        const auto nl = co_await r.readline();
        CHECK(nl == "\n");
        const auto next = co_await r.readline();
        CHECK(next == "short\n");
    }());
}

TEST_CASE("a separator found beyond the limit throws limit_overrun_error at its offset",
          "[stream]") {
    auto p = eddy::pipe(8);
    auto& r = p.reader;
    auto& w = p.writer;
    eddy::run([&]() -> eddy::task<> {
        w.write("0123456789|tail");
        co_await eddy::sleep(1ms); // one kernel read brings it all
        std::size_t consumed = 0;
        try {
            (void)co_await r.read_until("|");
        } catch (const eddy::limit_overrun_error& e) {
            consumed = e.consumed();
        }
        CHECK(consumed == 10);
        const auto all = co_await r.read(100);
        CHECK(all == "0123456789|tail");
    }());
}

TEST_CASE("at_eof is true only once EOF was seen and the buffer is empty", "[stream]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    eddy::run([&]() -> eddy::task<> {
        CHECK_FALSE(r.at_eof());
        w.write("xy");
        w.write_eof();
        const auto x = co_await r.read(1);
        CHECK(x == "x");
        CHECK_FALSE(r.at_eof());
        const auto y = co_await r.read(1);
        CHECK(y == "y");
        const auto none = co_await r.read(1);
        CHECK(none.empty());
        CHECK(r.at_eof());
    }());
}

TEST_CASE("read_some serves buffered bytes first, then reads into the caller's memory",
          "[stream]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    eddy::run([&]() -> eddy::task<> {
        w.write("line\nrest");
        co_await eddy::sleep(1ms);
        const auto line = co_await r.readline();
        CHECK(line == "line\n");
        std::array<std::byte, 64> buf{};
        const auto n1 = co_await r.read_some(buf);
        CHECK(std::string(reinterpret_cast<const char*>(buf.data()), n1) == "rest");
        CHECK(r.buffered() == 0);
        w.write("direct");
        const auto n2 = co_await r.read_some(buf);
        CHECK(std::string(reinterpret_cast<const char*>(buf.data()), n2) == "direct");
        CHECK(r.buffered() == 0);
        w.write("chars");
        std::array<char, 8> text{};
        const auto nc = co_await r.read_some(text); // a span of char works too
        CHECK(std::string(text.data(), nc) == "chars");
        w.close();
        const auto n3 = co_await r.read_some(buf);
        CHECK(n3 == 0);
        CHECK(r.at_eof());
    }());
}

TEST_CASE("two reads at once: the second throws invalid_state_error", "[stream]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    eddy::run([&]() -> eddy::task<> {
        auto first = eddy::create_task(
            [&]() -> eddy::task<std::string> { co_return co_await r.readline(); });
        co_await eddy::sleep(1ms);
        const bool threw = co_await throws<eddy::invalid_state_error>(r.read(1));
        CHECK(threw);
        w.write("ok\n");
        const auto line = co_await first;
        CHECK(line == "ok\n");
    }());
}

TEST_CASE("a cancelled readline loses no byte: the next read gets them", "[stream][cancel]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    eddy::run([&]() -> eddy::task<> {
        w.write("par");
        auto reader = eddy::create_task(
            [&]() -> eddy::task<std::string> { co_return co_await r.readline(); });
        co_await eddy::sleep(2ms); // "par" is buffered, the reader waits in the kernel
        CHECK(in_flight() == 1);
        reader.cancel();
        const bool cancelled = co_await eddy_test::ends_cancelled(reader);
        CHECK(cancelled);
        CHECK(in_flight() == 0);
        w.write("tial\n");
        const auto line = co_await r.readline();
        CHECK(line == "partial\n");
    }());
}

TEST_CASE("reads racing their cancellation lose no byte", "[stream][cancel]") {
    // Each round writes a byte and cancels the blocked reader in the same turn: the kernel
    // either cancels the read (the byte stays in the pipe) or completes it (the reader returns
    // it and is cancelled at its next await). Every byte must be read exactly once.
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    std::string delivered;
    std::string sent;
    eddy::run([&]() -> eddy::task<> {
        for (int round = 0; round < 2000; ++round) {
            auto reader = eddy::create_task([&]() -> eddy::task<> {
                const auto s = co_await r.read(1);
                delivered += s;
                co_await eddy::yield();
            });
            co_await eddy::yield(); // the reader is now in the kernel
            const char c = static_cast<char>('a' + round % 26);
            sent += c;
            raw_write(w.fd(), std::string(1, c));
            reader.cancel();
            try {
                co_await reader;
            } catch (const eddy::cancelled_error&) {
            }
        }
        w.close();
        const auto rest = co_await r.read();
        delivered += rest;
    }());
    CHECK(delivered == sent);
}

TEST_CASE("drain bounds the buffer near the high-water mark while nobody reads, and every byte "
          "arrives",
          "[stream][backpressure]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    const std::string data = pattern(std::size_t{10} * 1024 * 1024);
    constexpr std::size_t chunk = std::size_t{8} * 1024;
    std::size_t max_buffered = 0;
    eddy::run([&]() -> eddy::task<> {
        auto producer = eddy::create_task([&]() -> eddy::task<> {
            for (std::size_t off = 0; off < data.size(); off += chunk) {
                w.write(std::string_view(data).substr(off, chunk));
                max_buffered = std::max(max_buffered, w.write_buffer_size());
                co_await w.drain();
            }
            w.close();
            co_await w.wait_closed();
        });
        // Nobody reads for a while: the producer must be held by drain(), not run away.
        std::size_t watched_max = 0;
        for (int i = 0; i < 20; ++i) {
            co_await eddy::sleep(1ms);
            watched_max = std::max(watched_max, w.write_buffer_size());
        }
        CHECK_FALSE(producer.done());
        CHECK(watched_max > 0);
        CHECK(watched_max <= eddy::stream_writer::default_high_water + chunk);
        const auto got = co_await r.read();
        co_await producer;
        CHECK(got.size() == data.size());
        CHECK(got == data);
    }());
    CHECK(max_buffered <= eddy::stream_writer::default_high_water + chunk);
}

TEST_CASE("write buffer limits are settable and drive drain", "[stream][backpressure]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    w.set_write_buffer_limits(1000);
    CHECK(w.high_water() == 1000);
    CHECK(w.low_water() == 250);
    CHECK_THROWS_AS(w.set_write_buffer_limits(10, 20), std::invalid_argument);
    eddy::run([&]() -> eddy::task<> {
        w.write(pattern(200'000)); // more than the pipe holds
        auto drainer = eddy::create_task([&]() -> eddy::task<> { co_await w.drain(); });
        co_await eddy::sleep(2ms);
        CHECK_FALSE(drainer.done());
        const auto got = co_await r.read_exactly(200'000 - 100);
        CHECK(got.size() == 200'000 - 100);
        co_await drainer; // the buffer went down to the low-water mark
        CHECK(w.write_buffer_size() <= 250);
    }());
}

TEST_CASE("a cancelled drain leaves the data queued", "[stream][backpressure][cancel]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    const std::string data = pattern(std::size_t{1024} * 1024);
    eddy::run([&]() -> eddy::task<> {
        w.write(data);
        auto drainer = eddy::create_task([&]() -> eddy::task<> { co_await w.drain(); });
        co_await eddy::sleep(2ms);
        const std::size_t queued = w.write_buffer_size();
        CHECK(queued > eddy::stream_writer::default_high_water);
        drainer.cancel();
        const bool cancelled = co_await eddy_test::ends_cancelled(drainer);
        CHECK(cancelled);
        CHECK(w.write_buffer_size() == queued);
        w.close();
        const auto got = co_await r.read();
        CHECK(got == data);
        co_await w.wait_closed();
    }());
}

TEST_CASE("write_eof flushes, then the reader sees EOF", "[stream]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    const std::string data = pattern(500'000);
    eddy::run([&]() -> eddy::task<> {
        w.write(data);
        w.write_eof();
        CHECK_FALSE(w.is_closing()); // asyncio: write_eof is not close
        CHECK_THROWS_AS(w.write("late"), eddy::invalid_state_error);
        const auto got = co_await r.read();
        CHECK(got == data);
        CHECK(r.at_eof());
        co_await w.wait_closed();
        CHECK(w.fd() == -1);
    }());
}

TEST_CASE("close flushes then closes, and a write after close throws invalid_state_error",
          "[stream]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    eddy::run([&]() -> eddy::task<> {
        w.write("bye\n");
        w.close();
        CHECK(w.is_closing());
        w.close(); // idempotent
        CHECK_THROWS_AS(w.write("x"), eddy::invalid_state_error);
        co_await w.wait_closed();
        const auto line = co_await r.readline();
        CHECK(line == "bye\n");
        const auto eof = co_await r.read(1);
        CHECK(eof.empty());
    }());
}

TEST_CASE("a writer destroyed during a big send aborts it: the send is cancelled in the kernel "
          "and nothing leaks",
          "[stream][cancel]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    const auto frames = eddy::live_frames();
    const std::string data = pattern(std::size_t{4} * 1024 * 1024);
    std::size_t received = 0;
    eddy::run([&]() -> eddy::task<> {
        {
            eddy::stream_writer mine = std::move(w);
            mine.write(data);
            co_await eddy::sleep(2ms); // the send is blocked in the kernel: the pipe is full
            CHECK(in_flight() == 1);
        } // destroyed: unsent bytes dropped, the in-flight write cancelled
        const auto got = co_await r.read();
        received = got.size();
        CHECK(got == data.substr(0, got.size()));
        CHECK(in_flight() == 0);
    }());
    CHECK(received < data.size());
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("a writer destroyed after close lets the flush finish in the background", "[stream]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    const std::string data = pattern(std::size_t{2} * 1024 * 1024);
    eddy::run([&]() -> eddy::task<> {
        {
            eddy::stream_writer mine = std::move(w);
            mine.write(data);
            mine.close();
        }
        const auto got = co_await r.read();
        CHECK(got == data);
    }());
}

TEST_CASE("a send still blocked when run ends is cancelled by the shutdown instead of hanging it",
          "[stream][cancel]") {
    auto p = eddy::pipe(); // p.reader stays open and is never read
    auto& w = p.writer;
    const auto frames = eddy::live_frames();
    eddy::run([&]() -> eddy::task<> {
        w.write(pattern(std::size_t{1024} * 1024)); // nobody reads: the send blocks
        co_await eddy::sleep(2ms);
    }());
    CHECK(eddy::live_frames() == frames);
    REQUIRE(w.exception() != nullptr);
    int code = 0;
    try {
        std::rethrow_exception(w.exception());
    } catch (const std::system_error& e) {
        code = e.code().value();
    }
    CHECK(code == ECANCELED);
    CHECK(w.is_closing());
}

TEST_CASE("streams wrap existing fds and give them back", "[stream]") {
    eddy_test::pipe_pair p;
    eddy::stream_reader r(p.r);
    eddy::stream_writer w(p.w);
    p.r = p.w = -1; // the streams own them now
    CHECK(r.fd() >= 0);
    CHECK(w.fd() >= 0);
    eddy::run([&]() -> eddy::task<> {
        w.write("abc\n");
        co_await w.drain();
        const auto line = co_await r.readline();
        CHECK(line == "abc\n");
    }());
    CHECK(w.write_buffer_size() == 0);
    const int wfd = w.release();
    CHECK(wfd >= 0);
    CHECK(w.fd() == -1);
    CHECK(w.is_closing());
    const int rfd = r.release();
    CHECK(rfd >= 0);
    CHECK(r.at_eof());
    ::close(wfd);
    ::close(rfd);
    CHECK_THROWS_AS(eddy::stream_reader(::dup(0), 0), std::invalid_argument);
}

TEST_CASE("moved-from and default streams are empty: reads see EOF, writes throw", "[stream]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    eddy::stream_reader r2 = std::move(r);
    eddy::stream_writer w2 = std::move(w);
    // NOLINTBEGIN(bugprone-use-after-move): the moved-from state is what this test checks
    CHECK(r.fd() == -1);
    CHECK(w.fd() == -1);
    CHECK(w.is_closing());
    CHECK(r.at_eof());
    eddy::run([&]() -> eddy::task<> {
        const auto none = co_await r.read(5);
        CHECK(none.empty());
        CHECK_THROWS_AS(w.write("x"), eddy::invalid_state_error);
        CHECK_THROWS_AS(w.drain(), eddy::invalid_state_error);
        w2.write("moved\n");
        const auto line = co_await r2.readline();
        CHECK(line == "moved\n");
    }());
    // NOLINTEND(bugprone-use-after-move)
}

TEST_CASE("stream reads and writes allocate nothing in steady state", "[stream][alloc]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    eddy::run([&]() -> eddy::task<> {
        std::array<std::byte, 16> buf{};
        for (int i = 0; i < 10; ++i) { // warm-up: buffers, frames, the writer's task
            w.write("ping\n");
            co_await w.drain();
            const auto line = co_await r.readline();
            CHECK(line == "ping\n");
            w.write("pong");
            (void)co_await r.read_some(buf);
        }
        const auto allocs = eddy_test::allocations();
        std::size_t ok = 0;
        for (int i = 0; i < 1000; ++i) {
            w.write("ping\n");
            co_await w.drain();
            const auto line = co_await r.readline(); // short: no allocation for the string
            ok += line == "ping\n" ? 1 : 0;
            w.write("pong");
            ok += co_await r.read_some(buf) == 4 ? 1 : 0;
        }
        CHECK(eddy_test::allocations() == allocs);
        CHECK(ok == 2000);
    }());
}

TEST_CASE("a drain waiting on a full pipe gets EPIPE when the reader goes away",
          "[stream][backpressure]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    eddy::run([&]() -> eddy::task<> {
        w.write(pattern(std::size_t{1024} * 1024));
        auto drainer = eddy::create_task([&]() -> eddy::task<int> {
            try {
                co_await w.drain();
            } catch (const std::system_error& e) {
                co_return e.code().value();
            }
            co_return 0;
        });
        co_await eddy::sleep(2ms);
        CHECK_FALSE(drainer.done());
        r.close(); // the blocked write now fails with EPIPE
        const int code = co_await drainer;
        CHECK(code == EPIPE);
        CHECK(w.is_closing());
    }());
}

TEST_CASE("a writer destroyed right after a write, before its send started, drops the bytes",
          "[stream][cancel]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    const auto frames = eddy::live_frames();
    eddy::run([&]() -> eddy::task<> {
        {
            eddy::stream_writer mine = std::move(p.writer);
            mine.write("never sent");
        }
        const auto got = co_await r.read();
        CHECK(got.empty());
    }());
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("writing needs a running loop, and a writer outlives one loop into the next",
          "[stream]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    CHECK_THROWS_AS(w.write("x"), eddy::loop_error);
    CHECK(w.write_buffer_size() == 0);
    for (int i = 0; i < 2; ++i) {
        eddy::run([&]() -> eddy::task<> {
            w.write("again\n");
            const auto line = co_await r.readline();
            CHECK(line == "again\n");
        }());
    }
}

TEST_CASE("closing a reader keeps its buffered bytes readable, then EOF", "[stream]") {
    auto p = eddy::pipe();
    auto& r = p.reader;
    auto& w = p.writer;
    eddy::run([&]() -> eddy::task<> {
        w.write("one\ntwo\n");
        const auto one = co_await r.readline();
        CHECK(one == "one\n");
        auto blocked = eddy::create_task([&]() -> eddy::task<> {
            (void)co_await r.read_exactly(100); // waits for bytes that never come
        });
        co_await eddy::sleep(1ms);
        CHECK_THROWS_AS(r.close(), eddy::invalid_state_error); // a read is in progress
        blocked.cancel();
        try {
            co_await blocked;
        } catch (const eddy::cancelled_error&) {
        }
        r.close();
        CHECK(r.fd() == -1);
        const auto two = co_await r.readline();
        CHECK(two == "two\n");
        const auto eof = co_await r.readline();
        CHECK(eof.empty());
        CHECK(r.at_eof());
    }());
}

TEST_CASE("a send whose task the shutdown cancelled before it started leaves the writer closed "
          "with ECANCELED",
          "[stream][cancel]") {
    auto p = eddy::pipe();
    auto& w = p.writer;
    eddy::run([&]() -> eddy::task<> {
        w.write("too late"); // the send task would start on the next turn: there is none
        co_return;
    }());
    CHECK(w.is_closing());
    CHECK(w.fd() == -1);
    CHECK(w.write_buffer_size() == 0);
    int code = 0;
    try {
        w.write("more");
    } catch (const std::system_error& e) {
        code = e.code().value();
    }
    CHECK(code == ECANCELED);
}

TEST_CASE("a writer dropped just before run ends, its send not started, leaks nothing and "
          "closes its fd",
          "[stream][cancel]") {
    const auto frames = eddy::live_frames();
    for (const bool close_first : {false, true}) {
        auto p = eddy::pipe();
        auto& r = p.reader;
        eddy::run([&]() -> eddy::task<> {
            eddy::stream_writer mine = std::move(p.writer);
            mine.write("dropped");
            if (close_first) {
                mine.close(); // the flush would go on without the writer, but the loop ends
            }
            co_return;
        }());
        CHECK(eddy::live_frames() == frames);
        eddy::run([&]() -> eddy::task<> {
            const auto got = co_await eddy::wait_for(r.read(), 10s); // EOF, not a hang
            CHECK(got.empty());
        }());
    }
}

namespace {
/// A pseudo-terminal in raw mode whose reading end (the master) reads only once told to, or
/// after 10 s: it stands for the program's own stdout in a terminal under flow control.
struct stalled_terminal {
    int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    int slave = -1;
    std::atomic<bool> read_now{false};
    std::atomic<bool> stop{false};
    std::thread reader;
    stalled_terminal() {
        REQUIRE(master >= 0);
        REQUIRE(::grantpt(master) == 0);
        REQUIRE(::unlockpt(master) == 0);
        slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
        REQUIRE(slave >= 0);
        termios t{};
        REQUIRE(::tcgetattr(slave, &t) == 0);
        ::cfmakeraw(&t);
        REQUIRE(::tcsetattr(slave, TCSANOW, &t) == 0);
        reader = std::thread([this] {
            const auto give_up = std::chrono::steady_clock::now() + 10s;
            while (!read_now && !stop && std::chrono::steady_clock::now() < give_up) {
                std::this_thread::sleep_for(1ms);
            }
            // Polled, so that the destructor never closes the master while a read is in it.
            std::array<char, 65536> b{};
            while (!stop) {
                pollfd p{master, POLLIN, 0};
                if (::poll(&p, 1, 10) > 0 && ::read(master, b.data(), b.size()) <= 0) {
                    break; // EIO: every slave fd is closed
                }
            }
        });
    }
    stalled_terminal(const stalled_terminal&) = delete;
    stalled_terminal& operator=(const stalled_terminal&) = delete;
    ~stalled_terminal() {
        stop = true;
        reader.join();
        ::close(master);
    }
};

eddy::loop_options on_backend(eddy::backend_kind k) {
    eddy::loop_options o;
    o.backend = k;
    return o;
}
} // namespace

TEST_CASE("a write to a terminal that stopped reading never blocks the loop", "[stream]") {
    // A terminal's driver ignores non-blocking writes: a write issued on the loop thread slept
    // there until the terminal read again, freezing timers and every other task.
    const auto kind = GENERATE(eddy::backend_kind::io_uring, eddy::backend_kind::epoll);
    const bool nonblocking = GENERATE(false, true); // a terminal inherited O_NONBLOCK
    stalled_terminal term;
    if (nonblocking) {
        REQUIRE(::fcntl(term.slave, F_SETFL, ::fcntl(term.slave, F_GETFL) | O_NONBLOCK) == 0);
    }
    double slept = 0;
    eddy::run(
        [&]() -> eddy::task<> {
            eddy::stream_writer w(term.slave);
            const auto t0 = eddy::clock::now();
            w.write(std::string(200'000, 'x')); // far more than a terminal buffers
            co_await eddy::sleep(20ms);         // the send goes to the kernel meanwhile
            slept = std::chrono::duration<double>(eddy::clock::now() - t0).count();
            term.read_now = true;
            co_await w.drain();
            w.close();
            co_await w.wait_closed(); // every byte written, none refused with EAGAIN
        }(),
        on_backend(kind));
    CHECK(slept < 5.0); // about 0.02; 10 when the write held the loop
}

TEST_CASE("aborting a writer stuck on a terminal that does not read ends its send at once",
          "[stream]") {
    const auto kind = GENERATE(eddy::backend_kind::io_uring, eddy::backend_kind::epoll);
    stalled_terminal term;
    double took = 0;
    const auto t0 = std::chrono::steady_clock::now();
    eddy::run(
        [&]() -> eddy::task<> {
            eddy::stream_writer w(term.slave);
            w.write(std::string(200'000, 'x'));
            co_await eddy::sleep(20ms); // the send is stuck now
            w.abort();
            co_await w.wait_closed();
        }(),
        on_backend(kind));
    took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(took < 5.0); // not until the terminal reads (10 s): a stuck send cannot be cancelled
}
