"""aio-echo's listening sockets: --host :: and --host "" (IPv4 and IPv6), and
--systemd with a socket inherited as descriptor 3 (socket activation)."""
import os
import shutil
import socket
import subprocess
import sys
import threading
import unittest

from aiotest import PYTHON, Proc, Server, ServerTest, binary

# Execs the program with the socket given by number as descriptor 3 and
# LISTEN_FDS/LISTEN_PID set as systemd sets them: LISTEN_PID must be the
# program's own pid, which only a process that then execs knows.
ACTIVATE = """
import os, sys
fd = int(sys.argv[1])
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[2], sys.argv[2:])
"""


def nc_round_trip(host, port, data=b"hello\nover nc"):
    family = "-6" if ":" in host else "-4"
    out = subprocess.run(["nc", family, "-N", host, str(port)], input=data, capture_output=True, timeout=10)
    return out.stdout


class InheritingServer(Server):
    """A Server whose program inherits `fds` (Proc's Popen, with pass_fds)."""

    def __init__(self, argv, fds):
        self.argv = argv
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  pass_fds=fds)
        self.lines = []
        self.cv = threading.Condition()
        self.t = threading.Thread(target=self._collect, daemon=True)
        self.t.start()
        try:
            m = self.wait_for_line(r"listening on (\S+):(\d+)")
        except AssertionError:
            self.close()
            raise
        self.port = int(m.group(2))
        self.metrics_port = int(self.wait_for_line(r"metrics on (\S+):(\d+)").group(2))


def listening_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s


class EchoListenTest(ServerTest):
    def echo(self, *flags):
        return self.track(Server([binary("AIO_ECHO_BIN"), "--port", "0", "--metrics-port", "0", *flags]))

    def test_host_ipv6_wildcard_answers_on_ipv6_loopback(self):
        srv = self.echo("--host", "::")
        self.assertEqual(nc_round_trip("::1", srv.port), b"hello\nover nc")
        self.assertIn(f"listening on [::]:{srv.port}", srv.stderr_text())
        self.assertEqual(srv.stop(), 0)

    def test_host_empty_answers_on_ipv4_and_ipv6_loopback(self):
        srv = self.echo("--host", "")
        self.assertEqual(nc_round_trip("127.0.0.1", srv.port), b"hello\nover nc")
        self.assertEqual(nc_round_trip("::1", srv.port), b"hello\nover nc")
        text = srv.stderr_text()
        self.assertIn(f"0.0.0.0:{srv.port}", text)
        self.assertIn(f"[::]:{srv.port}", text)
        self.assertEqual(srv.stop(), 0)

    def test_systemd_serves_the_socket_inherited_as_descriptor_3(self):
        with listening_socket() as s:
            port = s.getsockname()[1]
            os.set_inheritable(s.fileno(), True)
            argv = [PYTHON, "-c", ACTIVATE, str(s.fileno()), binary("AIO_ECHO_BIN"), "--systemd", "--threads", "2",
                    "--metrics-port", "0"]
            srv = self.track(InheritingServer(argv, (s.fileno(),)))
            self.assertEqual(srv.port, port)
            for _ in range(4):
                self.assertEqual(nc_round_trip("127.0.0.1", port), b"hello\nover nc")
            self.assertEqual(srv.stop(), 0)

    @unittest.skipUnless(shutil.which("systemd-socket-activate"), "systemd-socket-activate is not installed")
    def test_systemd_socket_activate_starts_aio_echo_on_the_first_connection(self):
        with socket.socket() as probe:  # a free port for the launcher to bind
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        # The launcher binds, waits for a first connection attempt, then
        # execs aio-echo in its own process with the socket as descriptor 3.
        argv = ["systemd-socket-activate", "-l", f"127.0.0.1:{port}", binary("AIO_ECHO_BIN"), "--systemd",
                "--metrics-port", "0"]
        srv = self.track(Proc(argv))
        srv.wait_for_line(rf"Listening on 127\.0\.0\.1:{port}")
        self.assertEqual(nc_round_trip("127.0.0.1", port), b"hello\nover nc")
        srv.wait_for_line(rf"listening on 127\.0\.0\.1:{port}")
        self.assertEqual(nc_round_trip("127.0.0.1", port), b"hello\nover nc")
        self.assertEqual(srv.stop(), 0)

    def test_systemd_without_sockets_for_this_process_exits_1(self):
        for env in ({}, {"LISTEN_FDS": "1", "LISTEN_PID": "1"}):
            proc = self.track(Proc([binary("AIO_ECHO_BIN"), "--systemd", "--metrics-port", "0"], env=env))
            self.assertEqual(proc.wait(), 1)
            proc.t.join(2)
            self.assertIn("no sockets were passed", proc.stderr_text())


if __name__ == "__main__":
    sys.exit(unittest.main())
