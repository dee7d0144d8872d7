// eddy — what a task coroutine records of itself for call graphs and debug reports.
#pragma once

#include "eddy/code_location.hpp"

namespace eddy::detail {

/// The part of a task coroutine's promise that introspection reads: where the coroutine was
/// defined, where it last suspended, and the chain of task coroutines awaiting each other.
/// Kept up to date always (a few stores per co_await) so that a call graph can be taken at any
/// time, debug mode or not.
struct frame_record {
    code_location origin_;           // the coroutine's definition (its function's name and line)
    code_location where_;            // its latest co_await; unknown before the first
    frame_record* child_ = nullptr;  // the task coroutine it awaits now, if any
    frame_record* parent_ = nullptr; // the task coroutine awaiting it, if any

    frame_record() = default;
    explicit frame_record(code_location origin) noexcept : origin_(origin) {}
    frame_record(const frame_record&) = delete;
    frame_record& operator=(const frame_record&) = delete;
    ~frame_record() {
        // Destroyed while an awaiting coroutine still points here (its frame is being torn
        // down around it): leave no dangling link.
        if (parent_ != nullptr && parent_->child_ == this) {
            parent_->child_ = nullptr;
        }
        // Destroyed while suspended in a co_await of a task it does not own (one awaited by
        // reference): that task lives on, and must not point back at this frame.
        if (child_ != nullptr && child_->parent_ == this) {
            child_->parent_ = nullptr;
        }
    }

    /// Links `child` as the coroutine this one now awaits.
    void adopt(frame_record& child) noexcept {
        child.parent_ = this;
        child_ = &child;
    }
    /// Called when this coroutine finishes: its awaiting coroutine no longer awaits it.
    void detach() noexcept {
        if (parent_ != nullptr) {
            parent_->child_ = nullptr;
            parent_ = nullptr;
        }
    }
    /// The innermost coroutine of the chain starting here (where the task really waits).
    [[nodiscard]] const frame_record& innermost() const noexcept {
        const frame_record* r = this;
        while (r->child_ != nullptr) {
            r = r->child_;
        }
        return *r;
    }
};

} // namespace eddy::detail
