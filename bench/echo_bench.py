#!/usr/bin/python3
"""echo_bench.py - aio-echo against Tokio, asyncio, uvloop and a C epoll echo, side by side.

Run through bench/run.sh, which builds the programs first. Each server runs
pinned to CPU 0, the load generator (aio-load) pinned to CPU 1; both on
127.0.0.1. Cells: connections x message sizes (echo round trips, one in
flight per connection), bulk one-way throughput, connect (16 clients, each
connecting, making one 64-byte round trip and closing, over and over: the
server's CPU per connection), and 10,000 idle connections. Each cell runs
--repeat times (9) for aio-echo, the epoll server, the control and Tokio
(bench/peers/tokio_echo, current-thread runtime; only with --tokio, which
bench/run.sh passes when cargo could build it), --peer-repeat times (3) for
the Python servers, interleaved across servers; the table shows the median,
the spread ((max - min) / median) and the ratio to the epoll server. The
ratios are paired: within one repetition aio-echo and the epoll server run
back to back (their order alternating between repetitions; Tokio runs one
server further off, after the control), each repetition gives one ratio,
and the table shows the median of those. This VM's speed drifts
by 10-30% over minutes (other tenants); a ratio of two runs seconds apart
is much steadier than a ratio of two medians, each over minutes. Even so
one pair of 2-second runs moves a ratio by about 9% (standard deviation),
so the CPU ratio comes with a distribution-free 95% confidence interval
for its median (order statistics; from 6 runs on): a cell whose interval
straddles a goal's line is not decided by one bench run. Server CPU is the
server's threads' run time from /proc/PID/task/*/schedstat (nanoseconds)
over the measured window: from aio-load's "measuring" mark to its
"measured" mark at the deadline, before it closes its connections.

In the connect cell the client closes first, so the TIME_WAIT sockets are
aio-load's and its ephemeral ports, reused only once those are a second or
so old, bound the connection rate before any server does: the cell's figure
is the server's CPU per connection, not connections/s.

The control row "epoll-again" is a second instance of the same epoll
server, run beside the first the way aio-echo is, and paired with it the
same way: its "vs epoll" ratios would be 1.00 on a quiet machine, so they
show how far one run of this machine moves a ratio by itself (an A/A test).
A cell where aio's ratio and the control's differ by less than the
control's distance from 1.00 is within this run's noise.
Only the processes started here are ever signalled.
"""
import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

from benchlib import (Proc, Server, cpu_model, cpu_per_gb, cpu_per_rt_us, cpu_seconds, finite, fmt, last_json, paired, pin,
                      rss_bytes)

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "peers")
PYTHON = "/usr/bin/python3"
CONTROL = "epoll-again"  # the A/A control: the reference server once more (see the docstring)
PYTHON_PEERS = ("asyncio", "uvloop")  # run --peer-repeat times: their ratios are nowhere near the goals' lines
CONNECT_CLIENTS = 16  # the connect cell's concurrent clients


def echo_server(name, argv):
    """A server on CPU 0 that prints the port it listens on; ready once it has."""
    return Server(name, argv, 0, ready_line=r"listening on \S+:(\d+)", connect_check=False)


def servers(build, tokio=None):
    tokio_peer = [echo_server("tokio", [tokio, "--port", "0"])] if tokio else []
    return [
        echo_server("aio", [os.path.join(build, "servers/echo/aio-echo"), "--host", "127.0.0.1", "--port", "0",
                            "--metrics-port", "0", "--log-level", "info"]),
        echo_server("epoll", [os.path.join(build, "bench/epoll_echo"), "0"]),
        echo_server(CONTROL, [os.path.join(build, "bench/epoll_echo"), "0"]),
        *tokio_peer,
        echo_server("asyncio", [PYTHON, os.path.join(PEERS, "asyncio_echo.py"), "--port", "0"]),
        echo_server("uvloop", [PYTHON, os.path.join(PEERS, "asyncio_echo.py"), "--port", "0", "--uvloop"]),
    ]


def run_load(build, server, mode, args, duration):
    """One aio-load run against `server`; its JSON plus the server's CPU over the window."""
    argv = pin(1, [os.path.join(build, "clients/load/aio-load"), mode, "--port", str(server.port),
                   "--duration", str(duration), "--json", "--mark-start", *args])
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = Proc(argv, stdout=subprocess.PIPE)
    marked = load.wait_line(r"aio-load: measuring", 60)
    cpu0 = cpu_seconds(server.pid)
    rss = rss_bytes(server.pid)
    # The window closes at aio-load's deadline mark, before it closes its
    # connections: tearing down 1,000 connections is not a round trip.
    ended = load.wait_line(r"aio-load: measured", duration + 60) if marked else None
    cpu1 = cpu_seconds(server.pid) if ended else None
    out = load.output(60)
    if cpu1 is None:
        cpu1 = cpu_seconds(server.pid)
    load.t.join(2)
    children1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # aio-load has been reaped: its CPU
    load_cpu = (children1.ru_utime - children0.ru_utime) + (children1.ru_stime - children0.ru_stime)
    result = last_json(out, {"errors": 1, "round_trips": 0, "round_trips_per_s": 0, "mb_per_s": 0})
    result["server_cpu_s"] = cpu1 - cpu0 if marked else float("nan")
    result["server_rss_at_start"] = rss
    result["load_cpu_s"] = load_cpu  # the whole aio-load run, connecting included
    result["exit"] = load.p.returncode
    return result


def summarize(values):
    values = finite(values)
    if not values:
        return float("nan"), float("nan")
    med = statistics.median(values)
    spread = (max(values) - min(values)) / med if med else 0.0
    return med, spread


def ratio(v, ref):
    if v != v or ref != ref or not ref:
        return "n/a"
    return f"{v / ref:.2f}×"


def paired_ratio(runs, ref_runs, value):
    """The median of the paired ratios."""
    ratios = paired(runs, ref_runs, value)
    return f"{statistics.median(ratios):.2f}×" if ratios else "n/a"


def median_ci(values, confidence=0.95):
    """A distribution-free confidence interval for the median: the order
    statistics x(k) and x(n+1-k) with the largest k whose coverage,
    1 - 2 P(Binomial(n, 1/2) < k), is still at least `confidence`. None for
    fewer than 6 values, which cannot reach 95% (5 values: min to max, 94%)."""
    xs = sorted(values)
    n = len(xs)
    k = 0
    below = 0.0  # P(Binomial(n, 1/2) < k + 1)
    for j in range(n // 2):
        below += math.comb(n, j) / 2 ** n
        if 1 - 2 * below < confidence:
            break
        k = j + 1
    if k == 0:
        return None
    return xs[k - 1], xs[n - k]


def ratio_with_ci(runs, ref_runs, value):
    """The median paired ratio and, when the runs allow, its 95% interval."""
    ratios = paired(runs, ref_runs, value)
    if not ratios:
        return "n/a"
    text = f"{statistics.median(ratios):.2f}×"
    ci = median_ci(ratios)
    return f"{text} ({ci[0]:.2f}–{ci[1]:.2f})" if ci else text


def idle_cell(build, make, count, hold):
    """RSS per idle connection: a fresh server, one warm-up round trip, then `count` idle clients."""
    rows = {}
    for srv in make():
        srv.start()
        try:
            warm = run_load(build, srv, "echo", ["--connections", "1"], 0.5)
            time.sleep(0.3)
            before = rss_bytes(srv.pid)
            argv = pin(1, [os.path.join(build, "clients/load/aio-load"), "idle", "--port", str(srv.port),
                           "--connections", str(count), "--duration", str(hold), "--json", "--mark-start",
                           "--connect-timeout", "60"])
            load = Proc(argv, stdout=subprocess.PIPE)
            load.wait_line(r"aio-load: measuring", 90)
            time.sleep(min(1.0, hold / 2))
            after = rss_bytes(srv.pid)
            j = last_json(load.output(hold + 90), None)
            if j is None:
                raise RuntimeError(f"aio-load idle against {srv.name} gave no JSON: {load.text()}")
            rows[srv.name] = {"rss_before": before, "rss_after": after, "open": j["open_connections"],
                              "per_conn": (after - before) / max(1, j["open_connections"]),
                              "errors": j["errors"] + warm.get("errors", 0)}
        finally:
            srv.stop()
    return rows


def main():
    ap = argparse.ArgumentParser(description="side-by-side echo benchmark")
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--quick", action="store_true", help="a few cells, 2 s each, one run: a smoke test")
    ap.add_argument("--duration", type=float, default=2.0, help="seconds per run")
    ap.add_argument("--repeat", type=int, default=9, help="runs per cell of aio-echo, the epoll server, the control and Tokio")
    ap.add_argument("--peer-repeat", type=int, default=3, help="runs per cell of the Python servers (at most --repeat)")
    ap.add_argument("--idle", type=int, default=10000, help="idle connections (0: skip)")
    ap.add_argument("--tokio", help="the tokio-echo binary (bench/run.sh builds it); without it, no Tokio column")
    ap.add_argument("--out", help="also write the markdown here")
    ap.add_argument("--servers", help="comma-separated subset, e.g. aio,epoll,epoll-again (epoll, the reference, is always run)")
    ap.add_argument("--conns", help="comma-separated connection counts (default 1,64,1000)")
    ap.add_argument("--sizes", help="comma-separated message sizes (default 64,1024,16384)")
    args = ap.parse_args()
    build = os.path.abspath(args.build_dir)

    conns, sizes = [1, 64, 1000], [64, 1024, 16384]
    duration, repeat, idle = args.duration, args.repeat, args.idle
    if args.quick:
        conns, sizes, duration, repeat, idle = [1, 64], [64, 16384], 2.0, 1, min(idle, 1000)
    if args.conns:
        conns = [int(x) for x in args.conns.split(",")]
    if args.sizes:
        sizes = [int(x) for x in args.sizes.split(",")]
    cells = [(c, s) for c in conns for s in sizes]

    load_before = os.getloadavg()
    wanted = set(args.servers.split(",")) | {"epoll"} if args.servers else None

    def chosen():
        return [srv for srv in servers(build, args.tokio) if wanted is None or srv.name in wanted]

    all_servers = chosen()
    results = {}  # (cell, server) -> list of runs
    t_start = time.monotonic()
    try:
        for srv in all_servers:
            srv.start()
        for rep in range(repeat):
            # aio and epoll adjacent, in alternating order (see the docstring).
            active = [srv for srv in all_servers if srv.name not in PYTHON_PEERS or rep < args.peer_repeat]
            order = active if rep % 2 == 0 else list(reversed(active))
            for c, s in cells:
                for srv in order:
                    r = run_load(build, srv, "echo", ["--connections", str(c), "--size", str(s)], duration)
                    results.setdefault((f"{c}×{s}", srv.name), []).append(r)
                    print(f"[{time.monotonic() - t_start:6.0f}s] rep {rep + 1} {c:>4} conns × {s:>5} B  "
                          f"{srv.name:8} {r['round_trips_per_s']:>10,.0f} rt/s  cpu {r['server_cpu_s']:.2f}s  "
                          f"errors {r.get('errors')}", file=sys.stderr, flush=True)
            for srv in order:
                r = run_load(build, srv, "bulk", ["--connections", "1", "--size", "65536"], duration)
                results.setdefault(("bulk", srv.name), []).append(r)
                print(f"[{time.monotonic() - t_start:6.0f}s] rep {rep + 1} bulk {srv.name:8} "
                      f"{r['mb_per_s']:>8,.1f} MB/s  cpu {r['server_cpu_s']:.2f}s", file=sys.stderr, flush=True)
            for srv in order:
                r = run_load(build, srv, "connect", ["--connections", str(CONNECT_CLIENTS), "--size", "64"], duration)
                results.setdefault(("connect", srv.name), []).append(r)
                print(f"[{time.monotonic() - t_start:6.0f}s] rep {rep + 1} connect {srv.name:8} "
                      f"{r['round_trips_per_s']:>8,.0f} conn/s  cpu {r['server_cpu_s']:.2f}s  "
                      f"errors {r.get('errors')}", file=sys.stderr, flush=True)
    finally:
        for srv in all_servers:
            srv.stop()
    idle_rows = idle_cell(build, lambda: [srv for srv in chosen() if srv.name != CONTROL], idle, 3.0) if idle else {}

    names = [s.name for s in all_servers]
    lines = []
    lines.append(f"Machine: {platform.node() or 'host'}, {cpu_model()}, {os.cpu_count()} CPUs, "
                 f"Linux {platform.release()}; server on CPU 0, aio-load on CPU 1; "
                 f"{duration:g} s per run, {repeat} run(s) per cell ({min(repeat, args.peer_repeat)} for the Python servers), "
                 f"median (spread = (max-min)/median); "
                 f"\"vs epoll\" is the median of the ratios within each repetition (paired runs). "
                 f"Load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after "
                 f"(other tenants' work on the same 2 CPUs shows there).")
    lines.append("")
    lines.append("| cell (conns × bytes) | server | round trips/s | spread | vs epoll | server CPU µs/rt | vs epoll (95% CI) | p99 µs |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|")
    for c, s in cells:
        key = f"{c}×{s}"
        ref_runs = results[(key, "epoll")]
        for n in names:
            runs = results[(key, n)]
            rt, spread = summarize([r["round_trips_per_s"] for r in runs])
            cpu, _ = summarize([cpu_per_rt(r) for r in runs])
            p99, _ = summarize([r.get("latency_us", {}).get("p99", float("nan")) for r in runs])
            errs = sum(r.get("errors", 0) + r.get("mismatches", 0) for r in runs)
            lines.append(f"| {key} | {n} | {fmt(rt)} | {spread * 100:.0f}% | "
                         f"{paired_ratio(runs, ref_runs, lambda r: r['round_trips_per_s'])} | "
                         f"{fmt(cpu, 2)} | {ratio_with_ci(runs, ref_runs, cpu_per_rt)} | "
                         f"{fmt(p99)}{' (errors: %d)' % errs if errs else ''} |")
    lines.append("")
    lines.append("| bulk (1 conn, 64 KiB writes) | MB/s echoed | spread | vs epoll | server CPU s per GB | vs epoll |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    ref_runs = results[("bulk", "epoll")]
    for n in names:
        runs = results[("bulk", n)]
        mb, spread = summarize([r["mb_per_s"] for r in runs])
        cpu, _ = summarize([cpu_per_server_gb(r) for r in runs])
        lines.append(f"| {n} | {fmt(mb, 1)} | {spread * 100:.0f}% | {paired_ratio(runs, ref_runs, lambda r: r['mb_per_s'])} | "
                     f"{fmt(cpu, 2)} | {paired_ratio(runs, ref_runs, cpu_per_server_gb)} |")
    lines.append("")
    lines.append(f"| connect ({CONNECT_CLIENTS} clients: connect, 64 B round trip, close) | connections/s | spread | "
                 f"vs epoll | server CPU µs/conn | vs epoll (95% CI) | p99 µs |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    ref_runs = results[("connect", "epoll")]
    for n in names:
        runs = results[("connect", n)]
        rate, spread = summarize([r["round_trips_per_s"] for r in runs])
        cpu, _ = summarize([cpu_per_rt(r) for r in runs])  # one round trip per connection
        p99, _ = summarize([r.get("latency_us", {}).get("p99", float("nan")) for r in runs])
        errs = sum(r.get("errors", 0) + r.get("mismatches", 0) for r in runs)
        lines.append(f"| {n} | {fmt(rate)} | {spread * 100:.0f}% | "
                     f"{paired_ratio(runs, ref_runs, lambda r: r['round_trips_per_s'])} | "
                     f"{fmt(cpu, 2)} | {ratio_with_ci(runs, ref_runs, cpu_per_rt)} | "
                     f"{fmt(p99)}{' (errors: %d)' % errs if errs else ''} |")
    if idle_rows:
        lines.append("")
        lines.append(f"| {idle:,} idle connections | open | server RSS before | after | bytes per connection | vs epoll |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        ref = idle_rows.get("epoll", {}).get("per_conn", float("nan"))
        for n in names:
            if n not in idle_rows:
                continue
            row = idle_rows[n]
            lines.append(f"| {n} | {row['open']:,} | {row['rss_before'] / 2**20:.1f} MiB | "
                         f"{row['rss_after'] / 2**20:.1f} MiB | {row['per_conn']:,.0f} | {ratio(row['per_conn'], ref)} |")
    table = "\n".join(lines) + "\n"
    print(table)
    out = args.out or os.path.join(build, "bench", "echo-table.md")
    with open(out, "w") as f:
        f.write(table)
    with open(os.path.join(build, "bench", "echo-results.json"), "w") as f:
        json.dump({"cells": {f"{k[0]}|{k[1]}": v for k, v in results.items()}, "idle": idle_rows}, f, indent=1)
    bad = sum(r.get("mismatches", 0) for runs in results.values() for r in runs)
    return 1 if bad else 0


def cpu_per_rt(r):
    return cpu_per_rt_us(r, "server_cpu_s")


def cpu_per_server_gb(r):
    return cpu_per_gb(r, "server_cpu_s")


if __name__ == "__main__":
    sys.exit(main())
