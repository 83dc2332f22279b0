#!/usr/bin/python3
"""stall_probe.py — how often this machine freezes a busy CPU (the floor under any latency tail).

    bench/stall_probe.py [SECONDS] [CPU ...]      (default: 5 s on every CPU at once)

One process per CPU, pinned, does nothing but read the clock in a loop; a
gap between two reads longer than 1 ms is a time the CPU was taken away
(interrupts, the kernel's own threads, or on a VM the hypervisor running
something else on the host core). No syscall, no memory traffic: whatever
stalls appear here, every program on that CPU has too. Prints, per CPU, the
stalls over 1 ms, their share of the time, and the longest.
"""
import os
import sys
import time


def probe(cpu, seconds, out):
    os.sched_setaffinity(0, {cpu})
    clock = time.perf_counter
    end = clock() + seconds
    last = clock()
    gaps = []
    while last < end:
        now = clock()
        if now - last > 0.001:
            gaps.append(now - last)
        last = now
    os.write(out, ("%d %d %.6f %.6f\n" % (cpu, len(gaps), sum(gaps), max(gaps, default=0.0))).encode())


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    cpus = [int(c) for c in sys.argv[2:]] or sorted(os.sched_getaffinity(0))
    r, w = os.pipe()
    pids = []
    for cpu in cpus:
        pid = os.fork()
        if pid == 0:
            os.close(r)
            probe(cpu, seconds, w)
            os._exit(0)
        pids.append(pid)
    os.close(w)
    for pid in pids:
        os.waitpid(pid, 0)
    with os.fdopen(r) as f:
        rows = sorted(line.split() for line in f)
    for cpu, n, total, longest in rows:
        print("CPU %s: %s stalls over 1 ms in %.0f s (%.2f%% of the time), longest %.1f ms"
              % (cpu, n, seconds, float(total) / seconds * 100, float(longest) * 1000))


if __name__ == "__main__":
    main()
