// resolve: names through getaddrinfo on the loop's pool, numeric hosts at once, errors that name
// the host, family filters, the passive any addresses, cancellation.
#include "helpers.hpp"

#include <atomic>
#include <chrono>
#include <netdb.h>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

bool is_loopback(const eddy::endpoint& e) {
    return e == eddy::endpoint::ipv4_loopback(e.port()) ||
           e == eddy::endpoint::ipv6_loopback(e.port());
}

// Waits for `flag` on a pool thread (the blockers of the cancellation test).
void block_until(const std::atomic<bool>* flag) {
    while (!flag->load()) {
        std::this_thread::sleep_for(100us);
    }
}

eddy::task<> blocker(const std::atomic<bool>* flag) {
    co_await eddy::to_thread(&block_until, flag);
}

} // namespace

TEST_CASE("localhost resolves to loopback addresses with the port", "[resolve]") {
    std::vector<eddy::endpoint> found;
    eddy::run([&]() -> eddy::task<> { found = co_await eddy::resolve("localhost", 8080); }());
    REQUIRE_FALSE(found.empty());
    for (const auto& e : found) {
        INFO(e.to_string());
        CHECK(is_loopback(e));
        CHECK(e.port() == 8080);
    }
    // Deduplicated: no address twice, even though getaddrinfo lists one per socket type.
    for (std::size_t i = 0; i < found.size(); ++i) {
        for (std::size_t j = i + 1; j < found.size(); ++j) {
            CHECK_FALSE(found[i] == found[j]);
        }
    }
}

TEST_CASE("a host holding a NUL byte is refused with invalid_argument, not cut at the NUL",
          "[resolve]") {
    bool refused = false;
    eddy::run([&]() -> eddy::task<> {
        try {
            // As a C string "localhost", which would resolve.
            (void)co_await eddy::resolve(std::string("localhost\0.example", 17), 80);
        } catch (const std::invalid_argument&) {
            refused = true;
        }
    }());
    CHECK(refused);
}

TEST_CASE("resolving with socket type 0 lists each address once", "[resolve]") {
    std::vector<eddy::endpoint> found;
    eddy::resolve_options any_type;
    any_type.type = 0;
    any_type.family = AF_INET;
    eddy::run(
        [&]() -> eddy::task<> { found = co_await eddy::resolve("localhost", 1, any_type); }());
    REQUIRE(found.size() == 1);
    CHECK(found[0] == eddy::endpoint::ipv4_loopback(1));
}

TEST_CASE("a numeric host is answered at once without a pool thread", "[resolve]") {
    std::size_t threads = 99;
    std::vector<eddy::endpoint> v4;
    std::vector<eddy::endpoint> v6;
    std::vector<eddy::endpoint> scoped;
    eddy::run([&]() -> eddy::task<> {
        v4 = co_await eddy::resolve("127.0.0.1", 80);
        v6 = co_await eddy::resolve("[::1]", 443);
        scoped = co_await eddy::resolve("fe80::1%lo", 53);
        threads = eddy::get_running_loop().default_pool().thread_count();
    }());
    CHECK(threads == 0);
    REQUIRE(v4.size() == 1);
    CHECK(v4[0] == eddy::endpoint::ipv4_loopback(80));
    REQUIRE(v6.size() == 1);
    CHECK(v6[0] == eddy::endpoint::ipv6_loopback(443));
    REQUIRE(scoped.size() == 1);
    CHECK(scoped[0] == eddy::endpoint::ip("fe80::1%lo", 53));
}

TEST_CASE("a name goes through a pool thread", "[resolve]") {
    std::size_t threads = 0;
    eddy::run([&]() -> eddy::task<> {
        const auto found = co_await eddy::resolve("localhost", 80);
        CHECK_FALSE(found.empty());
        threads = eddy::get_running_loop().default_pool().thread_count();
    }());
    CHECK(threads >= 1);
}

TEST_CASE("the family filter keeps only the family asked for", "[resolve]") {
    std::vector<eddy::endpoint> found;
    eddy::resolve_options v4_only;
    v4_only.family = AF_INET;
    eddy::run(
        [&]() -> eddy::task<> { found = co_await eddy::resolve("localhost", 80, v4_only); }());
    REQUIRE_FALSE(found.empty());
    for (const auto& e : found) {
        CHECK(e.family() == AF_INET);
    }
}

TEST_CASE("a numeric host of the other family fails as getaddrinfo does, or maps with "
          "AI_V4MAPPED",
          "[resolve]") {
    eddy::resolve_options v6_only;
    v6_only.family = AF_INET6;
    int code = 0;
    const std::error_category* category = nullptr;
    std::vector<eddy::endpoint> mapped;
    eddy::run([&]() -> eddy::task<> {
        try {
            (void)co_await eddy::resolve("127.0.0.1", 80, v6_only);
        } catch (const std::system_error& e) {
            code = e.code().value();
            category = &e.code().category();
        }
        eddy::resolve_options v4_mapped = v6_only;
        v4_mapped.flags = AI_V4MAPPED;
        mapped = co_await eddy::resolve("127.0.0.1", 80, v4_mapped);
    }());
    CHECK(category == &eddy::resolve_category());
    CHECK(code == EAI_ADDRFAMILY);
    REQUIRE(mapped.size() == 1);
    CHECK(mapped[0] == eddy::endpoint::ip("::ffff:127.0.0.1", 80));
}

TEST_CASE("an unknown name throws system_error in resolve_category naming the host", "[resolve]") {
    bool thrown = false;
    int code = 0;
    const std::error_category* category = nullptr;
    std::string what;
    eddy::run([&]() -> eddy::task<> {
        try {
            (void)co_await eddy::resolve("nosuch.invalid", 80);
        } catch (const std::system_error& e) {
            thrown = true;
            code = e.code().value();
            category = &e.code().category();
            what = e.what();
        }
    }());
    REQUIRE(thrown);
    INFO(what);
    CHECK(category == &eddy::resolve_category());
    // No DNS in a sandbox gives EAI_AGAIN; a resolver that answers gives EAI_NONAME.
    CHECK((code == EAI_NONAME || code == EAI_AGAIN));
    CHECK(what.find("eddy::resolve(\"nosuch.invalid\", 80)") != std::string::npos);
    CHECK(what.find(::gai_strerror(code)) != std::string::npos);
    CHECK(eddy::resolve_category().message(EAI_NONAME) == ::gai_strerror(EAI_NONAME));
    CHECK(std::string(eddy::resolve_category().name()) == "eddy.resolve");
}

TEST_CASE("the empty host with AI_PASSIVE gives the any addresses", "[resolve]") {
    std::vector<eddy::endpoint> any;
    std::vector<eddy::endpoint> any_v4;
    std::vector<eddy::endpoint> loopback;
    std::size_t threads = 99;
    eddy::run([&]() -> eddy::task<> {
        eddy::resolve_options passive;
        passive.flags = AI_PASSIVE;
        any = co_await eddy::resolve("", 8000, passive);
        passive.family = AF_INET;
        any_v4 = co_await eddy::resolve("", 8000, passive);
        loopback = co_await eddy::resolve("", 8000);
        threads = eddy::get_running_loop().default_pool().thread_count();
    }());
    CHECK(threads == 0);
    REQUIRE_FALSE(any.empty());
    for (const auto& e : any) {
        INFO(e.to_string());
        CHECK((e == eddy::endpoint::ipv4_any(8000) || e == eddy::endpoint::ipv6_any(8000)));
    }
    REQUIRE(any_v4.size() == 1);
    CHECK(any_v4[0] == eddy::endpoint::ipv4_any(8000));
    REQUIRE_FALSE(loopback.empty());
    for (const auto& e : loopback) {
        INFO(e.to_string());
        CHECK(is_loopback(e));
        CHECK(e.port() == 8000);
    }
}

TEST_CASE("a cancelled resolve throws cancelled_error", "[resolve]") {
    const auto frames = eddy::live_frames();
    bool cancelled = false;
    std::atomic<bool> release{false};
    eddy::run([&]() -> eddy::task<> {
        // Every pool thread busy: the lookup waits in the queue, so the cancel reaches it
        // before any result can (and withdraws it).
        std::vector<eddy::task_handle<void>> blockers;
        for (std::size_t i = 0; i < eddy::thread_pool::default_max_threads(); ++i) {
            blockers.push_back(eddy::create_task(blocker(&release)));
        }
        auto lookup = eddy::create_task(eddy::resolve("localhost", 80));
        co_await eddy::sleep(5ms);
        CHECK_FALSE(lookup.done());
        lookup.cancel();
        cancelled = co_await eddy_test::ends_cancelled(lookup);
        release = true;
        for (auto& b : blockers) {
            co_await b;
        }
    }());
    CHECK(cancelled);
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("a resolve cancelled while getaddrinfo may be running ends cancelled or with its "
          "answer, and leaks nothing",
          "[resolve]") {
    const auto frames = eddy::live_frames();
    int cancelled = 0;
    int answered = 0;
    eddy::run([&]() -> eddy::task<> {
        for (int i = 0; i < 50; ++i) {
            auto lookup = eddy::create_task(eddy::resolve("localhost", 80));
            co_await eddy::yield();
            lookup.cancel();
            try {
                const auto found = co_await lookup;
                answered += found.empty() ? 0 : 1;
            } catch (const eddy::cancelled_error&) {
                ++cancelled;
            }
        }
    }());
    CHECK(cancelled + answered == 50);
    CHECK(cancelled > 0);
    CHECK(eddy::live_frames() == frames);
}
