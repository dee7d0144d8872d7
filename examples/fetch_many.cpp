// fetch_many — many API calls, one after the other vs all at once.
//
// Seed idea ("use async when many network calls exist"; "waiting for data from the internet
// (API call)"): a program that calls several APIs spends nearly all its time waiting for
// their answers, not using the CPU. Blocking code waits for each answer before sending the
// next request, so the waits add up (5 APIs x 1 s: about 5 s). With coroutines, each request
// is a coroutine that awaits its answer; `co_await` suspends only that coroutine, and the
// event loop runs the others meanwhile, so all five requests are out at once and the waits
// overlap (about 1 s). Blocking waits add up; async waits overlap.
//
// The "APIs" are five small servers started in this same program on 127.0.0.1 (ports the
// kernel picks), each answering a request after 1 s of "work", so the example needs no
// network and its timings are reproducible.
//
//   fetch_many [--scale F]   (F multiplies every duration; default 1.0)
#include <eddy/eddy.hpp>

#include "common.hpp"

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace example; // --scale, say(), secs(), since(): examples/common.hpp

struct api {
    const char* name;
    const char* answer;
};
constexpr api apis[] = {{"weather", "sunny, 21 C"},
                        {"prices", "EUR/USD 1.08"},
                        {"news", "3 new headlines"},
                        {"users", "42 online"},
                        {"stocks", "ACME +2.5%"}};

// ---- The servers: read one request line, "work" for 1 s, answer with one line.
eddy::task<> answer_after(eddy::stream_reader& reader, eddy::stream_writer& writer,
                          std::string answer) {
    const std::string request = co_await reader.readline();
    if (request.empty()) {
        co_return; // the client left without asking
    }
    co_await eddy::sleep(secs(1)); // a slow API: a database query, another service...
    writer.write(answer + "\n");
    // Returning flushes and closes the connection.
}

// ---- The client: one API call. While it waits for the answer it is suspended at a
// co_await, and the loop is free to run the other calls.
eddy::task<std::string> fetch(std::uint16_t port, std::string name) {
    say("  -> %s: calling\n", name.c_str());
    auto [reader, writer] = co_await eddy::open_connection("127.0.0.1", port);
    writer.write("GET /" + name + "\n");
    co_await writer.drain();
    std::string answer = co_await reader.readline(); // the wait: nothing runs here for 1 s
    answer.pop_back();                               // the "\n"
    say("  <- %s: %s\n", name.c_str(), answer.c_str());
    co_return answer;
}

// ---- 1. One after the other: each call is awaited before the next one starts.
eddy::task<> fetch_sequentially(const std::vector<std::uint16_t>& ports) {
    for (std::size_t i = 0; i < ports.size(); ++i) {
        (void)co_await fetch(ports[i], apis[i].name);
    }
}

// ---- 2. Concurrently: eddy::gather starts every call, then waits for all of them.
eddy::task<> fetch_concurrently(const std::vector<std::uint16_t>& ports) {
    std::vector<eddy::task<std::string>> calls;
    for (std::size_t i = 0; i < ports.size(); ++i) {
        calls.push_back(fetch(ports[i], apis[i].name)); // lazy: nothing is sent yet
    }
    const std::vector<std::string> answers = co_await eddy::gather(std::move(calls));
    say("  %zu answers, in the order asked: %s ... %s\n", answers.size(), answers.front().c_str(),
        answers.back().c_str());
}

eddy::task<> main_async() {
    std::vector<eddy::server> servers;
    std::vector<std::uint16_t> ports;
    for (const api& a : apis) {
        // A handler that is not a coroutine itself: it copies the answer into the coroutine's
        // parameters, so the coroutine never refers to the lambda.
        auto handler = [answer = std::string(a.answer)](eddy::stream_reader& r,
                                                        eddy::stream_writer& w) {
            return answer_after(r, w, answer);
        };
        servers.push_back(co_await eddy::start_server(handler, "127.0.0.1", 0));
        ports.push_back(servers.back().port());
    }
    say("%zu API servers listening on 127.0.0.1, each answering after %.2f s\n\n", servers.size(),
        secs(1).count());

    say("== one after the other: co_await each call before starting the next ==\n");
    auto start = std::chrono::steady_clock::now();
    co_await fetch_sequentially(ports);
    const double sequential = since(start);
    say("sequential: %.2f s\n\n", sequential);

    say("== concurrently: eddy::gather of the five calls ==\n");
    start = std::chrono::steady_clock::now();
    co_await fetch_concurrently(ports);
    const double concurrent = since(start);
    say("eddy gather: %.2f s\n\n", concurrent);

    for (eddy::server& s : servers) {
        s.close();
        co_await s.wait_closed();
    }
    say("speed-up: %.1fx (the five waits overlapped instead of adding up)\n",
        sequential / concurrent);
}

} // namespace

int main(int argc, char** argv) try {
    if (!parse_args(argc, argv)) {
        std::fprintf(stderr, "usage: %s [--scale F]\n", argv[0]);
        return 2;
    }
    eddy::run(main_async());
    return 0;
} catch (const std::exception& e) { // e.g. std::system_error: io_uring is not available here
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
