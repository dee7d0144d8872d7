// file_copy — copying a file with blocking calls, then with eddy's file I/O through the ring.
//
// The aiofiles idea for C++: A copies a 64 MiB file one chunk at a time with read(2)/write(2),
// blocking the thread on every call; B copies it with eddy::file, keeping 8 chunk reads and
// writes in flight at once on the loop, so the thread is free for other tasks meanwhile. Both
// copies are checked against the source, then every temporary file is removed.
//
//   file_copy [--scale F]   (F multiplies the file size; default 1.0 = 64 MiB)
#include <eddy/eddy.hpp>

#include "common.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace example; // --scale, say(), since(), timed(): examples/common.hpp

constexpr std::size_t mebi = std::size_t{1} << 20;
constexpr int in_flight = 8;
// 1 MiB, or less for a small file, so that every worker gets chunks (set in main).
std::size_t chunk = mebi;

double mib(std::size_t n) {
    return static_cast<double>(n) / static_cast<double>(mebi);
}

int open_or_throw(const std::string& path, int flags) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
    if (fd < 0) {
        throw std::system_error(errno, std::system_category(), "open " + path);
    }
    return fd;
}

// The source: `size` pseudo-random bytes, written with plain blocking calls.
void make_source(const std::string& path, std::size_t size) {
    const int fd = open_or_throw(path, O_WRONLY | O_CREAT | O_TRUNC);
    std::mt19937_64 rng(42);
    std::vector<std::uint64_t> buf(mebi / sizeof(std::uint64_t));
    for (std::size_t done = 0; done < size;) {
        std::generate(buf.begin(), buf.end(), rng);
        const std::size_t n = std::min(mebi, size - done);
        if (::write(fd, buf.data(), n) != static_cast<ssize_t>(n)) {
            throw std::runtime_error("short write to " + path);
        }
        done += n;
    }
    ::close(fd);
}

// A: the blocking way, `chunk` bytes per call. Every read and write stops the thread until the
// kernel is done.
void copy_blocking(const std::string& from, const std::string& to) {
    const int in = open_or_throw(from, O_RDONLY);
    const int out = open_or_throw(to, O_WRONLY | O_CREAT | O_TRUNC);
    std::vector<char> buf(chunk);
    ssize_t n = 0;
    while ((n = ::read(in, buf.data(), buf.size())) > 0) {
        for (ssize_t off = 0; off < n;) {
            const ssize_t w = ::write(out, buf.data() + off, static_cast<std::size_t>(n - off));
            if (w <= 0) {
                throw std::runtime_error("write to " + to + " failed");
            }
            off += w;
        }
    }
    ::close(in);
    ::close(out);
}

// One of B's workers: takes the next chunk, reads it whole, writes it at the same offset, and
// starts again, until the source is done. Its buffer lives in its frame.
eddy::task<> copy_chunks(const eddy::file& in, const eddy::file& out, std::size_t size,
                         std::size_t& next) {
    std::vector<std::byte> buf(chunk);
    while (next < size) {
        const std::size_t off = next;
        next += chunk; // one thread: no other worker runs between the read and this update
        const std::size_t want = std::min(chunk, size - off);
        std::size_t got = 0;
        while (got < want) { // a read may be short
            const std::size_t n =
                co_await in.read_at(std::span(buf).subspan(got, want - got), off + got);
            if (n == 0) {
                throw std::runtime_error("the source shrank while copying");
            }
            got += n;
        }
        co_await out.write_all_at(std::span(buf).first(want), off);
    }
}

// B: eddy's way. `in_flight` workers keep that many chunk reads or writes in the kernel.
eddy::task<> copy_eddy(std::string from, std::string to) {
    eddy::file in = co_await eddy::file::open(from, "r");
    eddy::file out = co_await eddy::file::open(to, "w");
    const eddy::file_stat st = co_await in.stat();
    std::size_t next = 0;
    std::vector<eddy::task<>> workers;
    workers.reserve(in_flight);
    for (int i = 0; i < in_flight; ++i) {
        workers.push_back(copy_chunks(in, out, st.size, next));
    }
    co_await eddy::gather(std::move(workers));
    co_await out.close();
    co_await in.close();
}

bool same_content(const std::string& a, const std::string& b) {
    const int fa = open_or_throw(a, O_RDONLY);
    const int fb = open_or_throw(b, O_RDONLY);
    std::vector<char> ba(chunk);
    std::vector<char> bb(chunk);
    bool same = true;
    while (same) {
        const ssize_t na = ::read(fa, ba.data(), chunk);
        ssize_t nb = 0;
        while (nb < na) { // read b up to the same length (regular files give it at once)
            const ssize_t r = ::read(fb, bb.data() + nb, static_cast<std::size_t>(na - nb));
            if (r <= 0) {
                break;
            }
            nb += r;
        }
        same = na == nb && std::equal(ba.begin(), ba.begin() + na, bb.begin());
        if (na <= 0) {
            char extra = 0;
            same = same && na == 0 && ::read(fb, &extra, 1) == 0; // b ends too
            break;
        }
    }
    ::close(fa);
    ::close(fb);
    return same;
}

} // namespace

int main(int argc, char** argv) try {
    if (!parse_args(argc, argv)) {
        std::fprintf(stderr, "usage: %s [--scale F]\n", argv[0]);
        return 2;
    }
    const auto size = std::max<std::size_t>(
        std::size_t{64} * 1024, static_cast<std::size_t>(64.0 * static_cast<double>(mebi) * scale));
    chunk = std::min(mebi, (size / (2 * static_cast<std::size_t>(in_flight))) & ~std::size_t{4095});

    char tmpl[] = "/tmp/eddy-file-copy-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
        throw std::system_error(errno, std::system_category(), "mkdtemp");
    }
    const std::string dir = tmpl;
    const std::string source = dir + "/source.bin";
    const std::string copy_a = dir + "/copy-blocking.bin";
    const std::string copy_b = dir + "/copy-eddy.bin";
    struct cleanup { // the temporary files go whatever happens
        std::string dir;
        ~cleanup() {
            std::error_code ec;
            std::filesystem::remove_all(dir, ec);
        }
    } remove_dir{dir};

    say("== file_copy: a %.2f MiB file in %s ==\n", mib(size), dir.c_str());
    make_source(source, size);
    say("source written: %.2f MiB\n", mib(size));

    say("A: blocking read(2)/write(2), one %zu KiB chunk at a time\n", chunk / 1024);
    const double a = timed([&] { copy_blocking(source, copy_a); });
    say("A: copied %.2f MiB in %.3f s\n", mib(size), a);

    say("B: eddy::file through io_uring, %d chunks of %zu KiB in flight\n", in_flight,
        chunk / 1024);
    const double b = timed([&] { eddy::run(copy_eddy(source, copy_b)); });
    say("B: copied %.2f MiB in %.3f s\n", mib(size), b);

    const bool same = same_content(source, copy_a) && same_content(source, copy_b);
    say("both copies identical to the source: %s\n", same ? "yes" : "NO");
    say("(the source sits in the page cache for both, so this measures system calls and "
        "copying,\n not the disk; B's win is a thread left free while the kernel works)\n");
    std::filesystem::remove_all(dir);
    say("temporary files removed\n");
    return same ? 0 : 1;
} catch (const std::exception& e) { // e.g. std::system_error: io_uring is not available here
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
