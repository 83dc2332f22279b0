# Warnings are errors in our code only; attach with target_link_libraries(t PRIVATE aio_warnings).
# Three g++ 12 false positives at -O2/-O3 (the default RelWithDebInfo build,
# which a plain `cmake --build` makes and .ci/run checks, and Release) are off:
# -Wnull-dereference fires in third-party code inlined into ours (CLI11's
# split() in servers/common/program.cpp), -Wmismatched-new-delete on
# coroutine frames that Asio's promise allocates and frees with its own
# operator new and sized delete (GCC PR 109224, still open in g++ 15), and
# -Wrestrict on `"literal" + std::string` inside libstdc++'s char_traits
# (GCC PR 105329).
add_library(aio_warnings INTERFACE)
target_compile_options(aio_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Werror -Wshadow -Wnon-virtual-dtor -Wcast-align
  -Woverloaded-virtual -Wimplicit-fallthrough
  $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>
  $<$<CXX_COMPILER_ID:GNU>:-Wno-mismatched-new-delete>
  $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>)

# Sanitizers apply to everything that is built, so that instrumented and
# uninstrumented code never mix.
if(AIO_SANITIZE)
  add_compile_options(-fsanitize=${AIO_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${AIO_SANITIZE})
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    add_compile_options(-fno-sanitize=function)
  endif()
  if(AIO_SANITIZE MATCHES "undefined")
    # UBSan's vptr check probes memory through a pipe(2); when the process is
    # out of descriptors (EMFILE, which our servers must survive and the tests
    # provoke) every check fails with a false "invalid vptr".
    add_compile_options(-fno-sanitize=vptr)
  endif()
endif()
