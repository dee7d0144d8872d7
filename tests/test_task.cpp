// task<T>: laziness, results, exceptions, frame ownership, deep synchronous chains.
#include "helpers.hpp"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

using eddy_test::tracked;

namespace {
eddy::task<int> value_of(int v) {
    co_return v;
}
eddy::task<> set_flag(bool& flag) {
    flag = true;
    co_return;
}
int global_number = 7;
eddy::task<int&> ref_to_global() {
    co_return global_number;
}

struct boom : std::runtime_error {
    boom() : std::runtime_error("boom") {}
};
eddy::task<int> level3() {
    throw boom();
    co_return 0;
}
eddy::task<int> level2() {
    co_return co_await level3() + 1;
}
eddy::task<int> level1() {
    co_return co_await level2() + 1;
}

eddy::task<int> sync_one() {
    co_return 1;
}
eddy::task<long> sum_sync(int n) {
    long total = 0;
    for (int i = 0; i < n; ++i) {
        total += co_await sync_one();
    }
    co_return total;
}
eddy::task<int> take(tracked t) {
    co_return t.value;
}
eddy::task<std::unique_ptr<int>> make_unique_value(int v) {
    co_return std::make_unique<int>(v);
}
} // namespace

TEST_CASE("a task does nothing until it is awaited", "[task]") {
    bool ran = false;
    eddy::run([&]() -> eddy::task<> {
        auto t = set_flag(ran);
        CHECK_FALSE(ran);
        co_await eddy::yield();
        CHECK_FALSE(ran); // not even after the loop turned
        co_await t;
        CHECK(ran);
    }());
}

TEST_CASE("awaiting a task yields its value, for values, void and references", "[task]") {
    const int got = eddy::run([]() -> eddy::task<int> {
        int& r = co_await ref_to_global();
        CHECK(&r == &global_number);
        bool flag = false;
        co_await set_flag(flag);
        CHECK(flag);
        co_return co_await value_of(41) + 1;
    }());
    CHECK(got == 42);
}

TEST_CASE("an exception crosses every level of nested tasks", "[task]") {
    const auto frames = eddy::live_frames();
    CHECK_THROWS_AS(eddy::run(level1()), boom);
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("a move-only result is moved out of an rvalue task", "[task]") {
    const int got = eddy::run([]() -> eddy::task<int> {
        std::unique_ptr<int> p = co_await make_unique_value(5);
        co_return *p;
    }());
    CHECK(got == 5);
}

TEST_CASE("an lvalue task awaited after it finished yields the same result again", "[task]") {
    eddy::run([]() -> eddy::task<> {
        auto t = value_of(3);
        const auto got = co_await t;
        CHECK(got == 3);
        CHECK(t.done());
        const auto got2 = co_await t;
        CHECK(got2 == 3);
    }());
}

TEST_CASE("awaiting a task again after an rvalue await moved its value out throws "
          "invalid_state_error",
          "[task]") {
    eddy::run([]() -> eddy::task<> {
        auto t = []() -> eddy::task<std::string> { co_return std::string(40, 's'); }();
        const std::string first = co_await std::move(t);
        CHECK(first.size() == 40);
        bool threw = false;
        try {
            (void)co_await t; // NOLINT(bugprone-use-after-move): the point of the test
        } catch (const eddy::invalid_state_error&) {
            threw = true;
        }
        CHECK(threw);
    }());
}

TEST_CASE("awaiting an empty task throws invalid_state_error", "[task]") {
    eddy::run([]() -> eddy::task<> {
        eddy::task<int> empty;
        CHECK_THROWS_AS(co_await empty, eddy::invalid_state_error);
    }());
}

TEST_CASE("destroying a task that never started destroys its frame and its arguments", "[task]") {
    tracked::reset();
    const auto frames = eddy::live_frames();
    {
        auto t = take(tracked(9));
        CHECK(eddy::live_frames() == frames + 1);
        CHECK(tracked::live == 1); // the argument lives in the frame
    }
    CHECK(eddy::live_frames() == frames);
    CHECK(tracked::live == 0);
}

TEST_CASE("a task's argument lives until the task finishes", "[task]") {
    tracked::reset();
    CHECK(eddy::run(take(tracked(4))) == 4);
    CHECK(tracked::live == 0);
}

TEST_CASE("one million sequential awaits of tasks that complete synchronously do not overflow "
          "the stack",
          "[task][stress]") {
    // g++ 12 makes symmetric transfer a real tail call only at -O2 without sanitizers; the
    // loop's transfer-depth bound keeps debug and sanitizer builds from overflowing.
    const auto frames = eddy::live_frames();
    CHECK(eddy::run(sum_sync(1'000'000)) == 1'000'000);
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("a coroutine lambda bound to a name keeps its captures for the whole task", "[task]") {
    tracked::reset();
    {
        // Bound to a name first: g++ 12 destroys init-captures of a lambda temporary inside a
        // co_await expression twice.
        auto body = [s = std::string(100, 'x'), t = tracked(1)]() -> eddy::task<std::size_t> {
            co_await eddy::sleep(std::chrono::milliseconds(1));
            co_return s.size() + static_cast<std::size_t>(t.value);
        };
        CHECK(eddy::run(body()) == 101);
    }
    CHECK(tracked::live == 0);
}

static_assert(eddy::awaitable<eddy::task<int>>);
static_assert(std::is_same_v<eddy::await_result_t<eddy::task<int>&>, int&>);
static_assert(std::is_same_v<eddy::await_result_t<eddy::task<void>>, void>);
static_assert(!std::is_copy_constructible_v<eddy::task<int>>);

TEST_CASE("awaiting an rvalue task yields a value that outlives the task", "[task]") {
    // In C++20 the task temporary dies before a range-for body runs: a T&& would dangle.
    const std::size_t sum = eddy::run([]() -> eddy::task<std::size_t> {
        std::size_t total = 0;
        for (int x : co_await []() -> eddy::task<std::vector<int>> {
                 co_return std::vector<int>{1, 2, 3, 4};
             }()) {
            total += static_cast<std::size_t>(x);
        }
        co_return total;
    }());
    CHECK(sum == 10);
}

namespace {
// A type whose unary & is deleted: eddy must take addresses with std::addressof.
struct no_address_of {
    int v = 1;
    void operator&() const = delete;
};
eddy::task<std::vector<int>> braced_list() {
    co_return {1, 2, 3};
}
eddy::task<std::optional<int>> braced_empty() {
    co_return {};
}
eddy::task<std::pair<int, int>> braced_pair() {
    co_return {4, 5};
}
eddy::task<const std::string> const_value() {
    co_return std::string(40, 'c');
}
eddy::task<no_address_of> odd_value() {
    co_return no_address_of{7};
}
const no_address_of odd_global{8};
eddy::task<const no_address_of&> odd_reference() {
    co_return odd_global;
}
} // namespace

// A task<const X&> or future<const X&> given a temporary would hold a reference that dangles at
// once: that does not compile. An lvalue does.
template <class P, class A>
concept can_return = requires(P& p, A&& a) {
    p.return_value(std::forward<A>(a));
};
template <class F, class A>
concept can_set = requires(F& f, A&& a) {
    f.set_result(std::forward<A>(a));
};
static_assert(!can_return<eddy::detail::task_promise<const int&>, int>);
static_assert(can_return<eddy::detail::task_promise<const int&>, const int&>);
static_assert(can_return<eddy::detail::task_promise<int&>, int&>);
static_assert(!can_set<eddy::future<const std::string&>, std::string>);
static_assert(can_set<eddy::future<const std::string&>, const std::string&>);
static_assert(can_set<eddy::future<std::string>, std::string>);

TEST_CASE("co_return takes braced lists, const result types and types without a usable &",
          "[task]") {
    eddy::run([]() -> eddy::task<> {
        const std::vector<int> v = co_await braced_list();
        CHECK(v == std::vector<int>{1, 2, 3});
        const std::optional<int> none = co_await braced_empty();
        CHECK_FALSE(none.has_value());
        const std::pair<int, int> p = co_await braced_pair();
        CHECK(p == std::pair{4, 5});
        const std::string c = co_await const_value();
        CHECK(c == std::string(40, 'c'));
        auto [c2] = co_await eddy::gather(const_value());
        CHECK(c2 == c);
        eddy::future<const int> fc;
        fc.set_result(3);
        const int three = co_await fc;
        CHECK(three == 3);
        const no_address_of odd = co_await odd_value();
        CHECK(odd.v == 7);
        const no_address_of& ref = co_await odd_reference();
        CHECK(ref.v == 8);
    }());
}
