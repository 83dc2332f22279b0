#!/usr/bin/env bash
# bench/chat_bench.sh — chat fan-out: aio-chat against the asyncio (and uvloop) peer, side by side.
#
#   bench/chat_bench.sh [BUILD_DIR]        (default: build-chat-rel; a Release build of aio-chat and aio-load)
#
# For each server: CLIENTS clients (default 100) join one room, SENDERS of
# them (default 10) send SIZE-byte lines flat out for DURATION seconds
# (default 10) with aio-load's chat mode; every line reaches the other
# CLIENTS-1 members. Reported: lines delivered per second across all
# receivers (the peak) and, in a second run paced at half that peak, the
# delivery latency p50/p99 (send time to receipt, measured by aio-load),
# and the server's CPU time per delivered line (the figure that holds when
# other work shares the CPUs).
# The server is pinned to CPU 0 and aio-load to CPU 1 (taskset), so the
# figures compare one loop against one loop. aio-load runs with --busy-poll
# (BUSY_POLL=0 to turn it off): on one host a generator that sleeps in
# epoll_wait adds its own wake-ups to every latency it records; spinning on
# its own CPU costs the server nothing (its aio-load CPU column then reads
# ~100% by construction). Each run starts with WARMUP seconds (default 1) of
# the same load that are not counted (aio-load --warmup), then measures
# DURATION seconds; latency is from each line's scheduled send time (flat
# out, lines are counted by arrival in that window). After each row, stderr
# gets p99.9 and the TCP counters (nstat deltas) of the half-peak run. Every run is bounded by
# `timeout`. Servers with a peak below 1/20 of aio-chat's get their
# half-peak run anyway (it is cheap). Set PEERS="aio" to skip the Python
# peers. Needs taskset, /usr/bin/python3 (and python3-uvloop for the uvloop row).
# Last, bench/stall_probe.py reports how often the machine itself freezes a
# busy CPU for over 1 ms: on this VM about 1% of the time, up to ~8 ms, which
# is the same order as the 5 ms p99 goal.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-$root/build-chat-rel}
[[ $build = /* ]] || build=$root/$build
CLIENTS=${CLIENTS:-100}
SENDERS=${SENDERS:-10}
SIZE=${SIZE:-64}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-1}
BUSY_POLL=${BUSY_POLL:-1}
poll_flag=
[[ $BUSY_POLL = 1 ]] && poll_flag=--busy-poll
PEERS=${PEERS:-"aio asyncio uvloop"}
PY=/usr/bin/python3
chat=$build/servers/chat/aio-chat
load=$build/clients/load/aio-load
for f in "$chat" "$load"; do
  [[ -x $f ]] || { echo "chat_bench: $f is missing: build aio-chat and aio-load in $build first" >&2; exit 2; }
done
command -v taskset >/dev/null || { echo "chat_bench: taskset is missing (util-linux)" >&2; exit 2; }

work=$(mktemp -d)
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# start_server NAME: runs it on CPU 0, sets $port once it listens.
start_server() {
  local log=$work/$1.log
  case $1 in
    aio) taskset -c 0 "$chat" --host 127.0.0.1 --port 0 --metrics-host 127.0.0.1 --metrics-port 0 \
           --log-level info --max-outbox-bytes $((8 << 20)) 2>"$log" & ;;
    asyncio) taskset -c 0 $PY "$here/peers/asyncio_chat.py" --port 0 --max-outbox-bytes $((8 << 20)) 2>"$log" & ;;
    uvloop) taskset -c 0 $PY "$here/peers/asyncio_chat.py" --port 0 --uvloop --max-outbox-bytes $((8 << 20)) 2>"$log" & ;;
  esac
  server_pid=$!
  port=
  for _ in $(seq 100); do
    port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$log" | head -1)
    [[ -n $port ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "chat_bench: $1 did not start:" >&2
  cat "$log" >&2
  exit 1
}

stop_server() {
  kill -TERM "$server_pid" 2>/dev/null || true
  timeout 15 tail --pid="$server_pid" -f /dev/null || kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}

# run_load OUT [RATE]: one aio-load chat run on CPU 1, its JSON summary in
# OUT and its CPU seconds in OUT.cpu. A flat-out run may end with errors
# (receivers that fell behind are cut at the deadline): its figures stand.
run_load() {
  local out=$1 rate=${2:-0}
  timeout $((DURATION + WARMUP + 60)) /usr/bin/time -o "$out.cpu" -f "%U %S" taskset -c 1 "$load" chat --host 127.0.0.1 \
    --port "$port" --connections "$CLIENTS" --senders "$SENDERS" --size "$SIZE" --duration "$DURATION" \
    --rate "$rate" --threads 1 --grace 2 --warmup "$WARMUP" $poll_flag --json >"$out" || true
  [[ -s $out ]] || { echo "chat_bench: aio-load failed against $peer" >&2; exit 1; }
}

field() { $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); v=d
for k in sys.argv[2].split("."): v=v[k]
print(v)' "$1" "$2"; }

echo "chat fan-out: $CLIENTS clients in one room, $SENDERS senders, $SIZE-byte lines, ${DURATION}s per run;"
echo "server on CPU 0, aio-load on CPU 1 ($(nproc) CPUs, $(uname -r)); warm-up ${WARMUP}s; busy-poll $BUSY_POLL"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '\n| server | lines delivered/s (flat out) | server CPU | server µs CPU per delivered line | aio-load CPU | half-peak rate (lines sent/s) | delivered/s, lost | p50 / p99 (ms) |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|\n'
for peer in $PEERS; do
  start_server "$peer"
  cpu0=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
  t0=$(date +%s.%N)
  run_load "$work/$peer-peak.json"
  wall=$($PY -c "import time; print(time.time() - $t0)")
  cpu1=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
  peak=$(field "$work/$peer-peak.json" messages_delivered_per_s)
  cpu=$($PY -c "print(f'{($cpu1 - $cpu0) / $(getconf CLK_TCK) / $wall * 100:.0f}%')")
  # CPU share over the whole run (warm-up included) per line delivered per second in the measured window
  per=$($PY -c "print(f'{($cpu1 - $cpu0) / $(getconf CLK_TCK) / $wall / $peak * 1e6:.3f}')")
  lcpu=$($PY -c "u, s = map(float, open('$work/$peer-peak.json.cpu').read().split()[-2:]); print(f'{(u + s) / $wall * 100:.0f}%')")
  half=$($PY -c "print(max(1, int($peak / ($CLIENTS - 1) / 2)))")
  # Kernel TCP counters over the half-peak run (nstat with a private history
  # file, so another user's nstat does not reset ours): RTOs, receive-queue
  # drops and tail-loss probes are what a latency tail made by TCP shows.
  have_nstat=
  if command -v nstat >/dev/null; then have_nstat=1; NSTAT_HISTORY=$work/nstat.hist nstat -n >/dev/null 2>&1 || have_nstat=; fi
  run_load "$work/$peer-half.json" "$half"
  tcp=
  if [[ -n $have_nstat ]]; then
    tcp=$(NSTAT_HISTORY=$work/nstat.hist nstat -z 2>/dev/null | awk '
      $1 ~ /^(TcpExtTCPTimeouts|TcpExtTCPRcvQDrop|TcpExtTCPLossProbes|TcpRetransSegs|TcpExtTCPDSACKRecv|TcpExtPruneCalled)$/ {
        sub(/^TcpExt/, "", $1); printf "%s%s %s", sep, $1, $2; sep = ", " }') || tcp=
  fi
  hdel=$(field "$work/$peer-half.json" messages_delivered_per_s)
  hlost=$(field "$work/$peer-half.json" messages_lost)
  p50=$($PY -c "print(f'{$(field "$work/$peer-half.json" latency_us.p50) / 1000:.2f}')")
  p99=$($PY -c "print(f'{$(field "$work/$peer-half.json" latency_us.p99) / 1000:.2f}')")
  printf '| %s | %.0f | %s | %s | %s | %s | %.0f, %s | %s / %s |\n' "$peer" "$peak" "$cpu" "$per" "$lcpu" "$half" "$hdel" "$hlost" \
    "$p50" "$p99"
  stop_server
  echo "  ($peer done; load average $(cut -d' ' -f1-3 /proc/loadavg); p99.9 at half peak $($PY -c "print(f'{$(field "$work/$peer-half.json" latency_us.p999) / 1000:.2f}')") ms;
    TCP counters over the half-peak run: ${tcp:-n/a})" >&2
  cp "$work/$peer-peak.json" "$work/$peer-half.json" "${BENCH_OUT:-$work}/" 2>/dev/null || true
done

# The floor under every latency tail above: how often this machine takes a
# busy CPU away for more than 1 ms (both CPUs spinning at once, as in the
# runs). On a VM, whatever the hypervisor takes shows up here.
echo "stall floor (bench/stall_probe.py, both CPUs busy, 5 s):" >&2
$PY "$here/stall_probe.py" 5 >&2
