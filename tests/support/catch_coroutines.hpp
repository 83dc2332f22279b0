// tests/support/catch_coroutines.hpp — force-included into every test.
//
// Catch2 v2 expands CHECK(expr) with two extra, never-executed mentions of
// `expr` ((void)__builtin_constant_p(expr) and `while ((false) && !!(expr))`)
// to get warnings. g++ 12 hoists a `co_await` out of both and really runs it,
// so CHECK(co_await gen.next() == 1) would await three times. This redefines
// the assertion macro with a single mention, so a co_await inside an
// assertion runs exactly once. Keep it identical to Catch's otherwise.
#pragma once
#include <catch2/catch.hpp>

#undef INTERNAL_CATCH_TEST
#define INTERNAL_CATCH_TEST(macroName, resultDisposition, ...)                                      \
  do {                                                                                              \
    Catch::AssertionHandler catchAssertionHandler(macroName##_catch_sr, CATCH_INTERNAL_LINEINFO,    \
                                                  CATCH_INTERNAL_STRINGIFY(__VA_ARGS__),            \
                                                  resultDisposition);                               \
    INTERNAL_CATCH_TRY {                                                                            \
      CATCH_INTERNAL_START_WARNINGS_SUPPRESSION                                                     \
      CATCH_INTERNAL_SUPPRESS_PARENTHESES_WARNINGS                                                  \
      catchAssertionHandler.handleExpr(Catch::Decomposer() <= __VA_ARGS__);                         \
      CATCH_INTERNAL_STOP_WARNINGS_SUPPRESSION                                                      \
    }                                                                                               \
    INTERNAL_CATCH_CATCH(catchAssertionHandler)                                                     \
    INTERNAL_CATCH_REACT(catchAssertionHandler)                                                     \
  } while (false)
