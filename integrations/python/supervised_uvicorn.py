"""Runs an ASGI app with uvicorn under the supervisor (or systemd) so that stopping it loses no request.

- Sockets: those of LISTEN_FDS when LISTEN_PID is this process (the supervisor's reuseport and shared modes), else
  each address of SUPERVISOR_LISTEN bound with SO_REUSEADDR and SO_REUSEPORT (app mode; uvicorn's own --host/--port
  bind cannot share a port).
- READY=1 over NOTIFY_SOCKET once uvicorn serves (after the app's lifespan startup).
- The drain: uvicorn's shutdown() of a connection closes it at once when it is idle (between two keep-alive
  requests, or accepted with no request yet), racing the client's next request, and ends one in flight without
  `Connection: close`. The protocol classes here instead answer every request from the stop on with
  `Connection: close` (the server closes after that response) and close a connection only once it stayed idle
  through the grace. uvicorn waits for every connection to close (at most --deadline), then runs lifespan shutdown.

    python supervised_uvicorn.py app:asgi_app [--grace 1] [--deadline 25] [--http h11|httptools]
"""

import argparse
import os
import socket
import sys

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

FIRST_LISTEN_FD = 3  # SD_LISTEN_FDS_START
CONNECTION_CLOSE = (b"connection", b"close")


def listen_sockets(env=os.environ):
    """The sockets to serve on: LISTEN_FDS (removed from the environment) or SO_REUSEPORT binds of SUPERVISOR_LISTEN."""
    if env.get("LISTEN_FDS") and env.get("LISTEN_PID") == str(os.getpid()):
        count = int(env["LISTEN_FDS"])
        for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            env.pop(name, None)
        return [socket.socket(fileno=FIRST_LISTEN_FD + i) for i in range(count)]
    addrs = [a.strip() for a in env.get("SUPERVISOR_LISTEN", "").split(",") if a.strip()]
    if not addrs:
        raise SystemExit("no socket to serve on: neither LISTEN_FDS (for this pid) nor SUPERVISOR_LISTEN is set")
    sockets = []
    for addr in addrs:
        host, _, port = addr.rpartition(":")
        host = host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on connections whose proto says TCP.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, int(port)))
        sock.listen(1024)
        sockets.append(sock)
    return sockets


def sd_notify(state):
    """Sends state to NOTIFY_SOCKET (a leading @ is the abstract namespace); does nothing when it is unset."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr[0] == "@":
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.connect(addr)
        sock.sendall(state.encode())


class DrainMixin:
    """Replaces uvicorn's shutdown() of a connection with a drain that closes no connection under a client."""

    drain_grace = 1.0  # seconds a connection may stay idle once draining; set by run()
    _draining = False
    _idle_close = None

    def connection_made(self, transport):
        super().connection_made(transport)
        # Accepted before the listener closed but set up after shutdown() went round: drain it too.
        if getattr(self.server_state, "draining", False):
            self.shutdown()

    def data_received(self, data):
        super().data_received(data)  # may start a request's cycle; its ASGI task has not run yet
        if self._draining:
            self._announce_close()

    def on_response_complete(self):
        super().on_response_complete()
        if self._draining and not self.transport.is_closing():
            self._announce_close()  # a pipelined request may have started
            self._close_when_idle()

    def shutdown(self):
        self.server_state.draining = True
        self._draining = True
        self._announce_close()
        # An idle connection gets the grace; one in flight closes after its response (Connection: close), or, if
        # its headers were already out, turns idle after it and gets the grace then.
        self._close_when_idle()

    def _announce_close(self):
        """Every response whose headers are not out yet says Connection: close; uvicorn then closes after it."""
        cycles = [self.cycle] + [cycle for cycle, _ in getattr(self, "pipeline", ())]
        for cycle in cycles:
            if cycle is not None and not cycle.response_started and CONNECTION_CLOSE not in cycle.default_headers:
                cycle.default_headers = cycle.default_headers + [CONNECTION_CLOSE]

    def _idle(self):
        return self.cycle is None or self.cycle.response_complete

    def _close_when_idle(self):
        if not self._idle():
            return
        if self._idle_close is not None:
            self._idle_close.cancel()
        self._idle_close = self.loop.call_later(self.drain_grace, self._close_if_still_idle)

    def _close_if_still_idle(self):
        if self._idle() and not self.transport.is_closing():
            super().shutdown()  # uvicorn's own close of an idle connection


class DrainingH11Protocol(DrainMixin, H11Protocol):
    """uvicorn's h11 protocol with the drain of DrainMixin."""


PROTOCOLS = {"h11": DrainingH11Protocol}
try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class DrainingHttpToolsProtocol(DrainMixin, HttpToolsProtocol):
        """uvicorn's httptools protocol with the drain of DrainMixin."""

    PROTOCOLS["httptools"] = DrainingHttpToolsProtocol
except ImportError:  # httptools is optional
    pass


class SupervisedServer(uvicorn.Server):
    """uvicorn's server that sends READY=1 once it serves."""

    async def startup(self, sockets=None):
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            sd_notify("READY=1")

    async def shutdown(self, sockets=None):
        sd_notify("STATUS=draining")
        await super().shutdown(sockets=sockets)


def run(app, grace=1.0, deadline=25.0, http="h11", **config):
    """Serves app (an ASGI app or "module:attr") until SIGTERM/SIGINT, then drains as DrainMixin says."""
    protocol = PROTOCOLS[http]
    protocol.drain_grace = grace
    config.setdefault("access_log", False)
    server = SupervisedServer(uvicorn.Config(app, http=protocol, timeout_graceful_shutdown=deadline, **config))
    server.run(sockets=listen_sockets())


def main(argv=None):
    parser = argparse.ArgumentParser(description="uvicorn under the supervisor, without losing requests")
    parser.add_argument("app", help="the ASGI app, module:attribute")
    parser.add_argument("--app-dir", default=os.path.dirname(os.path.abspath(__file__)),
                        help="directory to import the app from (default: this file's)")
    parser.add_argument("--grace", type=float, default=1.0, help="seconds idle connections stay open once draining")
    parser.add_argument("--deadline", type=float, default=25.0, help="seconds the drain may take in all")
    parser.add_argument("--http", choices=sorted(PROTOCOLS), default="h11")
    args = parser.parse_args(argv)
    sys.path.insert(0, args.app_dir)
    run(args.app, grace=args.grace, deadline=args.deadline, http=args.http)


if __name__ == "__main__":
    main()
