"""aio-load against aio-echo (every mode, plain and TLS) and against a corrupting peer."""
import json
import subprocess
import tempfile
import unittest

from aiotest import ServerTest, binary, make_certs, start_echo, start_peer

FIELDS = ("mode", "connections", "size", "duration_s", "round_trips", "round_trips_per_s", "mb_per_s",
          "latency_us", "errors", "mismatches")


def load(*args, timeout=60):
    out = subprocess.run([binary("AIO_LOAD_BIN"), *args, "--json"], capture_output=True, text=True,
                         timeout=timeout)
    return out.returncode, out.stdout, out.stderr


class LoadTest(ServerTest):
    def run_json(self, *args):
        rc, stdout, stderr = load(*args)
        lines = stdout.strip().splitlines()
        self.assertEqual(len(lines), 1, stdout)
        return rc, json.loads(lines[0]), stderr

    def test_echo_mode_against_aio_echo_exits_zero_with_the_summary_fields(self):
        srv = self.track(start_echo())
        rc, j, err = self.run_json("echo", "--port", str(srv.port), "-c", "8", "-s", "1024", "-d", "1")
        self.assertEqual(rc, 0, err)
        for f in FIELDS:
            self.assertIn(f, j)
        for q in ("p50", "p90", "p99", "p999", "max"):
            self.assertIn(q, j["latency_us"])
        self.assertGreater(j["round_trips"], 100)
        self.assertEqual(j["errors"], 0)
        self.assertEqual(j["mismatches"], 0)
        self.assertEqual(j["bytes_received"], j["round_trips"] * 1024)
        self.assertLessEqual(j["latency_us"]["p50"], j["latency_us"]["p99"])
        self.assertLessEqual(j["latency_us"]["p99"], j["latency_us"]["max"])

    def test_pipelined_fixed_rate_echo_keeps_the_rate(self):
        srv = self.track(start_echo())
        rc, j, err = self.run_json("echo", "--port", str(srv.port), "-c", "4", "-p", "4", "-s", "100",
                                   "--rate", "2000", "-d", "1.5")
        self.assertEqual(rc, 0, err)
        self.assertGreater(j["round_trips_per_s"], 1500)
        self.assertLess(j["round_trips_per_s"], 2200)

    def test_against_a_corrupting_server_mismatches_are_counted_and_exit_non_zero(self):
        peer = self.track(start_peer("corrupt_echo.py", "--at", "100"))
        rc, j, err = self.run_json("echo", "--port", str(peer.port), "-c", "2", "-s", "64", "-d", "0.5")
        self.assertNotEqual(rc, 0)
        self.assertEqual(j["mismatches"], 2)  # one flipped byte per connection
        self.assertIn("mismatch", err)

    def test_line_mode_counts_a_round_trip_per_reply_line(self):
        srv = self.track(start_echo())
        rc, j, err = self.run_json("line", "--port", str(srv.port), "-c", "4", "-p", "3", "--line", "GET k",
                                   "-d", "1")
        self.assertEqual(rc, 0, err)
        self.assertGreater(j["round_trips"], 100)
        self.assertEqual(j["errors"], 0)
        # Every reply is one echoed request line; at most the 3 x 4 in flight at the deadline are unanswered.
        self.assertEqual(j["bytes_received"], j["round_trips"] * len("GET k\n"))
        self.assertLessEqual(j["bytes_sent"] - j["bytes_received"], 3 * 4 * len("GET k\n"))

    def test_line_mode_counts_err_replies_as_errors(self):
        srv = self.track(start_echo())
        rc, j, err = self.run_json("line", "--port", str(srv.port), "-c", "1", "--line", "ERR nope", "-d", "0.5")
        self.assertGreater(j["round_trips"], 10)
        self.assertEqual(j["errors"], j["round_trips"])
        self.assertNotEqual(rc, 0)

    def test_line_mode_refuses_a_rate(self):
        rc, _, err = load("line", "--rate", "100", "-d", "0.1")
        self.assertEqual(rc, 2)
        self.assertIn("not supported in line mode", err)

    def test_connect_mode_makes_fresh_connections(self):
        srv = self.track(start_echo())
        rc, j, err = self.run_json("connect", "--port", str(srv.port), "-c", "4", "-d", "1")
        self.assertEqual(rc, 0, err)
        self.assertGreater(j["round_trips"], 50)

    def test_idle_mode_holds_its_connections(self):
        srv = self.track(start_echo())
        rc, j, err = self.run_json("idle", "--port", str(srv.port), "-c", "300", "-d", "1")
        self.assertEqual(rc, 0, err)
        self.assertEqual(j["open_connections"], 300)

    def test_idle_mode_reports_connections_the_server_closed(self):
        srv = self.track(start_echo("--idle-timeout", "300ms"))
        rc, j, err = self.run_json("idle", "--port", str(srv.port), "-c", "10", "-d", "1.5")
        self.assertNotEqual(rc, 0)
        self.assertEqual(j["open_connections"], 0)
        self.assertEqual(j["errors"], 10)

    def test_bulk_mode_streams_both_ways(self):
        srv = self.track(start_echo())
        rc, j, err = self.run_json("bulk", "--port", str(srv.port), "-c", "2", "-s", "65536", "-d", "1")
        self.assertEqual(rc, 0, err)
        self.assertEqual(j["bytes_received"], j["bytes_sent"])
        self.assertGreater(j["mb_per_s"], 10)

    def test_a_refused_connection_is_an_error(self):
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        rc, j, err = self.run_json("echo", "--port", str(port), "-c", "2", "-d", "0.3")
        self.assertNotEqual(rc, 0)
        self.assertEqual(j["connect_errors"], 2)

    def test_tls_echo_mode(self):
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = make_certs(tmp)
            srv = self.track(start_echo("--tls-cert", cert, "--tls-key", key))
            rc, j, err = self.run_json("echo", "--port", str(srv.port), "--host", "localhost", "--tls",
                                       "--ca-file", cert, "-c", "4", "-s", "4096", "-d", "1")
            self.assertEqual(rc, 0, err)
            self.assertGreater(j["round_trips"], 100)
            self.assertEqual(j["mismatches"], 0)

    def test_chat_mode_delivers_every_line_to_every_other_member(self):
        from aiotest import Server
        chat = self.track(Server([binary("AIO_CHAT_BIN"), "--host", "127.0.0.1", "--port", "0",
                                  "--metrics-port", "0"]))
        rc, j, err = self.run_json("chat", "--port", str(chat.port), "-c", "12", "--senders", "3",
                                   "--rate", "600", "-d", "1.5")
        self.assertEqual(rc, 0, err)
        self.assertGreater(j["messages_sent"], 600)
        self.assertEqual(j["messages_delivered"], j["messages_sent"] * 11)
        self.assertEqual(j["messages_lost"], 0)
        self.assertEqual(j["mismatches"], 0)  # per-sender order kept
        self.assertGreater(j["latency_us"]["p50"], 0)

    def test_mark_start_brackets_the_measured_window(self):
        # bench/echo_bench.py reads the server's CPU at these two marks.
        import time
        srv = self.track(start_echo())
        p = subprocess.Popen([binary("AIO_LOAD_BIN"), "echo", "--port", str(srv.port), "-c", "4", "-d", "1",
                              "--json", "--mark-start"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            seen = []
            for line in p.stderr:
                seen.append((line.strip(), time.monotonic()))
            out = p.stdout.read()
            self.assertEqual(p.wait(30), 0)
        finally:
            if p.poll() is None:
                p.kill()
        marks = [m for m in seen if m[0].startswith("aio-load: measur")]
        self.assertEqual([m[0] for m in marks], ["aio-load: measuring", "aio-load: measured"], seen)
        self.assertGreater(marks[1][1] - marks[0][1], 0.8)  # the window is the --duration
        self.assertLess(marks[1][1] - marks[0][1], 1.8)
        self.assertGreater(json.loads(out)["round_trips"], 100)

    def test_text_summary_without_json(self):
        srv = self.track(start_echo())
        out = subprocess.run([binary("AIO_LOAD_BIN"), "echo", "--port", str(srv.port), "-d", "0.5"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        for word in ("round trips", "MB/s", "p50", "p99.9", "max", "errors"):
            self.assertIn(word, out.stdout)

    def test_durations_take_the_servers_form(self):
        srv = self.track(start_echo())
        rc, j, err = self.run_json("echo", "--port", str(srv.port), "-c", "2", "-d", "300ms",
                                   "--connect-timeout", "5s", "--grace", "500ms")
        self.assertEqual(rc, 0, err)
        self.assertAlmostEqual(j["duration_s"], 0.3, delta=0.25)

    def test_a_bad_duration_is_one_line_and_exit_2(self):
        for prog, args in (("AIO_LOAD_BIN", ["echo", "--duration", "2x"]),
                           ("AIO_LOAD_BIN", ["echo", "--duration", "0"]),
                           ("AIO_ECHO_CLIENT_BIN", ["--timeout", "soon", "hi"])):
            out = subprocess.run([binary(prog), *args], capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 2, out.stderr)
            lines = out.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, out.stderr)
            self.assertIn("(see --help)", lines[0])
            self.assertRegex(lines[0], r"^aio-(load|echo-client): --(duration|timeout): ")


if __name__ == "__main__":
    unittest.main()
