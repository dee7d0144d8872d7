// eddy — the awaitable concept and what awaiting yields.
#pragma once

#include <concepts>
#include <coroutine>
#include <type_traits>
#include <utility>

namespace eddy {
namespace detail {
template <class T>
concept awaiter = requires(T& a, std::coroutine_handle<> h) {
    { a.await_ready() } -> std::convertible_to<bool>;
    a.await_suspend(h);
    a.await_resume();
};

template <class T> decltype(auto) get_awaiter(T&& t) {
    if constexpr (requires { std::forward<T>(t).operator co_await(); }) {
        return std::forward<T>(t).operator co_await();
    } else if constexpr (requires { operator co_await(std::forward<T>(t)); }) {
        return operator co_await(std::forward<T>(t));
    } else {
        return std::forward<T>(t);
    }
}
/// What an eddy task's await_transform checks before awaiting `T`: the awaiter has an
/// await_ready. Weaker than `awaitable` on purpose: an await_suspend that takes only a task's
/// own coroutine_handle<P> is valid there, and testing it with coroutine_handle<> could
/// instantiate its body.
template <class T>
concept has_await_ready = requires(T&& t) {
    get_awaiter(std::forward<T>(t)).await_ready();
};
} // namespace detail

/// Something `co_await` accepts in a coroutine that has no await_transform: an awaiter, or a
/// type with operator co_await yielding one.
template <class T>
concept awaitable = requires(T&& t) {
    { detail::get_awaiter(std::forward<T>(t)) } -> detail::awaiter;
};

/// The type `co_await std::declval<T>()` yields.
template <awaitable T>
using await_result_t =
    decltype(std::declval<decltype(detail::get_awaiter(std::declval<T>()))&>().await_resume());

} // namespace eddy
