#!/usr/bin/env bash
# Installs the built aio into a temporary prefix and builds tests/package
# against it with find_package(aio): proves the installed package works.
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
# The consumer is built by the compiler that built the library.
extra=(-DCMAKE_CXX_COMPILER="$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")")
[ -n "${AIO_SANITIZE_FLAGS:-}" ] && extra+=(-DCMAKE_CXX_FLAGS="$AIO_SANITIZE_FLAGS" -DCMAKE_EXE_LINKER_FLAGS="$AIO_SANITIZE_FLAGS")
cmake -S "$src/tests/package" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" "${extra[@]}" >/dev/null
cmake --build "$work/build" >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
out=$("$work/build/consumer")
[ "$out" = 42 ] || { echo "consumer printed '$out', expected 42" >&2; exit 1; }
echo "installed package works: consumer printed $out"
