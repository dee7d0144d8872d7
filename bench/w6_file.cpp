// eddy benchmarks — W6's file: made once, reused, read once so that it sits in the page cache.
#include "common.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <random>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <vector>

namespace bench {
namespace {

[[noreturn]] void fail(const std::string& what) {
    throw std::system_error(errno, std::system_category(), "W6 file: " + what);
}

std::string w6_dir() {
    for (const char* var : {"EDDY_BENCH_W6_DIR", "TMPDIR"}) {
        const char* v = std::getenv(var);
        if (v != nullptr && *v != '\0') {
            return v;
        }
    }
    return "/tmp";
}

// Random bytes (not a sparse file: reading a hole costs less than reading data).
void create(const std::string& path, std::uint64_t size) {
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fail("open " + tmp);
    }
    std::mt19937_64 rng(0x5eed6u);
    std::vector<std::uint64_t> chunk((std::size_t{1} << 20) / sizeof(std::uint64_t));
    for (std::uint64_t done = 0; done < size;) {
        for (auto& w : chunk) {
            w = rng();
        }
        const std::size_t bytes = chunk.size() * sizeof(std::uint64_t);
        const ssize_t n = ::pwrite(fd, chunk.data(), bytes, static_cast<off_t>(done));
        if (n != static_cast<ssize_t>(bytes)) {
            ::close(fd);
            fail("write " + tmp);
        }
        done += bytes;
    }
    if (::close(fd) != 0 || std::rename(tmp.c_str(), path.c_str()) != 0) {
        fail("finish " + path);
    }
}

// One sequential pass: afterwards every 4 KiB read of the benchmark hits the page cache.
void read_through(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail("open " + path);
    }
    std::vector<char> buf(std::size_t{1} << 20);
    off_t at = 0;
    while (true) {
        const ssize_t n = ::pread(fd, buf.data(), buf.size(), at);
        if (n < 0) {
            ::close(fd);
            fail("read " + path);
        }
        if (n == 0) {
            break;
        }
        at += n;
    }
    ::close(fd);
}

} // namespace

const std::string& w6_path() {
    static const std::string path = [] {
        const std::uint64_t size = w6_file_size();
        std::string p = w6_dir() + "/eddy_bench_w6_" + std::to_string(size >> 20) + "MiB.dat";
        struct stat st {};
        if (::stat(p.c_str(), &st) != 0 || static_cast<std::uint64_t>(st.st_size) != size) {
            create(p, size);
        }
        read_through(p);
        return p;
    }();
    return path;
}

const std::vector<std::uint64_t>& w6_offsets() {
    static const std::vector<std::uint64_t> offsets = [] {
        std::mt19937 rng(20240612u);
        std::uniform_int_distribution<std::uint64_t> block(0, w6_file_size() / w6_block - 1);
        std::vector<std::uint64_t> v(std::size_t{16} * w6_reads_per_round());
        for (auto& o : v) {
            o = block(rng) * w6_block;
        }
        return v;
    }();
    return offsets;
}

} // namespace bench
