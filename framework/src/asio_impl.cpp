// The one translation unit that compiles Asio and its OpenSSL glue
// (ASIO_SEPARATE_COMPILATION): every other file sees declarations only.
#include <asio/impl/src.hpp>
#include <asio/ssl/impl/src.hpp>
