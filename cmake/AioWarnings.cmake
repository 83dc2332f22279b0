# Warnings are errors in our code only; attach with target_link_libraries(t PRIVATE aio_warnings).
add_library(aio_warnings INTERFACE)
target_compile_options(aio_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Werror -Wshadow -Wnon-virtual-dtor -Wcast-align
  -Woverloaded-virtual -Wnull-dereference -Wimplicit-fallthrough
  $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>)

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
