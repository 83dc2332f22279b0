"""aio-echo with real clients: nc, asyncio, signals, limits, flags and metrics."""
import asyncio
import os
import signal
import socket
import subprocess
import time
import unittest

from aiotest import Server, ServerTest, binary, round_trip_bulk, start_echo


async def client_round_trips(port, n, i):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for k in range(n):
        msg = f"client {i} message {k}\n".encode()
        writer.write(msg)
        await writer.drain()
        back = await reader.readexactly(len(msg))
        if back != msg:
            raise AssertionError(f"client {i} got {back!r} for {msg!r}")
    writer.close()
    await writer.wait_closed()
    return n


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s


def round_trip(s, data=b"ping\n"):
    s.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = s.recv(len(data) - len(got))
        if not chunk:
            break
        got += chunk
    return got


def closed_by_peer(s, within):
    """True if the server closes `s` (EOF or reset) within `within` seconds."""
    s.settimeout(within)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


class EchoTest(ServerTest):
    def test_nc_gets_every_byte_back(self):
        srv = self.track(start_echo())
        data = b"hello\nworld without newline"
        out = subprocess.run(["nc", "-N", "127.0.0.1", str(srv.port)], input=data, capture_output=True,
                             timeout=10)
        self.assertEqual(out.stdout, data)
        self.assertEqual(srv.stop(), 0)

    def test_bytes_come_back_before_the_line_ends(self):
        srv = self.track(start_echo())
        with connect(srv.port) as s:
            s.sendall(b"abc")
            s.settimeout(3)
            self.assertEqual(s.recv(16), b"abc")

    def test_asyncio_client_gets_one_mebibyte_back_after_half_close(self):
        srv = self.track(start_echo())
        payload = os.urandom(1 << 20)
        back = asyncio.run(round_trip_bulk(srv.port, payload))
        self.assertEqual(len(back), len(payload))
        self.assertEqual(back, payload)

    def test_two_hundred_concurrent_clients_make_a_hundred_round_trips_each(self):
        srv = self.track(start_echo())

        async def main():
            return await asyncio.gather(*(client_round_trips(srv.port, 100, i) for i in range(200)))

        self.assertEqual(sum(asyncio.run(main())), 200 * 100)

    def test_two_loops_serve_one_port(self):
        srv = self.track(start_echo("--threads", "2"))

        async def main():
            return await asyncio.gather(*(client_round_trips(srv.port, 20, i) for i in range(50)))

        self.assertEqual(sum(asyncio.run(main())), 50 * 20)
        self.assertEqual(srv.stop(), 0)

    def test_max_connections_closes_the_one_over_the_limit(self):
        srv = self.track(start_echo("--max-connections", "2"))
        a, b = connect(srv.port), connect(srv.port)
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        self.assertEqual(round_trip(a), b"ping\n")
        self.assertEqual(round_trip(b), b"ping\n")
        with connect(srv.port) as c:
            self.assertTrue(closed_by_peer(c, 5), "the third connection was served")
        self.assertEqual(round_trip(a, b"still here\n"), b"still here\n")
        self.assertIn('reason="max_connections"', srv.scrape())

    def test_idle_timeout_closes_a_silent_connection_only(self):
        srv = self.track(start_echo("--idle-timeout", "600ms"))
        with connect(srv.port) as idle, connect(srv.port) as busy:
            self.assertEqual(round_trip(idle), b"ping\n")
            t0 = time.monotonic()
            while time.monotonic() - t0 < 1.5:  # busy keeps talking past the timeout
                self.assertEqual(round_trip(busy), b"ping\n")
                time.sleep(0.1)
            self.assertTrue(closed_by_peer(idle, 3), "the idle connection stayed open")
            self.assertEqual(round_trip(busy), b"ping\n")
        self.assertIn("aio_idle_timeouts_total", srv.scrape())

    def test_sigterm_with_an_open_connection_drains_and_exits_zero(self):
        srv = self.track(start_echo("--shutdown-timeout", "1s"))
        with connect(srv.port) as s:
            self.assertEqual(round_trip(s), b"ping\n")
            t0 = time.monotonic()
            srv.signal(signal.SIGTERM)
            self.assertTrue(closed_by_peer(s, 5), "the connection outlived the shutdown timeout")
            self.assertEqual(srv.wait(10), 0)
            self.assertLess(time.monotonic() - t0, 5)
        # a new connection is refused once it stopped
        with self.assertRaises(OSError):
            connect(srv.port).close()

    def test_sigint_without_connections_exits_zero_at_once(self):
        srv = self.track(start_echo())
        t0 = time.monotonic()
        srv.signal(signal.SIGINT)
        self.assertEqual(srv.wait(10), 0)
        self.assertLess(time.monotonic() - t0, 3)

    def test_flags_come_from_aio_environment_variables(self):
        env = {"AIO_PORT": "0", "AIO_HOST": "127.0.0.1", "AIO_METRICS_PORT": "0", "AIO_MAX_CONNECTIONS": "1"}
        srv = self.track(Server([binary("AIO_ECHO_BIN")], env))
        self.assertNotEqual(srv.port, 0)
        self.assertNotEqual(srv.port, 7000)
        self.assertNotEqual(srv.metrics_port, 9100)
        with connect(srv.port) as a:
            self.assertEqual(round_trip(a), b"ping\n")
            with connect(srv.port) as b:  # AIO_MAX_CONNECTIONS=1 took effect
                self.assertTrue(closed_by_peer(b, 5))

    def test_help_lists_the_common_flags(self):
        out = subprocess.run([binary("AIO_ECHO_BIN"), "--help"], capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 0)
        for flag in ("--port", "--host", "--threads", "--tls-cert", "--tls-key", "--max-connections",
                     "--idle-timeout", "--shutdown-timeout", "--metrics-port", "--log-level", "AIO_PORT"):
            self.assertIn(flag, out.stdout)
        ver = subprocess.run([binary("AIO_ECHO_BIN"), "--version"], capture_output=True, text=True, timeout=10)
        self.assertEqual(ver.returncode, 0)
        self.assertIn("aio-echo", ver.stdout)

    def test_an_unknown_flag_exits_non_zero_with_a_message(self):
        out = subprocess.run([binary("AIO_ECHO_BIN"), "--no-such-flag"], capture_output=True, text=True,
                             timeout=10)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("no-such-flag", out.stderr)

    def test_a_bad_duration_exits_non_zero_with_a_message(self):
        out = subprocess.run([binary("AIO_ECHO_BIN"), "--idle-timeout", "soon"], capture_output=True, text=True,
                             timeout=10)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("soon", out.stderr)

    def test_a_port_in_use_exits_one_with_a_message(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            out = subprocess.run([binary("AIO_ECHO_BIN"), "--host", "127.0.0.1", "--port", str(port),
                                  "--metrics-port", "0"], capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 1)
        self.assertIn("cannot listen", out.stderr)

    def test_metrics_count_connections_bytes_process_and_loop_lag(self):
        srv = self.track(start_echo())
        with connect(srv.port) as s:
            self.assertEqual(round_trip(s, b"x" * 1000), b"x" * 1000)
        deadline = time.monotonic() + 5
        while True:
            text = srv.scrape()
            if 'aio_connections_accepted_total{server="echo"} 1' in text or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertIn('aio_connections_accepted_total{server="echo"} 1', text)
        self.assertIn("aio_bytes_received_total", text)
        self.assertIn("process_resident_memory_bytes", text)
        self.assertIn("aio_loop_lag_seconds", text)


if __name__ == "__main__":
    unittest.main()
