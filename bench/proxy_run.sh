#!/usr/bin/env bash
# bench/proxy_run.sh — the side-by-side proxy benchmark (aio-proxy, HAProxy, direct to the upstream).
#
#   bench/proxy_run.sh [--build-dir DIR] [--quick] [--pairs N] [--duration S] [--no-redis] [--idle N] [--out FILE]
#
# Installs what is missing (haproxy, redis-server, redis-tools,
# python3-matplotlib for the chart), builds aio-load (and aio-proxy, once its
# target exists) in DIR (default: build-bench, Release) and the epoll C echo
# upstream, then runs bench/proxy_bench.py: proxies pinned to CPU 0, the load
# generators to CPU 1, all on 127.0.0.1, every run bounded in time. Prints a
# markdown table (also written to DIR/bench/proxy-table.md) and draws
# DIR/bench/proxy-chart.png.
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

missing=()
for p in haproxy redis-server redis-tools python3-matplotlib; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "proxy_run: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  { $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"; } >&2 ||
    echo "proxy_run: could not install ${missing[*]}; the bench skips what needs them" >&2
fi

if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAIO_BUILD_TESTS=OFF -DAIO_BUILD_BENCH=OFF >/dev/null
fi
targets=(aio-load)
if ninja -C "$build" -t targets all 2>/dev/null | grep -q '^aio-proxy:'; then targets+=(aio-proxy); fi
ninja -C "$build" "${targets[@]}" >/dev/null
mkdir -p "$build/bench"
cc -O2 -Wall -Wextra -o "$build/bench/epoll_echo" "$root/bench/peers/epoll_echo.c"

exec /usr/bin/python3 "$root/bench/proxy_bench.py" --build-dir "$build" ${args[@]+"${args[@]}"}
