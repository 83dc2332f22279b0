#!/usr/bin/env python3
"""kv_bench.py - the guide's key-value server (examples/kv_server, aio-kv) beside aio-echo.

Both servers get the same load: `aio-load line` keeps one request line in
flight per connection ("GET greeting", a key that exists) and counts a
round trip per reply line. aio-echo sends the line back, aio-kv looks the
key up and answers "VALUE hello world". The figure is what a line protocol
with a real command costs over the framework's echo: requests per second
and server CPU per request, as ratios to aio-echo.

Servers on CPU 0, aio-load on CPU 1, all on 127.0.0.1, every run bounded.
Each repetition runs aio-echo and aio-kv back to back (alternating which
goes first); a ratio is the median of the per-repetition ratios with their
min-max. CPU is the server's threads' run time (schedstat) over the whole
aio-load invocation, connects included.

    bench/kv_bench.py --build-dir build-bench [--pairs 5] [--duration 2] [--conns 1,64]
"""
import argparse
import os
import socket
import subprocess
import sys

from benchlib import Proc, Server, cpu_seconds, fmt, last_json, med, paired, pin, stop_all


def load(build, port, conns, duration):
    argv = pin(1, [os.path.join(build, "clients/load/aio-load"), "line", "--port", str(port), "-c", str(conns),
                   "-d", str(duration), "--line", "GET greeting", "--json"])
    p = Proc(argv, stdout=subprocess.PIPE)
    return last_json(p.output(duration + 60), {})


def measure(build, srv, conns, duration):
    before = cpu_seconds(srv.pid)
    r = load(build, srv.port, conns, duration)
    r["cpu_s"] = cpu_seconds(srv.pid) - before
    return r


def seed(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"SET greeting hello world\n")
        if not s.recv(100).startswith(b"OK"):
            raise RuntimeError("aio-kv did not store the key")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--duration", type=float, default=2.0)
    ap.add_argument("--conns", default="1,64")
    ap.add_argument("--out", help="also write the markdown table here")
    args = ap.parse_args()
    build = os.path.abspath(args.build_dir)
    servers = []
    try:
        echo = Server("aio-echo", [os.path.join(build, "servers/echo/aio-echo"), "--host", "127.0.0.1", "--port", "0",
                                   "--metrics-port", "0", "--log-level", "info"], 0,
                      ready_line=r"listening on \S+:(\d+)").start()
        servers.append(echo)
        kv = Server("aio-kv", [os.path.join(build, "examples/kv_server/aio-kv"), "--port", "0", "--metrics-port", "-1",
                               "--max-connections", "0"], 0, ready_line=r"listening on \S+:(\d+)").start()
        servers.append(kv)
        seed(kv.port)
        rows = []
        for conns in (int(c) for c in args.conns.split(",")):
            runs = {"echo": [], "kv": []}
            for rep in range(args.pairs):
                order = [("echo", echo), ("kv", kv)] if rep % 2 == 0 else [("kv", kv), ("echo", echo)]
                for name, srv in order:
                    runs[name].append(measure(build, srv, conns, args.duration))
            for r in runs["echo"] + runs["kv"]:
                if r.get("errors", 1) or not r.get("round_trips"):
                    raise RuntimeError(f"a run failed: {r}")
            rps = lambda r: r["round_trips_per_s"]  # noqa: E731
            cpu = lambda r: r["cpu_s"] / r["round_trips"] * 1e6  # noqa: E731
            p99 = lambda r: r["latency_us"]["p99"]  # noqa: E731
            for label, f, digits in (("requests/s", rps, 0), ("server CPU µs per request", cpu, 2),
                                     ("p99 µs", p99, 0)):
                ratios = paired(runs["kv"], runs["echo"], f)
                rows.append(f"| {conns} × `GET greeting` | {label} | {fmt(med([f(r) for r in runs['echo']]), digits)} | "
                            f"{fmt(med([f(r) for r in runs['kv']]), digits)} | {med(ratios):.2f}× "
                            f"({min(ratios):.2f}–{max(ratios):.2f}) |")
        table = "\n".join([
            f"aio-kv beside aio-echo, `aio-load line`, {args.pairs} pairs of {args.duration:g} s",
            "",
            "| connections × request | figure | aio-echo | aio-kv | aio-kv vs aio-echo |",
            "|---|---|---:|---:|---:|",
            *rows,
        ])
        print(table)
        if args.out:
            with open(args.out, "w") as f:
                f.write(table + "\n")
    finally:
        stop_all(servers)


if __name__ == "__main__":
    sys.exit(main())
