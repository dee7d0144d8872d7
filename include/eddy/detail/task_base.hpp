// eddy — what the loop knows of a scheduled task: cancellation state and its place in the loop.
#pragma once

#include "eddy/code_location.hpp"
#include "eddy/detail/context.hpp"
#include "eddy/detail/frame_allocator.hpp"
#include "eddy/detail/frames.hpp"
#include "eddy/detail/future_base.hpp"
#include "eddy/detail/list.hpp"

#include <memory>
#include <string>
#include <utility>

namespace eddy {
class event_loop;
}

namespace eddy::detail {

/// A task's node in its loop's list of unfinished tasks: a base class, so that a node converts
/// back to its task (task_of) without a pointer of its own.
struct task_link : list_node {};

/// Deletes of finished tasks nested in one another right now on this thread (see
/// task_base::delete_bounded), and the ones put off meanwhile, linked through their task_link.
inline constinit thread_local unsigned task_delete_depth_ = 0;
inline constinit thread_local list_node* deferred_task_deletes_ = nullptr;

/// The type-erased part of a task scheduled on a loop (asyncio.Task minus the result type).
class task_base : public future_base, public task_link {
  public:
    /// Deletes nested deeper than this are put off until the outermost one returns.
    static constexpr unsigned max_delete_depth = 64;

    /// Deletes `self`, a finished task whose last reference is gone. A task's frame may hold
    /// the last handle to another task (each task of a chain awaiting the previous one's
    /// handle): deleting it deletes that one, and so on, one level of recursion per task, which
    /// overflowed the stack at ~70,000 tasks. Past max_delete_depth the delete is put off, and
    /// the outermost delete runs the ones put off, iteratively.
    template <class Self> static void delete_bounded(Self* self) noexcept {
        if (task_delete_depth_ >= max_delete_depth && !self->loop_link().linked()) [[unlikely]] {
            self->loop_link().next_ = deferred_task_deletes_; // unused: the task left the loop
            deferred_task_deletes_ = &self->loop_link();
            return;
        }
        ++task_delete_depth_;
        delete self;
        --task_delete_depth_;
        if (task_delete_depth_ == 0 && deferred_task_deletes_ != nullptr) [[unlikely]] {
            run_deferred_deletes();
        }
    }

    /// asyncio's Task.cancel(): false when the task is already done. Otherwise the task gets
    /// cancelled_error at the await where it is suspended (what it awaits is cancelled first,
    /// and it resumes only once that has really stopped), or at its next suspension.
    bool cancel(std::string message) override {
        if (done()) {
            return false;
        }
        ++cancel_requests_;
        if (!message.empty() || extras_) {
            extra().cancel_message = std::move(message);
        }
        if (cancel_hook* h = hook_; h != nullptr) {
            // `requested_` is set only when the hook took the request: the awaiter then ends
            // with cancelled_error (or a result the kernel had already produced), and absorbs
            // requests made meanwhile. A request the hook could not take (what it awaits just
            // finished) stays pending for the next suspension; it must not be absorbed.
            // The awaiter outlives the call even if it was woken: it resumes from the queue.
            if (in_cancel_) {
                // Tasks awaiting each other in a cycle: the request came back around. Passing
                // it on again would recurse forever, so this task stops waiting instead.
                if (h->cancel_(h, true)) {
                    h->requested_ = true;
                } else {
                    must_cancel_ = true;
                }
                return true;
            }
            in_cancel_ = true;
            const bool passed_on = h->cancel_(h, false);
            in_cancel_ = false;
            if (passed_on) {
                h->requested_ = true;
                return true;
            }
        }
        must_cancel_ = true;
        return true;
    }

    /// Number of pending cancellation requests (asyncio's Task.cancelling()).
    [[nodiscard]] int cancelling() const noexcept { return cancel_requests_; }
    /// Decrements the pending cancellation requests and returns the new count (Task.uncancel()).
    int uncancel() noexcept {
        if (cancel_requests_ > 0) {
            --cancel_requests_;
        }
        if (cancel_requests_ == 0) {
            must_cancel_ = false;
        }
        return cancel_requests_;
    }

    [[nodiscard]] const std::string& name() const noexcept {
        return extras_ ? extras_->name : empty_string();
    }
    void set_name(std::string name) {
        if (!name.empty() || extras_) {
            extra().name = std::move(name);
        }
    }
    [[nodiscard]] const std::string& cancel_message() const noexcept {
        return extras_ ? extras_->cancel_message : empty_string();
    }
    /// Where create_task was called, recorded in debug mode only (unknown otherwise).
    [[nodiscard]] code_location created_at() const noexcept {
        return extras_ ? extras_->created_at : code_location();
    }
    void set_created_at(code_location where) { extra().created_at = where; }

    /// The task's outermost coroutine: the start of its chain of awaiting coroutines.
    [[nodiscard]] virtual const frame_record& root_frame() const noexcept = 0;

    /// True when a cancellation is waiting to be delivered at the next suspension.
    [[nodiscard]] bool has_pending_cancel() const noexcept { return must_cancel_; }
    /// If a cancellation is waiting to be delivered, consumes it and returns true.
    bool take_pending_cancel() noexcept { return std::exchange(must_cancel_, false); }

    /// Re-arms a cancellation that an operation could not honour (it completed in the same
    /// instant): the task gets cancelled_error at its next suspension instead.
    void defer_cancel() noexcept { must_cancel_ = true; }

    /// True while the task is suspended in an eddy awaiter that takes cancellations.
    [[nodiscard]] bool waits_cancellably() const noexcept { return hook_ != nullptr; }
    /// For a loop that gives up on this task (it can never resume): takes it out of what it
    /// waits on (a primitive's FIFO, a timer, a gather's children), so that nothing outliving
    /// the loop wakes it later. Its resumption is queued and dropped with the loop's queue.
    void abandon_wait() noexcept {
        if (cancel_hook* h = hook_; h != nullptr) {
            (void)h->cancel_(h, true);
        }
        hook_ = nullptr;
    }

    void set_hook(cancel_hook* h) noexcept { hook_ = h; }
    void clear_hook(cancel_hook* h) noexcept {
        if (hook_ == h) {
            hook_ = nullptr;
        }
    }

    /// Called from the final suspension of the task's outermost coroutine.
    virtual void on_coroutine_done() noexcept = 0;

    /// The task's node in its loop's list of unfinished tasks.
    [[nodiscard]] task_link& loop_link() noexcept { return *this; }

    // The members are declared in this order, across access sections, so that the small ones
    // share one word: the state of each of 100,000 sleeping tasks is then 96 bytes, not 112
    // (checked below).
    bool shutdown_cancelled_ = false;
    /// False for eddy::run's main task only: when it ends, the loop runs no more follow-on
    /// items (event_loop::stop_follow_on), so that run stops at the end of that turn and a task
    /// main created in its last step is cancelled before it starts.
    bool follow_on_when_done_ = true;

  private:
    bool must_cancel_ = false;
    bool in_cancel_ = false;
    int cancel_requests_ = 0;

  public:
    /// The task's context-variable values (null: none set; see context_var). Owned: one
    /// reference, released with the task.
    context_data* context_ = nullptr;
    task_base() = default;
    task_base(const task_base&) = delete;
    task_base& operator=(const task_base&) = delete;
    ~task_base() override { context_release(context_); }

  protected:
    [[gnu::noinline]] static void run_deferred_deletes() noexcept {
        ++task_delete_depth_;
        while (list_node* n = deferred_task_deletes_) {
            deferred_task_deletes_ = n->next_;
            n->next_ = nullptr;
            delete static_cast<task_base*>(static_cast<task_link*>(n)); // virtual destructor
        }
        --task_delete_depth_;
    }

    [[nodiscard]] std::string describe() const override {
        std::string d = name().empty() ? std::string("task") : "task '" + name() + "'";
        if (const code_location c = created_at(); c.known()) {
            d += " (created at " + where_text(c) + ")";
        }
        return d;
    }

  private:
    // Rarely used, so kept out of line: most tasks have no name and no cancel message, and a
    // smaller state means more tasks per cache line (100,000 sleepers).
    struct extras : pooled {
        std::string name;
        std::string cancel_message;
        code_location created_at;
    };
    extras& extra() {
        if (!extras_) {
            extras_ = std::make_unique<extras>();
        }
        return *extras_;
    }
    static const std::string& empty_string() noexcept {
        static const std::string empty;
        return empty;
    }

    std::unique_ptr<extras> extras_;
    cancel_hook* hook_ = nullptr;
};

#if defined(__x86_64__) || defined(__aarch64__)
static_assert(sizeof(task_base) <= 88, "task_base's small members no longer share a word");
#endif

inline task_base* task_of(list_node* n) noexcept {
    return static_cast<task_base*>(static_cast<task_link*>(n));
}

} // namespace eddy::detail
