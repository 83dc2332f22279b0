"""benchlib.py - what bench/echo_bench.py and bench/proxy_bench.py share.

Standard library only. The scripts run as `/usr/bin/python3 bench/<script>.py`,
so this folder is on sys.path and `import benchlib` finds this file.

Processes: pin() puts a command on one CPU, Proc starts one and collects its
stderr lines on a thread (so a pattern can be waited for with a bound),
Server is a started process reachable on 127.0.0.1:port, stop_all()
stops a list of them. Only processes
started here are ever signalled, and every wait is bounded.
Measures: cpu_seconds() and rss_bytes() read /proc for one process,
cpu_per_rt_us() and cpu_per_gb() turn
an aio-load result into CPU per operation, cpu_model() names the machine's CPU. Statistics: finite(), med(), paired()
and fmt() for medians of repeated runs and their paired ratios.
"""
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")


# --- processes --------------------------------------------------------------------------------

def pin(cpu, argv):
    """argv run on CPU `cpu` through taskset; unpinned for cpu None or "any",
    or on a machine with one CPU (nothing to keep apart there)."""
    if cpu is None or cpu == "any" or (os.cpu_count() or 1) < 2:
        return argv
    return ["taskset", "-c", str(cpu), *argv]


class Proc:
    """A started process whose stderr lines are collected on a thread, each
    with the monotonic time it arrived (the time of aio-load's marks bounds
    a measured window)."""

    def __init__(self, argv, stdout=subprocess.DEVNULL):
        self.argv = argv
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE)
        self.lines = []  # (arrival time, line)
        self.cv = threading.Condition()
        self.t = threading.Thread(target=self._collect, daemon=True)
        self.t.start()

    def _collect(self):
        for raw in self.p.stderr:
            now = time.monotonic()
            with self.cv:
                self.lines.append((now, raw.decode(errors="replace").rstrip()))
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def wait_line(self, pattern, timeout):
        """The first stderr line matching `pattern` as (match, arrival time), or
        None once `timeout` s have passed or the process has ended without one."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                for when, line in self.lines:
                    m = rx.search(line)
                    if m:
                        return m, when
                if time.monotonic() > end or (self.p.poll() is not None and not self.t.is_alive()):
                    return None
                self.cv.wait(0.05)

    def texts(self):
        """Every stderr line so far, without the arrival times."""
        with self.cv:
            return [line for _, line in self.lines]

    def text(self):
        """The last 20 stderr lines, for an error message."""
        return "\n".join(self.texts()[-20:])

    def stop(self):
        """SIGTERM, then SIGKILL if it has not ended within 15 s."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()

    def output(self, timeout):
        """Its stdout once it has ended, killing it after `timeout` s."""
        try:
            out, _ = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            out, _ = self.p.communicate()
        return out


def last_json(out, default):
    """The last line of `out` (bytes) parsed as JSON (aio-load --json prints
    its result there), or `default` when there is none."""
    try:
        return json.loads(out.decode().strip().splitlines()[-1])
    except (IndexError, ValueError):
        return default


def stop_all(servers):
    """Stop the started servers, the last started first, and forget them."""
    for srv in reversed(servers):
        srv.stop()
    servers.clear()


def free_port():
    """A port nobody listens on right now (for programs that cannot take port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_connectable(port, proc, timeout, probe=None):
    """True once 127.0.0.1:port takes a connection (and `probe(socket)`, if
    given, says the service answers); False when `proc` ends or `timeout`
    s pass first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.p.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if probe is None or probe(s):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


class Server:
    """One process the bench starts, pinned, reachable on 127.0.0.1:port.

    The port is given, or read from the first stderr line matching
    `ready_line` (its group 1: servers started on port 0 print it). With
    `connect_check` the server is ready once it takes a connection (and
    answers `probe`); without, the ready line alone says so."""

    def __init__(self, name, argv, cpu, port=None, ready_line=None, probe=None, cleanup=None,
                 connect_check=True):
        self.name, self.argv, self.cpu = name, argv, cpu
        self.port, self.ready_line, self.probe, self.cleanup = port, ready_line, probe, cleanup
        self.connect_check = connect_check
        self.proc = None

    def start(self):
        self.proc = Proc(pin(self.cpu, self.argv))
        if self.ready_line:
            got = self.proc.wait_line(self.ready_line, 20)
            if got:
                self.port = int(got[0].group(1))
        ok = self.port is not None and (not self.connect_check
                                        or wait_connectable(self.port, self.proc, 20, self.probe))
        if not ok:
            self.proc.stop()
            raise RuntimeError(f"{self.name} did not start ({' '.join(self.argv)}):\n{self.proc.text()}")
        return self

    @property
    def pid(self):
        return self.proc.p.pid

    def alive(self):
        return self.proc is not None and self.proc.p.poll() is None

    def stop(self):
        if self.proc:
            self.proc.stop()
        if self.cleanup:
            self.cleanup()


# --- measures ---------------------------------------------------------------------------------

def cpu_seconds(pid):
    """The process's CPU time so far: the sum of its threads' run time from
    schedstat (nanoseconds); utime + stime from stat (1/100 s ticks, 1% of a
    one-second window) where the kernel has no schedstat."""
    try:
        total = 0
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def rss_bytes(pid):
    """The process's resident set (VmRSS) in bytes; what the allocator keeps counts too."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_per_rt_us(r, cpu_key="cpu_s"):
    """CPU µs per round trip of one aio-load result (its CPU seconds under `cpu_key`); NaN without round trips."""
    rt = r.get("round_trips", 0)
    return r[cpu_key] / rt * 1e6 if rt else float("nan")


def cpu_per_gb(r, cpu_key="cpu_s"):
    """CPU seconds per GB received of one aio-load result; NaN when nothing arrived."""
    b = r.get("bytes_received", 0)
    return r[cpu_key] / b * 1e9 if b else float("nan")


def cpu_model():
    """The CPU's model name from /proc/cpuinfo, for the table's machine line."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


# --- statistics and formatting ----------------------------------------------------------------

def finite(values):
    """The values without NaN (a run that measured nothing)."""
    return [v for v in values if v == v]


def med(values):
    """The median of the finite values; NaN when there are none."""
    v = finite(values)
    return statistics.median(v) if v else float("nan")


def paired(runs, refs, value):
    """value(run) / value(reference run of the same repetition), per repetition
    (pairs where either is NaN or the reference is 0 are left out)."""
    out = []
    for r, ref in zip(runs, refs):
        a, b = value(r), value(ref)
        if a == a and b == b and b:
            out.append(a / b)
    return out


def fmt(v, digits=0):
    """v with thousands separators and `digits` decimals; "n/a" for NaN."""
    return "n/a" if v != v else f"{v:,.{digits}f}"
