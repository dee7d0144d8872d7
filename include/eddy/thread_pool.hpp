// eddy — a bounded pool of worker threads for blocking calls (asyncio's default executor).
#pragma once

#include <algorithm>
#include <condition_variable>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <pthread.h>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace eddy {

namespace detail {
/// Starts a thread running `fn` with every signal blocked (a new thread inherits the mask it
/// is created under), so a process-directed signal such as Ctrl-C goes to the loop thread's
/// signalfd and never runs its default action on a worker. Throws std::system_error.
template <class F> std::thread start_signal_blocked_thread(F&& fn) {
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    try {
        std::thread t(std::forward<F>(fn));
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        return t;
    } catch (...) {
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        throw;
    }
}

/// One call queued on a pool. Intrusive (it lives in the offload state that awaits it), so
/// queueing allocates nothing; a doubly linked queue lets a cancelled call leave it in O(1).
struct pool_job {
    pool_job* prev_ = nullptr;
    pool_job* next_ = nullptr;
    /// Runs on a worker thread. Must not touch the job after handing its completion back to
    /// the loop (the loop may free it at once).
    void (*work_)(pool_job*) noexcept = nullptr;
    bool queued_ = false; // guarded by the pool's mutex
};
} // namespace detail

/// A bounded pool of worker threads (asyncio's ThreadPoolExecutor): `to_thread` uses the
/// loop's own pool; `run_in_executor(pool, fn)` uses one you make. Threads start on demand up
/// to `max_threads` and then wait for more work; they run with every signal blocked, so
/// signals reach the loop's signalfd instead. Thread-safe.
class thread_pool {
  public:
    /// asyncio's default size: min(32, cores + 4).
    [[nodiscard]] static std::size_t default_max_threads() noexcept {
        return std::min<std::size_t>(32, std::max(1U, std::thread::hardware_concurrency()) + 4);
    }

    /// A pool of at most `max_threads` (at least 1) threads; none starts before work comes.
    explicit thread_pool(std::size_t max_threads = default_max_threads())
        : max_(std::max<std::size_t>(1, max_threads)) {}
    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;

    /// Runs every call still queued, then joins the threads (asyncio's
    /// `executor.shutdown(wait=True)`). A call that never returns makes this wait forever.
    ~thread_pool() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        ready_.notify_all();
        for (std::thread& t : threads_) {
            t.join();
        }
    }

    /// The bound on threads given at construction (at least 1).
    [[nodiscard]] std::size_t max_threads() const noexcept { return max_; }
    /// Threads started so far.
    [[nodiscard]] std::size_t thread_count() const {
        std::lock_guard lock(mutex_);
        return threads_.size();
    }

    // ---- For eddy's offload awaiters (not for applications) ----

    /// Queues `job`, starting a thread if none is idle and the bound allows. Throws
    /// std::system_error when no thread exists and none can be started (EAGAIN).
    void submit(detail::pool_job& job) {
        std::unique_lock lock(mutex_);
        // Every queued call needs its own idle thread; a thread just woken for an earlier call
        // still counts as idle until it takes that call.
        if (queued_ >= idle_ && threads_.size() < max_) {
            try {
                start_thread();
            } catch (...) {
                if (threads_.empty()) {
                    throw; // nobody would ever run the job
                }
            }
        }
        job.prev_ = tail_;
        job.next_ = nullptr;
        (tail_ != nullptr ? tail_->next_ : head_) = &job;
        tail_ = &job;
        job.queued_ = true;
        ++queued_;
        lock.unlock();
        ready_.notify_one();
    }

    /// Takes `job` back if no thread has started it. True: it will never run. False: it runs
    /// or has run, and its completion will reach the loop.
    bool withdraw(detail::pool_job& job) noexcept {
        std::lock_guard lock(mutex_);
        if (!job.queued_) {
            return false;
        }
        unlink(job);
        return true;
    }

  private:
    void unlink(detail::pool_job& job) noexcept {
        (job.prev_ != nullptr ? job.prev_->next_ : head_) = job.next_;
        (job.next_ != nullptr ? job.next_->prev_ : tail_) = job.prev_;
        job.prev_ = job.next_ = nullptr;
        job.queued_ = false;
        --queued_;
    }

    // Called with the mutex held.
    void start_thread() {
        threads_.reserve(threads_.size() + 1); // the push below cannot throw
        threads_.push_back(detail::start_signal_blocked_thread([this] { work(); }));
        ++idle_;
    }

    void work() noexcept {
        std::unique_lock lock(mutex_);
        for (;;) { // idle_ counts this thread while it waits
            ready_.wait(lock, [this] { return head_ != nullptr || stopping_; });
            --idle_;
            if (head_ == nullptr) {
                return; // stopping, and nothing left to run
            }
            detail::pool_job* job = head_;
            unlink(*job);
            lock.unlock();
            job->work_(job);
            lock.lock();
            ++idle_;
        }
    }

    mutable std::mutex mutex_;
    std::condition_variable ready_;
    std::vector<std::thread> threads_;
    detail::pool_job* head_ = nullptr;
    detail::pool_job* tail_ = nullptr;
    std::size_t max_;
    std::size_t idle_ = 0;
    std::size_t queued_ = 0;
    bool stopping_ = false;
};

} // namespace eddy
