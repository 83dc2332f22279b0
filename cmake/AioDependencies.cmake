# Third-party dependencies, all from Debian packages. Their headers are SYSTEM
# includes so that our -Werror never fires on code we do not own.
find_package(Threads REQUIRED)
find_package(OpenSSL REQUIRED)

# Debian's libasio-dev ships no CMake config: find the header and wrap it.
find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
add_library(aio_asio INTERFACE)
target_include_directories(aio_asio SYSTEM INTERFACE ${ASIO_INCLUDE_DIR})
# ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE: freed blocks (coroutine frames, handler
# ops) Asio keeps per purpose per thread (default 2). aio's hot paths free
# more than two between reuses, so the default cache misses and every round
# trip hits malloc (docs/performance-streams.md). It changes the layout of
# asio::detail::thread_info_base: every TU, consumers included, must see the
# same value (aioConfig.cmake.in repeats it).
target_compile_definitions(aio_asio INTERFACE
  ASIO_STANDALONE ASIO_SEPARATE_COMPILATION ASIO_NO_DEPRECATED ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE=8
  $<$<CXX_COMPILER_ID:Clang>:ASIO_HAS_CO_AWAIT=1 ASIO_HAS_STD_COROUTINE=1>)
target_link_libraries(aio_asio INTERFACE Threads::Threads OpenSSL::SSL OpenSSL::Crypto)

find_package(prometheus-cpp CONFIG REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 CONFIG QUIET)
if(NOT TARGET CLI11::CLI11)
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
endif()
