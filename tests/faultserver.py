"""A local HTTP server that misbehaves on purpose, for tests of anything that fetches.

``FaultServer`` is a threaded HTTP/1.1 server on a loopback address whose routes are plain
functions over the request handler; the factories below build the usual routes (a feed with
validators, a status, a redirect) and the faults (silence, a drip, a huge body, a gzip bomb made
on the fly). ``Listener`` is a bare socket that only counts who connects to it, standing in for an
internal service; ``StubResolver`` maps test host names to addresses. Everything listens on
loopback, runs on daemon threads and stops when its ``with`` block ends.
"""

from __future__ import annotations

import gzip
import socket
import sys
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

__all__ = [
    "FaultServer",
    "Handler",
    "Listener",
    "Recorded",
    "StubResolver",
    "big_body",
    "drip",
    "encoded_feed",
    "feed",
    "gzip_bomb",
    "peak_memory",
    "redirect",
    "silent",
    "status",
]

T = TypeVar("T")
BLOCK = 64 * 1024
ZEROS = bytes(BLOCK)


class Handler(BaseHTTPRequestHandler):
    """One request. Routes get this object: ``path``, ``headers``, ``reply()``, ``send()``,
    ``stop`` (set when the server stops, so a route that waits can end)."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        srv = self.server
        with srv.lock:
            srv.recorded.append(Recorded(self.path, dict(self.headers.items())))
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
        try:
            route = srv.routes.get(self.path.split("?", 1)[0])
            if route is None:
                self.reply(404, b"not found")
            else:
                route(self)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            with srv.lock:
                srv.in_flight -= 1

    @property
    def stop(self) -> threading.Event:
        return self.server.stop

    def start(self, code: int, headers: Mapping[str, str] | None = None) -> None:
        """Status line and ``headers``; a Date header unless ``headers`` brings its own."""
        headers = dict(headers or {})
        self.send_response_only(code)
        headers.setdefault("Date", self.date_time_string())
        for name, value in headers.items():
            self.send_header(name, value)

    def reply(self, code: int, body: bytes = b"", headers: Mapping[str, str] | None = None) -> None:
        """A complete response with a Content-Length."""
        self.start(code, headers)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def head(self, code: int, headers: Mapping[str, str] | None = None) -> None:
        """Status and headers of a body that runs until the connection closes."""
        self.start(code, headers)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True

    def send(self, data: bytes) -> bool:
        """Write raw bytes; ``False`` once the client has gone or the server stops."""
        if self.stop.is_set():
            return False
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True
            return False
        return True


Route = Callable[[Handler], None]


@dataclass(frozen=True)
class Recorded:
    path: str
    headers: dict[str, str]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # a tick connects to many feeds at once

    def __init__(self, host: str) -> None:
        super().__init__((host, 0), Handler)
        self.routes: dict[str, Route] = {}
        self.recorded: list[Recorded] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.in_flight = 0
        self.max_in_flight = 0

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-request is what these tests do; anything else is reported."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FaultServer:
    """``with FaultServer() as srv: srv.route("/feed", feed(b"..."))``; ``srv.url("/feed")``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._server = _Server(host)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def route(self, path: str, route: Route) -> str:
        """Serve ``route`` at ``path``; returns the URL."""
        self._server.routes[path] = route
        return self.url(path)

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    @property
    def recorded(self) -> list[Recorded]:
        with self._server.lock:
            return list(self._server.recorded)

    @property
    def max_in_flight(self) -> int:
        return self._server.max_in_flight


class Listener:
    """A socket that accepts and counts connections, then drops them: an internal service."""

    def __init__(self, host: str = "127.0.0.2", port: int = 0) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


class StubResolver:
    """A resolver for ``Fetcher(resolver=...)``: fixed answers per host, every call recorded."""

    def __init__(self, answers: Mapping[str, list[str]]) -> None:
        self.answers = dict(answers)
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.answers[host])


def peak_memory(fn: Callable[[], T]) -> tuple[T, int]:
    """``fn()`` and the peak of Python allocations made while it ran, in bytes."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak - base


# -- routes ------------------------------------------------------------------------------------


def feed(
    body: bytes,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    content_type: str = "application/rss+xml; charset=utf-8",
    headers: Mapping[str, str] | None = None,
) -> Route:
    """A feed that answers 304 to a matching If-None-Match or If-Modified-Since."""

    def route(h: Handler) -> None:
        extra = dict(headers or {})
        if etag:
            extra["ETag"] = etag
        if last_modified:
            extra["Last-Modified"] = last_modified
        inm, ims = h.headers.get("If-None-Match"), h.headers.get("If-Modified-Since")
        if (etag and inm == etag) or (last_modified and not inm and ims == last_modified):
            h.reply(304, b"", extra)
            return
        h.reply(200, body, {"Content-Type": content_type, **extra})

    return route


def encoded_feed(body: bytes, encoding: str) -> Route:
    """A feed sent with ``Content-Encoding: encoding`` (gzip, deflate, br or a chain)."""
    import brotli  # type: ignore[import-untyped]

    data = body
    for name in [t.strip() for t in encoding.split(",")]:
        if name == "gzip":
            data = gzip.compress(data)
        elif name == "deflate":
            data = zlib.compress(data)
        elif name == "br":
            data = brotli.compress(data)

    def route(h: Handler) -> None:
        h.reply(200, data, {"Content-Type": "application/rss+xml", "Content-Encoding": encoding})

    return route


def status(code: int, headers: Mapping[str, str] | None = None, body: bytes = b"") -> Route:
    def route(h: Handler) -> None:
        h.reply(code, body, headers)

    return route


def redirect(location: str, code: int = 302) -> Route:
    return status(code, {"Location": location})


def silent(for_s: float = 10.0) -> Route:
    """Accepts the request and says nothing for ``for_s`` seconds (or until the server stops),
    then hangs up."""

    def route(h: Handler) -> None:
        h.stop.wait(for_s)
        h.close_connection = True

    return route


def drip(interval: float = 0.25, *, in_headers: bool = False, count: int = 40) -> Route:
    """One byte every ``interval`` seconds, ``count`` of them, in the status line and headers or
    in the body (bounded, so a client without a total deadline fails a test instead of hanging)."""

    def route(h: Handler) -> None:
        if not in_headers:
            h.head(200, {"Content-Type": "application/rss+xml"})
        data = b"HTTP/1.1 200 OK\r\nX-Slow: " if in_headers else b"<rss>"
        h.close_connection = True
        for i in range(count):
            if not h.send(data[i : i + 1] or b"x"):
                return
            time.sleep(interval)

    return route


def big_body(total: int, *, content_length: bool = True) -> Route:
    """``total`` zero bytes, announced with a Content-Length or streamed until close."""

    def route(h: Handler) -> None:
        if content_length:
            h.start(200, {"Content-Length": str(total)})
            h.end_headers()
        else:
            h.head(200, {"Content-Type": "application/rss+xml"})
        sent = 0
        while sent < total and h.send(ZEROS[: total - sent]):
            sent += BLOCK
        h.close_connection = True

    return route


_BOMB_BLOCK = 1024 * 1024


def _deflate_blocks() -> tuple[bytes, bytes]:
    """Two raw-deflate pieces: the first MiB of zeros, and every further MiB (a full flush
    resets the compressor, so each further MiB compresses to the same bytes)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(_BOMB_BLOCK)
    first = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    assert c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH) == again
    return first, again


def gzip_bomb(inflated: int = 1024**3) -> Route:
    """A valid gzip stream of ``inflated`` zero bytes (1 GiB is about 1 MB on the wire),
    produced piece by piece while the client reads; nothing of it is stored."""
    first, again = _deflate_blocks()
    blocks = inflated // _BOMB_BLOCK
    zeros = bytes(_BOMB_BLOCK)  # made now, so the trailer's checksum allocates nothing later

    def pieces() -> Iterator[bytes]:
        yield b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + first
        for _ in range(blocks - 1):
            yield again
        crc = 0
        for _ in range(blocks):
            crc = zlib.crc32(zeros, crc)
        yield b"\x03\x00" + crc.to_bytes(4, "little") + (inflated % 2**32).to_bytes(4, "little")

    def route(h: Handler) -> None:
        h.head(200, {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"})
        for piece in pieces():
            if not h.send(piece):
                return

    return route
