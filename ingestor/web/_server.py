"""Running the application on uvicorn: in the foreground (``ingestor serve``) or in a thread
beside the daemon (``ingestor run --serve``).

Owns: ``serve`` and ``ServerThread``. uvicorn gets the application object, no logging
configuration of its own (``log_config=None``: our structlog setup stays) and no access log of
its own (``_app.AccessLog`` writes one structured line per request).

Why a thread for ``run --serve``: the daemon is synchronous (APScheduler's background
scheduler, signal handling in the main thread); uvicorn runs its own event loop in a second
thread and skips signal handling there, so SIGINT/SIGTERM reach the daemon, which stops the
server after its last tick.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import structlog
import uvicorn

from ingestor.errors import ConfigError

__all__ = ["ServerThread", "serve"]

log = structlog.get_logger()


def _config(app: Any, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="off",
        server_header=False,
    )  # fmt: skip


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (uvicorn listens on it); ``ConfigError`` in one line when
    the address cannot be had (in use, not this machine's, not an address)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as e:
        raise ConfigError(f"cannot listen on {host}:{port}: {e}") from e
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    return sock


def serve(app: Any, *, host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM."""
    sock = listen(host, port)
    server = uvicorn.Server(_config(app, host, port))
    log.info("server_starting", host=host, port=sock.getsockname()[1])
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


class ServerThread:
    """uvicorn in a daemon thread; ``start`` returns once it listens (or raises), ``stop``
    asks it to finish and waits."""

    def __init__(self, app: Any, *, host: str, port: int) -> None:
        self._socket = listen(host, port)
        self.server = uvicorn.Server(_config(app, host, port))
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._socket]}, name="ingestor-serve",
            daemon=True,
        )  # fmt: skip

    @property
    def port(self) -> int:
        """The port listened on (the real one when 0 was asked for)."""
        return int(self._socket.getsockname()[1])

    def start(self, *, timeout_s: float = 10.0) -> ServerThread:
        self._thread.start()
        waited = 0.0
        while not self.server.started and self._thread.is_alive() and waited < timeout_s:
            self._thread.join(0.02)
            waited += 0.02
        if not self.server.started:
            self.stop()
            raise ConfigError("the server did not start listening (see the log line above)")
        return self

    def stop(self, *, timeout_s: float = 10.0) -> None:
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self._socket.close()
