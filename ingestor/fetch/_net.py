"""The network under the fetcher: a vetted httpcore backend, the total deadline, the transport.

Owns: name resolution (in a small executor, waited on with the time left), vetting every resolved
address with ``_addresses.address_allowed`` and connecting to the vetted IP literal, so the
address checked is the address connected to; clamping every socket operation (connect, TLS
handshake, each read and write) to the time left before the fetch's deadline; and an httpx
transport over httpcore's pool with no proxies and nothing read from the environment.

Does not: follow redirects, build requests, decode bodies or translate httpcore's exceptions
(``Fetcher`` does all of that, one hop at a time); it raises ``BlockedAddress``,
``FetchTimeout`` and ``TransportError`` only for what it decides itself.

Inputs: host names and ports from request URLs (hostile, from feeds and redirects), the
operator's allow-list and total timeout from ``FetchPolicy``, and a resolver (the system's, or a
test's fake). The deadline is set per fetch by ``Fetcher``, in the calling thread.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import httpcore
import httpx

from ingestor.errors import BlockedAddress, FetchTimeout, TransportError, one_line
from ingestor.fetch._addresses import IPAddress, Network, address_allowed, parse_ip_host
from ingestor.policies import FetchPolicy

__all__ = ["Deadline", "Outbound", "Resolver", "Transport", "VettedBackend", "system_resolver"]

Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


class Deadline:
    """The running fetch's deadline, per thread (httpcore's sync pool works in the caller's)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def set(self, deadline: float | None) -> None:
        self._local.at = deadline

    def left(self) -> float | None:
        at: float | None = getattr(self._local, "at", None)
        return None if at is None else at - time.monotonic()

    def clamp(self, timeout: float | None, exc: type[Exception]) -> float | None:
        left = self.left()
        if left is None:
            return timeout
        if left <= 0.001:
            raise exc("the total deadline passed")
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        timeout = self._deadline.clamp(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, timeout), self._deadline
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class VettedBackend(httpcore.SyncBackend):
    """Resolves, vets, then connects to an IP literal; the blocked get no connection at all."""

    def __init__(
        self,
        resolver: Resolver,
        deadline: Deadline,
        *,
        allow_networks: tuple[Network, ...],
        timeout_s: float,
    ) -> None:
        self._resolver = resolver
        self._deadline = deadline
        self._allow_networks = allow_networks
        self._timeout_s = timeout_s
        self._dns = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ingestor-dns")

    def _resolve(self, host: str, port: int) -> list[str]:
        left = self._deadline.left()
        if left is not None and left <= 0:
            raise FetchTimeout(f"the {self._timeout_s:g}s deadline passed resolving {host}")
        future = self._dns.submit(self._resolver, host, port)
        try:
            return list(future.result(timeout=left))
        except FutureTimeout as e:
            future.cancel()
            raise FetchTimeout(f"the {self._timeout_s:g}s deadline passed resolving {host}") from e
        except (OSError, UnicodeError, ValueError) as e:
            raise TransportError(f"cannot resolve {host}: {one_line(e, limit=160)}") from e

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        literal = parse_ip_host(host)
        found = [str(literal)] if literal is not None else self._resolve(host, port)
        allowed: list[IPAddress] = []
        for text in found:
            if address_allowed(text, self._allow_networks):
                ip = ipaddress.ip_address(text)
                mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
                allowed.append(mapped or ip)
        if not found:
            raise TransportError(f"{host} resolves to no address")
        if not allowed:
            # Name the way out: the operator may mean to poll a host on such a network.
            hint = "allow its network with fetch.allow_networks if it is meant to be polled"
            if literal is not None:
                raise BlockedAddress(f"{host} is a blocked address ({literal}); {hint}")
            shown = ", ".join(sorted(set(found))[:3])
            raise BlockedAddress(f"{host} resolves only to blocked addresses ({shown}); {hint}")
        error: Exception | None = None
        for ip in allowed:
            try:
                stream = super().connect_tcp(
                    str(ip),
                    port,
                    self._deadline.clamp(timeout, httpcore.ConnectTimeout),
                    local_address,
                    socket_options,
                )
                return _DeadlineStream(stream, self._deadline)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                error = e
        assert error is not None
        raise error

    def close(self) -> None:
        self._dns.shutdown(wait=False, cancel_futures=True)


class _RawBody(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class Transport(httpx.BaseTransport):
    """httpx's ``HTTPTransport`` without proxies or environment, over our network backend."""

    def __init__(self, backend: VettedBackend) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpcore.default_ssl_context(),
            max_connections=None,
            max_keepalive_connections=32,
            keepalive_expiry=30.0,
            network_backend=backend,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        url = httpcore.URL(
            scheme=request.url.raw_scheme,
            host=request.url.raw_host,
            port=request.url.port,
            target=request.url.raw_path,
        )
        core = httpcore.Request(
            request.method, url, headers=request.headers.raw, content=request.stream,
            extensions=request.extensions,
        )  # fmt: skip
        response = self._pool.handle_request(core)
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            response.status,
            headers=response.headers,
            stream=_RawBody(response.stream),
            extensions=response.extensions,
            request=request,
        )

    def close(self) -> None:
        self._pool.close()


class Outbound:
    """What every outgoing request of the service goes through, built from the fetch policy: a
    per-thread ``Deadline``, the ``VettedBackend`` that checks every address, and a
    ``Transport`` over it. The fetcher and the webhook poster each hold one."""

    def __init__(self, policy: FetchPolicy, *, resolver: Resolver | None = None) -> None:
        self.deadline = Deadline()
        self.backend = VettedBackend(
            resolver or system_resolver,
            self.deadline,
            allow_networks=policy.allow_networks,
            timeout_s=policy.timeout_s,
        )
        self.transport = Transport(self.backend)

    def close(self) -> None:
        self.transport.close()
        self.backend.close()
