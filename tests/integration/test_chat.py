#!/usr/bin/python3
"""test_chat.py - aio-chat and aio-chat-client against real sockets (the protocol of servers/chat/chat_server.hpp).

    AIO_CHAT_BIN=BUILD/servers/chat/aio-chat AIO_CHAT_CLIENT_BIN=BUILD/clients/chat/aio-chat-client \
        /usr/bin/python3 -m unittest -v test_chat          (what ctest runs: integration/test_chat)
    /usr/bin/python3 test_chat.py --server BUILD/servers/chat/aio-chat \
        [--client BUILD/clients/chat/aio-chat-client] [unittest args, e.g. -k Protocol]

Every test starts its own server on port 0 (the port is read back from the
"listening on HOST:PORT" log line), talks to it over 127.0.0.1 with plain
sockets (and nc where that is what a user would do), and is bounded in time:
every socket read has a timeout and the server is killed in tearDown.
"""
import argparse
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

from aiotest import SANITIZER, make_certs

SERVER = os.environ.get("AIO_CHAT_BIN")
CLIENT = os.environ.get("AIO_CHAT_CLIENT_BIN")
READ_TIMEOUT = 10.0


def setUpModule():
    if not SERVER or not os.access(SERVER, os.X_OK):
        raise RuntimeError("set AIO_CHAT_BIN (or --server) to the aio-chat binary, not %r" % SERVER)


class ChatServer:
    """One aio-chat process on an ephemeral port."""

    def __init__(self, *args, env=None):
        full_env = dict(os.environ)
        # Under AddressSanitizer freed memory waits in a 256 MB quarantine,
        # which the RSS checks would count; keep it small (no effect otherwise).
        asan = full_env.get("ASAN_OPTIONS", "")
        if "quarantine_size_mb" not in asan:
            full_env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "quarantine_size_mb=16"
        full_env.update(env or {})
        cmd = [SERVER, "--host", "127.0.0.1", "--port", "0", "--metrics-host", "127.0.0.1",
               "--metrics-port", "0", *args]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, env=full_env)
        self.log = []
        self.port = None
        self.metrics_port = None
        deadline = time.monotonic() + 10
        while self.port is None:
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError("server did not log 'listening on': %r" % self.log)
            line = self.proc.stderr.readline().decode(errors="replace")
            if not line:
                self.kill()
                raise AssertionError("server exited before listening: %r" % self.log)
            self.log.append(line)
            m = re.search(r"metrics on \S+:(\d+)", line)
            if m:
                self.metrics_port = int(m.group(1))
            m = re.search(r"listening on \S+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
        # Keep draining the log so the server never blocks on a full pipe.
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()

    def _drain(self):
        for line in self.proc.stderr:
            self.log.append(line.decode(errors="replace"))

    def connect(self):
        return Peer(self.port)

    def rss_bytes(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def metrics(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port, timeout=5) as r:
            return r.read().decode()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self):
        """SIGTERM, then the exit status (None if it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        self._drainer.join(5)
        return rc

    def sanitizer_reports(self):
        return [line for line in self.log if SANITIZER.search(line)]


def metric(text, name):
    """The value of an unlabelled (or singly labelled) series `name` in an exposition."""
    m = re.search(r"^%s(?:\{[^}]*\})? ([0-9.e+-]+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


class Peer:
    """A chat connection that reads lines with a timeout."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self, timeout=READ_TIMEOUT):
        """The next line without its '\\n'; None at EOF."""
        self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode()

    def expect(self, *lines):
        for want in lines:
            got = self.line()
            if got != want:
                raise AssertionError("expected %r, got %r" % (want, got))

    def silent(self, wait=0.2):
        """True when nothing arrives within `wait` seconds."""
        if b"\n" in self.buf:
            return False
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return True
        self.buf += chunk
        return False

    def closed(self, timeout=READ_TIMEOUT):
        """True when the server closes after what is buffered is read."""
        while True:
            line = self.line(timeout)
            if line is None:
                return True

    def close(self):
        self.sock.close()


class ServerTest(unittest.TestCase):
    server_args = ()

    def setUp(self):
        self.server = ChatServer(*self.server_args)
        self.peers = []

    def tearDown(self):
        # Every test ends with a graceful stop: exit 0 and no sanitizer report
        # (LeakSanitizer runs at exit).
        for p in self.peers:
            p.close()
        rc = self.server.stop()
        self.assertEqual(self.server.sanitizer_reports(), [])
        self.assertEqual(rc, 0, "aio-chat did not stop cleanly on SIGTERM")

    def join(self, welcome_nick=None):
        """A new client, welcome read, the lobby's notice about it consumed."""
        p = self.server.connect()
        line = p.line()
        m = re.fullmatch(r"\* welcome (guest\d+), you are in #lobby", line or "")
        self.assertIsNotNone(m, line)
        if welcome_nick:
            self.assertEqual(m.group(1), welcome_nick)
        p.nick = m.group(1)
        for other in self.peers:
            if getattr(other, "room", "lobby") == "lobby":
                other.expect("* %s joined" % p.nick)
        p.room = "lobby"
        self.peers.append(p)
        return p


class ProtocolTest(ServerTest):
    """Every row of the protocol table in servers/chat/chat_server.hpp, error lines included."""

    def test_welcome_names_a_unique_guest_in_the_lobby(self):
        a = self.join("guest1")
        b = self.join("guest2")
        self.assertNotEqual(a.nick, b.nick)

    def test_a_plain_line_reaches_the_others_and_not_the_sender(self):
        a, b, c = self.join(), self.join(), self.join()
        a.send("hello there\n")
        b.expect("<guest1> hello there")
        c.expect("<guest1> hello there")
        self.assertTrue(a.silent())

    def test_crlf_lines_are_accepted_and_the_cr_is_dropped(self):
        a, b = self.join(), self.join()
        a.send("from windows\r\n/nick win\r\n")
        b.expect("<guest1> from windows", "* guest1 is now win")
        a.expect("* you are now win")

    def test_nick_renames_and_tells_the_room(self):
        a, b = self.join(), self.join()
        a.send("/nick ann\n")
        a.expect("* you are now ann")
        b.expect("* guest1 is now ann")
        a.send("hi\n")
        b.expect("<ann> hi")

    def test_nick_taken_is_refused(self):
        a, b = self.join(), self.join()
        a.send("/nick ann\n")
        a.expect("* you are now ann")
        b.expect("* guest1 is now ann")
        b.send("/nick ann\n")
        b.expect("! nick taken: ann")
        self.assertTrue(a.silent())

    def test_invalid_nicks_are_refused(self):
        a = self.join()
        for bad in ["", "x" * 33, "bad nick", "émile", "a.b", "a!"]:
            a.send("/nick %s\n" % bad)
            a.expect("! invalid nick")
        a.send("/nick " + "x" * 32 + "\n")
        a.expect("* you are now " + "x" * 32)
        a.send("/nick A-z_09\n")
        a.expect("* you are now A-z_09")

    def test_join_tells_the_old_room_the_new_room_and_the_sender(self):
        a, b, c = self.join(), self.join(), self.join()
        c.send("/join dev\n")
        c.expect("* joined #dev (1 members)")
        a.expect("* guest3 left")
        b.expect("* guest3 left")
        a.send("/join #dev\n")
        a.expect("* joined #dev (2 members)")
        c.expect("* guest1 joined")
        b.expect("* guest1 left")
        a.send("only dev hears this\n")
        c.expect("<guest1> only dev hears this")
        self.assertTrue(b.silent())

    def test_join_errors(self):
        a = self.join()
        a.send("/join bad room\n/join\n/join lobby\n")
        a.expect("! invalid room", "! invalid room", "! already in #lobby")

    def test_rooms_lists_rooms_by_name_and_drops_empty_ones(self):
        a, b, c = self.join(), self.join(), self.join()
        b.send("/join b\n")
        b.expect("* joined #b (1 members)")
        c.send("/join a\n")
        c.expect("* guest2 left", "* joined #a (1 members)")
        a.expect("* guest2 left", "* guest3 left")
        a.send("/join a\n")
        a.expect("* joined #a (2 members)")
        a.send("/rooms\n")
        a.expect("* rooms: #a(2) #b(1)")
        b.send("/join a\n")
        b.expect("* joined #a (3 members)")
        b.send("/rooms\n")
        b.expect("* rooms: #a(3)")

    def test_who_lists_the_room_in_join_order(self):
        a, b = self.join(), self.join()
        a.send("/nick zed\n")
        a.expect("* you are now zed")
        b.expect("* guest1 is now zed")
        b.send("/who\n")
        b.expect("* in #lobby: zed guest2")

    def test_msg_reaches_only_its_target(self):
        a, b, c = self.join(), self.join(), self.join()
        a.send("/msg guest3 psst, a secret\n")
        c.expect("[pm] <guest1> psst, a secret")
        self.assertTrue(b.silent())
        self.assertTrue(a.silent(0.05))

    def test_msg_errors(self):
        a = self.join()
        a.send("/msg nobody hi\n/msg guest1\n")
        a.expect("! no such nick: nobody", "! usage: /msg NICK text")

    def test_me_is_an_action_for_the_room(self):
        a, b = self.join(), self.join()
        a.send("/me waves\n")
        b.expect("* guest1 waves")
        self.assertTrue(a.silent())

    def test_quit_says_bye_closes_and_tells_the_room(self):
        a, b = self.join(), self.join()
        a.send("/quit\n")
        a.expect("* bye")
        self.assertTrue(a.closed())
        b.expect("* guest1 left")

    def test_a_disconnect_tells_the_room(self):
        a, b = self.join(), self.join()
        self.peers.remove(a)
        a.close()
        b.expect("* guest1 left")

    def test_unknown_commands_are_named(self):
        a = self.join()
        a.send("/frobnicate now\n/\n")
        a.expect("! unknown command: /frobnicate", "! unknown command: /")

    def test_a_double_slash_says_a_line_starting_with_a_slash(self):
        a, b = self.join(), self.join()
        a.send("//nick is a command\n")
        b.expect("<guest1> /nick is a command")

    def test_a_line_over_max_line_gets_an_error_and_a_close(self):
        a, b = self.join(), self.join()
        a.send("x" * 4096 + "\n")
        b.expect("<guest1> " + "x" * 4096)
        a.send("y" * 4097 + "\n")
        a.expect("! line too long")
        self.assertTrue(a.closed())
        b.expect("* guest1 left")

    def test_a_nick_freed_by_a_leaver_can_be_taken(self):
        a, b = self.join(), self.join()
        a.send("/nick ann\n")
        a.expect("* you are now ann")
        b.expect("* guest1 is now ann")
        a.send("/quit\n")
        a.expect("* bye")
        b.expect("* ann left")
        b.send("/nick ann\n")
        b.expect("* you are now ann")


class EnvironmentTest(unittest.TestCase):
    def test_flags_come_from_the_environment_too(self):
        server = ChatServer(env={"AIO_MAX_LINE": "10"})
        try:
            a = server.connect()
            a.expect("* welcome guest1, you are in #lobby")
            a.send("0123456789\n/rooms\n")
            a.expect("* rooms: #lobby(1)")
            a.send("0123456789A\n")
            a.expect("! line too long")
            self.assertTrue(a.closed())
            a.close()
        finally:
            self.assertEqual(server.stop(), 0)

    def test_help_and_version_exit_zero(self):
        for flag in ("--help", "--version"):
            r = subprocess.run([SERVER, flag], capture_output=True, timeout=10)
            self.assertEqual(r.returncode, 0, flag)
        r = subprocess.run([SERVER, "--help"], capture_output=True, timeout=10, text=True)
        for name in ("--max-line", "--max-outbox-bytes", "--flush-interval", "--port", "--metrics-port",
                     "--shutdown-timeout"):
            self.assertIn(name, r.stdout)


class NcTest(ServerTest):
    @unittest.skipUnless(shutil.which("nc"), "nc is not installed")
    def test_nc_is_a_chat_client(self):
        a = self.join()
        # What a user types into `nc 127.0.0.1 PORT`, piped.
        r = subprocess.run(["nc", "127.0.0.1", str(self.server.port)], input=b"/nick nc_user\nhi from nc\n/quit\n",
                           capture_output=True, timeout=15)
        self.assertEqual(r.stdout.decode().splitlines(),
                         ["* welcome guest2, you are in #lobby", "* you are now nc_user", "* bye"])
        a.expect("* guest2 joined", "* guest2 is now nc_user", "<nc_user> hi from nc", "* nc_user left")


class FanOutTest(ServerTest):
    def test_five_receivers_get_a_thousand_lines_each_in_order(self):
        sender = self.join()
        receivers = [self.join() for _ in range(5)]
        sender.send("".join("line %d\n" % i for i in range(1000)))
        for r in receivers:
            for i in range(1000):
                r.expect("<guest1> line %d" % i)
            self.assertTrue(r.silent(0.05))

    def test_three_hundred_clients_join_and_exchange_lines(self):
        n = 300
        sel = selectors.DefaultSelector()
        socks = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", self.server.port), timeout=READ_TIMEOUT)
            socks.append(s)
        for i, s in enumerate(socks):
            s.sendall(b"/nick c%d\n/join big\n" % i)
        bufs = {s: b"" for s in socks}
        joined = set()
        said = {s: 0 for s in socks}
        for s in socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        deadline = time.monotonic() + 60

        def pump(until):
            while not until():
                self.assertLess(time.monotonic(), deadline, "timed out (joined %d)" % len(joined))
                for key, _ in sel.select(1.0):
                    s = key.fileobj
                    data = s.recv(1 << 16)
                    self.assertTrue(data, "server closed a client")
                    bufs[s] += data
                    *lines, bufs[s] = bufs[s].split(b"\n")
                    for line in lines:
                        if line.startswith(b"* joined #big"):
                            joined.add(s)
                        elif line.startswith(b"<c"):
                            said[s] += 1

        pump(lambda: len(joined) == n)
        for i, s in enumerate(socks):
            s.sendall(b"hello from c%d\n" % i)
        pump(lambda: all(v == n - 1 for v in said.values()))
        self.assertEqual(sum(said.values()), n * (n - 1))
        for s in socks:
            sel.unregister(s)
            s.close()
        m = self.server.metrics()
        self.assertGreaterEqual(metric(m, "chat_messages_delivered_total"), n * (n - 1))

    def test_metrics_count_messages_rooms_and_members(self):
        a, b, c = self.join(), self.join(), self.join()
        c.send("/join side\n")
        c.expect("* joined #side (1 members)")
        a.expect("* guest3 left")
        b.expect("* guest3 left")
        a.send("one\ntwo\n")
        b.expect("<guest1> one", "<guest1> two")
        m = self.server.metrics()
        self.assertEqual(metric(m, "chat_rooms"), 2)
        self.assertEqual(metric(m, "chat_members"), 3)
        self.assertEqual(metric(m, "chat_messages_received_total"), 3)
        self.assertGreaterEqual(metric(m, "chat_messages_delivered_total"), 2)
        self.assertEqual(metric(m, "chat_slow_consumer_disconnects_total"), 0)
        self.assertRegex(m, r'(?m)^aio_connections_active\{server="[^"]*chat"\} 3$')


class FlushIntervalTest(ServerTest):
    """--flush-interval: lines that keep coming share a write; a line after a pause goes at once."""
    server_args = ("--flush-interval", "1s")

    def test_a_line_after_a_pause_goes_at_once_and_the_next_waits_for_the_interval(self):
        a = self.join()
        b = self.join()
        time.sleep(1.2)  # longer than the interval since a's last write
        b.send("one\n")
        t0 = time.monotonic()
        a.expect("<%s> one" % b.nick)
        t1 = time.monotonic()
        self.assertLess(t1 - t0, 0.8, "a line after a pause was held")
        b.send("two\n")
        b.send("three\n")
        a.expect("<%s> two" % b.nick, "<%s> three" % b.nick)
        # a's next write comes a second after the one that carried "one".
        self.assertGreater(time.monotonic() - t1, 0.8, "a line right after a write was not held")


class SlowConsumerTest(ServerTest):
    def test_a_client_that_never_reads_is_dropped_and_the_others_lose_nothing(self):
        sender = self.join()
        readers = [self.join(), self.join()]
        slow = self.join()  # never reads from here on
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        line = ("z" * 4000).encode()
        count = 50 * 1024 * 1024 // len(line)  # 50 MB in total from the sender
        expected = b"<guest1> " + line + b"\n"
        results = {}
        progress = [0] * len(readers)
        peak_rss = [0]
        done = threading.Event()

        def receive(i, r):
            want = len(expected) * count
            got = 0
            r.sock.settimeout(READ_TIMEOUT)
            tail = r.buf
            r.buf = b""
            ok = True
            while got < want:
                chunk = r.sock.recv(1 << 20)
                if not chunk:
                    break
                data = tail + chunk
                # Everything from the sender is `expected` repeated; the slow
                # client's departure notice may come in between.
                data = data.replace(b"* guest4 left\n", b"")
                n = len(data) // len(expected) * len(expected)
                if data[:n] != expected * (n // len(expected)):
                    ok = False
                    break
                got += n
                progress[i] = got // len(expected)
                tail = data[n:]
            results[i] = (ok, got // len(expected))
            progress[i] = count  # never hold the sender back

        def watch_rss():
            while not done.is_set():
                try:
                    peak_rss[0] = max(peak_rss[0], self.server.rss_bytes())
                except OSError:
                    return
                time.sleep(0.05)

        threads = [threading.Thread(target=receive, args=(i, r)) for i, r in enumerate(readers)]
        threads.append(threading.Thread(target=watch_rss))
        for t in threads:
            t.start()
        # The readers keep up: the sender stays at most `window` lines ahead
        # of the slower of them (a reader that falls 1 MiB behind is, by
        # design, as slow as the one that never reads).
        one = expected[len(b"<guest1> "):]
        window, batch, sent = 128, 32, 0
        send_deadline = time.monotonic() + 120
        while sent < count:
            while sent - min(progress) > window:
                self.assertLess(time.monotonic(), send_deadline, "readers stalled at %r" % progress)
                time.sleep(0.001)
            n = min(batch, count - sent)
            sender.send(one * n)
            sent += n
        for t in threads[:-1]:
            t.join(120)
        done.set()
        threads[-1].join(5)
        for i in range(len(readers)):
            self.assertEqual(results.get(i), (True, count), "reader %d" % i)
        self.assertLess(peak_rss[0], 200 * 1024 * 1024)
        m = self.server.metrics()
        self.assertEqual(metric(m, "chat_slow_consumer_disconnects_total"), 1)
        # The server let go of the slow client's connection (sender and readers remain).
        deadline = time.monotonic() + 5
        while metric(m, "aio_connections_active") != 3 and time.monotonic() < deadline:
            time.sleep(0.05)
            m = self.server.metrics()
        self.assertEqual(metric(m, "aio_connections_active"), 3)
        self.assertEqual(metric(m, "chat_members"), 3)
        self.assertTrue(any("too slow" in line for line in self.server.log))

    def test_a_ten_megabyte_line_without_newline_gets_an_error_and_a_close(self):
        a = self.join()
        b = self.join()
        payload = b"x" * (10 * 1024 * 1024)
        errors = []

        def flood():
            try:
                a.sock.sendall(payload)
            except OSError as e:  # the server closed on us: expected
                errors.append(e)

        t = threading.Thread(target=flood)
        t.start()
        a.expect("! line too long")
        self.assertTrue(a.closed())
        t.join(30)
        self.assertFalse(t.is_alive())
        b.expect("* guest1 left")
        self.assertLess(self.server.rss_bytes(), 200 * 1024 * 1024)


class ShutdownTest(ServerTest):
    server_args = ("--shutdown-timeout", "5s")

    def test_sigterm_tells_every_client_and_exits_zero_in_time(self):
        peers = [self.join() for _ in range(3)]
        peers[1].send("/join other\n")
        peers[1].expect("* joined #other (1 members)")
        peers[0].expect("* guest2 left")
        peers[2].expect("* guest2 left")
        t0 = time.monotonic()
        self.server.proc.send_signal(signal.SIGTERM)
        for p in peers:
            p.expect("* server shutting down")
            self.assertTrue(p.closed())
        rc = self.server.proc.wait(timeout=10)
        self.assertEqual(rc, 0)
        self.assertLess(time.monotonic() - t0, 5.0)


class ChatClientTest(ServerTest):
    def setUp(self):
        if not CLIENT or not os.access(CLIENT, os.X_OK):
            raise RuntimeError("set AIO_CHAT_CLIENT_BIN (or --client) to the aio-chat-client binary, not %r" % CLIENT)
        super().setUp()

    def test_piped_stdin_lines_reach_another_member_and_the_client_exits_cleanly(self):
        a = self.join()
        r = subprocess.run([CLIENT, "--host", "127.0.0.1", "--port", str(self.server.port), "--nick", "bob"],
                           input=b"hello\nworld\n", capture_output=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode().splitlines()
        self.assertEqual(out[0], "* welcome guest2, you are in #lobby")
        self.assertIn("* you are now bob", out)
        self.assertEqual(out[-1], "* bye")
        a.expect("* guest2 joined", "* guest2 is now bob", "<bob> hello", "<bob> world", "* bob left")

    def test_the_client_prints_what_others_say_while_stdin_is_open(self):
        proc = subprocess.Popen([CLIENT, "--host", "127.0.0.1", "--port", str(self.server.port)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            self.assertEqual(proc.stdout.readline(), b"* welcome guest1, you are in #lobby\n")
            b = self.server.connect()
            self.peers.append(b)
            b.expect("* welcome guest2, you are in #lobby")
            self.assertEqual(proc.stdout.readline(), b"* guest2 joined\n")
            b.send("are you there?\n")
            self.assertEqual(proc.stdout.readline(), b"<guest2> are you there?\n")
            proc.stdin.write(b"yes\n")
            proc.stdin.flush()
            b.expect("<guest1> yes")
            # The server going away ends the client too.
            self.server.proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.stdout.readline(), b"* server shutting down\n")
            self.assertEqual(proc.wait(timeout=10), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    @unittest.skipUnless(shutil.which("openssl"), "openssl is not installed")
    def test_the_client_talks_tls_to_a_tls_server(self):
        with tempfile.TemporaryDirectory() as d:
            cert, key = make_certs(d)
            server = ChatServer("--tls-cert", cert, "--tls-key", key)
            try:
                for verify in (["--insecure"], ["--ca-file", cert]):
                    r = subprocess.run([CLIENT, "--host", "localhost", "--port", str(server.port), "--tls", *verify],
                                       input=b"/who\n", capture_output=True, timeout=20)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    out = r.stdout.decode().splitlines()
                    self.assertEqual(out[0], out[0].split(",")[0] + ", you are in #lobby")
                    self.assertRegex(out[1], r"^\* in #lobby: guest\d+$")
                    self.assertEqual(out[-1], "* bye")
                # Without the CA the self-signed certificate is refused.
                r = subprocess.run([CLIENT, "--host", "localhost", "--port", str(server.port), "--tls"],
                                   input=b"", capture_output=True, timeout=20)
                self.assertEqual(r.returncode, 1)
            finally:
                self.assertEqual(server.stop(), 0)

    def test_a_refused_connection_is_an_error(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        r = subprocess.run([CLIENT, "--host", "127.0.0.1", "--port", str(port)], input=b"",
                           capture_output=True, timeout=10)
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue(r.stderr)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--server", default=SERVER)
    ap.add_argument("--client", default=CLIENT)
    args, rest = ap.parse_known_args()
    SERVER = os.path.abspath(args.server) if args.server else None
    CLIENT = os.path.abspath(args.client) if args.client else None
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
