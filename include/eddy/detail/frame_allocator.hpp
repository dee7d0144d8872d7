// eddy — thread-local recycling allocator for coroutine frames and small runtime nodes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

// Under AddressSanitizer, blocks sitting in the pool are poisoned: a use of a recycled frame
// (a kernel completion or a waiter pointing into a destroyed coroutine) is reported as a
// use-after-poison instead of silently reading the next frame's memory.
#if defined(__SANITIZE_ADDRESS__)
#define EDDY_DETAIL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EDDY_DETAIL_ASAN 1
#endif
#endif
#ifdef EDDY_DETAIL_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace eddy::detail {

inline void pool_poison(void* p, std::size_t n) noexcept {
#ifdef EDDY_DETAIL_ASAN
    ASAN_POISON_MEMORY_REGION(p, n);
#else
    (void)p, (void)n;
#endif
}
inline void pool_unpoison(void* p, std::size_t n) noexcept {
#ifdef EDDY_DETAIL_ASAN
    ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
    (void)p, (void)n;
#endif
}

/// Size-class free lists, one set per thread. Blocks are carved from chunks so that a burst of
/// spawns costs one malloc per chunk, and every freed block is kept for reuse: in steady state
/// creating a frame is a pop from a free list. Blocks larger than the biggest class go to
/// ::operator new directly (rare: a frame over 2 KiB).
class frame_pool {
  public:
    // 16-byte steps keep internal waste small: with 100,000 sleeping tasks, bytes per task
    // decide how much of the working set stays in cache.
    static constexpr std::size_t granule = 16;
    static constexpr std::size_t classes = 128; // up to 2048 bytes
    static constexpr std::size_t max_pooled = granule * classes;

    constexpr frame_pool() noexcept = default;
    frame_pool(const frame_pool&) = delete;
    frame_pool& operator=(const frame_pool&) = delete;
    // Trivial: a thread_local with a trivial destructor and constant initialization is a plain
    // %fs-relative access, where a non-trivial one goes through a guard on every use (callgrind,
    // W1: 11 instructions per create + await). The chunks go back at thread exit through
    // pool_reaper, which only the slow path (refill) touches.
    ~frame_pool() = default;

    /// Thread exit: hands the chunks back to malloc, unless a block is still out. A frame still
    /// alive then (a leak in user code) may still be referenced; keeping the chunks is safer than
    /// handing the memory back while something points into it.
    void release_chunks() noexcept {
        if (live_ != 0) {
            return;
        }
        while (chunks_ != nullptr) {
            chunk* next = chunks_->next;
            std::free(chunks_); // NOLINT(cppcoreguidelines-no-malloc): chunks come from malloc
            chunks_ = next;
        }
        for (block*& f : free_) {
            f = nullptr; // a use after thread exit then refills instead of reusing freed memory
        }
    }

    [[nodiscard]] void* allocate(std::size_t n) {
        if (n > max_pooled) {
            void* p = ::operator new(n);
            ++live_;
            return p;
        }
        ++live_;
        const std::size_t c = class_of(n);
        block* b = free_[c];
        if (b == nullptr) [[unlikely]] {
            b = refill(c);
        }
        pool_unpoison(b, (c + 1) * granule);
        free_[c] = b->next;
        return b;
    }

    void deallocate(void* p, std::size_t n) noexcept {
        --live_;
        if (n > max_pooled) {
            ::operator delete(p);
            return;
        }
        const std::size_t c = class_of(n);
        auto* b = static_cast<block*>(p);
        b->next = free_[c];
        free_[c] = b;
        pool_poison(b, (c + 1) * granule);
    }

    /// Blocks handed out and not yet returned on this thread: the tests' frame counter.
    [[nodiscard]] std::int64_t live() const noexcept { return live_; }
    /// Chunks obtained from malloc so far on this thread (grows only while the pools grow).
    [[nodiscard]] std::int64_t chunk_mallocs() const noexcept { return chunk_mallocs_; }

  private:
    struct block {
        block* next;
    };
    struct chunk {
        chunk* next;
    };

    static constexpr std::size_t class_of(std::size_t n) noexcept {
        return n == 0 ? 0 : (n - 1) / granule;
    }

    block* refill(std::size_t c) {
        register_reaper();
        const std::size_t size = (c + 1) * granule;
        // Roughly 16 KiB per chunk, at least 4 blocks: few mallocs while a pool grows.
        std::size_t count = (16384 / size) < 4 ? 4 : 16384 / size;
        // The chunk header takes one granule so that blocks stay 16-byte aligned (what
        // operator new guarantees for frames).
        void* raw = std::malloc(granule + size * count); // NOLINT(cppcoreguidelines-no-malloc)
        if (raw == nullptr) {
            --live_;
            throw std::bad_alloc();
        }
        ++chunk_mallocs_;
        auto* ch = static_cast<chunk*>(raw);
        ch->next = chunks_;
        chunks_ = ch;
        auto* base = static_cast<std::byte*>(raw) + granule;
        block* head = nullptr;
        for (std::size_t i = count; i-- > 0;) {
            auto* b = reinterpret_cast<block*>(base + i * size); // NOLINT
            b->next = head;
            head = b;
            pool_poison(b, size);
        }
        free_[c] = head;
        return head;
    }

    static void register_reaper() noexcept;

    block* free_[classes] = {};
    chunk* chunks_ = nullptr;
    std::int64_t live_ = 0;
    std::int64_t chunk_mallocs_ = 0;
};

inline constinit thread_local frame_pool tls_frame_pool_{};

inline frame_pool& this_thread_pool() noexcept {
    return tls_frame_pool_;
}

/// Returns this thread's chunks at thread exit (see frame_pool::release_chunks).
struct pool_reaper {
    pool_reaper() = default;
    pool_reaper(const pool_reaper&) = delete;
    pool_reaper& operator=(const pool_reaper&) = delete;
    ~pool_reaper() { tls_frame_pool_.release_chunks(); }
};

inline void frame_pool::register_reaper() noexcept {
    static thread_local pool_reaper reaper; // constructed (and its destructor registered) once
    (void)reaper;
}

/// Allocates a coroutine frame or runtime node of `n` bytes from this thread's pool.
/// Throws std::bad_alloc when memory is exhausted. Must be released with `frame_free(p, n)`
/// (same n), on the same thread. A block released on another thread joins that thread's pool
/// while it still lies in a chunk of the first, which frees its chunks when it exits: the
/// block would then be handed out again from freed memory. So a coroutine frame made on one
/// thread must be destroyed on that thread (eddy's APIs that cross threads take a callable and
/// call it on the loop's thread: run_coroutine_threadsafe).
// Always inlined: it is a pop from a free list, and g++ stops inlining it into a coroutine's ramp
// function once the promise's constructor grows (measured with callgrind: +20 instructions per
// frame, issue 9).
[[nodiscard]] [[gnu::always_inline]] inline void* frame_alloc(std::size_t n) {
    return this_thread_pool().allocate(n);
}

/// Returns a block obtained from `frame_alloc(n)`.
[[gnu::always_inline]] inline void frame_free(void* p, std::size_t n) noexcept {
    this_thread_pool().deallocate(p, n);
}

/// Mixin giving a promise (or any node) pooled `operator new`/`operator delete`.
struct pooled {
    [[gnu::always_inline]] static void* operator new(std::size_t n) { return frame_alloc(n); }
    [[gnu::always_inline]] static void operator delete(void* p, std::size_t n) noexcept {
        frame_free(p, n);
    }
};

} // namespace eddy::detail

namespace eddy {
/// Number of coroutine frames and pooled runtime nodes alive on this thread. After `eddy::run`
/// returns it is back to what it was before the call: tests use it to prove nothing leaked.
[[nodiscard]] inline std::int64_t live_frames() noexcept {
    return detail::this_thread_pool().live();
}
} // namespace eddy
