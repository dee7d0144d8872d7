// eddy — a plain callback scheduled on a loop (call_soon / call_later): the loop's own record.
#pragma once

#include "eddy/detail/context.hpp"
#include "eddy/detail/list.hpp"
#include "eddy/detail/timer_heap.hpp"

#include <cstdint>

namespace eddy {
class event_loop;
}

namespace eddy::detail {

/// A plain callback scheduled on the loop (call_soon / call_later). Reference counted: the
/// loop holds one reference while it is scheduled, a callback_handle holds another.
struct callback_node;
struct callback_timer : timer_node {
    callback_node* owner_ = nullptr;
};
struct callback_node : list_node {
    callback_timer timer_;
    event_loop* loop_ = nullptr;
    void (*invoke_)(callback_node*) = nullptr;
    void (*destroy_)(callback_node*) noexcept = nullptr;
    std::uint32_t refs_ = 1;
    bool cancelled_ = false;
    bool finished_ = false;

    /// The context the callback runs in (one reference; null: no value set).
    context_data* context_ = nullptr;

    void release() noexcept {
        if (--refs_ == 0) {
            context_release(context_);
            destroy_(this);
        }
    }
};

} // namespace eddy::detail
