// eddy benchmarks — allocation counting: global operator new/delete replaced (every variant),
// and the C allocator's entry points interposed, so that every heap allocation is counted once.
//
// Counting at the malloc level matters: Asio's recycling allocator obtains its blocks with
// std::aligned_alloc, and eddy's frame pool its chunks with std::malloc; neither goes through
// operator new. The replacement operator new forwards to malloc / aligned_alloc (and is
// counted there). The interposed functions forward to glibc's __libc_* implementations.
//
// The benchmarks are single-threaded (a measurement thread runs while the main thread waits in
// join()), so a relaxed load + store is enough and avoids a locked read-modify-write on every
// allocation, which would tax the allocation-heavy contender more than the other.
#include "alloc_counter.hpp"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <malloc.h>
#include <new>
#include <unistd.h>

extern "C" {
void* __libc_malloc(std::size_t);                // NOLINT(bugprone-reserved-identifier)
void* __libc_calloc(std::size_t, std::size_t);   // NOLINT(bugprone-reserved-identifier)
void* __libc_realloc(void*, std::size_t);        // NOLINT(bugprone-reserved-identifier)
void* __libc_memalign(std::size_t, std::size_t); // NOLINT(bugprone-reserved-identifier)
void* __libc_valloc(std::size_t);                // NOLINT(bugprone-reserved-identifier)
void* __libc_pvalloc(std::size_t);               // NOLINT(bugprone-reserved-identifier)
void __libc_free(void*);                         // NOLINT(bugprone-reserved-identifier)
}

namespace {

std::atomic<std::uint64_t> g_allocs{0};

inline void count() noexcept {
    g_allocs.store(g_allocs.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void* checked(void* p) {
    if (p == nullptr) {
        throw std::bad_alloc();
    }
    return p;
}

void* aligned(std::size_t n, std::align_val_t al) {
    const auto a = static_cast<std::size_t>(al);
    const std::size_t rounded =
        ((n == 0 ? 1 : n) + a - 1) / a * a; // aligned_alloc wants a multiple
    return checked(std::aligned_alloc(a, rounded));
}

} // namespace

namespace bench {
std::uint64_t allocations() noexcept {
    return g_allocs.load(std::memory_order_relaxed);
}

std::size_t heap_in_use() noexcept {
    const struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}
} // namespace bench

// ---------------------------------------------------------------- C allocator (interposed)
// NOLINTBEGIN(cppcoreguidelines-no-malloc, readability-inconsistent-declaration-parameter-name)
extern "C" {
void* malloc(std::size_t n) {
    count();
    return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t size) {
    count();
    return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t n) {
    count();
    return __libc_realloc(p, n);
}
void free(void* p) {
    __libc_free(p);
}
void* memalign(std::size_t a, std::size_t n) {
    count();
    return __libc_memalign(a, n);
}
void* aligned_alloc(std::size_t a, std::size_t n) {
    count();
    return __libc_memalign(a, n);
}
int posix_memalign(void** out, std::size_t a, std::size_t n) {
    if (a < sizeof(void*) || (a & (a - 1)) != 0) {
        return EINVAL;
    }
    count();
    void* p = __libc_memalign(a, n);
    if (p == nullptr) {
        return ENOMEM;
    }
    *out = p;
    return 0;
}
void* valloc(std::size_t n) {
    count();
    return __libc_valloc(n);
}
void* pvalloc(std::size_t n) {
    count();
    return __libc_pvalloc(n);
}
}

// ---------------------------------------------------------------- operator new/delete
void* operator new(std::size_t n) {
    return checked(std::malloc(n == 0 ? 1 : n));
}
void* operator new[](std::size_t n) {
    return checked(std::malloc(n == 0 ? 1 : n));
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    return std::malloc(n == 0 ? 1 : n);
}
void* operator new(std::size_t n, std::align_val_t a) {
    return aligned(n, a);
}
void* operator new[](std::size_t n, std::align_val_t a) {
    return aligned(n, a);
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    try {
        return aligned(n, a);
    } catch (...) {
        return nullptr;
    }
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    try {
        return aligned(n, a);
    } catch (...) {
        return nullptr;
    }
}

void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
    std::free(p);
}
// NOLINTEND(cppcoreguidelines-no-malloc, readability-inconsistent-declaration-parameter-name)
