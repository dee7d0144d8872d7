// Replaces the global allocation functions to count calls per thread: the tests use it to show
// that sleeps and kernel operations allocate nothing in steady state.
#include "helpers.hpp"

#include <cstdlib>
#include <new>

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

TEST_CASE("the allocation counter counts global operator new on this thread", "[alloc]") {
    const auto before = eddy_test::allocations();
    auto* p = new int(3);
    delete p;
    CHECK(eddy_test::allocations() == before + 1);
}
