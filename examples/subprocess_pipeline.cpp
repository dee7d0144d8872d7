// subprocess_pipeline — child processes driven from coroutines.
//
// Seed idea (the 3 x 2 s download, with processes instead of downloads): three commands that
// each take 1 s run one after the other (~3 s) or side by side with gather (~1 s), since
// waiting for a child is just another await. Then a pipeline `seq | grep 7 | wc -l` whose
// stages eddy wires together through pipes, relaying bytes as they come; and a hung child cut
// off by a timeout and killed, leaving no zombie.
//
//   subprocess_pipeline [--scale F]   (F multiplies every duration; default 1.0)
#include <eddy/eddy.hpp>

#include "common.hpp"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

namespace {

using namespace example;

std::string seconds_arg(double s) {
    return std::to_string(secs(s).count());
}

// One "job": a child that works for 1 s and reports.
eddy::task<std::string> job(int n) {
    eddy::subprocess_options o;
    o.stdout_ = eddy::stdio::pipe;
    auto p = co_await eddy::create_subprocess_exec(
        "sh", {"-c", "sleep " + seconds_arg(1) + "; echo job " + std::to_string(n) + " done"}, o);
    const auto out = co_await p.communicate();
    co_return out.out;
}

eddy::task<> sequential() {
    for (int n = 1; n <= 3; ++n) {
        say("  %s", (co_await job(n)).c_str());
    }
}

eddy::task<> concurrent() {
    auto [a, b, c] = co_await eddy::gather(job(1), job(2), job(3));
    say("  %s  %s  %s", a.c_str(), b.c_str(), c.c_str());
}

// Copies everything from one child's stdout into the next one's stdin, then closes it.
eddy::task<std::size_t> relay(eddy::stream_reader& from, eddy::stream_writer& to) {
    std::size_t total = 0;
    for (;;) {
        std::string chunk = co_await from.read(std::size_t{64} * 1024);
        if (chunk.empty()) {
            break;
        }
        total += chunk.size();
        to.write(chunk);
        co_await to.drain(); // backpressure: never buffer more than the writer's high-water mark
    }
    to.close();
    co_await to.wait_closed();
    co_return total;
}

eddy::task<> pipeline() {
    eddy::subprocess_options out_only;
    out_only.stdout_ = eddy::stdio::pipe;
    eddy::subprocess_options both;
    both.stdin_ = eddy::stdio::pipe;
    both.stdout_ = eddy::stdio::pipe;
    auto seq = co_await eddy::create_subprocess_exec("seq", {"1", "100000"}, out_only);
    auto grep = co_await eddy::create_subprocess_exec("grep", {"7"}, both);
    auto wc = co_await eddy::create_subprocess_exec("wc", {"-l"}, both);
    auto [bytes1, bytes2, counted] =
        co_await eddy::gather(relay(seq.stdout_pipe(), grep.stdin_pipe()),
                              relay(grep.stdout_pipe(), wc.stdin_pipe()), wc.stdout_pipe().read());
    const int rc1 = co_await seq.wait();
    const int rc2 = co_await grep.wait();
    const int rc3 = co_await wc.wait();
    say("  seq -> grep: %zu bytes, grep -> wc: %zu bytes\n", bytes1, bytes2);
    say("  numbers from 1 to 100000 containing a 7: %s", counted.c_str());
    say("  exit codes: %d %d %d\n", rc1, rc2, rc3);
}

eddy::task<> hung_child() {
    auto p = co_await eddy::create_subprocess_exec("sleep", {"1000"});
    say("  started 'sleep 1000' (pid %d)\n", static_cast<int>(p.pid()));
    try {
        (void)co_await eddy::wait_for(p.wait(), secs(0.5));
    } catch (const eddy::timeout_error&) {
        say("  no answer after the timeout: killing it\n");
        p.kill();
    }
    const int rc = co_await p.wait();
    say("  returncode %d (killed by signal %d)\n", rc, -rc);
}

} // namespace

int main(int argc, char** argv) try {
    if (!parse_args(argc, argv)) {
        std::fprintf(stderr, "usage: %s [--scale F]\n", argv[0]);
        return 2;
    }
    say("== three 1 s jobs, awaited one after the other ==\n");
    const double seq_time = timed([] { eddy::run(sequential()); });
    say("sequential: %.2f s\n\n", seq_time);

    say("== the same three jobs, gathered ==\n");
    const double conc_time = timed([] { eddy::run(concurrent()); });
    say("gathered: %.2f s\n\n", conc_time);

    say("== seq | grep 7 | wc -l, wired through eddy pipes ==\n");
    eddy::run(pipeline());
    say("\n== a hung child and a timeout ==\n");
    eddy::run(hung_child());
    say("\nspeed-up from gathering: %.1fx\n", seq_time / conc_time);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
