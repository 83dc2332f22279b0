#!/usr/bin/python3
"""proxy_bench.py - aio-proxy against HAProxy, side by side, and both against no proxy.

Run through bench/proxy_run.sh, which builds the programs first. Three
columns in one run: "direct" (the client talks to the upstream itself),
"haproxy" (Debian's haproxy, mode tcp, nbthread 1, from a config written
here) and "aio" (aio-proxy), both proxies in front of the same upstream
process. The upstream is the plain epoll C echo (bench/peers/epoll_echo.c)
for aio-load's echo and bulk modes and a redis-server for redis-benchmark.

Placement on this 2-CPU machine: the proxies and the upstream on CPU 0, the
load generator (aio-load, redis-benchmark) alone on CPU 1. The direct
column talks to the same upstream process on the same CPU. At 64 and more
connections aio-load by itself keeps CPU 1 nearly busy, so an upstream on
CPU 1 would cap the proxied throughput at the load side, where neither
proxy's speed shows; on CPU 0 the proxy and the upstream share one CPU,
which makes throughput through a proxy the proxy's figure, diluted by the
upstream's fixed share (the CPU per round trip is the proxy's own either
way). --upstream-cpu 1 puts the upstream beside the load generator instead
(the direct column then gets a second upstream instance on CPU 0),
"any" leaves it unpinned. Each run's "busy" row gives the measured
process's CPU time over the window divided by the window, and how busy
CPUs 0 and 1 were (every tenant's work, from /proc/stat): the CPU near 100%
is what bounds that figure.

Cells: ping-pong echo round trips (one 1 KiB message in flight per
connection) at 1, 64 and 1,000 connections; bulk one-way MB/s over one
connection; redis-benchmark -t ping,set,get with and without -P 16; idle
memory per proxied pair (client and upstream connection) from RSS before
and after --idle idle client connections through a fresh proxy.

Pairing: this VM moves single figures by 10-60% over minutes, so every
repetition runs each cell once for every column back to back, HAProxy and
aio-proxy adjacent, their order alternating between repetitions; each
repetition gives one aio/HAProxy ratio and one ratio to direct per proxy,
and the table shows the median of those ratios with their min-max range
(with 5 pairs the range is a 94% confidence interval for the median).
CPU is a process's threads' run time from /proc/PID/task/*/schedstat over
the window between aio-load's "measuring" and "measured" marks (for
redis-benchmark: over the whole invocation). Only processes started here
are ever signalled; every wait is bounded.
"""
import argparse
import json
import os
import shlex
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import (Proc, Server, cpu_model, cpu_per_gb, cpu_per_rt_us, cpu_seconds, fmt, free_port, last_json, med,
                      paired, pin, rss_bytes, stop_all)

PROXIES = ("haproxy", "aio")
COLUMNS = ("direct",) + PROXIES
LABEL = {"direct": "direct", "haproxy": "HAProxy", "aio": "aio-proxy"}
REDIS_TESTS = ("PING_INLINE", "PING_MBULK", "SET", "GET")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def cpu_times():
    """Per-CPU (busy, total) jiffies from /proc/stat: every tenant's work, not only ours."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            m = re.match(r"cpu(\d+) (.*)", line)
            if m:
                v = [int(x) for x in m.group(2).split()]
                idle = v[3] + (v[4] if len(v) > 4 else 0)
                out[int(m.group(1))] = (sum(v[:8]) - idle, sum(v[:8]))
    return out


def cpu_util(a, b):
    """Percent busy of CPUs 0 and 1 between two cpu_times() samples."""
    res = []
    for c in (0, 1):
        if c in a and c in b and b[c][1] > a[c][1]:
            res.append((b[c][0] - a[c][0]) / (b[c][1] - a[c][1]) * 100)
        else:
            res.append(float("nan"))
    return res


def redis_ping(s):
    s.sendall(b"PING\r\n")
    return s.recv(64).startswith(b"+PONG")


def haproxy_config(listen_port, upstream_port, maxconn, splice):
    return f"""# written by bench/proxy_bench.py: one TCP frontend, one server, one thread, no logs, no stats
global
    nbthread 1
    maxconn {maxconn}

defaults
    mode tcp
    maxconn {maxconn}
    timeout connect 5s
    timeout client 300s
    timeout server 300s
{"    option splice-auto" + chr(10) if splice else ""}
frontend bench
    bind 127.0.0.1:{listen_port}
    default_backend upstream

backend upstream
    server up1 127.0.0.1:{upstream_port}
"""


def make_haproxy(name, tmp, upstream_port, maxconn, splice, probe=None):
    port = free_port()
    cfg = os.path.join(tmp, f"{name}.cfg")
    with open(cfg, "w") as f:
        f.write(haproxy_config(port, upstream_port, maxconn, splice))
    return Server(name, ["haproxy", "-db", "-f", cfg], 0, port=port, probe=probe)


AIO_EXTRA_ARGS = []  # --aio-args


def make_aio(name, binary, upstream_port, log_level, probe=None):
    # "listening on" is an info line; the per-connection lines are debug.
    return Server(name, [binary, "--listen", "127.0.0.1:0", "--upstream", f"127.0.0.1:{upstream_port}",
                         "--metrics-port", "0", "--threads", "1", "--log-level", log_level, *AIO_EXTRA_ARGS],
                  0, ready_line=r"listening on \S+:(\d+)", probe=probe)


def make_redis(name, cpu, tmp):
    port = free_port()
    wd = os.path.join(tmp, name)
    os.makedirs(wd, exist_ok=True)
    return Server(name, ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                         "--appendonly", "no", "--daemonize", "no", "--dir", wd, "--logfile", "",
                         "--protected-mode", "no"], cpu, port=port, probe=redis_ping)


# --- aio-load runs ----------------------------------------------------------------------------

def run_load(aio_load, target, mode, args, duration):
    """One aio-load run against `target`; its JSON plus target's CPU over the marked window."""
    argv = pin(1, [aio_load, mode, "--port", str(target.port), "--duration", str(duration), "--json",
                   "--mark-start", *args])
    load = Proc(argv, stdout=subprocess.PIPE)
    marked = load.wait_line(r"aio-load: measuring", 90)
    cpu0 = cpu_seconds(target.pid) if marked else None
    mach0 = cpu_times()
    ended = load.wait_line(r"aio-load: measured", duration + 60) if marked else None
    cpu1 = cpu_seconds(target.pid) if ended else None
    mach1 = cpu_times()
    out = load.output(90)
    load.t.join(2)
    result = last_json(out, None)
    if result is None:
        result = {"errors": 1, "round_trips": 0, "round_trips_per_s": 0, "mb_per_s": 0, "bytes_received": 0}
        log(f"  aio-load gave no JSON (exit {load.p.returncode}): {load.text()}")
    ok = marked and ended and cpu1 is not None
    window = (ended[1] - marked[1]) if ok else float("nan")
    result["cpu_s"] = (cpu1 - cpu0) if ok else float("nan")
    result["window_s"] = window
    result["cpu0_busy"], result["cpu1_busy"] = cpu_util(mach0, mach1)
    result["exit"] = load.p.returncode
    return result


def busy(r):
    if "busy" in r:
        return r["busy"]
    w = r.get("window_s", float("nan"))
    return r["cpu_s"] / w * 100 if w == w and w > 0 else float("nan")


def p99(r):
    return r.get("latency_us", {}).get("p99", float("nan"))


# --- redis-benchmark runs ---------------------------------------------------------------------

def run_redis(target, n, pipeline, timeout):
    argv = pin(1, ["redis-benchmark", "-h", "127.0.0.1", "-p", str(target.port), "-q", "-n", str(n),
                   "-t", "ping,set,get", "--csv"] + (["-P", str(pipeline)] if pipeline > 1 else []))
    cpu0 = cpu_seconds(target.pid)
    mach0 = cpu_times()
    t0 = time.monotonic()
    try:
        cp = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        out, code = cp.stdout.decode(errors="replace"), cp.returncode
    except subprocess.TimeoutExpired as e:
        out, code = (e.stdout or b"").decode(errors="replace"), "timeout"
    wall = time.monotonic() - t0
    cpu = cpu_seconds(target.pid) - cpu0
    cpu0_busy, cpu1_busy = cpu_util(mach0, cpu_times())
    rps, p99s = {}, {}
    for line in out.splitlines():
        cols = [c.strip('"') for c in line.strip().split(",")]
        if len(cols) >= 7 and cols[0] in REDIS_TESTS:
            try:
                rps[cols[0]] = float(cols[1])
                p99s[cols[0]] = float(cols[6])
            except ValueError:
                pass
    if len(rps) != len(REDIS_TESTS):
        log(f"  redis-benchmark through {target.name}: exit {code}, incomplete output: {out[-300:]!r}")
    requests = n * len(rps)
    return {"rps": rps, "p99_ms": p99s, "cpu_s": cpu, "wall_s": wall, "requests": requests,
            "cpu_per_req_us": cpu / requests * 1e6 if requests else float("nan"),
            "busy": cpu / wall * 100 if wall else float("nan"), "cpu0_busy": cpu0_busy, "cpu1_busy": cpu1_busy,
            "exit": code}


# --- idle memory ------------------------------------------------------------------------------

def idle_pairs(aio_load, target, count, hold):
    """RSS per proxied pair: one warm-up round trip, then `count` idle clients held `hold` s."""
    run_load(aio_load, target, "echo", ["--connections", "1", "--size", "1024"], 0.3)
    time.sleep(0.5)
    before = rss_bytes(target.pid)
    argv = pin(1, [aio_load, "idle", "--port", str(target.port), "--connections", str(count),
                   "--duration", str(hold), "--json", "--mark-start", "--connect-timeout", "60"])
    load = Proc(argv, stdout=subprocess.PIPE)
    marked = load.wait_line(r"aio-load: measuring", 90)
    time.sleep(min(1.0, hold / 2))
    after = rss_bytes(target.pid)
    j = last_json(load.output(hold + 90), {"open_connections": 0, "errors": 1})
    opened = j.get("open_connections", 0) if marked else 0
    return {"rss_before": before, "rss_after": after, "open": opened, "errors": j.get("errors", 0),
            "per_pair": (after - before) / opened if opened else float("nan")}


# --- statistics and formatting ----------------------------------------------------------------

def ratio_text(ratios, with_range):
    if not ratios:
        return "n/a"
    m = statistics.median(ratios)
    if with_range and len(ratios) > 1:
        return f"{m:.2f}× ({min(ratios):.2f}–{max(ratios):.2f})"
    return f"{m:.2f}×"


def interrupted(*_):
    raise KeyboardInterrupt()


def main():
    ap = argparse.ArgumentParser(description="aio-proxy vs HAProxy vs direct, side by side")
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--quick", action="store_true", help="1 pair, 1 s runs, small redis runs: a smoke test")
    ap.add_argument("--pairs", type=int, help="repetitions of every cell (HAProxy/aio-proxy pairs; default 5, --quick 1)")
    ap.add_argument("--duration", type=float, help="seconds per aio-load run (default 2, --quick 1)")
    ap.add_argument("--conns", default="1,64,1000", help="connection counts of the echo cells")
    ap.add_argument("--size", type=int, default=1024, help="bytes per echo message")
    ap.add_argument("--redis-n", type=int, help="redis-benchmark -n without -P (default 100,000, --quick 20,000)")
    ap.add_argument("--redis-n-pipelined", type=int,
                    help="redis-benchmark -n with -P 16 (default 1,000,000, --quick 200,000)")
    ap.add_argument("--no-redis", action="store_true", help="skip redis-benchmark")
    ap.add_argument("--no-bulk", action="store_true", help="skip the bulk cell")
    ap.add_argument("--idle", type=int, help="idle proxied pairs for the memory figure (default 2000, --quick 500; 0: skip)")
    ap.add_argument("--upstream-cpu", default="0", choices=["0", "1", "any"],
                    help="CPU of the upstream behind the proxies (default 0, beside them; 1: beside the load generator)")
    ap.add_argument("--aio-proxy", help="aio-proxy binary (default BUILD/servers/proxy/aio-proxy)")
    ap.add_argument("--aio-log-level", default="info", help="aio-proxy --log-level (info prints 'listening on')")
    ap.add_argument("--haproxy-splice", action="store_true", help="add 'option splice-auto' to HAProxy's config")
    ap.add_argument("--aio-args", default="", help="more aio-proxy flags, as one string (e.g. '--splice on')")
    ap.add_argument("--no-chart", action="store_true")
    ap.add_argument("--out", help="also write the markdown here")
    args = ap.parse_args()
    AIO_EXTRA_ARGS.extend(shlex.split(args.aio_args))
    build = os.path.abspath(args.build_dir)
    outdir = os.path.join(build, "bench")
    os.makedirs(outdir, exist_ok=True)

    # Defaults, --quick's, then whatever was given explicitly.
    quick = args.quick
    pairs = args.pairs if args.pairs is not None else (1 if quick else 5)
    duration = args.duration if args.duration is not None else (1.0 if quick else 2.0)
    redis_n = args.redis_n if args.redis_n is not None else (20000 if quick else 100000)
    redis_np = args.redis_n_pipelined if args.redis_n_pipelined is not None else (200000 if quick else 1000000)
    idle = args.idle if args.idle is not None else (500 if quick else 2000)
    conns = [int(x) for x in args.conns.split(",") if x]
    size = args.size
    upstream_cpu = None if args.upstream_cpu == "any" else int(args.upstream_cpu)

    aio_load = os.path.join(build, "clients/load/aio-load")
    epoll = os.path.join(build, "bench/epoll_echo")
    for path in (aio_load, epoll):
        if not os.access(path, os.X_OK):
            log(f"proxy_bench: {path} is missing (bench/proxy_run.sh builds it)")
            return 2
    if not shutil.which("haproxy"):
        log("proxy_bench: haproxy is not installed (apt-get install haproxy)")
        return 2
    aio_bin = args.aio_proxy or os.path.join(build, "servers/proxy/aio-proxy")
    columns = list(COLUMNS)
    if not os.access(aio_bin, os.X_OK):
        log(f"proxy_bench: {aio_bin} is not built yet: the aio-proxy column is skipped "
            f"(build it with: ninja -C {build} aio-proxy)")
        columns.remove("aio")
    proxies = [c for c in columns if c in PROXIES]
    do_redis = not args.no_redis
    if do_redis and not (shutil.which("redis-server") and shutil.which("redis-benchmark")):
        log("proxy_bench: redis-server/redis-benchmark not installed: the redis cells are skipped "
            "(apt-get install redis-server redis-tools)")
        do_redis = False

    # 2,000 idle pairs are 4,000+ descriptors in a proxy: lift the soft limit for our children.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    maxconn = max(4096, 2 * max(conns + [idle]) + 1024)

    # Stop what we started on SIGTERM too, not only on Ctrl-C.
    signal.signal(signal.SIGTERM, interrupted)

    tmp = tempfile.mkdtemp(prefix="proxy-bench-")
    started = []

    def start(server):
        server.start()
        started.append(server)
        return server

    echo_runs = {}   # (cell, column) -> [aio-load result per repetition]
    redis_runs = {}  # (pipeline, column) -> [redis result per repetition]
    idle_rows = {}
    load_before = os.getloadavg()
    t0 = time.monotonic()
    status = 0
    try:
        up_behind = start(Server("upstream", [epoll, "0"], upstream_cpu, ready_line=r"listening on \S+:(\d+)"))
        up_direct = up_behind if upstream_cpu == 0 else start(
            Server("upstream-direct", [epoll, "0"], 0, ready_line=r"listening on \S+:(\d+)"))
        echo_targets = {"direct": up_direct}
        if "haproxy" in columns:
            echo_targets["haproxy"] = start(make_haproxy("haproxy", tmp, up_behind.port, maxconn, args.haproxy_splice))
        if "aio" in columns:
            echo_targets["aio"] = start(make_aio("aio-proxy", aio_bin, up_behind.port, args.aio_log_level))
        redis_targets = {}
        if do_redis:
            redis_behind = start(make_redis("redis", upstream_cpu, tmp))
            redis_targets["direct"] = redis_behind if upstream_cpu == 0 else start(make_redis("redis-direct", 0, tmp))
            if "haproxy" in columns:
                redis_targets["haproxy"] = start(make_haproxy("haproxy-redis", tmp, redis_behind.port, maxconn,
                                                              args.haproxy_splice, probe=redis_ping))
            if "aio" in columns:
                redis_targets["aio"] = start(make_aio("aio-proxy-redis", aio_bin, redis_behind.port,
                                                      args.aio_log_level, probe=redis_ping))
        # Round trips through every path before anything is measured (three tries:
        # a proxy may hold clients back until its first health check has passed).
        for col, tgt in echo_targets.items():
            for attempt in range(3):
                r = run_load(aio_load, tgt, "echo", ["--connections", "1", "--size", str(size)], 0.3)
                if not (r.get("errors") or r.get("mismatches") or not r.get("round_trips")):
                    break
                if attempt == 2:
                    raise RuntimeError(f"warm-up through {tgt.name} failed: {r}")
                time.sleep(1)

        cells = [f"{c}×{size}" for c in conns] + ([] if args.no_bulk else ["bulk"])
        for rep in range(pairs):
            order = ["direct"] + (proxies if rep % 2 == 0 else proxies[::-1])
            for cell in cells:
                for col in order:
                    tgt = echo_targets[col]
                    if cell == "bulk":
                        r = run_load(aio_load, tgt, "bulk", ["--connections", "1", "--size", "65536"], duration)
                        what = f"{r['mb_per_s']:>9,.1f} MB/s"
                    else:
                        c = int(cell.split("×")[0])
                        r = run_load(aio_load, tgt, "echo", ["--connections", str(c), "--size", str(size),
                                                             "--connect-timeout", "60"], duration)
                        what = f"{r['round_trips_per_s']:>9,.0f} rt/s  p99 {p99(r):>7,.0f} µs"
                    echo_runs.setdefault((cell, col), []).append(r)
                    bad = r.get("errors", 0) + r.get("mismatches", 0)
                    log(f"[{time.monotonic() - t0:5.0f}s] pair {rep + 1}/{pairs} {cell:>9} {col:7} {what}  "
                        f"cpu {r['cpu_s']:.2f}s busy {busy(r):3.0f}% (CPU0 {r['cpu0_busy']:.0f}%, CPU1 {r['cpu1_busy']:.0f}%){'  ERRORS %d' % bad if bad else ''}")
            if do_redis:
                for pipeline, n in ((1, redis_n), (16, redis_np)):
                    for col in order:
                        r = run_redis(redis_targets[col], n, pipeline, timeout=120)
                        redis_runs.setdefault((pipeline, col), []).append(r)
                        log(f"[{time.monotonic() - t0:5.0f}s] pair {rep + 1}/{pairs} redis -P {pipeline:<2} {col:7} "
                            + "  ".join(f"{t} {r['rps'].get(t, 0):>9,.0f}" for t in REDIS_TESTS)
                            + f"  busy {r['busy']:3.0f}%")
        for srv in started:
            if not srv.alive():
                log(f"proxy_bench: {srv.name} exited during the run: {srv.proc.text()}")
                status = 1
    except KeyboardInterrupt:
        log("proxy_bench: interrupted")
        status = 130
    except RuntimeError as e:
        log(f"proxy_bench: {e}")
        status = 1
    finally:
        stop_all(started)

    if status == 0 and idle:
        # Fresh proxies in front of a fresh upstream, one at a time.
        try:
            up = start(Server("upstream-idle", [epoll, "0"], upstream_cpu, ready_line=r"listening on \S+:(\d+)"))
            for col in proxies:
                srv = (make_haproxy("haproxy-idle", tmp, up.port, maxconn, args.haproxy_splice) if col == "haproxy"
                       else make_aio("aio-proxy-idle", aio_bin, up.port, args.aio_log_level))
                start(srv)
                try:
                    idle_rows[col] = idle_pairs(aio_load, srv, idle, 3.0)
                    row = idle_rows[col]
                    log(f"[{time.monotonic() - t0:5.0f}s] idle {col:7} {row['open']:,} pairs open, "
                        f"{row['per_pair']:,.0f} bytes per pair")
                finally:
                    srv.stop()
                    started.remove(srv)
        except KeyboardInterrupt:
            status = 130
        except RuntimeError as e:
            log(f"proxy_bench: idle: {e}")
            status = 1
        finally:
            stop_all(started)
    shutil.rmtree(tmp, ignore_errors=True)
    if not echo_runs:
        return status or 1

    # --- the table ---
    lines = []
    lines.append(f"Machine: {cpu_model()}, {os.cpu_count()} CPUs, Linux {platform.release()}; "
                 f"{subprocess.run(['haproxy', '-v'], capture_output=True, text=True).stdout.splitlines()[0].split(' - ')[0]}"
                 f" (mode tcp, nbthread 1{', splice-auto' if args.haproxy_splice else ''}); "
                 f"proxies on CPU 0, load generator on CPU 1, "
                 + ("the upstream on CPU 0 (the same process for direct and behind the proxies); " if upstream_cpu == 0
                    else f"the upstream behind the proxies on {'CPU 1' if upstream_cpu == 1 else 'any CPU'}, "
                         f"the direct column's on CPU 0; ")
                 + f"CPU per operation is the proxy's own (direct: the upstream's); "
                 f"{duration:g} s per aio-load run, {pairs} repetition(s), HAProxy and aio-proxy adjacent in "
                 f"alternating order. Ratios: median of the per-repetition ratios (min–max). "
                 f"Load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after.")
    if "aio" not in columns:
        lines.append("")
        lines.append(f"aio-proxy: not built ({aio_bin}), its column is missing.")
    lines.append("")
    head = ["cell", "figure"] + [LABEL[c] for c in columns] + [f"{LABEL[p]} vs direct" for p in proxies]
    if "aio" in columns and "haproxy" in columns:
        head.append("aio-proxy vs HAProxy")
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * 2 + "---:|" * (len(head) - 2))

    def row(cell, figure, runs_of, value, digits=0):
        vals = [fmt(med([value(r) for r in runs_of(c)]), digits) for c in columns]
        cells_ = [cell, figure] + vals
        for p in proxies:
            cells_.append(ratio_text(paired(runs_of(p), runs_of("direct"), value), False))
        if "aio" in columns and "haproxy" in columns:
            cells_.append(ratio_text(paired(runs_of("aio"), runs_of("haproxy"), value), True))
        lines.append("| " + " | ".join(cells_) + " |")

    def busy_row(cell, runs_of):
        vals = []
        for c in columns:
            rs = runs_of(c)
            vals.append(" / ".join(f"{med([f(r) for r in rs]):.0f}" if rs else "n/a"
                                   for f in (busy, lambda r: r.get("cpu0_busy", float("nan")),
                                             lambda r: r.get("cpu1_busy", float("nan")))))
        lines.append("| " + " | ".join([cell, "busy %: the process / CPU 0 / CPU 1"] + vals
                                       + [""] * (len(head) - 2 - len(columns))) + " |")

    chart = []  # (label, "tput" or "cpu", runs_of(column), value(run))
    for cell in [f"{c}×{size}" for c in conns]:
        def runs_of(col, cell=cell):
            return echo_runs.get((cell, col), [])
        c = cell.split("×")[0]
        name = f"{int(c):,} conn{'s' if c != '1' else ''} × {size:,} B"
        row(name, "round trips/s", runs_of, lambda r: r["round_trips_per_s"])
        row(name, "CPU µs per round trip", runs_of, cpu_per_rt_us, 2)
        row(name, "p99 µs", runs_of, p99)
        busy_row(name, runs_of)
        chart.append((f"{int(c):,} × {size} B rt/s", "tput", runs_of, lambda r: r["round_trips_per_s"]))
        chart.append((f"{int(c):,} × {size} B CPU/rt", "cpu", runs_of, cpu_per_rt_us))
    if not args.no_bulk:
        def runs_of(col):
            return echo_runs.get(("bulk", col), [])
        row("bulk, 1 conn, 64 KiB writes", "MB/s", runs_of, lambda r: r["mb_per_s"], 1)
        row("bulk, 1 conn, 64 KiB writes", "CPU s per GB", runs_of, cpu_per_gb, 2)
        busy_row("bulk, 1 conn, 64 KiB writes", runs_of)
        chart.append(("bulk MB/s", "tput", runs_of, lambda r: r["mb_per_s"]))
        chart.append(("bulk CPU/GB", "cpu", runs_of, cpu_per_gb))
    if redis_runs:
        for pipeline in (1, 16):
            def runs_of(col, pipeline=pipeline):
                return redis_runs.get((pipeline, col), [])
            n = redis_n if pipeline == 1 else redis_np
            name = f"redis-benchmark -n {n:,}" + (f" -P {pipeline}" if pipeline > 1 else "")
            for t in REDIS_TESTS:
                row(name, f"{t} req/s", runs_of, lambda r, t=t: r["rps"].get(t, float("nan")))
                chart.append((f"redis{' -P16' if pipeline > 1 else ''} {t}", "tput", runs_of,
                              lambda r, t=t: r["rps"].get(t, float("nan"))))
            chart.append((f"redis{' -P16' if pipeline > 1 else ''} CPU/req", "cpu", runs_of,
                          lambda r: r["cpu_per_req_us"]))
            row(name, "CPU µs per request (whole run)", runs_of, lambda r: r["cpu_per_req_us"], 2)
            busy_row(name, runs_of)
    if idle_rows:
        lines.append("")
        lines.append(f"| {idle:,} idle clients | pairs open | RSS before | RSS after | bytes per pair | vs HAProxy |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        ref = idle_rows.get("haproxy", {}).get("per_pair", float("nan"))
        for p in proxies:
            if p in idle_rows:
                r = idle_rows[p]
                vs = f"{r['per_pair'] / ref:.2f}×" if ref == ref and ref and r["per_pair"] == r["per_pair"] else "n/a"
                lines.append(f"| {LABEL[p]} | {r['open']:,} | {r['rss_before'] / 2**20:.1f} MiB | "
                             f"{r['rss_after'] / 2**20:.1f} MiB | {fmt(r['per_pair'])} | {vs} |")
    errs = sum(r.get("errors", 0) + r.get("mismatches", 0) for runs in echo_runs.values() for r in runs)
    if errs:
        lines.append("")
        lines.append(f"aio-load reported {errs} errors/mismatched bytes in total (see the JSON).")
    table = "\n".join(lines) + "\n"
    print(table)
    for path in filter(None, (os.path.join(outdir, "proxy-table.md"), args.out)):
        with open(path, "w") as f:
            f.write(table)
    with open(os.path.join(outdir, "proxy-results.json"), "w") as f:
        json.dump({"echo": {f"{k[0]}|{k[1]}": v for k, v in echo_runs.items()},
                   "redis": {f"P{k[0]}|{k[1]}": v for k, v in redis_runs.items()}, "idle": idle_rows}, f, indent=1)
    log(f"proxy_bench: table in {os.path.join(outdir, 'proxy-table.md')}")
    if not args.no_chart:
        draw_chart(chart, columns, proxies, os.path.join(outdir, "proxy-chart.png"))
    if sum(r.get("mismatches", 0) for runs in echo_runs.values() for r in runs):
        status = status or 1
    return status


def label_bars(ax, labels):
    """One slanted label under each bar, and the legend."""
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=40, ha="right", fontsize=8)
    ax.legend()


def draw_chart(chart, columns, proxies, path):
    """Top: each proxy's throughput as a ratio to direct. Bottom (with both
    proxies): aio-proxy / HAProxy for throughput and for CPU per operation."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("proxy_bench: no chart: matplotlib is not installed (apt-get install python3-matplotlib)")
        return
    both = "aio" in columns and "haproxy" in columns
    tput = [c for c in chart if c[1] == "tput"]
    fig, axes = plt.subplots(2 if both else 1, 1, figsize=(max(9, 0.55 * len(chart) + 2), 10 if both else 5.5),
                             squeeze=False)
    ax = axes[0][0]
    width = 0.8 / max(1, len(proxies))
    for i, p in enumerate(proxies):
        meds = [med(paired(runs_of(p), runs_of("direct"), value)) for _, _, runs_of, value in tput]
        ax.bar([x + (i - (len(proxies) - 1) / 2) * width for x in range(len(tput))], meds, width, label=LABEL[p])
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_ylabel("throughput through the proxy / direct")
    ax.set_title("throughput through each proxy as a ratio to direct (median of paired runs; higher is better)")
    label_bars(ax, [c[0] for c in tput])
    if both:
        ax = axes[1][0]
        ratios = [paired(runs_of("aio"), runs_of("haproxy"), value) for _, _, runs_of, value in chart]
        meds = [statistics.median(r) if r else float("nan") for r in ratios]
        lo = [m - min(r) if r else 0 for m, r in zip(meds, ratios)]
        hi = [max(r) - m if r else 0 for m, r in zip(meds, ratios)]
        colors = ["tab:green" if c[1] == "tput" else "tab:orange" for c in chart]
        ax.bar(range(len(chart)), meds, 0.6, yerr=[lo, hi], capsize=3, color=colors)
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.axhline(1.2, color="tab:green", lw=0.8, ls="--", label="throughput goal: ≥ 1.2×")
        ax.bar([0], [0], color="tab:orange", label="CPU per operation (goal: < 1×)")
        ax.set_ylabel("aio-proxy / HAProxy (median, min–max)")
        ax.set_title("aio-proxy as a ratio to HAProxy, paired runs (green: throughput, orange: CPU per operation)")
        label_bars(ax, [c[0] for c in chart])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    log(f"proxy_bench: chart in {path}")


if __name__ == "__main__":
    sys.exit(main())
