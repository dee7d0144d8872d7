// eddy — pipe(): an OS pipe as a stream_reader and a stream_writer.
#pragma once

#include "eddy/detail/sigpipe.hpp"
#include "eddy/stream.hpp"

#include <cerrno>
#include <cstddef>
#include <fcntl.h>
#include <stdexcept>
#include <system_error>
#include <unistd.h>

namespace eddy {

/// The two ends of a pipe (see eddy::pipe).
struct pipe_ends {
    /// The read end, owning its fd.
    stream_reader reader;
    /// The write end, owning its fd.
    stream_writer writer;
};

/// Makes an OS pipe (pipe2 with O_CLOEXEC) and wraps its read end in a stream_reader (with
/// `limit` for read_until and readline) and its write end in a stream_writer; each owns its fd.
/// Usable outside a running loop. Ignores SIGPIPE if it has its default action, so that a
/// write after the reader has gone fails with EPIPE instead of killing the process (see
/// detail::ignore_sigpipe). Throws std::system_error (EMFILE...) if the pipe cannot be made,
/// std::invalid_argument if `limit` is 0.
[[nodiscard]] inline pipe_ends pipe(std::size_t limit = stream_reader::default_limit) {
    if (limit == 0) {
        throw std::invalid_argument("eddy::pipe: the limit must be positive");
    }
    detail::ignore_sigpipe();
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        throw std::system_error(errno, std::system_category(), "eddy::pipe");
    }
    stream_reader reader(fds[0], limit);
    stream_writer writer(fds[1]); // on failure it closes fds[1] and `reader` closes fds[0]
    return pipe_ends{std::move(reader), std::move(writer)};
}

} // namespace eddy
