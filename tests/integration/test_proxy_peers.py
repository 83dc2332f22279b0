"""aio-proxy in front of real third-party servers: redis-server (redis-benchmark, redis-cli) and nginx (curl, wrk)."""
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from aiotest import ServerTest
from proxytest import free_port, metric, start_proxy, wait_until


def wait_for_port(port, timeout=10):
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


class Peers(ServerTest):
    def start(self, argv):
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def stop():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            p.stderr.close()

        self.addCleanup(stop)
        return p

    def test_redis_benchmark_and_a_1_mib_value_through_the_proxy(self):
        port = free_port()
        self.start(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        wait_for_port(port)
        p = self.track(start_proxy(f"127.0.0.1:{port}"))
        out = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(p.port), "-q", "-n", "20000",
                              "-t", "ping,set,get"], capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        for test in ("PING_INLINE", "PING_MBULK", "SET", "GET"):
            self.assertRegex(out.stdout, rf"{test}: [\d.]+ requests per second", out.stdout)
        value = os.urandom(512 * 1024).hex()  # 1 MiB of text
        cli = ["redis-cli", "-h", "127.0.0.1", "-p", str(p.port)]
        r = subprocess.run([*cli, "-x", "set", "big"], input=value, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.stdout.strip(), "OK", r.stderr)
        r = subprocess.run([*cli, "--raw", "get", "big"], capture_output=True, text=True, timeout=30)
        self.assertEqual(hashlib.sha256(r.stdout.rstrip("\n").encode()).hexdigest(),
                         hashlib.sha256(value.encode()).hexdigest())
        r = subprocess.run([*cli, "strlen", "big"], capture_output=True, text=True, timeout=30)
        self.assertEqual(int(r.stdout), len(value))
        self.assertGreater(metric(p, "proxy_upstream_connections_total", upstream=f"127.0.0.1:{port}"), 50)

    def test_curl_and_wrk_reach_nginx_through_the_proxy(self):
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        port = free_port()
        with tempfile.TemporaryDirectory() as d:
            os.chmod(d, 0o755)  # nginx's workers drop root and must read the files
            os.makedirs(os.path.join(d, "html"))
            body = os.urandom(1 << 20)
            with open(os.path.join(d, "html", "blob"), "wb") as f:
                f.write(body)
            with open(os.path.join(d, "html", "index.html"), "w") as f:
                f.write("hello from nginx\n")
            conf = os.path.join(d, "nginx.conf")
            with open(conf, "w") as f:
                f.write(f"""worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  server {{ listen 127.0.0.1:{port}; root {d}/html; }}
}}
""")
            self.start([nginx, "-p", d, "-c", conf, "-g", "daemon off;"])
            wait_for_port(port)
            p = self.track(start_proxy(f"127.0.0.1:{port}"))
            url = f"http://127.0.0.1:{p.port}"
            r = subprocess.run(["curl", "-sS", "--fail", url + "/"], capture_output=True, text=True, timeout=30)
            self.assertEqual(r.stdout, "hello from nginx\n", r.stderr)
            r = subprocess.run(["curl", "-sS", "--fail", url + "/blob"], capture_output=True, timeout=30)
            self.assertEqual(hashlib.sha256(r.stdout).digest(), hashlib.sha256(body).digest())
            r = subprocess.run(["wrk", "-t1", "-c16", "-d1s", url + "/"], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            requests = int(re.search(r"(\d+) requests in", r.stdout).group(1))
            self.assertGreater(requests, 0, r.stdout)
            self.assertNotIn("Socket errors", r.stdout)
            self.assertNotIn("Non-2xx", r.stdout)
            self.assertTrue(wait_until(
                lambda: metric(p, "proxy_upstream_active", upstream=f"127.0.0.1:{port}") == 0, 5))


if __name__ == "__main__":
    unittest.main()
