#!/usr/bin/env bash
# bench/run.sh — the side-by-side echo benchmark (aio-echo, Tokio, asyncio, uvloop, epoll C).
#
#   bench/run.sh [--build-dir DIR] [--quick] [--duration S] [--repeat N] [--out FILE]
#
# Builds what it needs in DIR (default: build-bench, Release; the Tokio peer
# with cargo and Debian's packaged crates, offline, when they are installed),
# then runs bench/echo_bench.py: every server pinned to CPU 0, aio-load pinned
# to CPU 1, all on 127.0.0.1, every run bounded in time. Prints a markdown
# table (also written to DIR/bench/echo-table.md) with each figure as a ratio
# to the epoll server. `./dev bench` calls this after its own Release build.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-bench"
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) build="$2"; shift 2 ;;
    --build-dir=*) build="${1#*=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
case "$build" in /*) ;; *) build="$root/$build" ;; esac

if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAIO_BUILD_TESTS=OFF -DAIO_BUILD_BENCH=OFF >/dev/null
fi
ninja -C "$build" aio-echo aio-load >/dev/null
mkdir -p "$build/bench"
cc -O2 -Wall -Wextra -o "$build/bench/epoll_echo" "$root/bench/peers/epoll_echo.c"

# Debian's cargo first: its packaged crates are tested with its rustc.
cargo=/usr/bin/cargo
[[ -x "$cargo" ]] || cargo="$(command -v cargo || true)"
if [[ -n "$cargo" ]] && compgen -G "/usr/share/cargo/registry/tokio-1.*" >/dev/null; then
  (cd "$root/bench/peers/tokio_echo" &&
    CARGO_TARGET_DIR="$build/bench/tokio-target" nice -n 10 "$cargo" build --release --offline --quiet)
  args+=(--tokio "$build/bench/tokio-target/release/tokio-echo")
else
  echo "run.sh: no cargo or no librust-tokio-dev, so no Tokio column (./dev bench installs them)" >&2
fi

exec /usr/bin/python3 "$root/bench/echo_bench.py" --build-dir "$build" ${args[@]+"${args[@]}"}
