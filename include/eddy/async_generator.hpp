// eddy — async_generator<T>: a coroutine that co_yields values and may co_await between them.
#pragma once

#include "eddy/detail/frame_allocator.hpp"
#include "eddy/errors.hpp"
#include "eddy/loop.hpp"

#include <coroutine>
#include <cstdio>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace eddy {

template <class T> class async_generator;

namespace detail {

template <class T> struct generator_promise : pooled {
    std::optional<T> value_;
    std::exception_ptr exception_;
    std::coroutine_handle<> consumer_;

    /// Both a yield and the end hand control back to the consumer waiting in next().
    struct to_consumer {
        [[nodiscard]] bool await_ready() const noexcept { return false; }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<generator_promise> h) noexcept {
            return transfer_to(std::exchange(h.promise().consumer_, {}));
        }
        void await_resume() const noexcept {}
    };

    async_generator<T> get_return_object() noexcept;
    [[nodiscard]] std::suspend_always initial_suspend() const noexcept { return {}; }
    [[nodiscard]] to_consumer final_suspend() const noexcept { return {}; }
    void unhandled_exception() noexcept { exception_ = std::current_exception(); }
    void return_void() const noexcept {}

    template <class U = T>
    requires std::is_constructible_v<T, U&&> to_consumer yield_value(U&& v)
    noexcept(std::is_nothrow_constructible_v<T, U&&>) {
        value_.emplace(std::forward<U>(v));
        return {};
    }
};

static_assert(noexcept(std::declval<generator_promise<int>&>().final_suspend()));
static_assert(noexcept(std::declval<generator_promise<int>::to_consumer&>().await_suspend(
    std::coroutine_handle<generator_promise<int>>{})));

} // namespace detail

/// An asynchronous generator (Python's async generator): a coroutine that `co_yield`s values
/// and may `co_await` anything between them. Lazy: it runs only while a consumer awaits
/// next(), in the consumer's task (a cancellation of that task reaches the generator's own
/// awaits).
///
///     eddy::async_generator<int> ticks(int n) {
///         for (int i = 0; i < n; ++i) { co_await eddy::sleep(1s); co_yield i; }
///     }
///     auto gen = ticks(3);
///     while (auto v = co_await gen.next()) use(*v);
///
/// Ownership: move-only; owns its frame. Destroying it before the end destroys the frame at
/// its last co_yield, running its destructors (RAII cleanup; no await is possible there).
template <class T> class [[nodiscard]] async_generator {
    static_assert(!std::is_reference_v<T>, "eddy::async_generator<T&>: yield a pointer or a "
                                           "std::reference_wrapper instead");

  public:
    /// The coroutine promise: makes a function returning async_generator<T> a generator.
    using promise_type = detail::generator_promise<T>;
    /// What the generator co_yields; next() yields std::optional<value_type>.
    using value_type = T;
    /// The coroutine handle the generator owns.
    using handle_type = std::coroutine_handle<promise_type>;

    async_generator() noexcept = default;
    /// Takes ownership of the coroutine `h` (used by the promise).
    explicit async_generator(handle_type h) noexcept : h_(h) {}
    async_generator(async_generator&& o) noexcept : h_(std::exchange(o.h_, {})) {}
    async_generator& operator=(async_generator&& o) noexcept {
        if (this != &o) {
            release();
            h_ = std::exchange(o.h_, {});
        }
        return *this;
    }
    async_generator(const async_generator&) = delete;
    async_generator& operator=(const async_generator&) = delete;
    /// Destroys the frame. Destroying a generator while a next() runs (it is suspended in an
    /// await of its own, another task waiting for its value) terminates the program with a
    /// message: that task could never resume, and what the generator awaits points into the
    /// frame (Python raises "asynchronous generator is already running" there).
    ~async_generator() { release(); }

    /// Runs the generator to its next co_yield and yields the value (moved out), or an empty
    /// optional once it has ended. Rethrows what the generator throws (after which it has
    /// ended). Throws eddy::invalid_state_error when another next() is still running.
    [[nodiscard]] auto next() noexcept { return next_awaiter{h_}; }

    /// True once the generator has ended (returned or thrown).
    [[nodiscard]] bool done() const noexcept { return !h_ || h_.done(); }

  private:
    void release() noexcept {
        if (h_) {
            if (h_.promise().consumer_) {
                std::fprintf(stderr, "eddy: async_generator destroyed while a next() runs\n");
                std::terminate();
            }
            h_.destroy();
        }
    }

    struct [[nodiscard]] next_awaiter {
        handle_type h_;
        [[nodiscard]] bool await_ready() const noexcept { return !h_ || h_.done(); }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<> consumer) {
            promise_type& p = h_.promise();
            if (p.consumer_) {
                throw invalid_state_error("eddy::async_generator: next() while another runs");
            }
            p.value_.reset();
            p.consumer_ = consumer;
            return detail::transfer_to(h_);
        }
        std::optional<T> await_resume() {
            if (!h_) {
                return std::nullopt;
            }
            promise_type& p = h_.promise();
            if (p.exception_) {
                std::rethrow_exception(std::exchange(p.exception_, nullptr));
            }
            if (h_.done() || !p.value_) {
                return std::nullopt;
            }
            std::optional<T> out(std::move(p.value_));
            p.value_.reset();
            return out;
        }
    };

    handle_type h_;
};

namespace detail {
template <class T> async_generator<T> generator_promise<T>::get_return_object() noexcept {
    return async_generator<T>{std::coroutine_handle<generator_promise>::from_promise(*this)};
}
} // namespace detail

} // namespace eddy
