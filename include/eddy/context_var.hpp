// eddy — context_var: task-local values with asyncio's contextvars semantics.
#pragma once

#include "eddy/detail/context.hpp"
#include "eddy/errors.hpp"
#include "eddy/loop.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace eddy {

namespace detail {
inline std::atomic<std::uint64_t> next_context_var_id_{1};

/// Makes the current context writable (copies it if shared) and returns it.
inline context_data& writable_context() {
    (void)&root_context_guard_; // odr-use: a root context made here is released at thread exit
    context_data*& slot = current_context_slot();
    if (slot == nullptr) {
        slot = new context_data;
    } else if (slot->refs > 1) {
        auto* copy = new context_data;
        copy->entries = slot->entries;
        context_release(slot);
        slot = copy;
    }
    return *slot;
}
} // namespace detail

/// A value that each task sees on its own (Python's contextvars.ContextVar, as asyncio uses
/// it): set() in one task is invisible to the others. A task created with create_task (or by
/// gather, task_group...) starts with the values its creator had at that moment; later writes
/// on either side stay on that side. Code run by `co_await` of a lazy task shares the awaiting
/// task's values. Outside tasks (before eddy::run) there is one context per thread, which
/// eddy::run's main task starts from.
///
/// A context_var is typically a global or static object. Values are stored immutably and
/// shared between contexts; set() allocates.
template <class T> class context_var {
  public:
    /// What set() returns: enough to undo it with reset().
    class token {
      public:
        /// The variable's value before the set() (none if it had none).
        [[nodiscard]] const T* old_value() const noexcept {
            return static_cast<const T*>(old_.get());
        }

      private:
        friend class context_var;
        token(std::uint64_t var, std::shared_ptr<const void> old, bool had) noexcept
            : var_(var), old_(std::move(old)), had_(had) {}
        std::uint64_t var_;
        std::shared_ptr<const void> old_;
        bool had_;
        bool used_ = false;
    };

    /// A variable with no default: get() throws until a value is set. `name` only names it in
    /// messages (ContextVar's name); it is not a value: for a default, pass both.
    explicit context_var(std::string name) : name_(std::move(name)) {}
    /// A variable named `name` whose get() yields `fallback` where no value was set.
    context_var(std::string name, T fallback)
        : name_(std::move(name)), default_(std::make_shared<const T>(std::move(fallback))) {}
    context_var(const context_var&) = delete;
    context_var& operator=(const context_var&) = delete;

    /// The name given at construction (ContextVar.name); it only appears in messages.
    [[nodiscard]] const std::string& name() const noexcept { return name_; }

    /// The value in the current context, else the default. The reference stays valid until
    /// the next set()/reset() of this variable in this context. Throws std::out_of_range when
    /// there is neither (Python's LookupError).
    [[nodiscard]] const T& get() const {
        if (const T* v = find()) {
            return *v;
        }
        if (default_) {
            return *default_;
        }
        throw std::out_of_range("eddy::context_var '" + name_ + "' has no value");
    }

    /// The value in the current context, else the default, else `fallback`.
    [[nodiscard]] T get_or(T fallback) const {
        if (const T* v = find()) {
            return *v;
        }
        return default_ ? *default_ : fallback;
    }

    /// Sets the value in the current context and returns a token for reset().
    token set(T value) {
        detail::context_data& ctx = detail::writable_context();
        auto fresh = std::make_shared<const T>(std::move(value));
        for (auto& e : ctx.entries) {
            if (e.var == id_) {
                token t(id_, std::move(e.value), true);
                e.value = std::move(fresh);
                return t;
            }
        }
        ctx.entries.push_back({id_, std::move(fresh)});
        return token(id_, nullptr, false);
    }

    /// Restores the value the variable had before the set() that returned `t`, in the current
    /// context. Throws eddy::invalid_state_error if `t` was already used or belongs to another
    /// variable. (Unlike Python, a token made in another task's context is not detected.)
    void reset(token& t) {
        if (t.var_ != id_ || t.used_) {
            throw invalid_state_error("eddy::context_var::reset: token already used or from "
                                      "another variable");
        }
        detail::context_data& ctx = detail::writable_context(); // may throw: token still usable
        t.used_ = true;
        for (auto it = ctx.entries.begin(); it != ctx.entries.end(); ++it) {
            if (it->var == id_) {
                if (t.had_) {
                    it->value = t.old_;
                } else {
                    ctx.entries.erase(it);
                }
                return;
            }
        }
        if (t.had_) {
            ctx.entries.push_back({id_, t.old_});
        }
    }

  private:
    [[nodiscard]] const T* find() const noexcept {
        const detail::context_data* ctx = detail::current_context_slot();
        if (ctx == nullptr) {
            return nullptr;
        }
        const auto* e = ctx->find(id_);
        return e != nullptr ? static_cast<const T*>(e->value.get()) : nullptr;
    }

    std::string name_;
    std::shared_ptr<const T> default_;
    std::uint64_t id_ = detail::next_context_var_id_.fetch_add(1, std::memory_order_relaxed);
};

} // namespace eddy
