// eddy — which time a loop keeps: the real monotonic clock, or virtual time for tests.
#pragma once

#include <cstdint>

namespace eddy {

/// Which time a loop keeps (loop_options::clock).
enum class clock_kind : std::uint8_t {
    /// The monotonic clock, eddy::clock.
    real,
    /// Virtual time, for tests: it starts at the real clock's reading when the loop is made and
    /// moves only when the loop has nothing ready and jumps straight to the nearest timer's
    /// deadline, so a test of a 10-minute timeout runs at once and always the same way. Kernel
    /// I/O and thread-pool calls still take real time, which the virtual clock does not see: an
    /// idle loop waiting for them gives them at most event_loop::virtual_grace_ns of real time
    /// before it jumps, so a timeout around I/O slower than that expires at once (in virtual
    /// time). Posts through a loop_handle get the same wait while any handle exists. Every
    /// deadline (sleep, timeouts, wait, call_later) and eddy::time() follow it;
    /// eddy::clock::now() stays real. A loop with no timer waits as with the real clock; when
    /// only endless sleeps (hours::max()) are left, time jumps to their end too.
    virtual_time,
};
/// `eddy::run(main(), {.clock = eddy::virtual_clock})`: see clock_kind::virtual_time.
inline constexpr clock_kind virtual_clock = clock_kind::virtual_time;
/// The default: the loop's time is eddy::clock.
inline constexpr clock_kind real_clock = clock_kind::real;

} // namespace eddy
