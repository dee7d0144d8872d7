// libFuzzer target for stream_reader's parsing: read_until, readline, read_exactly, read(n),
// read_some and read() with a small limit, reads cancelled mid-flight, over a pipe fed by a
// concurrent writer task (so inputs larger than the pipe's capacity go through).
//
// Input layout (see decode()):
//   [0]      limit selector           [1]    separator length (bits 0-1) and write chunk size
//   [2..4]   separator bytes          [5]    operation count (mod 32)
//   2 bytes per operation (kind, size), then the bytes fed through the pipe.
//
// Every invariant violation aborts with a message (libFuzzer reports it as a crash):
//   - the concatenation of every byte returned is the fed data, in order (nothing lost,
//     duplicated or reordered), and after the final read() it is all of it;
//   - limit_overrun_error is justified (no separator starts within the limit) and consumes
//     nothing: the bytes stay buffered and the next read returns them;
//   - a read_until/readline result ends with its separator's first occurrence, which starts
//     within the limit; only readline's final chunk at EOF may lack it;
//   - incomplete_read_error carries exactly the rest of the stream (and n for read_exactly);
//   - read(n)/read_some return at most n bytes and nothing only at EOF; at_eof() and buffered()
//     agree with what was fed;
//   - a cancelled read consumes nothing;
//   - no coroutine frame outlives eddy::run.
#include <eddy/eddy.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace {

[[noreturn]] void violated(const char* what, int line) {
    std::fprintf(stderr, "fuzz_stream.cpp:%d: invariant violated: %s\n", line, what);
    std::fflush(stderr);
    std::abort();
}

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            violated(#cond, __LINE__);                                                             \
        }                                                                                          \
    } while (false)

enum op_kind : unsigned {
    op_readline = 0,
    op_read_until = 1,
    op_read_exactly = 2,
    op_read_n = 3,
    op_read_some = 4,
    op_cancelled = 5, // one of the five above, cancelled after a few loop turns
    op_read_all = 6,
    op_yield = 7, // lets the writer run; checks the reader's counters
};

struct op {
    unsigned kind = 0;
    unsigned inner = 0;  // op_cancelled: the read to cancel (0..4)
    unsigned yields = 0; // op_cancelled: loop turns before the cancel (0..3)
    std::size_t n = 0;   // size for read_exactly, read(n), read_some
};

struct input {
    std::size_t limit = 1;
    std::string sep;
    std::size_t chunk = 1; // the writer's write size
    std::vector<op> ops;
    std::string_view data;
};

/// Sizes from one byte: small ones often, a few up to ~80 KiB (beyond the 64 KiB buffer).
std::size_t size_of(std::uint8_t b) {
    return b < 200 ? b : static_cast<std::size_t>(b - 199) * 1500;
}

bool decode(const std::uint8_t* p, std::size_t size, input& in) {
    constexpr std::size_t header = 6;
    if (size < header) {
        return false;
    }
    const std::uint8_t l = p[0];
    // Tiny limits, medium ones, and ones around the 64 KiB buffer (limit + sep > capacity).
    in.limit = l < 128   ? 1 + std::size_t{l}
               : l < 248 ? 1 + std::size_t(l - 128) * 137
                         : 60000 + std::size_t(l - 248) * 1024;
    in.sep.assign(reinterpret_cast<const char*>(p + 2), 1 + p[1] % 3);
    const unsigned c = p[1] >> 2; // 0..63
    in.chunk = c == 0 ? std::size_t{1} << 20 : c < 32 ? c : std::size_t(c - 31) * 1024;
    const std::size_t nops = p[5] % 32;
    if (size < header + 2 * nops) {
        return false;
    }
    for (std::size_t i = 0; i < nops; ++i) {
        const std::uint8_t k = p[header + 2 * i];
        op o;
        o.kind = k & 7;
        o.inner = ((k >> 3) & 7) % 5;
        o.yields = k >> 6;
        o.n = size_of(p[header + 2 * i + 1]);
        in.ops.push_back(o);
    }
    const std::size_t off = header + 2 * nops;
    in.data = std::string_view(reinterpret_cast<const char*>(p + off), size - off);
    return true;
}

struct state {
    std::string_view data;  // what the writer feeds
    std::size_t cursor = 0; // bytes returned so far: data[0, cursor) in order
    std::size_t limit = 1;
    std::string sep;
    eddy::stream_reader* reader = nullptr;

    std::size_t remaining() const { return data.size() - cursor; }

    /// Accounts bytes a read returned: they must be the next fed bytes.
    void accept(std::string_view got) {
        FUZZ_CHECK(got.size() <= remaining());
        FUZZ_CHECK(data.substr(cursor, got.size()) == got);
        cursor += got.size();
    }
    /// The stream ended here: everything fed was returned.
    void at_end() const {
        FUZZ_CHECK(cursor == data.size());
        FUZZ_CHECK(reader->at_eof());
        FUZZ_CHECK(reader->buffered() == 0);
    }
    void consistent() const {
        FUZZ_CHECK(reader->buffered() <= remaining());
        if (reader->at_eof()) {
            FUZZ_CHECK(cursor == data.size());
        }
    }
    /// A limit_overrun_error for separator `s` must be justified and must leave the bytes buffered.
    void overrun(std::string_view s, std::size_t consumed) const {
        FUZZ_CHECK(consumed > limit);
        const std::size_t first = data.find(s, cursor);
        if (first != std::string_view::npos) {
            FUZZ_CHECK(first - cursor > limit);     // no separator starts within the limit
            FUZZ_CHECK(first - cursor >= consumed); // nor before the reported offset
        }
        // Nothing consumed: the searched bytes are still buffered. The next read returning
        // data[cursor...] (checked by accept) shows they were not dropped either.
        FUZZ_CHECK(reader->buffered() + 1 >= consumed + s.size());
    }
};

/// read_until(sep) or readline() ("\n"): checks and accounts the result or the error.
eddy::task<> separated(state& st, bool line) {
    eddy::stream_reader& r = *st.reader;
    const std::string_view sep = line ? std::string_view("\n") : std::string_view(st.sep);
    std::string s;
    try {
        if (line) {
            s = co_await r.readline();
        } else {
            s = co_await r.read_until(sep);
        }
    } catch (const eddy::limit_overrun_error& e) {
        st.overrun(sep, e.consumed());
        co_return;
    } catch (const eddy::incomplete_read_error& e) {
        FUZZ_CHECK(!line); // readline returns the partial line instead
        FUZZ_CHECK(!e.expected().has_value());
        FUZZ_CHECK(e.partial().find(sep) == std::string::npos);
        FUZZ_CHECK(e.partial().size() + 1 <= st.limit + sep.size());
        st.accept(e.partial());
        st.at_end();
        co_return;
    }
    const std::size_t pos = s.find(sep);
    if (pos != std::string::npos) {
        // Up to and including the first separator, which starts within the limit.
        FUZZ_CHECK(pos + sep.size() == s.size());
        FUZZ_CHECK(pos <= st.limit);
        st.accept(s);
    } else {
        // Only readline's last chunk at EOF (or "" there) comes without its separator.
        FUZZ_CHECK(line);
        FUZZ_CHECK(s.size() + 1 <= st.limit + sep.size());
        st.accept(s);
        st.at_end();
    }
}

/// One read of kind `kind` (0..4, 6), checked and accounted.
eddy::task<> read_op(state& st, unsigned kind, std::size_t n) {
    eddy::stream_reader& r = *st.reader;
    switch (kind) {
    case op_readline:
    case op_read_until:
        co_await separated(st, kind == op_readline);
        break;
    case op_read_exactly: {
        std::string s;
        try {
            s = co_await r.read_exactly(n);
        } catch (const eddy::incomplete_read_error& e) {
            FUZZ_CHECK(e.expected() == n);
            FUZZ_CHECK(e.partial().size() < n);
            st.accept(e.partial());
            st.at_end();
            break;
        }
        FUZZ_CHECK(s.size() == n);
        st.accept(s);
        break;
    }
    case op_read_n: {
        const std::string s = co_await r.read(n);
        FUZZ_CHECK(s.size() <= n);
        st.accept(s);
        if (s.empty() && n > 0) {
            st.at_end();
        }
        break;
    }
    case op_read_some: {
        std::vector<std::byte> buf(n);
        const std::size_t got = co_await r.read_some(buf);
        FUZZ_CHECK(got <= n);
        st.accept(std::string_view(reinterpret_cast<const char*>(buf.data()), got));
        if (got == 0 && n > 0) {
            st.at_end();
        }
        break;
    }
    case op_read_all: {
        const std::string s = co_await r.read();
        st.accept(s);
        st.at_end();
        break;
    }
    default:
        violated("unknown read kind", __LINE__);
    }
    st.consistent();
}

/// Starts a read as its own task and cancels it after `yields` loop turns: it either finished
/// (and was accounted) or was cancelled having consumed nothing, which the reads after it show.
eddy::task<> cancelled_op(state& st, const op& o) {
    auto h = eddy::create_task(read_op(st, o.inner, o.n));
    for (unsigned i = 0; i < o.yields; ++i) {
        co_await eddy::yield();
    }
    h.cancel();
    try {
        co_await h;
    } catch (const eddy::cancelled_error&) {
    }
    st.consistent();
}

/// Feeds `data` in `chunk`-sized writes with backpressure, then closes (EOF for the reader).
eddy::task<> feed(eddy::stream_writer w, std::string_view data, std::size_t chunk) {
    for (std::size_t off = 0; off < data.size(); off += chunk) {
        w.write(data.substr(off, chunk));
        co_await w.drain();
        co_await eddy::yield();
    }
    w.close();
    co_await w.wait_closed();
}

eddy::task<> fuzz_main(const input& in) {
    auto ends = eddy::pipe(in.limit);
    state st;
    st.data = in.data;
    st.limit = in.limit;
    st.sep = in.sep;
    st.reader = &ends.reader;
    FUZZ_CHECK(ends.reader.limit() == in.limit);
    auto writer = eddy::create_task(feed(std::move(ends.writer), in.data, in.chunk));

    // The operations in a cycle until EOF, bounded (read(0) and overruns make no progress).
    constexpr std::size_t max_steps = 512;
    for (std::size_t step = 0; !in.ops.empty() && step < max_steps && !st.reader->at_eof();
         ++step) {
        const op& o = in.ops[step % in.ops.size()];
        switch (o.kind) {
        case op_cancelled:
            co_await cancelled_op(st, o);
            break;
        case op_yield:
            co_await eddy::yield();
            st.consistent();
            break;
        default:
            co_await read_op(st, o.kind, o.n);
            break;
        }
    }
    // Whatever is left, then EOF: every fed byte came back exactly once, in order.
    co_await read_op(st, op_read_all, 0);
    FUZZ_CHECK(st.cursor == in.data.size());
    co_await writer;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > (std::size_t{1} << 17)) {
        return -1; // keep runs short even without -max_len
    }
    input in;
    if (!decode(data, size, in)) {
        return -1;
    }
    const std::int64_t frames = eddy::live_frames();
    try {
        eddy::run(fuzz_main(in));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fuzz_stream: unexpected exception: %s\n", e.what());
        std::fflush(stderr);
        std::abort();
    }
    FUZZ_CHECK(eddy::live_frames() == frames);
    return 0;
}
