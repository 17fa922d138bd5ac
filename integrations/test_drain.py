"""The drain contract of every lossless example, checked without the supervisor (standard library only).

Each example is started the way the supervisor starts it: the listening socket as fd 3 with LISTEN_FDS=1 and
LISTEN_PID its own pid (through `sh -c 'LISTEN_PID=$$ exec … 3<&N'`), or SUPERVISOR_LISTEN in app mode, and NOTIFY_SOCKET
on a datagram socket of the test. Then: it sends READY=1 and answers GET / with 200; after SIGTERM a request on a
kept-alive connection within the grace is answered with Connection: close and the connection closes after it; an
idle connection is closed only after the grace; new connections are no longer accepted by it; it exits once none
is left.

    integrations/build && scripts/deps && python3 integrations/test_drain.py
"""

import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build", "integrations", "bin")
VENV = os.path.join(ROOT, ".build", "venv", "bin")

# name: (command, grace in seconds, whether it can bind SUPERVISOR_LISTEN itself)
EXAMPLES = {
    "go-lossless": ([os.path.join(BIN, "go-lossless")], 1.0, True),
    "node-lossless": (["node", "integrations/node/server.js"], 1.0, False),
    "uvicorn-lossless": ([os.path.join(VENV, "python"), "integrations/python/supervised_uvicorn.py", "app:asgi_app"],
                         1.0, True),
    # gthread keeps kept-alive connections for STOP_KEEPALIVE_LINGER (2 s) after SIGTERM.
    "gunicorn-gthread": ([os.path.join(VENV, "gunicorn"), "--chdir", "integrations/python", "--no-control-socket",
                          "--workers", "1", "-k", "gthread", "--threads", "4", "app:wsgi_app"], 2.0, False),
}


def request(conn):
    """Sends GET / on conn; returns (status line, headers in lower case) or None when the server closed first."""
    conn.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    while len(body) < int(headers.get("content-length", "0")):
        body += conn.recv(4096)
    return lines[0], headers


def closed_at(conn, timeout):
    """Waits until the server closes conn; returns when (time.monotonic()), or None if it stays open."""
    conn.settimeout(timeout)
    try:
        while conn.recv(4096):
            pass
    except socket.timeout:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic()


class Example:
    """One example process with a notify socket of its own."""

    def __init__(self, name, listener=None, address=None):
        command, self.grace, _ = EXAMPLES[name]
        self.dir = tempfile.TemporaryDirectory()
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(os.path.join(self.dir.name, "notify"))
        env = dict(os.environ, NOTIFY_SOCKET=self.notify.getsockname())
        for key in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "SUPERVISOR_LISTEN"):
            env.pop(key, None)
        kwargs = {}
        if listener is not None:
            env["LISTEN_FDS"] = "1"
            fd = listener.fileno()
            move = "" if fd == 3 else f" 3<&{fd} {fd}<&-"
            command = ["sh", "-c", f'LISTEN_PID=$$ exec "$@"{move}', "sh"] + command
            kwargs = {"pass_fds": (fd,)}
        else:
            env["SUPERVISOR_LISTEN"] = address
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)

    def wait_ready(self, timeout=20):
        self.notify.settimeout(timeout)
        while True:
            try:
                message = self.notify.recv(4096).decode()
            except socket.timeout:
                raise AssertionError(f"no READY=1 within {timeout} s; stderr: {self.stderr()}") from None
            if "READY=1" in message.split("\n"):
                return

    def stderr(self):
        if self.process.poll() is None:
            self.process.kill()
        return self.process.communicate()[1].decode(errors="replace")[-2000:]

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process.stderr.close()
        self.notify.close()
        self.dir.cleanup()


def listening_socket():
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


class DrainContract(unittest.TestCase):
    def check_drain(self, name):
        listener = listening_socket()
        port = listener.getsockname()[1]
        example = Example(name, listener=listener)
        self.addCleanup(example.close)
        self.addCleanup(listener.close)
        example.wait_ready()
        busy = socket.create_connection(("127.0.0.1", port))
        idle = socket.create_connection(("127.0.0.1", port))
        self.addCleanup(busy.close)
        self.addCleanup(idle.close)
        for conn in (busy, idle):
            status, headers = request(conn)
            self.assertEqual(status, "HTTP/1.1 200 OK")
            self.assertNotEqual(headers.get("connection"), "close")

        listener.close()  # the test's copy: only the example's copy is left, as in a real handover of the socket
        stopped = time.monotonic()
        example.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        answer = request(busy)
        self.assertIsNotNone(answer, f"{name} closed a kept-alive connection at once")
        self.assertEqual(answer[0], "HTTP/1.1 200 OK")
        self.assertEqual(answer[1].get("connection"), "close")
        self.assertIsNotNone(closed_at(busy, 2), f"{name} kept the connection open after Connection: close")

        when = closed_at(idle, example.grace + 3)
        self.assertIsNotNone(when, f"{name} did not close an idle connection after its grace")
        self.assertGreaterEqual(when - stopped, example.grace - 0.2, f"{name} closed an idle connection early")
        example.process.wait(timeout=10)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1)

    def test_go_lossless_drains(self):
        self.check_drain("go-lossless")

    def test_node_lossless_drains(self):
        self.check_drain("node-lossless")

    def test_supervised_uvicorn_drains(self):
        self.check_drain("uvicorn-lossless")

    def test_gunicorn_gthread_drains(self):
        self.check_drain("gunicorn-gthread")

    def check_two_bind_one_port(self, name):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            address = "127.0.0.1:%d" % probe.getsockname()[1]
        examples = [Example(name, address=address) for _ in range(2)]
        for example in examples:
            self.addCleanup(example.close)
        for example in examples:
            example.wait_ready()
        host, port = address.split(":")
        with socket.create_connection((host, int(port))) as conn:
            self.assertEqual(request(conn)[0], "HTTP/1.1 200 OK")

    def test_go_lossless_binds_supervisor_listen_with_so_reuseport(self):
        self.check_two_bind_one_port("go-lossless")

    def test_supervised_uvicorn_binds_supervisor_listen_with_so_reuseport(self):
        self.check_two_bind_one_port("uvicorn-lossless")


if __name__ == "__main__":
    unittest.main(verbosity=2)
