"""aiotest.py - helpers for the integration tests: start a real binary, find its port, stop it.

Every test starts the program it checks on port 0 (and --metrics-port 0),
reads the real port from its "listening on HOST:PORT" log line, and stops
it by its own pid. Binaries come from the environment that CTest sets
(AIO_ECHO_BIN, AIO_LOAD_BIN, ...; see CMakeLists.txt); python peers from
bench/peers. Standard library only, run by /usr/bin/python3.
"""
import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PEERS = os.path.join(ROOT, "bench", "peers")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def binary(var):
    """The path of a program under test, from the environment (CTest sets it).

    A missing binary is an error, not a skip: a test that silently skips
    cannot fail."""
    path = os.environ.get(var)
    if not path or not os.path.exists(path):
        raise RuntimeError(f"{var} is not set to a built binary (run through ctest, or export it)")
    return path


class Proc:
    """A started program whose stderr is collected line by line on a thread."""

    def __init__(self, argv, env=None, stdin=subprocess.DEVNULL):
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self.argv = argv
        self.p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=full_env)
        self.lines = []
        self.cv = threading.Condition()
        self.t = threading.Thread(target=self._collect, daemon=True)
        self.t.start()

    def _collect(self):
        for raw in self.p.stderr:
            with self.cv:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def wait_for_line(self, pattern, timeout=10.0):
        """The first match of `pattern` in the stderr lines; AssertionError on timeout or exit."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for line in self.lines:
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and not self.t.is_alive()):
                    raise AssertionError(f"no line matching {pattern!r} from {self.argv}: {self.lines}")
                self.cv.wait(min(left, 0.1))

    def stderr_text(self):
        with self.cv:
            return "\n".join(self.lines)

    def signal(self, sig):
        if self.p.poll() is None:
            self.p.send_signal(sig)

    def wait(self, timeout=15.0):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise AssertionError(f"{self.argv} did not exit within {timeout} s: {self.stderr_text()}")

    def stop(self, timeout=15.0):
        """SIGTERM, then the exit status (SIGKILL and a failure if it hangs)."""
        self.signal(signal.SIGTERM)
        rc = self.wait(timeout)
        self.t.join(2)
        return rc

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        for f in (self.p.stdout, self.p.stderr):
            if f:
                f.close()


class Server(Proc):
    """A server started on port 0; .port and .metrics_port are the real ones."""

    def __init__(self, argv, env=None, metrics=True):
        super().__init__(argv, env)
        m = self.wait_for_line(r"listening on (\S+):(\d+)")
        self.port = int(m.group(2))
        self.metrics_port = None
        if metrics:
            self.metrics_port = int(self.wait_for_line(r"metrics on (\S+):(\d+)").group(2))

    def scrape(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return r.read().decode()


async def round_trip_bulk(port, payload):
    """Sends `payload` to the echo on 127.0.0.1:port while reading, then half-closes; what came back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def send():
        # Write in chunks while the caller reads: the echo comes back while we
        # send, and a client that only reads after sending everything would
        # deadlock once the buffers on both sides are full.
        for i in range(0, len(payload), 65536):
            writer.write(payload[i:i + 65536])
            await writer.drain()
        writer.write_eof()

    sender = asyncio.create_task(send())
    back = await asyncio.wait_for(reader.read(), 30)
    await sender
    writer.close()
    await writer.wait_closed()
    return back


def start_echo(*extra, env=None):
    return Server([binary("AIO_ECHO_BIN"), "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0",
                   *extra], env)


def start_peer(script, *extra):
    return Server([PYTHON, os.path.join(PEERS, script), "--host", "127.0.0.1", "--port", "0", *extra],
                  metrics=False)


def make_certs(directory):
    """A self-signed certificate for localhost and 127.0.0.1; (cert, key) paths."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    return cert, key


SANITIZER = re.compile(r"ERROR: (Address|Leak|Thread|Undefined)Sanitizer|runtime error: ")


class ServerTest(unittest.TestCase):
    """Closes every Proc a test registered with self.track(), even when it fails,
    and fails the test if the program's stderr shows a sanitizer report."""

    def track(self, proc):
        def finish():
            proc.close()
            proc.t.join(2)
            text = proc.stderr_text()
            if SANITIZER.search(text):
                raise AssertionError(f"sanitizer report from {proc.argv}:\n{text}")

        self.addCleanup(finish)
        return proc
