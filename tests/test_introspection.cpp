// Introspection: current_task, all_tasks, and async call graphs (asyncio.graph).
#include "helpers.hpp"

#include <eddy/eddy.hpp>

#include <coroutine>
#include <cstdint>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

using namespace std::chrono_literals;

namespace {

bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

// A three-level await chain: level1 awaits level2 awaits level3.
struct chain_lines {
    int l1 = 0;
    int l2 = 0;
    int l3 = 0;
};
chain_lines lines;
eddy::call_graph captured;

eddy::task<int> level3(eddy::event* ev) {
    if (ev == nullptr) {
        lines.l3 = __LINE__ + 1;
        captured = eddy::capture_call_graph();
        co_return 3;
    }
    lines.l3 = __LINE__ + 1;
    co_await ev->wait();
    co_return 3;
}
eddy::task<int> level2(eddy::event* ev) {
    lines.l2 = __LINE__ + 1;
    const int v = co_await level3(ev);
    co_return v + 1;
}
eddy::task<int> level1(eddy::event* ev) {
    lines.l1 = __LINE__ + 1;
    const int v = co_await level2(ev);
    co_return v + 1;
}

void check_chain(const eddy::call_graph& g) {
    REQUIRE(g.call_stack.size() == 3);
    CHECK(contains(g.call_stack[0].function, "level3"));
    CHECK(contains(g.call_stack[1].function, "level2"));
    CHECK(contains(g.call_stack[2].function, "level1"));
    CHECK(g.call_stack[0].line == static_cast<unsigned>(lines.l3));
    CHECK(g.call_stack[1].line == static_cast<unsigned>(lines.l2));
    CHECK(g.call_stack[2].line == static_cast<unsigned>(lines.l1));
    for (const eddy::frame_entry& f : g.call_stack) {
        CHECK(f.file == __FILE__);
        CHECK(f.started);
    }
}

} // namespace

TEST_CASE("the call graph of a three-level await chain lists each coroutine innermost first "
          "with the line it is at",
          "[introspection]") {
    const std::int64_t frames = eddy::live_frames();
    eddy::run([]() -> eddy::task<> {
        auto t = eddy::create_task(level1(nullptr), "chain");
        const int v = co_await t;
        CHECK(v == 5);
    }());
    CHECK(captured.task.name() == "chain");
    check_chain(captured);
    REQUIRE(captured.awaited_by.size() == 1);
    CHECK(captured.awaited_by[0].task.name() == "main");
    captured = {};
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("the call graph of a suspended task shows where each coroutine waits and the tasks "
          "awaiting it",
          "[introspection]") {
    const std::int64_t frames = eddy::live_frames();
    eddy::event ev;
    int main_line = 0;
    eddy::call_graph g;
    std::string text;
    eddy::run([](eddy::event& e, int& ml, eddy::call_graph& out, std::string& txt) -> eddy::task<> {
        auto t = eddy::create_task(level1(&e), "chain");
        auto observer = eddy::create_task([](eddy::task_handle<int> watched, eddy::event& ev2,
                                             eddy::call_graph& o, std::string& tx) -> eddy::task<> {
            co_await eddy::sleep(1ms);
            o = eddy::capture_call_graph(watched);
            tx = eddy::format_call_graph(o);
            ev2.set();
        }(t, e, out, txt));
        ml = __LINE__ + 1;
        const int v = co_await t;
        CHECK(v == 5);
        co_await observer;
    }(ev, main_line, g, text));
    INFO(text);
    CHECK(g.task.name() == "chain");
    check_chain(g);
    REQUIRE(g.awaited_by.size() == 1);
    const eddy::call_graph& by = g.awaited_by[0];
    CHECK(by.task.name() == "main");
    REQUIRE(by.call_stack.size() == 1);
    CHECK(by.call_stack[0].line == static_cast<unsigned>(main_line));
    // asyncio's layout: the task, its stack, then who awaits it, indented.
    CHECK(text.rfind("* task 'chain'\n+ Call stack:\n|   " + std::string(__FILE__) + ":" +
                         std::to_string(lines.l3) + " in ",
                     0) == 0);
    CHECK(contains(text, "+ Awaited by:\n   * task 'main'\n   + Call stack:\n   |   " +
                             std::string(__FILE__) + ":" + std::to_string(main_line)));
    g = {};
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("gathered coroutines show the gathering task as awaiting them", "[introspection]") {
    eddy::event ev;
    std::vector<eddy::call_graph> graphs;
    eddy::run([](eddy::event& e, std::vector<eddy::call_graph>& out) -> eddy::task<> {
        auto watcher = eddy::create_task(
            [](eddy::event& e2, std::vector<eddy::call_graph>& o) -> eddy::task<> {
                co_await eddy::sleep(1ms);
                for (const eddy::task_ref& t : eddy::all_tasks()) {
                    o.push_back(eddy::capture_call_graph(t));
                }
                e2.set();
            }(e, out),
            "watcher");
        co_await eddy::gather(level1(&e), level2(&e));
        co_await watcher;
    }(ev, graphs));
    // main, watcher, and the two gathered tasks, in creation order.
    REQUIRE(graphs.size() == 4);
    CHECK(graphs[0].task.name() == "main");
    CHECK(graphs[1].task.name() == "watcher");
    CHECK(graphs[2].call_stack.size() == 3);
    CHECK(graphs[3].call_stack.size() == 2);
    for (int i : {2, 3}) {
        REQUIRE(graphs[i].awaited_by.size() == 1);
        CHECK(graphs[i].awaited_by[0].task.name() == "main");
    }
    // The watcher itself is running: its innermost frame is where it captured.
    REQUIRE_FALSE(graphs[1].call_stack.empty());
    CHECK(graphs[1].call_stack[0].started);
}

TEST_CASE("current_task names the running task, is empty in a plain callback, and all_tasks "
          "lists the unfinished ones",
          "[introspection]") {
    eddy::run([]() -> eddy::task<> {
        const eddy::task_ref me = eddy::current_task();
        REQUIRE(me.valid());
        CHECK(me.name() == "main");
        CHECK_FALSE(me.done());
        auto child =
            eddy::create_task([]() -> eddy::task<> { co_await eddy::sleep(1ms); }(), "child");
        const std::vector<eddy::task_ref> all = eddy::all_tasks();
        REQUIRE(all.size() == 2);
        CHECK(all[0] == me);
        CHECK(all[1] == eddy::task_ref(child));
        bool in_callback_valid = true;
        bool threw = false;
        eddy::call_soon([&] {
            in_callback_valid = eddy::current_task().valid();
            try {
                (void)eddy::capture_call_graph();
            } catch (const eddy::invalid_state_error&) {
                threw = true;
            }
        });
        co_await child;
        CHECK_FALSE(in_callback_valid);
        CHECK(threw);
        CHECK(eddy::all_tasks().size() == 1);
        // A finished task keeps its name and has an empty call stack.
        const eddy::call_graph done = eddy::capture_call_graph(child);
        CHECK(done.task.name() == "child");
        CHECK(done.call_stack.empty());
    }());
    CHECK_THROWS_AS(eddy::current_task(), eddy::loop_error);
}

TEST_CASE("a task that handled a cancellation withdraws it through current_task, so a later "
          "timeout is a timeout_error",
          "[introspection][cancel]") {
    eddy::run([]() -> eddy::task<> {
        auto h = eddy::create_task([]() -> eddy::task<int> {
            try {
                co_await eddy::sleep(1h);
            } catch (const eddy::cancelled_error&) {
                eddy::task_ref me = eddy::current_task();
                CHECK(me.cancelling() == 1);
                CHECK(me.uncancel() == 0);
                CHECK(me.cancelling() == 0);
            }
            // With the request still counted, the expiry below would count as someone else's
            // cancellation and end this task cancelled (asyncio's rule).
            try {
                co_await eddy::wait_for(eddy::sleep(1h), 1ms);
            } catch (const eddy::timeout_error&) {
                co_return 1;
            }
            co_return 0;
        });
        co_await eddy::yield();
        h.cancel();
        const int got = co_await h;
        CHECK(got == 1);
    }());
}

TEST_CASE("a task that has not started yet shows its coroutine's definition", "[introspection]") {
    eddy::run([]() -> eddy::task<> {
        auto t = eddy::create_task(level2(nullptr), "fresh");
        const eddy::call_graph g = eddy::capture_call_graph(t);
        REQUIRE(g.call_stack.size() == 1);
        CHECK_FALSE(g.call_stack[0].started);
        CHECK(contains(g.call_stack[0].function, "level2"));
        CHECK(contains(eddy::format_call_graph(g), "(not started)"));
        co_await t;
        captured = {};
    }());
}

namespace {

using eddy_test::eager_coroutine;

eddy::task<> suspends_forever() {
    std::suspend_always forever; // nothing will ever resume it: only destroying it ends it
    co_await forever;
}
eddy::task<> awaits_by_reference(eddy::task<>& t) {
    co_await t;
}
eager_coroutine drives(eddy::task<>& t) {
    co_await awaits_by_reference(t);
}

} // namespace

TEST_CASE("a task that outlives the suspended coroutine that awaited it is destroyed without "
          "touching that coroutine's freed frame",
          "[introspection][lifetime]") {
    // The chain: drives -> awaits_by_reference -> leaf, where leaf is owned outside the chain.
    // Destroying `drives` destroys awaits_by_reference's frame while leaf still names it as the
    // coroutine awaiting it; leaf's destruction must not follow that link (ASan reports the
    // use of the recycled frame).
    const std::int64_t frames = eddy::live_frames();
    eddy::run([]() -> eddy::task<> {
        auto leaf = suspends_forever();
        const eager_coroutine c = drives(leaf);
        c.h.destroy();
        leaf = eddy::task<>();
        const eddy::call_graph g = eddy::capture_call_graph();
        CHECK(g.call_stack.size() == 1);
        co_return;
    }());
    CHECK(eddy::live_frames() == frames);
}

namespace {
eddy::task<int> takes_a_location(eddy::code_location where) {
    co_return static_cast<int>(where.line());
}
} // namespace

TEST_CASE("a coroutine taking a code_location argument still records its own definition",
          "[introspection]") {
    eddy::run([]() -> eddy::task<> {
        const eddy::code_location elsewhere = eddy::code_location::current();
        auto t = eddy::create_task(takes_a_location(elsewhere), "located");
        const eddy::call_graph g = eddy::capture_call_graph(t);
        REQUIRE(g.call_stack.size() == 1);
        CHECK(contains(g.call_stack[0].function, "takes_a_location"));
        CHECK(g.call_stack[0].line != elsewhere.line());
        const int v = co_await t;
        CHECK(v == static_cast<int>(elsewhere.line()));
    }());
}

TEST_CASE("task_refs of tasks of any result type live in one set, each erased by its "
          "done-callback",
          "[introspection][done_callback]") {
    const auto frames = eddy::live_frames();
    std::unordered_set<eddy::task_ref> background;
    std::vector<std::string> finished;
    eddy::run([&]() -> eddy::task<> {
        auto keep = [&](eddy::task_ref t) {
            background.insert(t);
            t.add_done_callback([&](const eddy::task_ref& r) {
                finished.push_back(r.name());
                background.erase(r);
            });
        };
        keep(eddy::create_task([]() -> eddy::task<int> { co_return 1; }, "int"));
        keep(eddy::create_task([]() -> eddy::task<> { co_await eddy::sleep(1ms); }, "void"));
        keep(eddy::create_task([]() -> eddy::task<std::string> { co_return std::string("s"); },
                               "string"));
        CHECK(background.size() == 3);
        while (!background.empty()) {
            co_await eddy::sleep(1ms);
        }
    }());
    CHECK(finished == std::vector<std::string>{"int", "string", "void"});
    CHECK(eddy::live_frames() == frames);
}

TEST_CASE("a task_ref equals, and hashes like, a handle to the same task", "[introspection]") {
    eddy::run([]() -> eddy::task<> {
        auto h = eddy::create_task([]() -> eddy::task<int> { co_return 1; });
        auto other = eddy::create_task([]() -> eddy::task<int> { co_return 2; });
        const eddy::task_ref r(h);
        CHECK(r == h);
        CHECK(h == r);
        CHECK_FALSE(r == other);
        CHECK(std::hash<eddy::task_ref>{}(r) == std::hash<eddy::task_handle<int>>{}(h));
        CHECK_THROWS_AS(eddy::task_ref().add_done_callback([](const eddy::task_ref&) {}),
                        eddy::invalid_state_error);
        co_await h;
        co_await other;
    }());
}

TEST_CASE("a task_ref reads its task's exception, which then counts as retrieved",
          "[introspection]") {
    const std::string err = eddy_test::capture_stderr([] {
        eddy::run([]() -> eddy::task<> {
            eddy::task_ref ok(eddy::create_task([]() -> eddy::task<int> { co_return 1; }));
            eddy::task_ref failed(eddy::create_task([]() -> eddy::task<std::string> {
                co_await eddy::sleep(1ms);
                throw std::runtime_error("lost");
            }));
            eddy::task_ref cancelled(eddy::create_task(eddy::sleep(60s)));
            CHECK_THROWS_AS(failed.exception(), eddy::invalid_state_error); // not finished
            CHECK_THROWS_AS(eddy::task_ref().exception(), eddy::invalid_state_error);
            cancelled.cancel();
            while (!failed.done() || !ok.done() || !cancelled.done()) {
                co_await eddy::sleep(1ms);
            }
            CHECK(ok.exception() == nullptr);
            const std::exception_ptr e = failed.exception();
            REQUIRE(e != nullptr);
            CHECK_THROWS_WITH(std::rethrow_exception(e), "lost");
            CHECK_THROWS_AS(cancelled.exception(), eddy::cancelled_error);
        }());
    });
    CHECK(err.find("never retrieved") == std::string::npos);
}
