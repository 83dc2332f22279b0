"""test_kv_server.py - aio-kv as a real process: nc, a Python client, /metrics, SIGTERM.

Started on port 0 (and --metrics-port 0); the ports come from its
"listening on HOST:PORT" and "metrics on http://HOST:PORT/metrics" lines on
stderr. The binary's path comes from AIO_KV_BIN (CTest sets it). Standard
library only, run by /usr/bin/python3.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import unittest
import urllib.request


# [kv-python-start]
class KvProcess:
    """aio-kv on free ports; stderr collected on a thread."""

    def __init__(self, *args):
        binary = os.environ.get("AIO_KV_BIN")
        if not binary or not os.path.exists(binary):
            raise RuntimeError("AIO_KV_BIN is not set to the built aio-kv (run through ctest)")
        self.p = subprocess.Popen([binary, "--port", "0", "--metrics-port", "0", *args],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.lines, self.cv = [], threading.Condition()
        threading.Thread(target=self._collect, daemon=True).start()
        self.port = int(self.wait_for(r"listening on [^ ]+:(\d+)").group(1))
        self.metrics_port = int(self.wait_for(r"metrics on http://[^:]+:(\d+)/metrics").group(1))

    def _collect(self):
        for raw in self.p.stderr:
            with self.cv:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self.cv.notify_all()

    def wait_for(self, pattern, timeout=10.0):
        rx, deadline = re.compile(pattern), time.monotonic() + timeout
        with self.cv:
            while True:
                for line in self.lines:
                    if m := rx.search(line):
                        return m
                if time.monotonic() > deadline:
                    raise AssertionError(f"no line matching {pattern!r} in {self.lines}")
                self.cv.wait(0.1)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        return self.p.wait(timeout=10)
# [kv-python-start]


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.file = self.sock.makefile("rwb")

    def ask(self, line):
        self.file.write(line.encode() + b"\n")
        self.file.flush()
        return self.file.readline().decode()

    def close(self):
        self.file.close()
        self.sock.close()


class KvServerTest(unittest.TestCase):
    def setUp(self):
        self.kv = KvProcess("--max-keys", "3", "--max-line", "128")

    def tearDown(self):
        self.kv.stop()

    # [kv-python-test]
    def test_a_conversation(self):
        c = Client(self.kv.port)
        self.assertEqual(c.ask("SET city Lisbon, Portugal"), "OK\n")
        self.assertEqual(c.ask("GET city"), "VALUE Lisbon, Portugal\n")
        self.assertEqual(c.ask("DEL city"), "DELETED\n")
        self.assertEqual(c.ask("GET city"), "NOT_FOUND\n")
        self.assertEqual(c.ask("QUIT"), "BYE 5 commands\n")
        self.assertEqual(c.file.readline(), b"")  # the server closed the connection
        c.close()
    # [kv-python-test]

    def test_bad_input_and_limits(self):
        c = Client(self.kv.port)
        self.assertEqual(c.ask("PUT a 1"), "ERR unknown command 'PUT' (try GET, SET, DEL, KEYS, QUIT)\n")
        self.assertEqual(c.ask("SET a"), "ERR usage: SET <key> <value>\n")
        self.assertEqual(c.ask("x" * 10000), "ERR line too long (max 128 bytes)\n")
        for k in "abc":
            self.assertEqual(c.ask(f"SET {k} 1"), "OK\n")
        self.assertEqual(c.ask("SET d 1"), "ERR store full (max 3 keys)\n")
        self.assertEqual(c.ask("KEYS"), "KEYS 3 a b c\n")
        c.close()

    def test_nc(self):
        nc = shutil.which("nc")
        if not nc:
            self.skipTest("nc is not installed")
        out = subprocess.run([nc, "-N", "127.0.0.1", str(self.kv.port)], input=b"SET n 42\nGET n\n",
                             capture_output=True, timeout=10).stdout
        self.assertEqual(out, b"OK\nVALUE 42\n")

    def test_metrics(self):
        c = Client(self.kv.port)
        c.ask("SET m 1")
        c.ask("GET m")
        c.ask("oops")
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.kv.metrics_port}/metrics", timeout=5).read().decode()
        self.assertIn('kv_commands_total{command="SET"} 1', text)
        self.assertIn('kv_commands_total{command="invalid"} 1', text)
        self.assertIn("kv_keys 1", text)
        self.assertIn('aio_connections_active{server="kv"} 1', text)
        self.assertIn("process_open_fds", text)
        self.assertIn("aio_loop_lag_seconds", text)
        c.close()

    # [kv-python-sigterm]
    def test_sigterm_drains(self):
        c = Client(self.kv.port)
        self.assertEqual(c.ask("SET s 1"), "OK\n")
        started = time.monotonic()
        self.assertEqual(self.kv.stop(), 0)
        self.assertLess(time.monotonic() - started, 5)
        self.assertEqual(c.file.readline(), b"BYE server shutting down\n")
        self.assertEqual(c.file.readline(), b"")
        self.kv.wait_for(r"SIGTERM: shutting down \(1 connections\)")
        self.kv.wait_for(r"^stopped$")
        c.close()
    # [kv-python-sigterm]


if __name__ == "__main__":
    unittest.main()
