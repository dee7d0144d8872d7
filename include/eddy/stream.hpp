// eddy — byte streams over a file descriptor: stream_reader and stream_writer (asyncio's
// StreamReader and StreamWriter), one header each. Pipes make them (pipe.hpp); sockets and
// subprocesses too.
#pragma once

#include "eddy/stream_reader.hpp"
#include "eddy/stream_writer.hpp"
