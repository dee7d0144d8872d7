// eddy — how a loop is built: loop_options, and the loop's clock.
#pragma once

#include "eddy/clock.hpp"
#include "eddy/detail/backend.hpp"

#include <chrono>
#include <cstdint>

namespace eddy {

/// The loop's clock: monotonic, as asyncio's loop.time().
using clock = std::chrono::steady_clock;

/// How a loop is built.
struct loop_options {
    /// Submission queue slots of the io_uring ring.
    unsigned ring_entries = 4096;
    /// The reactor: automatic (io_uring, else epoll) unless forced here or by EDDY_BACKEND.
    backend_kind backend = backend_kind::automatic;
    /// eddy::run and eddy::runner: the first Ctrl-C (SIGINT) cancels the main task and run
    /// then throws eddy::keyboard_interrupt, as asyncio.run does. Applies on the process's
    /// main thread when SIGINT has its default disposition (a handler you installed is left
    /// alone), and only until the main task ends: a Ctrl-C during the cleanup that follows
    /// ends the process, as a second Ctrl-C does.
    bool cancel_on_sigint = true;
    /// Debug mode (asyncio's debug=True), also turned on by EDDY_DEBUG=1 in the environment.
    /// It reports on stderr: steps that run longer than `slow_step` without yielding (with
    /// the task's name, the co_await it resumed from and where it was created), coroutines
    /// destroyed without ever being awaited, the tasks still pending when the loop shuts
    /// down (with where each waits), and it aborts with a message when another thread touches
    /// the loop. Costs two clock reads per step; off, the loop runs a copy of its turn without
    /// the checks (docs/debug_cost.md).
    bool debug = false;
    /// Debug mode: a step running longer than this is reported (asyncio's
    /// slow_callback_duration).
    std::chrono::nanoseconds slow_step = std::chrono::milliseconds(100);
    /// Race finding: each turn runs its ready work in a random order instead of FIFO, drawn
    /// from `shuffle_seed` (0: a random seed, printed on stderr so the run can be replayed).
    /// Also turned on by EDDY_SHUFFLE=<seed> or EDDY_SHUFFLE=random.
    bool shuffle = false;
    /// The seed for `shuffle`; a non-zero value turns shuffling on by itself.
    std::uint64_t shuffle_seed = 0;
    /// Eager tasks (asyncio's eager_task_factory): create_task, gather and task_group run a new
    /// task's first step at once, inside the call, up to its first suspension, instead of on a
    /// later turn; a task that finishes without suspending is done when create_task returns and
    /// never goes through the loop. A create_task call can choose otherwise
    /// (task_options::eager_start). Changes the order in which tasks run: opt in.
    bool eager_tasks = false;
    /// The loop's time: real (default) or virtual (eddy::virtual_clock, for tests). Last member:
    /// from here on `clock` in this struct names it, not the eddy::clock type.
    clock_kind clock = clock_kind::real;
};

} // namespace eddy
