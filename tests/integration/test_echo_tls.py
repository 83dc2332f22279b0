"""aio-echo over TLS with openssl s_client and aio-echo-client; aio-echo-client's exit status."""
import select
import socket
import subprocess
import tempfile
import time
import unittest

from aiotest import ServerTest, binary, make_certs, start_echo, start_peer


class EchoTlsTest(ServerTest):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.cert, cls.key = make_certs(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def start_tls(self):
        return self.track(start_echo("--tls-cert", self.cert, "--tls-key", self.key))

    def client(self, *args, input_text=None):
        return subprocess.run([binary("AIO_ECHO_CLIENT_BIN"), *args], input=input_text, capture_output=True,
                              text=True, timeout=30)

    def test_openssl_s_client_gets_its_line_back(self):
        srv = self.start_tls()
        # -quiet never exits on stdin EOF: read the echo, then stop it ourselves.
        p = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.port}", "-quiet",
                              "-CAfile", self.cert, "-verify_return_error", "-servername", "localhost"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        def stop_s_client():
            if p.poll() is None:
                p.kill()
            p.communicate()

        self.addCleanup(stop_s_client)
        p.stdin.write(b"hello over tls\n")
        p.stdin.flush()
        ready, _, _ = select.select([p.stdout], [], [], 10)
        self.assertTrue(ready, "no echo from the TLS server within 10 s")
        self.assertEqual(p.stdout.readline(), b"hello over tls\n")

    def test_openssl_s_client_cannot_use_tls_1_1(self):
        srv = self.start_tls()
        out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.port}", "-tls1_1"],
                             input=b"", capture_output=True, timeout=15)
        self.assertNotEqual(out.returncode, 0)

    def test_echo_client_verifies_the_server_with_its_ca_file(self):
        srv = self.start_tls()
        out = self.client("--host", "localhost", "--port", str(srv.port), "--tls", "--ca-file", self.cert,
                          "--count", "3", "one", "two")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.splitlines(), ["one"] * 3 + ["two"] * 3)

    def test_echo_client_insecure_skips_verification(self):
        srv = self.start_tls()
        out = self.client("--port", str(srv.port), "--tls", "--insecure", input_text="from stdin\nsecond\n")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.splitlines(), ["from stdin", "second"])

    def test_echo_client_refuses_an_unknown_certificate(self):
        srv = self.start_tls()
        out = self.client("--host", "localhost", "--port", str(srv.port), "--tls", "hello")
        self.assertNotEqual(out.returncode, 0)
        self.assertTrue(out.stderr.strip())

    def test_tls_handshake_failures_are_counted(self):
        srv = self.start_tls()
        self.client("--host", "localhost", "--port", str(srv.port), "--tls", "hello")
        deadline = time.monotonic() + 5
        while 'reason="tls_handshake"' not in srv.scrape() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertIn('reason="tls_handshake"', srv.scrape())


class EchoClientTest(ServerTest):
    def test_plain_round_trips_print_what_came_back(self):
        srv = self.track(start_echo())
        out = subprocess.run([binary("AIO_ECHO_CLIENT_BIN"), "--port", str(srv.port), "-n", "2", "a b", "c"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.splitlines(), ["a b", "a b", "c", "c"])

    def test_a_corrupted_echo_exits_non_zero(self):
        peer = self.track(start_peer("corrupt_echo.py", "--at", "3"))
        out = subprocess.run([binary("AIO_ECHO_CLIENT_BIN"), "--port", str(peer.port), "hello world"],
                             capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 1)
        self.assertIn(b"mismatch", out.stderr)

    def test_a_refused_connection_exits_non_zero(self):
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        out = subprocess.run([binary("AIO_ECHO_CLIENT_BIN"), "--port", str(port), "hello"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 1)
        self.assertTrue(out.stderr.strip())


if __name__ == "__main__":
    unittest.main()
