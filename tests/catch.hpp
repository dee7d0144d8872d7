// Catch2 compatibility shim: test sources `#include "catch.hpp"` and work with
// Catch2 v3 (split headers, Catch2WithMain) or Catch2 v2 (single header).
#pragma once

#if defined(EDDY_CATCH2_MAJOR)
#if EDDY_CATCH2_MAJOR >= 3
#define EDDY_CATCH2_V3 1
#endif
#elif __has_include(<catch2/catch_test_macros.hpp>)
#define EDDY_CATCH2_V3 1
#endif

#if defined(EDDY_CATCH2_V3)
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators_all.hpp>
#include <catch2/matchers/catch_matchers_all.hpp>
// v2 exposes Approx at global scope; keep tests source-compatible.
using Catch::Approx;
#else
#include <catch2/catch.hpp>
#endif
