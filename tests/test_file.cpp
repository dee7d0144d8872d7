// Files through the ring: round trips, offsets, end of file, errors naming the path, stat,
// fsync, close, ownership of the fd (no leak when destroyed, moved or cancelled), and
// operations cancelled while the kernel holds them.
#include "helpers.hpp"

#include <array>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <sys/stat.h>
#include <vector>

using namespace std::chrono_literals;

namespace {

using eddy_test::open_fds;
using eddy_test::pattern;

/// A fresh directory under /tmp, removed with everything in it at the end of the test.
struct temp_dir {
    std::string path;
    temp_dir() {
        char tmpl[] = "/tmp/eddy-file-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    [[nodiscard]] std::string operator/(const std::string& name) const { return path + "/" + name; }
};

std::span<std::byte> bytes(std::string& s) {
    return std::as_writable_bytes(std::span(s));
}

/// A file's content read with blocking calls (the reference the tests compare against).
std::string slurp(const std::string& path) {
    std::string out;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    char buf[65536];
    ssize_t n = 0;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

} // namespace

TEST_CASE("write_file then read_file round-trips a small file", "[file]") {
    temp_dir dir;
    const std::string path = dir / "small.txt";
    eddy::run([&]() -> eddy::task<> {
        co_await eddy::write_file(path, "hello, file\n");
        const std::string got = co_await eddy::read_file(path);
        CHECK(got == "hello, file\n");
        co_await eddy::write_file(path, "shorter"); // truncates
        const std::string again = co_await eddy::read_file(path);
        CHECK(again == "shorter");
        co_await eddy::write_file(path, "");
        const std::string empty = co_await eddy::read_file(path);
        CHECK(empty.empty());
    }());
    CHECK(slurp(path).empty());
}

TEST_CASE("a path holding a NUL byte is refused with invalid_argument, not cut at the NUL",
          "[file]") {
    temp_dir dir;
    const std::string kept = dir / "kept";
    { std::ofstream(kept) << "original"; }
    const std::string with_nul = kept + std::string(1, '\0') + ".bak"; // "kept" as a C string
    int refused = 0;
    eddy::run([&]() -> eddy::task<> {
        try {
            co_await eddy::write_file(with_nul, "overwritten");
        } catch (const std::invalid_argument& e) {
            ++refused;
            CHECK(std::string(e.what()).find("embedded null byte") != std::string::npos);
        }
        try {
            (void)co_await eddy::read_file(with_nul);
        } catch (const std::invalid_argument&) {
            ++refused;
        }
        try {
            (void)co_await eddy::stat(with_nul);
        } catch (const std::invalid_argument&) {
            ++refused;
        }
        try {
            (void)co_await eddy::file::open(with_nul, "r");
        } catch (const std::invalid_argument&) {
            ++refused;
        }
    }());
    CHECK(refused == 4);
    CHECK(slurp(kept) == "original");
}

TEST_CASE("a 64 MiB file round-trips through write_file and read_file", "[file][big]") {
    temp_dir dir;
    const std::string path = dir / "big.bin";
    const std::string data = pattern(std::size_t{64} << 20);
    eddy::run([&]() -> eddy::task<> {
        co_await eddy::write_file(path, std::as_bytes(std::span(data)));
        const eddy::file_stat st = co_await eddy::stat(path);
        CHECK(st.size == data.size());
        const std::string got = co_await eddy::read_file(path);
        CHECK(got.size() == data.size());
        CHECK(got == data);
    }());
    CHECK(slurp(path) == data);
}

TEST_CASE("read_at and write_at read and write at the given offsets", "[file]") {
    temp_dir dir;
    const std::string path = dir / "offsets.bin";
    eddy::run([&]() -> eddy::task<> {
        eddy::file f = co_await eddy::file::open(path, "w+");
        const auto a = co_await f.write_at("hello", 0);
        const auto b = co_await f.write_at("world", 10); // leaves a hole of zeros
        CHECK(a == 5);
        CHECK(b == 5);
        std::string buf(5, '?');
        const auto n1 = co_await f.read_at(std::span(buf), 10);
        CHECK(n1 == 5);
        CHECK(buf == "world");
        const auto n2 = co_await f.read_at(std::span(buf), 3);
        CHECK(n2 == 5);
        CHECK(buf == std::string("lo\0\0\0", 5));
        const auto n3 = co_await f.write_at("J", 0); // overwrite in place
        CHECK(n3 == 1);
        co_await f.close();
    }());
    CHECK(slurp(path) == std::string("Jello\0\0\0\0\0world", 15));
}

TEST_CASE("reads past the end of a file are short then yield 0", "[file]") {
    temp_dir dir;
    const std::string path = dir / "eof.txt";
    eddy::run([&]() -> eddy::task<> {
        co_await eddy::write_file(path, "0123456789");
        eddy::file f = co_await eddy::file::open(path);
        std::array<std::byte, 8> buf{};
        const auto short_read = co_await f.read_at(buf, 6);
        CHECK(short_read == 4);
        const auto at_end = co_await f.read_at(buf, 10);
        CHECK(at_end == 0);
        const auto past_end = co_await f.read_at(buf, 1000);
        CHECK(past_end == 0);
        // Sequential reads: 8, 2, then 0.
        const auto r1 = co_await f.read_some(buf);
        const auto r2 = co_await f.read_some(buf);
        const auto r3 = co_await f.read_some(buf);
        CHECK(r1 == 8);
        CHECK(r2 == 2);
        CHECK(r3 == 0);
        co_await f.close();
    }());
}

TEST_CASE("write_all and write_some write at the file position, read_some reads from it",
          "[file]") {
    temp_dir dir;
    const std::string path = dir / "seq.txt";
    eddy::run([&]() -> eddy::task<> {
        {
            eddy::file f = co_await eddy::file::open(path, "w");
            co_await f.write_all("abc");
            co_await f.write_all(std::string("def"));
            const auto n = co_await f.write_some("gh");
            CHECK(n == 2);
            co_await f.close();
        }
        {
            eddy::file f = co_await eddy::file::open(path, "a"); // appends
            co_await f.write_all("ij");
            co_await f.close();
        }
        eddy::file f = co_await eddy::file::open(path, "rb");
        std::string buf(4, '\0');
        const auto n1 = co_await f.read_some(std::span(buf));
        CHECK(n1 == 4);
        CHECK(buf == "abcd");
        const auto n2 = co_await f.read_some(std::span(buf));
        CHECK(n2 == 4);
        CHECK(buf == "efgh");
        co_await f.close();
    }());
    CHECK(slurp(path) == "abcdefghij");
}

TEST_CASE("mode strings follow Python: w truncates, x refuses an existing file, r+ reads and "
          "writes, a bad mode is invalid_argument",
          "[file]") {
    temp_dir dir;
    const std::string path = dir / "modes.txt";
    eddy::run([&]() -> eddy::task<> {
        co_await eddy::write_file(path, "0123456789");
        {
            eddy::file f = co_await eddy::file::open(path, "r+b");
            (void)co_await f.write_at("AB", 0);
            std::string buf(3, '\0');
            const auto n = co_await f.read_at(std::span(buf), 0);
            CHECK(n == 3);
            CHECK(buf == "AB2");
            co_await f.close();
        }
        int err = 0;
        std::string what;
        try {
            (void)co_await eddy::file::open(path, "x");
        } catch (const std::system_error& e) {
            err = e.code().value();
            what = e.what();
        }
        CHECK(err == EEXIST);
        CHECK(what.find(path) != std::string::npos);
        eddy::file created = co_await eddy::file::open(dir / "new.txt", "xb+");
        CHECK(created.is_open());
        {
            eddy::file f = co_await eddy::file::open(path, "w");
            co_await f.close();
        }
        const std::string empty = co_await eddy::read_file(path);
        CHECK(empty.empty());
        co_return;
    }());
    for (const char* bad : {"", "q", "rw", "r++", "rbb", "wa", "+", "rt"}) {
        INFO("mode \"" << bad << "\"");
        CHECK_THROWS_AS((void)eddy::file::open(path, bad), std::invalid_argument);
    }
}

TEST_CASE("opening a missing path throws ENOENT naming the path", "[file][error]") {
    temp_dir dir;
    const std::string path = dir / "no-such-file.txt";
    eddy::run([&]() -> eddy::task<> {
        int errs[3] = {};
        std::string what[3];
        try {
            (void)co_await eddy::file::open(path);
        } catch (const std::system_error& e) {
            errs[0] = e.code().value();
            what[0] = e.what();
        }
        try {
            (void)co_await eddy::read_file(path);
        } catch (const std::system_error& e) {
            errs[1] = e.code().value();
            what[1] = e.what();
        }
        try {
            (void)co_await eddy::stat(path);
        } catch (const std::system_error& e) {
            errs[2] = e.code().value();
            what[2] = e.what();
        }
        for (int i = 0; i < 3; ++i) {
            INFO(what[i]);
            CHECK(errs[i] == ENOENT);
            CHECK(what[i].find("\"" + path + "\"") != std::string::npos);
        }
        CHECK(what[0].find("file::open") != std::string::npos);
        CHECK(what[2].find("stat") != std::string::npos);
    }());
}

TEST_CASE("writing to a file opened read-only throws EBADF naming the path", "[file][error]") {
    temp_dir dir;
    const std::string path = dir / "read-only.txt";
    eddy::run([&]() -> eddy::task<> {
        co_await eddy::write_file(path, "keep me");
        eddy::file f = co_await eddy::file::open(path, "r");
        int err = 0;
        std::string what;
        try {
            (void)co_await f.write_at("overwrite", 0);
        } catch (const std::system_error& e) {
            err = e.code().value();
            what = e.what();
        }
        CHECK(err == EBADF);
        CHECK(what.find("file::write_at(\"" + path + "\")") != std::string::npos);
        int err_all = 0;
        try {
            co_await f.write_all("overwrite");
        } catch (const std::system_error& e) {
            err_all = e.code().value();
        }
        CHECK(err_all == EBADF);
        co_await f.close();
    }());
    CHECK(slurp(path) == "keep me");
}

TEST_CASE("stat reports size, mode and modification time", "[file]") {
    temp_dir dir;
    const std::string path = dir / "stat.txt";
    eddy::run([&]() -> eddy::task<> {
        co_await eddy::write_file(path, "12345");
        REQUIRE(::chmod(path.c_str(), 0640) == 0);
        eddy::file f = co_await eddy::file::open(path, "r");
        const eddy::file_stat st = co_await f.stat();
        CHECK(st.size == 5);
        CHECK(st.is_regular());
        CHECK_FALSE(st.is_directory());
        CHECK((st.mode & 07777) == 0640);
        CHECK(st.raw.stx_size == 5);
        const auto age = std::chrono::system_clock::now() - st.mtime;
        CHECK(age > -1h); // generous: only that it is a real, recent time
        CHECK(age < 1h);
        co_await f.close();
        const eddy::file_stat by_path = co_await eddy::stat(path);
        CHECK(by_path.size == 5);
        CHECK(by_path.mtime == st.mtime);
        const eddy::file_stat d = co_await eddy::stat(dir.path);
        CHECK(d.is_directory());
    }());
}

TEST_CASE("read_file reads /proc files whose size stat reports as 0", "[file]") {
    eddy::run([]() -> eddy::task<> {
        const eddy::file_stat st = co_await eddy::stat("/proc/self/status");
        CHECK(st.size == 0);
        const std::string status = co_await eddy::read_file("/proc/self/status");
        CHECK(status.find("Name:") != std::string::npos);
        CHECK(status.back() == '\n');
        // Longer than the first 4 KiB read: the buffer grows until end of file.
        const std::string smaps = co_await eddy::read_file("/proc/self/smaps");
        CHECK(smaps.size() > 4096);
        CHECK(smaps.back() == '\n');
    }());
}

TEST_CASE("fsync and fdatasync succeed on a written file", "[file]") {
    temp_dir dir;
    const std::string path = dir / "sync.txt";
    eddy::run([&]() -> eddy::task<> {
        eddy::file f = co_await eddy::file::open(path, "w");
        co_await f.write_all("durable");
        co_await f.fsync();
        co_await f.fdatasync();
        co_await f.close();
    }());
    CHECK(slurp(path) == "durable");
}

TEST_CASE("closing twice is a no-op and a closed file fails with EBADF naming its path", "[file]") {
    temp_dir dir;
    const std::string path = dir / "close.txt";
    const auto fds = open_fds();
    eddy::run([&]() -> eddy::task<> {
        eddy::file f = co_await eddy::file::open(path, "w");
        CHECK(f.is_open());
        CHECK(f.path() == path);
        co_await f.close();
        CHECK_FALSE(f.is_open());
        CHECK(f.fd() == -1);
        co_await f.close();
        CHECK_FALSE(f.is_open());
        int err = 0;
        std::string what;
        std::array<std::byte, 4> buf{};
        try {
            (void)co_await f.read_at(buf, 0);
        } catch (const std::system_error& e) {
            err = e.code().value();
            what = e.what();
        }
        CHECK(err == EBADF);
        CHECK(what.find(path) != std::string::npos);
    }());
    CHECK(open_fds() == fds);
}

TEST_CASE("a file is move-only: moving transfers the fd, assigning closes the old one, "
          "destroying an open file closes it",
          "[file]") {
    static_assert(!std::is_copy_constructible_v<eddy::file>);
    static_assert(std::is_nothrow_move_constructible_v<eddy::file>);
    static_assert(std::is_nothrow_move_assignable_v<eddy::file>);
    temp_dir dir;
    const std::string a_path = dir / "a.txt";
    const std::string b_path = dir / "b.txt";
    const auto fds = open_fds();
    eddy::run([&]() -> eddy::task<> {
        const auto ring = open_fds(); // the loop's ring is one more fd
        {
            eddy::file a = co_await eddy::file::open(a_path, "w");
            CHECK(open_fds() == ring + 1);
            const int fd = a.fd();
            eddy::file moved(std::move(a));
            CHECK_FALSE(a.is_open()); // NOLINT(bugprone-use-after-move): what a move leaves
            CHECK(moved.fd() == fd);
            CHECK(moved.path() == a_path);
            eddy::file b = co_await eddy::file::open(b_path, "w");
            CHECK(open_fds() == ring + 2);
            moved = std::move(b); // closes a's fd synchronously
            CHECK(open_fds() == ring + 1);
            CHECK(moved.path() == b_path);
            co_await moved.write_all("b");
            // leaves the scope open: the destructor closes it
        }
        CHECK(open_fds() == ring);
        {
            eddy::file a = co_await eddy::file::open(a_path, "r");
            const int raw = a.release();
            CHECK_FALSE(a.is_open());
            CHECK(::close(raw) == 0);
        }
        eddy::file adopted(::open(a_path.c_str(), O_RDONLY | O_CLOEXEC), a_path);
        CHECK(adopted.is_open());
    }());
    CHECK(open_fds() == fds);
    CHECK(slurp(b_path) == "b");
}

TEST_CASE("several read_at in flight at once read a big file correctly", "[file][big]") {
    temp_dir dir;
    const std::string path = dir / "gather.bin";
    const std::string data = pattern(std::size_t{8} << 20, 7);
    eddy::run([&]() -> eddy::task<> {
        co_await eddy::write_file(path, data);
        eddy::file f = co_await eddy::file::open(path);
        std::string out(data.size(), '\0');
        constexpr std::size_t chunk = std::size_t{512} * 1024;
        auto read_chunk = [&](std::size_t off) -> eddy::task<std::size_t> {
            std::size_t done = 0;
            while (done < chunk) { // a read may be short: finish the chunk
                const auto n =
                    co_await f.read_at(bytes(out).subspan(off + done, chunk - done), off + done);
                if (n == 0) {
                    break;
                }
                done += n;
            }
            co_return done;
        };
        std::vector<eddy::task<std::size_t>> reads;
        for (std::size_t off = 0; off < data.size(); off += chunk) {
            reads.push_back(read_chunk(off));
        }
        const std::vector<std::size_t> counts = co_await eddy::gather(std::move(reads));
        CHECK(counts.size() == data.size() / chunk);
        for (const auto n : counts) {
            CHECK(n == chunk);
        }
        CHECK(out == data);
        co_await f.close();
    }());
}

TEST_CASE("reads and writes cancelled in flight end cleanly: no crash, nothing in the ring, no "
          "leaked fd or frame",
          "[file][cancel]") {
    temp_dir dir;
    const std::string path = dir / "cancel.bin";
    const std::string data = pattern(std::size_t{4} << 20, 3);
    const auto fds = open_fds();
    const auto frames = eddy::live_frames();
    int completed = 0;
    int cancelled = 0;
    eddy::run([&]() -> eddy::task<> {
        co_await eddy::write_file(path, data);
        eddy::file f = co_await eddy::file::open(path, "r+");
        constexpr std::size_t chunk = std::size_t{64} * 1024;
        std::vector<std::string> bufs(2 * data.size() / chunk, std::string(chunk, '\0'));
        for (int round = 0; round < 20; ++round) {
            std::vector<eddy::task_handle<std::size_t>> ops;
            for (std::size_t i = 0; i < bufs.size(); ++i) {
                const std::size_t off = (i % (data.size() / chunk)) * chunk;
                auto op = [&f, &bufs, &data, i, off, round]() -> eddy::task<std::size_t> {
                    if ((i + static_cast<std::size_t>(round)) % 2 == 0) {
                        co_return co_await f.read_at(bytes(bufs[i]), off);
                    }
                    co_return co_await f.write_at(std::as_bytes(std::span(bufs[i])),
                                                  data.size() + off);
                };
                ops.push_back(eddy::create_task(op));
            }
            if (round % 2 == 1) {
                co_await eddy::yield(); // odd rounds: the operations are in the kernel
            }
            for (auto& h : ops) {
                h.cancel();
            }
            for (auto& h : ops) {
                try {
                    (void)co_await h;
                    ++completed;
                } catch (const eddy::cancelled_error&) {
                    ++cancelled;
                }
            }
            CHECK(eddy_test::in_flight() == 0);
        }
        // wait_for with tiny and zero timeouts around reads: a value or timeout_error.
        for (int i = 0; i < 200; ++i) {
            auto one = [&]() -> eddy::task<std::size_t> {
                co_return co_await f.read_at(bytes(bufs[0]), 0);
            };
            try {
                (void)co_await eddy::wait_for(one, std::chrono::microseconds(i % 3));
            } catch (const eddy::timeout_error&) {
            }
        }
        CHECK(eddy_test::in_flight() == 0);
        co_await f.close();
    }());
    INFO("completed " << completed << ", cancelled " << cancelled);
    CHECK(completed + cancelled ==
          20 * 2 * static_cast<int>(data.size() / (std::size_t{64} * 1024)));
    CHECK(open_fds() == fds);
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("opens cancelled in flight never leak the fd the kernel may have opened",
          "[file][cancel]") {
    temp_dir dir;
    const std::string path = dir / "open.txt";
    const auto fds = open_fds();
    const auto frames = eddy::live_frames();
    int opened = 0;
    int cancelled = 0;
    eddy::run([&]() -> eddy::task<> {
        const auto ring = open_fds(); // the loop's ring is one more fd
        co_await eddy::write_file(path, "x");
        for (int round = 0; round < 200; ++round) {
            std::vector<eddy::task_handle<eddy::file>> opens;
            for (int i = 0; i < 8; ++i) {
                auto op = [&]() -> eddy::task<eddy::file> {
                    co_return co_await eddy::file::open(path, "r");
                };
                opens.push_back(eddy::create_task(op));
            }
            if (round % 2 == 0) {
                co_await eddy::yield(); // the opens are submitted; the cancel races them
            }
            for (auto& h : opens) {
                h.cancel();
            }
            for (auto& h : opens) {
                try {
                    const eddy::file& f = co_await h; // lives in h's state, closed with it
                    CHECK(f.is_open());
                    ++opened;
                } catch (const eddy::cancelled_error&) {
                    ++cancelled;
                }
            }
            opens.clear();
            if (round % 50 == 0) {
                CHECK(open_fds() == ring);
            }
        }
        for (int i = 0; i < 200; ++i) {
            auto op = [&]() -> eddy::task<eddy::file> {
                co_return co_await eddy::file::open(path, "r");
            };
            try {
                eddy::file f = co_await eddy::wait_for(op, std::chrono::microseconds(i % 3));
                CHECK(f.is_open());
            } catch (const eddy::timeout_error&) {
            }
        }
        // Tasks left running when run ends are cancelled and drained too.
        for (int i = 0; i < 8; ++i) {
            auto op = [&]() -> eddy::task<> {
                eddy::file f = co_await eddy::file::open(path, "r");
                co_await eddy::sleep(1h);
            };
            (void)eddy::create_task(op);
        }
        co_await eddy::yield();
    }());
    INFO("opened " << opened << ", cancelled " << cancelled);
    CHECK(opened + cancelled == 200 * 8);
    CHECK(open_fds() == fds);
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("a read blocked in the kernel on a FIFO is cancelled and the file stays usable",
          "[file][cancel]") {
    temp_dir dir;
    const std::string fifo = dir / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    const auto fds = open_fds();
    eddy::run([&]() -> eddy::task<> {
        // O_RDWR does not wait for a writer; a read then blocks until data comes: none will.
        eddy::file f = co_await eddy::file::open(fifo, "r+");
        auto reader = [&]() -> eddy::task<std::size_t> {
            std::array<std::byte, 16> buf{};
            co_return co_await f.read_some(buf);
        };
        auto read_task = eddy::create_task(reader);
        co_await eddy::sleep(5ms);
        CHECK_FALSE(read_task.done());
        CHECK(eddy_test::in_flight() == 1);
        read_task.cancel();
        const bool read_cancelled = co_await eddy_test::ends_cancelled(read_task);
        CHECK(read_cancelled);
        CHECK(eddy_test::in_flight() == 0);
        // The file still works after a cancelled read.
        (void)co_await f.write_some("ok");
        std::array<std::byte, 16> buf{};
        const auto n = co_await f.read_some(buf);
        CHECK(n == 2);
        co_await f.close();
    }());
    CHECK(open_fds() == fds);
}

TEST_CASE("an open of a FIFO nobody opens, cancelled in the kernel, ends with cancelled_error or "
          "timeout_error, never a kernel-internal errno",
          "[file][cancel]") {
    temp_dir dir;
    const std::string fifo = dir / "no-reader";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    const auto fds = open_fds();
    eddy::run([&]() -> eddy::task<> {
        if (std::string(eddy::get_running_loop().backend()) != "io_uring") {
            co_return; // the epoll backend's worker cannot be interrupted (README, Limits)
        }
        // Opening for writing waits for a reader in an io-wq worker; the cancel interrupts it,
        // and some kernels complete it with ERESTARTSYS (512).
        bool timed_out = false;
        try {
            (void)co_await eddy::wait_for(eddy::file::open(fifo, "w"), 20ms);
        } catch (const eddy::timeout_error&) {
            timed_out = true;
        }
        CHECK(timed_out);
        auto opener = [&]() -> eddy::task<> { (void)co_await eddy::file::open(fifo, "w"); };
        auto h = eddy::create_task(opener);
        co_await eddy::sleep(5ms);
        h.cancel();
        const bool cancelled = co_await eddy_test::ends_cancelled(h);
        CHECK(cancelled);
    }());
    CHECK(open_fds() == fds);
}

TEST_CASE("read_file and write_file work on a FIFO, whose offset is ignored as io_uring does, on "
          "every backend",
          "[file]") {
    temp_dir dir;
    const std::string fifo = dir / "stream";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    const std::string text(100'000, 'x'); // more than a pipe holds: several reads and writes
    eddy::run([&]() -> eddy::task<> {
        // Each open waits (in the kernel or a worker) for the other side: run them together.
        auto [got, none] =
            co_await eddy::gather(eddy::read_file(fifo), eddy::write_file(fifo, text));
        CHECK(got.size() == text.size());
        CHECK(got == text);
        // read_at and write_at with offsets on a pipe read and write the stream.
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
        eddy::file r(fds[0], "pipe-r");
        eddy::file w(fds[1], "pipe-w");
        co_await w.write_all_at(std::as_bytes(std::span("abcdef", 6)), 1000);
        co_await w.close();
        std::array<char, 16> buf{};
        const std::size_t n = co_await r.read_at(std::as_writable_bytes(std::span(buf)), 500);
        CHECK(std::string(buf.data(), n) == "abcdef");
        co_await r.close();
    }());
}

TEST_CASE("a close refuses cancellation: the fd is closed and the cancellation comes at the next "
          "suspension",
          "[file][cancel]") {
    temp_dir dir;
    const std::string path = dir / "close-cancel.txt";
    const auto fds = open_fds();
    eddy::run([&]() -> eddy::task<> {
        bool closed = false;
        bool cancelled_after = false;
        eddy::task_handle<void> h;
        auto closer = [&]() -> eddy::task<> {
            eddy::file f = co_await eddy::file::open(path, "w");
            h.cancel(); // pending: delivered to the close, which refuses it
            co_await f.close();
            closed = !f.is_open();
            try {
                co_await eddy::yield();
            } catch (const eddy::cancelled_error&) {
                cancelled_after = true;
                throw;
            }
        };
        h = eddy::create_task(closer);
        try {
            co_await h;
        } catch (const eddy::cancelled_error&) {
        }
        CHECK(closed);
        CHECK(cancelled_after);
    }());
    CHECK(open_fds() == fds);
}

TEST_CASE("file reads and writes allocate nothing in steady state", "[file][alloc]") {
    temp_dir dir;
    const std::string path = dir / "alloc.bin";
    eddy::run([&]() -> eddy::task<> {
        eddy::file f = co_await eddy::file::open(path, "w+");
        std::string buf(4096, 'a');
        (void)co_await f.write_at(std::as_bytes(std::span(buf)), 0); // warm-up
        (void)co_await f.read_at(bytes(buf), 0);
        const auto allocs = eddy_test::allocations();
        for (int i = 0; i < 1000; ++i) {
            (void)co_await f.write_at(std::as_bytes(std::span(buf)), 0);
            (void)co_await f.read_at(bytes(buf), 0);
        }
        CHECK(eddy_test::allocations() == allocs);
        co_await f.close();
    }());
}

TEST_CASE("the blocking fallback performs each file operation as its system call", "[file]") {
    // Kernels whose ring lacks an opcode get the blocking call; this kernel has them all, so
    // the fallback is checked directly.
    temp_dir dir;
    const std::string path = dir / "fallback.txt";
    namespace d = eddy::detail;
    d::io_op op;
    op.kind = d::op_kind::openat;
    op.fd = AT_FDCWD;
    op.buf = const_cast<char*>(path.c_str());
    op.flags = O_RDWR | O_CREAT | O_CLOEXEC;
    op.len = 0600;
    const int fd = d::run_blocking(op);
    REQUIRE(fd >= 0);
    std::string text = "fallback";
    op = {};
    op.kind = d::op_kind::write;
    op.fd = fd;
    op.buf = text.data();
    op.len = static_cast<std::uint32_t>(text.size());
    op.offset = 0;
    CHECK(d::run_blocking(op) == 8);
    std::string back(8, '\0');
    op.kind = d::op_kind::read;
    op.buf = back.data();
    CHECK(d::run_blocking(op) == 8);
    CHECK(back == text);
    op = {};
    op.kind = d::op_kind::fsync;
    op.fd = fd;
    op.flags = IORING_FSYNC_DATASYNC;
    CHECK(d::run_blocking(op) == 0);
    struct statx sx {};
    op = {};
    op.kind = d::op_kind::statx;
    op.fd = fd;
    op.buf = const_cast<char*>("");
    op.flags = AT_EMPTY_PATH;
    op.len = STATX_BASIC_STATS;
    op.buf2 = &sx;
    CHECK(d::run_blocking(op) == 0);
    CHECK(sx.stx_size == 8);
    op = {};
    op.kind = d::op_kind::close;
    op.fd = fd;
    CHECK(d::run_blocking(op) == 0);
    CHECK(d::run_blocking(op) == -EBADF);
    // On a pipe an offset is ignored (io_uring's rule), not refused with ESPIPE.
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    std::string piped = "abc";
    op = {};
    op.kind = d::op_kind::write;
    op.fd = p[1];
    op.buf = piped.data();
    op.len = 3;
    op.offset = 100;
    CHECK(d::run_blocking(op) == 3);
    std::string out(3, '\0');
    op = {};
    op.kind = d::op_kind::read;
    op.fd = p[0];
    op.buf = out.data();
    op.len = 3;
    op.offset = 100;
    CHECK(d::run_blocking(op) == 3);
    CHECK(out == "abc");
    ::close(p[0]);
    ::close(p[1]);
}
