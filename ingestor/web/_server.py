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


def serve(app: Any, *, host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM."""
    server = uvicorn.Server(_config(app, host, port))
    log.info("server_starting", host=host, port=port)
    server.run()
    if not server.started:
        raise ConfigError(f"could not listen on {host}:{port} (see the log line above)")


class ServerThread:
    """uvicorn in a daemon thread; ``start`` returns once it listens (or raises), ``stop``
    asks it to finish and waits."""

    def __init__(self, app: Any, *, host: str, port: int) -> None:
        self.server = uvicorn.Server(_config(app, host, port))
        self._thread = threading.Thread(target=self.server.run, name="ingestor-serve", daemon=True)

    @property
    def port(self) -> int:
        """The port listened on (the real one when 0 was asked for)."""
        sockets = [s for server in self.server.servers for s in server.sockets]
        return int(sockets[0].getsockname()[1])

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
