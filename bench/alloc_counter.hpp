// eddy benchmarks — heap accounting shared by every benchmark executable.
//
// alloc_counter.cpp replaces the global operator new/delete (every variant) and interposes the
// C allocator (malloc, calloc, realloc, aligned_alloc, posix_memalign, memalign, valloc,
// pvalloc), counting every heap allocation once, whichever door it came through: operator new,
// Asio's recycling allocator (std::aligned_alloc) or eddy's frame pool chunks (std::malloc).
// heap_in_use() asks glibc how many bytes are allocated right now (all arenas, mmapped blocks
// included).
#pragma once

#include <cstddef>
#include <cstdint>

namespace bench {

/// Heap allocations made by this process so far (operator new and the malloc family).
[[nodiscard]] std::uint64_t allocations() noexcept;

/// Bytes currently allocated from the C heap (glibc mallinfo2: uordblks + hblkhd).
[[nodiscard]] std::size_t heap_in_use() noexcept;

} // namespace bench
