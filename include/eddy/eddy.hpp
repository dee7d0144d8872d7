// eddy — asyncio's model for C++20 on io_uring. The umbrella header: include this.
#pragma once

#include "eddy/as_completed.hpp"
#include "eddy/async_generator.hpp"
#include "eddy/barrier.hpp"
#include "eddy/callbacks.hpp"
#include "eddy/clock.hpp"
#include "eddy/code_location.hpp"
#include "eddy/concepts.hpp"
#include "eddy/condition.hpp"
#include "eddy/connection.hpp"
#include "eddy/context_var.hpp"
#include "eddy/create_task.hpp"
#include "eddy/datagram.hpp"
#include "eddy/endpoint.hpp"
#include "eddy/errors.hpp"
#include "eddy/event.hpp"
#include "eddy/file.hpp"
#include "eddy/future.hpp"
#include "eddy/gather.hpp"
#include "eddy/introspection.hpp"
#include "eddy/io.hpp"
#include "eddy/lock.hpp"
#include "eddy/loop.hpp"
#include "eddy/loop_handle.hpp"
#include "eddy/loop_options.hpp"
#include "eddy/pipe.hpp"
#include "eddy/queue.hpp"
#include "eddy/resolve.hpp"
#include "eddy/run.hpp"
#include "eddy/run_coroutine_threadsafe.hpp"
#include "eddy/runner.hpp"
#include "eddy/semaphore.hpp"
#include "eddy/server.hpp"
#include "eddy/shield.hpp"
#include "eddy/signal.hpp"
#include "eddy/sleep.hpp"
#include "eddy/socket.hpp"
#include "eddy/stream.hpp"
#include "eddy/subprocess.hpp"
#include "eddy/task.hpp"
#include "eddy/task_group.hpp"
#include "eddy/thread_pool.hpp"
#include "eddy/timeout.hpp"
#include "eddy/to_thread.hpp"
#include "eddy/wait.hpp"
#include "eddy/when_any.hpp"

namespace eddy {
static_assert(awaitable<task<int>>);
static_assert(awaitable<task<void>&>);
static_assert(awaitable<task_handle<int>>);
static_assert(awaitable<future<int>&>);
static_assert(awaitable<detail::sleep_awaiter>);
static_assert(awaitable<detail::io_awaiter<std::size_t>>);
static_assert(std::is_same_v<
              await_result_t<decltype(std::declval<file&>().read_at(std::span<std::byte>(), 0))>,
              std::size_t>);
static_assert(std::is_same_v<await_result_t<decltype(std::declval<file&>().stat())>, file_stat>);
static_assert(awaitable<decltype(std::declval<file&>().close())>);
static_assert(std::is_same_v<await_result_t<task<file>>, file>);
static_assert(std::is_same_v<await_result_t<task<int>>, int>);
static_assert(std::is_same_v<await_result_t<task_handle<int>>, int>);
static_assert(awaitable<decltype(shield(std::declval<task<int>>()))>);
static_assert(std::is_same_v<await_result_t<decltype(shield(std::declval<task<int>>()))>, int>);
static_assert(awaitable<decltype(wait(std::declval<std::vector<task_handle<int>>>()))>);
static_assert(
    awaitable<decltype(as_completed(std::declval<std::vector<task_handle<int>>>()).next())>);
static_assert(awaitable<decltype(wait(std::declval<std::vector<task_ref>>()))>);
static_assert(awaitable<decltype(as_completed(std::declval<std::vector<task_ref>&>()).next())>);
static_assert(awaitable<detail::group_join>);
static_assert(awaitable<detail::wait_states>);
static_assert(awaitable<decltype(std::declval<event&>().wait())>);
static_assert(
    std::is_same_v<await_result_t<decltype(std::declval<lock&>().acquire())>, lock_guard>);
static_assert(awaitable<decltype(std::declval<semaphore&>().acquire())>);
static_assert(awaitable<decltype(std::declval<condition&>().wait())>);
static_assert(
    std::is_same_v<await_result_t<decltype(std::declval<barrier&>().wait())>, std::size_t>);
static_assert(std::is_same_v<await_result_t<decltype(std::declval<queue<int>&>().get())>, int>);
static_assert(awaitable<decltype(std::declval<queue<int>&>().put(1))>);
static_assert(awaitable<decltype(std::declval<queue<int>&>().join())>);
static_assert(std::is_same_v<await_result_t<decltype(std::declval<async_generator<int>&>().next())>,
                             std::optional<int>>);
static_assert(std::is_same_v<await_result_t<decltype(to_thread([] { return 1; }))>, int>);
static_assert(std::is_same_v<await_result_t<decltype(to_thread([]() -> int& {
                                 static int x = 0;
                                 return x;
                             }))>,
                             int&>);
static_assert(std::is_same_v<await_result_t<decltype(wait_signal({SIGINT, SIGTERM}))>, int>);
static_assert(std::is_same_v<await_result_t<decltype(std::declval<stream_reader&>().readline())>,
                             std::string>);
static_assert(awaitable<decltype(std::declval<stream_writer&>().drain())>);
static_assert(
    std::is_same_v<await_result_t<decltype(resolve(std::string(), 0))>, std::vector<endpoint>>);
static_assert(std::is_same_v<await_result_t<decltype(std::declval<socket&>().accept())>, socket>);
static_assert(
    std::is_same_v<await_result_t<decltype(std::declval<socket&>().recv(std::span<std::byte>()))>,
                   std::size_t>);
static_assert(std::is_same_v<
              await_result_t<decltype(std::declval<socket&>().recvfrom(std::span<std::byte>()))>,
              datagram_info>);
static_assert(
    std::is_same_v<await_result_t<decltype(open_connection(std::string(), 0))>, connection>);
static_assert(std::is_same_v<
              await_result_t<decltype(std::declval<datagram_endpoint&>().recvfrom())>, datagram>);
static_assert(awaitable<decltype(std::declval<server&>().serve_forever())>);
} // namespace eddy
