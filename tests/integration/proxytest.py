"""proxytest.py - what the aio-proxy tests share: the proxy, upstreams in this process, metrics.

Upstreams are small threaded TCP servers in the test process (ThreadedUpstream)
with a behaviour per connection: say their name then echo, hold a half-closed
connection, read slowly, write a lot, capture a PROXY header. Real aio-echo
processes are used where an upstream must die and come back.
"""
import os
import re
import socket
import threading
import time

from aiotest import Server, binary


def start_proxy(*upstreams, extra=(), env=None, listen="127.0.0.1:0", argv_prefix=()):
    args = [*argv_prefix, binary("AIO_PROXY_BIN"), "--listen", listen, "--metrics-port", "0"]
    for u in upstreams:
        args += ["--upstream", u]
    return Server([*args, *extra], env)


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def parse_metrics(text):
    """{(name, ((label, value), ...)): value} of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if not m:
            continue
        labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(3) or "")))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def metric(proxy, name, **labels):
    """The value of one series, or None when the scrape lacks it."""
    return parse_metrics(proxy.scrape()).get((name, tuple(sorted(labels.items()))))


def wait_until(predicate, timeout, step=0.05):
    """True as soon as predicate() is; False after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def recv_exactly(s, n):
    got = bytearray()
    while len(got) < n:
        chunk = s.recv(n - len(got))
        if not chunk:
            break
        got += chunk
    return bytes(got)


def recv_line(s):
    got = bytearray()
    while not got.endswith(b"\n"):
        chunk = s.recv(1)
        if not chunk:
            break
        got += chunk
    return bytes(got)


def connect(port, source=None, timeout=5):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


class ThreadedUpstream:
    """A TCP server on `host` that runs behaviour(conn, upstream) on a thread per connection."""

    def __init__(self, behaviour, host="127.0.0.1", port=0, name=None):
        self.behaviour = behaviour
        self.listener = socket.create_server((host, port), reuse_port=False)
        self.port = self.listener.getsockname()[1]
        self.address = f"{host}:{self.port}"
        self.name = name or self.address
        self.stop = threading.Event()
        self.conns = []
        self.served = 0
        self.lock = threading.Lock()
        self.captured = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            self.behaviour(conn, self)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def close_listener(self):
        """Stops accepting (new connects are refused); connections go on."""
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()

    def close(self):
        self.stop.set()
        self.close_listener()
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass


def named_echo(conn, up):
    """Says which upstream it is, then echoes. Health checks connect and close: not counted."""
    conn.sendall(up.name.encode() + b"\n")
    first = True
    while True:
        data = conn.recv(65536)
        if not data:
            break
        if first:
            with up.lock:
                up.served += 1
            first = False
        conn.sendall(data)


def echo(conn, up):
    while True:
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)


def hold_after_eof(conn, up):
    """Reads to EOF, then keeps its side open without a word until the test ends."""
    while conn.recv(65536):
        pass
    up.stop.wait(30)


def capture_then_echo(n):
    """Records the first n bytes (a PROXY header), then echoes."""

    def behaviour(conn, up):
        header = recv_exactly(conn, n) if n else b""
        if len(header) < n:
            return  # a health check
        with up.lock:
            up.captured.append(header)
        echo(conn, up)

    return behaviour


def start_echo_process(host="127.0.0.1", port=0, *extra):
    return Server([binary("AIO_ECHO_BIN"), "--host", host, "--port", str(port), "--metrics-port", "0", *extra])


PROXY_BIN_PRESENT = bool(os.environ.get("AIO_PROXY_BIN"))
