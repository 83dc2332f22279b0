"""aio-proxy follows a DNS name whose addresses change, as it follows a Kubernetes headless Service.

The proxy runs under `unshare --mount` with a temporary hosts file bind-mounted
over /etc/hosts, which the test rewrites in place (the machine's own resolver
is never touched). 127.0.0.2 and 127.0.0.3 are loopback addresses: an aio-echo
listens on each, on the same port, as two pods behind one Service would.
"""
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from aiotest import ServerTest
from proxytest import connect, free_port, metric, recv_exactly, start_echo_process, start_proxy, wait_until


def unshare_works():
    try:
        return subprocess.run(["unshare", "--mount", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class Discovery(ServerTest):
    def setUp(self):
        if not unshare_works():
            self.skipTest("unshare --mount is not permitted here (needs root or user namespaces)")
        self.port = free_port("127.0.0.2")
        self.hosts = tempfile.NamedTemporaryFile("w", prefix="aio-hosts-", delete=False)
        self.addCleanup(self.hosts.close)

    def write_hosts(self, *addresses):
        # In place (same inode): the bind mount shows the file, not the name.
        with open(self.hosts.name, "w") as f:
            f.write("127.0.0.1 localhost\n")
            for a in addresses:
                f.write(f"{a} echo.test\n")

    def test_addresses_join_and_leave_while_clients_run(self):
        self.write_hosts("127.0.0.2")
        e2 = self.track(start_echo_process("127.0.0.2", self.port))
        e3 = self.track(start_echo_process("127.0.0.3", self.port))
        wrapper = ["unshare", "--mount", "sh", "-c", f'mount --bind "{self.hosts.name}" /etc/hosts && exec "$0" "$@"']
        source = f"echo.test:{self.port}"
        p = self.track(start_proxy(source, extra=["--resolve-interval", "200ms", "--health-interval", "200ms"],
                                   argv_prefix=wrapper))
        a2, a3 = f"127.0.0.2:{self.port}", f"127.0.0.3:{self.port}"
        self.assertEqual(metric(p, "proxy_upstreams", upstream=source), 1)
        self.assertEqual(metric(p, "proxy_upstream_healthy", upstream=a2), 1)

        errors, rounds, stop = [], [0], threading.Event()

        def clients():
            while not stop.is_set():
                try:
                    s = connect(p.port)
                    s.sendall(b"ping")
                    if recv_exactly(s, 4) != b"ping":
                        errors.append("bad echo")
                    s.close()
                    rounds[0] += 1
                except OSError as e:
                    errors.append(repr(e))
                time.sleep(0.01)

        t = threading.Thread(target=clients, daemon=True)
        t.start()
        self.addCleanup(stop.set)
        held = connect(p.port)  # a relay to 127.0.0.2 that must outlive its address's removal
        held.sendall(b"1")
        self.assertEqual(recv_exactly(held, 1), b"1")

        self.write_hosts("127.0.0.2", "127.0.0.3")  # scale up
        self.assertTrue(wait_until(lambda: metric(p, "proxy_upstreams", upstream=source) == 2, 5))
        self.assertTrue(wait_until(lambda: (metric(p, "proxy_upstream_connections_total", upstream=a3) or 0) > 5, 5))
        self.assertIn(f"upstream {a3} joined {source}", p.stderr_text())

        self.write_hosts("127.0.0.3")  # scale down
        self.assertTrue(wait_until(lambda: metric(p, "proxy_upstreams", upstream=source) == 1, 5))
        time.sleep(0.3)
        before = metric(p, "proxy_upstream_connections_total", upstream=a2)
        served = rounds[0]
        self.assertTrue(wait_until(lambda: rounds[0] > served + 20, 10))
        self.assertEqual(metric(p, "proxy_upstream_connections_total", upstream=a2), before,
                         "a retired address still gets new clients")
        self.assertIn(f"upstream {a2} left {source}", p.stderr_text())
        held.sendall(b"2")  # its live relay finishes normally
        self.assertEqual(recv_exactly(held, 1), b"2")
        held.close()
        stop.set()
        t.join(5)
        self.assertEqual(errors, [])
        self.assertEqual(p.stop(), 0)
        self.assertEqual(e2.stop(), 0)
        self.assertEqual(e3.stop(), 0)


if __name__ == "__main__":
    unittest.main()
