// eddy — what gather and when_any turn each awaitable they are given into, and wait and
// as_completed each task handle or future: a shared handle (a task is scheduled, a plain
// awaitable runs in a task of its own).
#pragma once

#include "eddy/code_location.hpp"
#include "eddy/create_task.hpp"
#include "eddy/errors.hpp"
#include "eddy/future.hpp"
#include "eddy/task.hpp"

#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

namespace eddy::detail {

/// What a combinator turns an awaitable `A` into: `type`, a shared handle to await, inspect or
/// cancel; `value`, the result type; `make(a)`, the handle.
template <class A> struct as_handle;
template <class T> struct as_handle<task<T>> {
    using type = task_handle<T>;
    using value = T;
    static task_handle<T> make(task<T>&& t) {
        return create_task(std::move(t), task_options{}, code_location());
    }
};
template <class T> struct as_handle<task_handle<T>> {
    using type = task_handle<T>;
    using value = T;
    static task_handle<T> make(task_handle<T> h) { // lvalues are copied
        if (!h.valid()) {
            throw invalid_state_error("eddy: an empty task_handle given to gather, when_any, wait "
                                      "or as_completed");
        }
        return h;
    }
};
template <class T> struct as_handle<future<T>> {
    using type = future<T>;
    using value = T;
    static future<T> make(future<T> f) {
        (void)f.state(); // throws invalid_state_error on an empty (moved-from) future
        return f;
    }
};

/// Any other awaitable, taken by rvalue only (an lvalue awaiter is not moved from silently).
template <plain_awaitable A> struct as_handle<A> {
    using value = await_result_t<A>;
    using type = task_handle<value>;
    static type make(A&& a) {
        return create_task(await_in_task<A>(std::move(a)), task_options{}, code_location());
    }
};

template <class A> using handle_of = typename as_handle<std::remove_cvref_t<A>>::type;

template <class A>
concept gatherable = requires(A&& a) {
    typename as_handle<std::remove_cvref_t<A>>::type;
    as_handle<std::remove_cvref_t<A>>::make(std::forward<A>(a));
};

/// The handles for a range of gatherable awaitables: task<T>s are scheduled (moved from an
/// rvalue range; an lvalue range of tasks does not compile), handles and futures are shared
/// from an lvalue range or a view (`std::span(hs)`: the caller's handles stay valid) and moved from
/// an rvalue container.
template <class R> auto handles_of(R&& range) {
    using A = std::ranges::range_value_t<R>;
    constexpr bool shared = std::ranges::view<std::remove_cvref_t<R>> &&
                            is_shared_state<A>::value && !is_task_type<A>::value;
    std::vector<handle_of<A>> hs;
    if constexpr (std::ranges::sized_range<R>) {
        hs.reserve(std::ranges::size(range));
    }
    for (auto&& a : range) {
        if constexpr (std::is_lvalue_reference_v<R> || shared) {
            hs.push_back(as_handle<A>::make(a));
        } else {
            hs.push_back(as_handle<A>::make(std::move(a)));
        }
    }
    return hs;
}

} // namespace eddy::detail
