// eddy — intrusive doubly linked list: waiters live in the awaiting frame, never on the heap.
#pragma once

namespace eddy::detail {

/// A node embedded in the object it links. Unlinked nodes have next_ == nullptr.
struct list_node {
    list_node* prev_ = nullptr;
    list_node* next_ = nullptr;

    [[nodiscard]] bool linked() const noexcept { return next_ != nullptr; }

    /// Removes the node from whatever list holds it; a no-op when unlinked.
    void unlink() noexcept {
        if (next_ != nullptr) {
            prev_->next_ = next_;
            next_->prev_ = prev_;
            next_ = prev_ = nullptr;
        }
    }
};

/// A circular list with a sentinel. Non-owning, non-copyable: the sentinel's address is the
/// list's identity.
class intrusive_list {
  public:
    intrusive_list() noexcept { head_.prev_ = head_.next_ = &head_; }
    intrusive_list(const intrusive_list&) = delete;
    intrusive_list& operator=(const intrusive_list&) = delete;
    ~intrusive_list() {
        // Leave no node pointing at a dead sentinel.
        while (!empty()) {
            head_.next_->unlink();
        }
    }

    [[nodiscard]] bool empty() const noexcept { return head_.next_ == &head_; }

    void push_back(list_node& n) noexcept {
        n.prev_ = head_.prev_;
        n.next_ = &head_;
        head_.prev_->next_ = &n;
        head_.prev_ = &n;
    }

    /// Unlinks and returns the first node, or nullptr when empty.
    list_node* pop_front() noexcept {
        if (empty()) {
            return nullptr;
        }
        list_node* n = head_.next_;
        n->unlink();
        return n;
    }

    [[nodiscard]] list_node* front() const noexcept { return empty() ? nullptr : head_.next_; }
    [[nodiscard]] const list_node* end() const noexcept { return &head_; }

  private:
    list_node head_;
};

} // namespace eddy::detail
