// Stress tests (ctest label "stress", kept out of the "unit" label): connections churned
// through a server, a million timers with half of them cancelled, random cancellation over
// mixed operations. Loopback only, bounded in time, seeded: each prints its seed on stderr
// and EDDY_STRESS_SEED=<seed> replays a run. Nothing here depends on the backend (io_uring or
// epoll): only what eddy promises to every caller is checked.
//
// Tags: [stress] plus an area tag that the TSan preset's test filter does not select (it runs
// [to_thread], [stream], [pipe]... as unit tests, without excluding [stress]).
#include "helpers.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;

// Sanitizer and unoptimized builds run some cases at a fraction of the release size (said at
// each use): the same code paths, within the time a CI job can give them.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define EDDY_STRESS_SLOW_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define EDDY_STRESS_SLOW_BUILD 1
#endif
#endif
#if !defined(__OPTIMIZE__)
#define EDDY_STRESS_SLOW_BUILD 1
#endif

namespace {

#if defined(EDDY_STRESS_SLOW_BUILD)
constexpr bool slow_build = true;
#else
constexpr bool slow_build = false;
#endif

/// The seed of a stress case: EDDY_STRESS_SEED if set (to replay a failure), else a fresh one.
/// Printed on stderr before the case runs, so that even a sanitizer's abort leaves it behind.
std::uint64_t stress_seed(const char* which) {
    std::uint64_t seed = 0;
    if (const char* env = std::getenv("EDDY_STRESS_SEED"); env != nullptr && *env != '\0') {
        seed = std::strtoull(env, nullptr, 0);
    } else {
        std::random_device rd;
        seed = (static_cast<std::uint64_t>(rd()) << 32) | rd();
    }
    std::fprintf(stderr, "%s: seed %llu (replay: EDDY_STRESS_SEED=%llu)\n", which,
                 static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
    std::fflush(stderr);
    return seed;
}

/// Uniform integer in [lo, hi].
template <class R> std::uint64_t uniform(R& rng, std::uint64_t lo, std::uint64_t hi) {
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng);
}

} // namespace

// ================================================================ connections churned

namespace {
namespace churn {

int handler_failures = 0;

/// Echoes lines until end of file; counts what went wrong instead of letting the server
/// report it (a report would not fail the test).
eddy::task<> echo_lines(eddy::stream_reader& r, eddy::stream_writer& w) {
    try {
        for (;;) {
            std::string line = co_await r.readline();
            if (line.empty()) {
                co_return;
            }
            w.write(line);
            co_await w.drain();
        }
    } catch (const std::exception&) {
        ++handler_failures;
    }
}

/// One connection to make: its request line, and who closes first.
struct visit {
    std::string line;
    bool server_closes = false;
};

/// `n` request lines of random lengths (up to ~300 bytes), each its index then letters; half
/// of them, at random, half-close after the request so that the server closes first.
template <class R> std::vector<visit> plan(int n, R& rng) {
    std::vector<visit> vs(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        visit& v = vs[static_cast<std::size_t>(i)];
        v.line = "connection " + std::to_string(i) + " ";
        for (auto len = uniform(rng, 0, 280); len > 0; --len) {
            v.line += static_cast<char>('a' + uniform(rng, 0, 25));
        }
        v.line += '\n';
        v.server_closes = rng() % 2 == 0;
    }
    return vs;
}

struct stats {
    int echoed = 0;       // echoes that came back equal to what was sent
    int wrong = 0;        // echoes that did not, or trailing bytes where end of file was due
    std::size_t next = 0; // the next connection to make
};

/// Makes the planned connections one after another, sharing them out with the other workers.
/// A client that closes first keeps the connection's TIME_WAIT; one that half-closes after
/// its request lets the server's handler return and close first (the server keeps it).
eddy::task<> worker(std::uint16_t port, const std::vector<visit>& plan, stats& st) {
    while (st.next < plan.size()) {
        const visit& v = plan[st.next++];
        auto [r, w] = co_await eddy::open_connection("127.0.0.1", port);
        w.write(v.line);
        if (v.server_closes) {
            w.write_eof();
        }
        const std::string echo = co_await r.readline();
        bool ok = echo == v.line;
        if (v.server_closes) {
            const std::string rest = co_await r.read(); // the server's end of file
            ok = ok && rest.empty();
        }
        w.close();
        co_await w.wait_closed();
        ++(ok ? st.echoed : st.wrong);
    }
}

/// The size of the ephemeral port range (net.ipv4.ip_local_port_range), 0 if unreadable.
int ephemeral_ports() {
    std::ifstream f("/proc/sys/net/ipv4/ip_local_port_range");
    int lo = 0;
    int hi = -1;
    f >> lo >> hi;
    return hi - lo + 1;
}

} // namespace churn
} // namespace

TEST_CASE("10000 connections churned through an echo server all echo and leave nothing behind",
          "[stress][server][net]") {
    // Each client connection takes an ephemeral port; half of them stay in TIME_WAIT on the
    // client side for a minute, but a port in TIME_WAIT to this run's server port is reused
    // for other destinations (and on loopback with tcp_tw_reuse), so only one run's 10,000
    // must fit in the range (28,232 ports by default).
    constexpr int total = 10'000;
    constexpr int concurrent = 100;
    INFO("ephemeral ports: " << churn::ephemeral_ports());
    REQUIRE(churn::ephemeral_ports() >= total);
    std::mt19937_64 rng(stress_seed("connections churned"));
    const std::vector<churn::visit> plan = churn::plan(total, rng);
    churn::handler_failures = 0;
    churn::stats st;
    std::size_t left_connected = 1;
    const auto frames = eddy::live_frames();
    const auto fds = eddy_test::open_fds();
    const auto started = eddy::clock::now();
    eddy::run([&]() -> eddy::task<> {
        eddy::server srv = co_await eddy::start_server(churn::echo_lines, "127.0.0.1", 0);
        std::vector<eddy::task<>> workers;
        workers.reserve(concurrent);
        for (int k = 0; k < concurrent; ++k) {
            workers.push_back(churn::worker(srv.port(), plan, st));
        }
        co_await eddy::gather(std::move(workers));
        // Handlers of connections the client closed first end once they see end of file.
        for (int waited = 0; srv.connections() != 0 && waited < 10'000; ++waited) {
            co_await eddy::sleep(1ms);
        }
        left_connected = srv.connections();
        srv.close();
        co_await srv.wait_closed();
    }());
    std::fprintf(stderr, "connections churned: %d in %.0f ms\n", total,
                 eddy_test::ms_since(started));
    CHECK(st.echoed == total);
    CHECK(st.wrong == 0);
    CHECK(churn::handler_failures == 0);
    CHECK(left_connected == 0);
    CHECK(eddy::live_frames() == frames);
    CHECK(eddy_test::open_fds() == fds);
}

// ================================================================ a million timers

namespace {
namespace timers {

/// One timer: its deadline, what happened to it, and what the test did to it.
struct entry {
    eddy::clock::time_point deadline;
    eddy::clock::time_point cancel_at; // for the half to cancel
    std::uint32_t cancel_batch = 0;    // the canceller's wake-up that cancelled it
    std::uint32_t fire_batch = 0;      // the canceller's wake-ups so far when it fired
    std::uint8_t fired = 0;
    bool early = false;     // fired before its deadline
    bool target = false;    // in the half to cancel
    bool in_time = false;   // its deadline was still ahead on the clock when it was cancelled
    bool cancel_ok = false; // what cancel() returned
};

/// The timers of one case and the counters their callbacks, tasks and canceller share.
struct board {
    std::vector<entry> es;
    std::vector<entry*> targets; // the half to cancel, by cancellation time
    std::uint32_t batch = 0;     // the canceller's wake-ups so far
    std::size_t settled = 0;     // timers that fired or were cancelled for good

    /// `n` timers with deadlines in (0, spread) after the clock's epoch, half of them chosen
    /// at random for cancellation at a time in [0, deadline). Planned before the clock
    /// matters (start_at): sorting a million entries takes a while in a slow build.
    template <class R> board(std::size_t n, R& rng, std::chrono::nanoseconds spread) : es(n) {
        for (entry& e : es) {
            e.deadline = eddy::clock::time_point(std::chrono::nanoseconds(
                1 + uniform(rng, 0, static_cast<std::uint64_t>(spread.count()) - 2)));
        }
        std::vector<std::size_t> order(n);
        std::iota(order.begin(), order.end(), std::size_t{0});
        std::shuffle(order.begin(), order.end(), rng);
        targets.reserve(n / 2);
        for (std::size_t k = 0; k < n / 2; ++k) {
            entry& e = es[order[k]];
            e.target = true;
            const auto ahead = static_cast<std::uint64_t>(e.deadline.time_since_epoch().count());
            e.cancel_at =
                eddy::clock::time_point(std::chrono::nanoseconds(uniform(rng, 0, ahead - 1)));
            targets.push_back(&e);
        }
        std::sort(targets.begin(), targets.end(),
                  [](const entry* a, const entry* b) { return a->cancel_at < b->cancel_at; });
    }

    /// Moves the planned times to start at `base`.
    void start_at(eddy::clock::time_point base) {
        for (entry& e : es) {
            e.deadline += base.time_since_epoch();
            e.cancel_at += base.time_since_epoch();
        }
    }

    [[nodiscard]] std::size_t index(const entry& e) const {
        return static_cast<std::size_t>(&e - es.data());
    }

    /// What a timer does when it fires.
    void fire(entry& e) {
        e.early = e.early || eddy::clock::now() < e.deadline;
        e.fire_batch = batch;
        ++e.fired;
        ++settled;
    }
};

/// Sleeps until the next target's cancellation time and calls `cancel(entry&)` on every
/// target due by then, noting whether its deadline was still ahead on the clock.
///
/// No target can fire before its cancellation, however late the loop runs: the canceller
/// wakes at a deadline before each target's own, the loop moves expired timers to its FIFO
/// ready queue in deadline order, so the canceller runs first. At worst the target's timer
/// expired in the same turn (fire_batch == cancel_batch).
template <class Cancel> eddy::task<> canceller(board& b, Cancel cancel) {
    std::size_t k = 0;
    while (k < b.targets.size()) {
        co_await eddy::sleep_until(b.targets[k]->cancel_at);
        ++b.batch;
        const auto now = eddy::clock::now();
        for (; k < b.targets.size() && b.targets[k]->cancel_at <= now; ++k) {
            entry& e = *b.targets[k];
            e.in_time = e.deadline > eddy::clock::now();
            e.cancel_batch = b.batch;
            e.cancel_ok = cancel(e);
        }
    }
}

/// Counts over all entries after the run; every count but the first five must be 0.
struct verdict {
    std::size_t fired = 0;
    std::size_t cancelled = 0;
    std::size_t in_time = 0;    // targets cancelled while their deadline was ahead
    std::size_t late = 0;       // targets cancelled once their deadline had passed
    std::size_t late_fired = 0; // of those, the ones that fired
    std::size_t early = 0;
    std::size_t fired_twice = 0;
    std::size_t both = 0;          // a target that fired and also ended cancelled
    std::size_t neither = 0;       // a target that neither fired nor ended cancelled
    std::size_t in_time_lost = 0;  // a target cancelled in time that was not cancelled
    std::size_t before_cancel = 0; // a target that fired in a turn before its cancellation
    std::size_t other_missed = 0;  // a timer nobody cancelled that did not fire exactly once
};

/// `cancelled(i)` says whether timer `i` ended cancelled (its handle's cancelled()).
template <class Cancelled> verdict judge(const board& b, Cancelled cancelled) {
    verdict v;
    for (const entry& e : b.es) {
        const bool c = cancelled(b.index(e));
        v.fired += e.fired;
        v.cancelled += c ? 1 : 0;
        v.early += e.early ? 1 : 0;
        v.fired_twice += e.fired > 1 ? 1 : 0;
        if (!e.target) {
            v.other_missed += e.fired == 1 && !c ? 0 : 1;
            continue;
        }
        (e.in_time ? v.in_time : v.late) += 1;
        v.late_fired += !e.in_time && e.fired != 0 ? 1 : 0;
        v.both += c && e.fired != 0 ? 1 : 0;
        v.neither += !c && e.fired == 0 ? 1 : 0;
        v.in_time_lost += e.in_time && !(e.cancel_ok && c && e.fired == 0) ? 1 : 0;
        v.before_cancel += e.fired != 0 && e.fire_batch < e.cancel_batch ? 1 : 0;
    }
    return v;
}

void check(const verdict& v) {
    CHECK(v.early == 0);
    CHECK(v.fired_twice == 0);
    CHECK(v.both == 0);
    CHECK(v.neither == 0);
    CHECK(v.in_time_lost == 0);
    CHECK(v.before_cancel == 0);
    CHECK(v.other_missed == 0);
}

void report(const char* what, std::size_t n, const verdict& v, double ms) {
    std::fprintf(stderr,
                 "%s: %zu timers in %.0f ms: %zu fired, %zu cancelled (%zu with the deadline "
                 "ahead, %zu after it on the clock, %zu of which fired)\n",
                 what, n, ms, v.fired, v.cancelled, v.in_time, v.late, v.late_fired);
}

} // namespace timers
} // namespace

TEST_CASE("a million call_at timers with half cancelled: exactly the others fire, none early",
          "[stress][callbacks]") {
    // Sanitizer and -O0 builds run 500,000 (~4 s at -O0, ~6-12 s under ASan on a loaded 2-core
    // machine, much of it outside the loop: planning, checking); a million would double that.
    constexpr std::size_t n = slow_build ? 500'000 : 1'000'000;
    std::mt19937_64 rng(stress_seed("call_at timers"));
    timers::board b(n, rng, 1s);
    std::vector<eddy::callback_handle> handles(n);
    const auto frames = eddy::live_frames();
    const auto started = eddy::clock::now();
    eddy::run([&]() -> eddy::task<> {
        // Deadlines start a little ahead, so that scheduling them does not eat into them.
        b.start_at(eddy::clock::now() + (slow_build ? 1500ms : 300ms));
        for (timers::entry& e : b.es) {
            handles[b.index(e)] = eddy::call_at(e.deadline, [&b, &e] { b.fire(e); });
        }
        auto cancel = [&](timers::entry& e) {
            const bool ok = handles[b.index(e)].cancel();
            b.settled += ok ? 1 : 0;
            return ok;
        };
        co_await timers::canceller(b, cancel);
        while (b.settled < n) { // the loop may still be behind the last deadlines
            co_await eddy::sleep(1ms);
        }
    }());
    const timers::verdict v =
        timers::judge(b, [&](std::size_t i) { return handles[i].cancelled(); });
    timers::report("call_at timers", n, v, eddy_test::ms_since(started));
    timers::check(v);
    // A callback cancelled before it ran never runs, even when its timer expired in the same
    // turn: every target ends cancelled, late on the clock or not.
    CHECK(v.cancelled == n / 2);
    CHECK(v.late_fired == 0);
    CHECK(v.fired == n / 2);
    handles.clear();
    CHECK(eddy::live_frames() == frames);
}

namespace {
namespace timers {

/// Counts a task out when it ends, by returning or by cancellation.
struct exit_counter {
    std::size_t& count;
    explicit exit_counter(std::size_t& c) noexcept : count(c) {}
    exit_counter(const exit_counter&) = delete;
    exit_counter& operator=(const exit_counter&) = delete;
    ~exit_counter() { ++count; }
};

eddy::task<> sleeper(board& b, entry& e, std::size_t& ended) {
    const exit_counter counted(ended);
    co_await eddy::sleep_until(e.deadline);
    b.fire(e);
}

} // namespace timers
} // namespace

TEST_CASE("half a million sleeping tasks with half cancelled: exactly the others wake, none "
          "early",
          "[stress][sleep]") {
    // A task costs a frame, a state and, when cancelled, a thrown cancelled_error: a million
    // take ~6 s in a release build, half a million ~3 s; sanitizer and -O0 builds run 200,000.
    constexpr std::size_t n = slow_build ? 200'000 : 500'000;
    std::mt19937_64 rng(stress_seed("sleeping tasks"));
    timers::board b(n, rng, 1s);
    std::vector<eddy::task_handle<void>> handles(n);
    std::size_t ended = 0;
    std::size_t unfinished = n;
    const auto frames = eddy::live_frames();
    const auto started = eddy::clock::now();
    eddy::run([&]() -> eddy::task<> {
        b.start_at(eddy::clock::now() + (slow_build ? 1500ms : 500ms));
        for (timers::entry& e : b.es) {
            handles[b.index(e)] = eddy::create_task(timers::sleeper(b, e, ended));
        }
        auto cancel = [&](timers::entry& e) { return handles[b.index(e)].cancel(); };
        co_await timers::canceller(b, cancel);
        while (ended < n) {
            co_await eddy::sleep(1ms);
        }
        unfinished = static_cast<std::size_t>(
            std::count_if(handles.begin(), handles.end(), [](const auto& h) { return !h.done(); }));
    }());
    const timers::verdict v =
        timers::judge(b, [&](std::size_t i) { return handles[i].cancelled(); });
    timers::report("sleeping tasks", n, v, eddy_test::ms_since(started));
    CHECK(unfinished == 0);
    timers::check(v);
    // A task whose timer expired in the same loop turn as its cancel() is resumed normally:
    // eddy delivers what an await got before the cancellation came, and the request would
    // land at the next await, which these tasks do not have (asyncio would raise
    // CancelledError from the sleep instead). Only a target cancelled while its deadline was
    // still ahead on the clock must end cancelled (in_time_lost); each ends one way, never
    // both, and never fires in a turn before its cancellation.
    CHECK(v.cancelled + v.late_fired == n / 2);
    CHECK(v.fired == n / 2 + v.late_fired);
    handles.clear();
    CHECK(eddy::live_frames() == frames);
}

// ================================================================ random cancellation

namespace {
namespace mixed {

/// The byte at position `k` of every stream: not periodic, so a byte lost, delivered twice or
/// out of order shows as a mismatch (splitmix64's finalizer).
std::byte pattern(std::uint64_t k) {
    std::uint64_t z = k + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return static_cast<std::byte>((z ^ (z >> 31)) >> 56);
}

/// One byte stream's bookkeeping.
struct channel {
    std::uint64_t sent = 0;
    std::uint64_t received = 0;
    std::uint64_t mismatches = 0;
    std::vector<std::byte> out;

    /// The next `n` bytes due (out of `out`); sent() says how many went.
    std::span<const std::byte> next(std::size_t n) {
        out.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            out[i] = pattern(sent + i);
        }
        return out;
    }
    void wrote(std::size_t n) { sent += n; }
    void take(std::span<const std::byte> got) {
        for (const std::byte b : got) {
            mismatches += b == pattern(received) ? 0 : 1;
            ++received;
        }
    }
    void take(const std::string& got) { take(std::as_bytes(std::span(got))); }
    [[nodiscard]] std::uint64_t backlog() const { return sent - received; }
};

/// Unread bytes a channel may hold: well under a pipe's or a socket's buffer, so that plain
/// writes never block.
constexpr std::uint64_t max_backlog = std::uint64_t{16} * 1024;
constexpr std::size_t max_read = 512;

/// Everything the tasks of one run share: a pipe read through a stream_reader, a pipe read
/// with eddy::read_some on its fd, a loopback TCP connection read with socket::recv, a queue,
/// and counters for sleeps and thread calls.
struct rig {
    eddy::pipe_ends stream = eddy::pipe();
    eddy_test::pipe_pair raw;
    // Non-blocking writes: a pipe made when the user's pipe buffers are over their soft limit
    // holds one page only, and a blocked write would stop the loop.
    const int raw_nonblocking = ::fcntl(raw.w, F_SETFL, O_NONBLOCK);
    eddy::socket sender;
    eddy::socket receiver;
    channel stream_ch, raw_ch, sock_ch;
    eddy::queue<std::uint64_t> q;
    std::uint64_t next_item = 0;
    std::vector<std::uint8_t> items_got; // per item: how often a getter took it
    std::atomic<std::uint64_t> thread_ran{0};
    std::uint64_t thread_calls = 0;
    std::uint64_t thread_results = 0;
    std::uint64_t sleeps_done = 0;

    void write_stream(std::size_t n) {
        stream.writer.write(stream_ch.next(n));
        stream_ch.wrote(n);
    }
    void write_raw(std::size_t n) {
        const std::span<const std::byte> b = raw_ch.next(n);
        const ssize_t w = ::write(raw.w, b.data(), b.size());
        raw_ch.wrote(w > 0 ? static_cast<std::size_t>(w) : 0);
    }
    void write_sock(std::size_t n) {
        const std::span<const std::byte> b = sock_ch.next(n);
        const ssize_t w = ::send(sender.fd(), b.data(), b.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        sock_ch.wrote(w > 0 ? static_cast<std::size_t>(w) : 0);
    }
    /// Writes `n` bytes to channel `c` (0 stream, 1 raw pipe, 2 socket) unless its backlog is
    /// full.
    void write(int c, std::size_t n) {
        const channel& ch = c == 0 ? stream_ch : c == 1 ? raw_ch : sock_ch;
        if (ch.backlog() + n > max_backlog) {
            return;
        }
        switch (c) {
        case 0:
            write_stream(n);
            break;
        case 1:
            write_raw(n);
            break;
        default:
            write_sock(n);
            break;
        }
    }
    void put() {
        q.put_nowait(next_item++);
        items_got.push_back(0);
    }
    void got(std::uint64_t item) {
        if (item < items_got.size()) {
            ++items_got[item];
        } else {
            items_got.push_back(100); // an item never put: counted as a failure below
        }
    }
};

enum class kind { stream_read, pipe_read, sock_recv, queue_get, thread, sleep };

/// One task of an iteration and what happened to it.
struct job {
    kind k;
    bool finished = false; // its body ran to the end
    bool cancel_asked = false;
    bool cancel_ok = false; // what cancel() returned
    eddy::task_handle<void> h;
};

/// One to three reads of random kinds and sizes from the stream over the pipe.
eddy::task<> stream_reads(rig& r, std::uint64_t seed, bool& finished) {
    std::minstd_rand rng(static_cast<std::uint32_t>(seed));
    std::array<std::byte, max_read> buf{};
    const unsigned reads = 1 + rng() % 3;
    for (unsigned i = 0; i < reads; ++i) {
        const std::size_t n = 1 + rng() % max_read;
        switch (rng() % 3) {
        case 0: {
            const std::string s = co_await r.stream.reader.read(n);
            r.stream_ch.take(s);
            break;
        }
        case 1: {
            const std::size_t got = co_await r.stream.reader.read_some(std::span(buf).first(n));
            r.stream_ch.take(std::span(buf).first(got));
            break;
        }
        default: {
            const std::string s = co_await r.stream.reader.read_exactly(n);
            r.stream_ch.take(s);
            break;
        }
        }
    }
    finished = true;
}

/// One to three eddy::read_some calls on the raw pipe's read end.
eddy::task<> pipe_reads(rig& r, std::uint64_t seed, bool& finished) {
    std::minstd_rand rng(static_cast<std::uint32_t>(seed));
    std::array<std::byte, max_read> buf{};
    const unsigned reads = 1 + rng() % 3;
    for (unsigned i = 0; i < reads; ++i) {
        const std::size_t n = 1 + rng() % max_read;
        const std::size_t got = co_await eddy::read_some(r.raw.r, std::span(buf).first(n));
        r.raw_ch.take(std::span(buf).first(got));
    }
    finished = true;
}

/// One to three socket::recv calls on the connection's receiving end.
eddy::task<> sock_recvs(rig& r, std::uint64_t seed, bool& finished) {
    std::minstd_rand rng(static_cast<std::uint32_t>(seed));
    std::array<std::byte, max_read> buf{};
    const unsigned reads = 1 + rng() % 3;
    for (unsigned i = 0; i < reads; ++i) {
        const std::size_t n = 1 + rng() % max_read;
        const std::size_t got = co_await r.receiver.recv(std::span(buf).first(n));
        r.sock_ch.take(std::span(buf).first(got));
    }
    finished = true;
}

/// One or two gets from the queue.
eddy::task<> queue_gets(rig& r, std::uint64_t seed, bool& finished) {
    const unsigned gets = 1 + static_cast<unsigned>(seed % 2);
    for (unsigned i = 0; i < gets; ++i) {
        const std::uint64_t item = co_await r.q.get();
        r.got(item);
    }
    finished = true;
}

/// A short blocking call on the loop's thread pool.
eddy::task<> thread_call(rig& r, std::uint64_t seed, bool& finished) {
    const auto pause = std::chrono::microseconds(seed % 200);
    auto call = [&ran = r.thread_ran, pause] {
        std::this_thread::sleep_for(pause);
        ran.fetch_add(1, std::memory_order_relaxed);
        return 7;
    };
    ++r.thread_calls;
    const int v = co_await eddy::to_thread(call);
    r.thread_results += v == 7 ? 1 : 0;
    finished = true;
}

eddy::task<> nap(rig& r, std::uint64_t seed, bool& finished) {
    co_await eddy::sleep(std::chrono::microseconds(seed % 500));
    ++r.sleeps_done;
    finished = true;
}

/// Counts over the whole run.
struct tally {
    std::uint64_t jobs = 0;
    std::uint64_t cancelled = 0;        // cancel() asked and the task ended cancelled
    std::uint64_t completed_anyway = 0; // cancel() asked, but the task had what it waited for
    std::uint64_t wrong = 0;            // a task that ended otherwise than it must have
    bool stuck = false;                 // uncancelled tasks never finished
};

/// Starts jobs of random kinds (at most one reader per byte stream, as a stream or an fd read
/// by two tasks at once has no defined order), writes and puts at random moments, cancels a
/// random subset after a random number of loop turns or a tiny sleep, then feeds the
/// survivors until they finish.
eddy::task<> iteration(rig& r, std::mt19937_64& rng, tally& t) {
    std::vector<job> jobs;
    jobs.reserve(16); // at most 3 + 3 + 2 + 2: no reallocation, the tasks hold their job's flag
    auto start = [&](kind k) {
        job& j = jobs.emplace_back();
        j.k = k;
        const std::uint64_t seed = rng();
        switch (k) {
        case kind::stream_read:
            j.h = eddy::create_task(stream_reads(r, seed, j.finished));
            break;
        case kind::pipe_read:
            j.h = eddy::create_task(pipe_reads(r, seed, j.finished));
            break;
        case kind::sock_recv:
            j.h = eddy::create_task(sock_recvs(r, seed, j.finished));
            break;
        case kind::queue_get:
            j.h = eddy::create_task(queue_gets(r, seed, j.finished));
            break;
        case kind::thread:
            j.h = eddy::create_task(thread_call(r, seed, j.finished));
            break;
        case kind::sleep:
            j.h = eddy::create_task(nap(r, seed, j.finished));
            break;
        }
    };
    auto scribble = [&] { // a few writes and puts, maybe none
        for (int c = 0; c < 3; ++c) {
            if (rng() % 3 == 0) {
                r.write(c, 1 + rng() % 1024);
            }
        }
        for (auto puts = rng() % 3; puts > 0; --puts) {
            r.put();
        }
    };

    if (rng() % 2 == 0) {
        scribble(); // some reads find their data already there
    }
    const kind readers[] = {kind::stream_read, kind::pipe_read, kind::sock_recv};
    for (const kind k : readers) {
        if (rng() % 2 == 0) {
            start(k);
        }
    }
    for (auto n = rng() % 4; n > 0; --n) {
        start(kind::queue_get);
    }
    for (auto n = rng() % 3; n > 0; --n) {
        start(kind::thread);
    }
    for (auto n = rng() % 3; n > 0; --n) {
        start(kind::sleep);
    }
    if (rng() % 2 == 0) {
        scribble();
    }
    if (rng() % 4 == 0) {
        co_await eddy::sleep(std::chrono::microseconds(rng() % 300));
    } else {
        for (auto turns = rng() % 5; turns > 0; --turns) {
            co_await eddy::yield();
        }
    }
    if (rng() % 2 == 0) {
        scribble(); // completions racing the cancellations below
    }
    for (job& j : jobs) {
        if (rng() % 2 == 0) {
            j.cancel_asked = true;
            j.cancel_ok = j.h.cancel();
        }
    }
    // Feed the rest until everything has finished: every read asks for at most max_read bytes,
    // every getter for at most two items.
    for (int round = 0;; ++round) {
        bool pending = false;
        for (const job& j : jobs) {
            if (j.h.done()) {
                continue;
            }
            pending = true;
            if (j.cancel_asked) {
                continue;
            }
            switch (j.k) {
            case kind::stream_read:
                r.write(0, max_read);
                break;
            case kind::pipe_read:
                r.write(1, max_read);
                break;
            case kind::sock_recv:
                r.write(2, max_read);
                break;
            case kind::queue_get:
                if (r.q.empty()) {
                    r.put();
                }
                break;
            default:
                break;
            }
        }
        if (!pending) {
            break;
        }
        if (round > 20'000) { // ~several seconds: something will never finish
            t.stuck = true;
            co_return;
        }
        if (round < 8) {
            co_await eddy::yield();
        } else {
            co_await eddy::sleep(100us);
        }
    }
    for (job& j : jobs) {
        const bool cancelled = co_await eddy_test::ends_cancelled(j.h);
        ++t.jobs;
        bool ok = false;
        if (!j.cancel_asked || !j.cancel_ok) {
            ok = j.finished && !cancelled;
        } else {
            // Cancelled while waiting: it took nothing. Or its operation had completed in the
            // same instant: it keeps the result and ends normally (no further await).
            ok = j.finished != cancelled;
            ++(cancelled ? t.cancelled : t.completed_anyway);
        }
        t.wrong += ok ? 0 : 1;
    }
}

/// A connected loopback TCP pair.
eddy::task<> connect_pair(rig& r) {
    eddy::socket listener = eddy::socket::open(AF_INET, SOCK_STREAM);
    listener.bind(eddy::endpoint::ipv4_loopback(0));
    listener.listen();
    r.sender = eddy::socket::open(AF_INET, SOCK_STREAM);
    co_await r.sender.connect(listener.local_endpoint()); // the backlog takes it
    r.receiver = co_await listener.accept();
}

/// Closes every writing end and reads each stream to its end.
eddy::task<> drain(rig& r) {
    r.stream.writer.close();
    co_await r.stream.writer.wait_closed();
    const std::string rest = co_await r.stream.reader.read();
    r.stream_ch.take(rest);

    r.raw.close_write();
    std::array<std::byte, 4096> buf{};
    for (;;) {
        const std::size_t got = co_await eddy::read_some(r.raw.r, buf);
        if (got == 0) {
            break;
        }
        r.raw_ch.take(std::span(buf).first(got));
    }

    co_await r.sender.shutdown(SHUT_WR);
    for (;;) {
        const std::size_t got = co_await r.receiver.recv(buf);
        if (got == 0) {
            break;
        }
        r.sock_ch.take(std::span(buf).first(got));
    }

    while (!r.q.empty()) {
        r.got(r.q.get_nowait());
    }
}

} // namespace mixed
} // namespace

TEST_CASE("random cancellation over sleeps, reads, receives, thread calls and queue gets loses "
          "nothing and leaks nothing",
          "[stress][cancel]") {
    constexpr int iterations = 10'000;
    const std::uint64_t seed = stress_seed("random cancellation");
    INFO("seed " << seed << " (replay: EDDY_STRESS_SEED=" << seed << ")");
    std::mt19937_64 rng(seed);
    mixed::tally t;
    const auto frames = eddy::live_frames();
    const auto fds = eddy_test::open_fds();
    const auto started = eddy::clock::now();
    std::unique_ptr<mixed::rig> r = std::make_unique<mixed::rig>();
    eddy::run([&]() -> eddy::task<> {
        co_await mixed::connect_pair(*r);
        for (int i = 0; i < iterations && !t.stuck; ++i) {
            co_await mixed::iteration(*r, rng, t);
        }
        if (!t.stuck) {
            co_await mixed::drain(*r);
        }
    }());
    using ull = unsigned long long;
    std::fprintf(stderr,
                 "random cancellation: %d iterations in %.0f ms: %llu tasks, %llu cancelled, "
                 "%llu completed as the cancellation came; bytes %llu + %llu + %llu, %llu "
                 "items, %llu thread calls (%llu ran), %llu sleeps\n",
                 iterations, eddy_test::ms_since(started), ull(t.jobs), ull(t.cancelled),
                 ull(t.completed_anyway), ull(r->stream_ch.sent), ull(r->raw_ch.sent),
                 ull(r->sock_ch.sent), ull(r->next_item), ull(r->thread_calls),
                 ull(r->thread_ran.load()), ull(r->sleeps_done));
    REQUIRE(r->raw_nonblocking == 0);
    REQUIRE_FALSE(t.stuck);
    CHECK(t.wrong == 0);
    for (const mixed::channel* ch : {&r->stream_ch, &r->raw_ch, &r->sock_ch}) {
        CHECK(ch->received == ch->sent);
        CHECK(ch->mismatches == 0);
    }
    CHECK(std::count(r->items_got.begin(), r->items_got.end(), 1) ==
          static_cast<std::ptrdiff_t>(r->next_item));
    CHECK(r->items_got.size() == r->next_item);
    // A thread call withdrawn before it started never runs; one already running finishes in
    // the background (the loop waits for it before run() returns).
    CHECK(r->thread_results <= r->thread_ran.load());
    CHECK(r->thread_ran.load() <= r->thread_calls);
    r.reset();
    CHECK(eddy::live_frames() == frames);
    CHECK(eddy_test::open_fds() == fds);
}
