// Replaces the global allocation functions to count calls per thread: the tests use it to show
// that sleeps and kernel operations allocate nothing in steady state.
#include "helpers.hpp"

#include <cstdlib>
#include <new>

// TSan's runtime defines the global allocation functions itself (not weakly, unlike ASan's),
// so a TSan build cannot replace them: there the count stays 0, and the TSan preset runs only
// the tests of code that touches threads, none of which counts allocations.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EDDY_TEST_NO_ALLOC_COUNT 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define EDDY_TEST_NO_ALLOC_COUNT 1
#endif

namespace {
thread_local std::uint64_t count = 0;

void* counted_alloc(std::size_t n) {
    ++count;
    if (void* p = std::malloc(n == 0 ? 1 : n)) {
        return p;
    }
    throw std::bad_alloc();
}
void* counted_alloc_aligned(std::size_t n, std::align_val_t al) {
    ++count;
    const auto a = static_cast<std::size_t>(al);
    if (void* p = std::aligned_alloc(a, (n + a - 1) / a * a)) {
        return p;
    }
    throw std::bad_alloc();
}
} // namespace

std::uint64_t eddy_test::allocations() noexcept {
    return count;
}

#ifndef EDDY_TEST_NO_ALLOC_COUNT
// NOLINTBEGIN(cppcoreguidelines-no-malloc)
void* operator new(std::size_t n) {
    return counted_alloc(n);
}
void* operator new[](std::size_t n) {
    return counted_alloc(n);
}
void* operator new(std::size_t n, std::align_val_t al) {
    return counted_alloc_aligned(n, al);
}
void* operator new[](std::size_t n, std::align_val_t al) {
    return counted_alloc_aligned(n, al);
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    ++count;
    return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    ++count;
    return std::malloc(n == 0 ? 1 : n);
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
// NOLINTEND(cppcoreguidelines-no-malloc)
#endif

TEST_CASE("the allocation counter counts global operator new on this thread", "[alloc]") {
    const auto before = eddy_test::allocations();
    auto* p = new int(3);
    delete p;
    CHECK(eddy_test::allocations() == before + 1);
}
