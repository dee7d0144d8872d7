// eddy — the task-local context behind context_var: an immutable-by-sharing map of values.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace eddy::detail {

/// The values of the context variables set in one context (Python's contextvars.Context).
/// Shared by reference counting between a task and the tasks it creates, and copied on the
/// first write by one of them (copy-on-write), so a created task sees its creator's values as
/// they were when it was created, and neither sees the other's later writes.
struct context_data { // plain new: rare, and the root one may outlive the thread's frame pool
    struct entry {
        std::uint64_t var = 0;
        std::shared_ptr<const void> value; // values are immutable; entries share them
    };
    std::uint32_t refs = 1;
    std::vector<entry> entries;

    [[nodiscard]] const entry* find(std::uint64_t var) const noexcept {
        for (const entry& e : entries) {
            if (e.var == var) {
                return &e;
            }
        }
        return nullptr;
    }
};

inline context_data* context_share(context_data* c) noexcept {
    if (c != nullptr) {
        ++c->refs;
    }
    return c;
}
inline void context_release(context_data* c) noexcept {
    if (c != nullptr && --c->refs == 0) {
        delete c;
    }
}

/// The context of code running outside any task and any loop callback on this thread (before
/// eddy::run). eddy::run's main task starts with a copy of it, as asyncio.run copies the
/// current context.
inline thread_local context_data* root_context_ = nullptr;

/// While a loop callback (call_soon, call_later, call_at, a future's done-callback) runs: its
/// own context, a copy of the one current when it was scheduled (asyncio runs a Handle in the
/// context it captured), so what it sets stays in it. Null otherwise.
inline thread_local context_data** callback_context_ = nullptr;

/// The context that code running now on this thread reads and writes (defined in loop.hpp,
/// which knows the running loop's current task; every header using it includes loop.hpp).
inline context_data*& current_context_slot() noexcept;

/// A private copy of `c` for work that another thread runs (asyncio's copy_context(): the
/// values as they are now). Reference counts are not atomic, so a context is never shared
/// across threads; the values themselves are immutable and shared. Null when `c` holds none.
/// Throws std::bad_alloc.
[[nodiscard]] inline context_data* context_copy_for_thread(const context_data* c) {
    if (c == nullptr || c->entries.empty()) {
        return nullptr;
    }
    auto* copy = new context_data;
    copy->entries = c->entries;
    return copy;
}

/// Makes `*ctx` the current context of this thread's code outside tasks for a scope (a loop
/// callback, a call posted from another thread, a call run on a pool thread for to_thread):
/// what that code sets stays in `*ctx`.
class callback_context_scope {
  public:
    explicit callback_context_scope(context_data** ctx) noexcept
        : saved_(std::exchange(callback_context_, ctx)) {}
    callback_context_scope(const callback_context_scope&) = delete;
    callback_context_scope& operator=(const callback_context_scope&) = delete;
    ~callback_context_scope() { callback_context_ = saved_; }

  private:
    context_data** saved_;
};

/// Releases the thread's root context at thread exit.
struct root_context_guard {
    ~root_context_guard() {
        context_release(root_context_);
        root_context_ = nullptr;
    }
};
inline thread_local root_context_guard root_context_guard_;

} // namespace eddy::detail
