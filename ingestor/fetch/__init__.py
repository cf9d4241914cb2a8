"""Network I/O for feeds: one conditional GET per feed, bounded in time, size and reach.

Owns: the HTTP client (httpx over httpcore; imported nowhere else), the address policy (which IPs
we ever connect to), redirects, the total deadline, the body cap, content decoding, cache and
Retry-After hints, and turning every transport failure into a ``FetchError`` value.

Does not: parse, retry, sleep or decide when to poll next (``schedule``), and never raises for a
failure it expects: ``Fetcher.fetch`` returns ``FetchResult(status="error", error=...)``.

Inputs: ``FeedSource`` rows from the store (URL, stored ETag/Last-Modified) and a ``FetchPolicy``
the pipeline builds from settings. Every byte and header that comes back is hostile.

How the guarantees are kept:

* Reach: httpcore's connection pool gets our network backend. It resolves the host itself, vets
  every address (``address_allowed``) and connects to a vetted IP literal, so the address checked
  is the address connected to, on every redirect hop (redirects are followed here, one hop at a
  time). TLS SNI and certificate checks still use the host name.
* Time: one monotonic deadline per fetch, kept in a thread-local. DNS runs in a small executor
  waited on with the time left; every socket operation (connect, TLS handshake, each read and
  write) gets ``min(its own timeout, time left)``, so a server dripping a byte at a time runs
  out of time rather than resetting a per-read timer. CPython applies a socket timeout to a whole
  TLS handshake, so no watchdog thread is needed.
* Size: the body is read raw and decoded here, in pieces of at most 64 KiB (``zlib``
  ``max_length``, brotli ``output_buffer_limit``), and counted after decoding. httpx's own
  decoders inflate a whole network read at once (64 KiB of a gzip bomb is 64 MiB), so they are
  not used.

Size: this module is longer than the house guide's ~400 lines. Its seams are the sections below:
the address policy is pure and the content decoders are self-contained; either can move out
without touching ``Fetcher``'s interface.
"""

from __future__ import annotations

import email.utils
import http
import ipaddress
import os
import socket
import stat
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import brotli  # type: ignore[import-untyped]
import httpcore
import httpx

from ingestor.errors import (
    BlockedAddress,
    BodyTooLarge,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    TooManyRedirects,
    TransportError,
    UnsupportedURL,
)
from ingestor.models import FeedSource, FetchResult

__all__ = ["FetchPolicy", "Fetcher", "address_allowed", "parse_ip_host"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, "
    "text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
_CHUNK = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_HINT = timedelta(days=30)
"""Retry-After further out than this is treated as this (``schedule`` clamps again)."""


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """Limits for one fetch; the pipeline builds it from the ``fetch_*`` settings."""

    timeout_s: float = 30.0
    """Total deadline: DNS, connect, TLS, headers, body and every redirect hop together."""
    connect_timeout_s: float = 10.0
    max_body_bytes: int = 15 * 1024 * 1024
    """Counted after decompression."""
    max_redirects: int = 5
    user_agent: str = "ingestor/0.1 (news feed deduplication; +https://example.org/ingestor)"
    allow_networks: tuple[Network, ...] = ()
    """Networks fetched even though private or loopback (an operator's internal feeds)."""
    per_host: int = 2
    """Concurrent requests per host name."""


# -- address policy ------------------------------------------------------------------------------

_BLOCKED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
        "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/8", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "fc00::/7",
        "fe80::/10", "fec0::/10", "ff00::/8",
    )
)  # fmt: skip
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _blocked(ip: IPAddress) -> bool:
    if (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
        or ip.is_unspecified or not ip.is_global or any(ip in net for net in _BLOCKED)
    ):  # fmt: skip
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.sixtofour
        if ip in _NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        return ip.is_site_local or (inner is not None and _blocked(inner))
    return False


def address_allowed(address: str | IPAddress, allow_networks: Iterable[Network] = ()) -> bool:
    """Whether we may connect to ``address``: a public unicast address, or one inside
    ``allow_networks``. IPv4-mapped IPv6 is judged as the IPv4 address it is; 6to4 and NAT64
    addresses also by the IPv4 address they embed. Anything unparsable is refused."""
    try:
        ip = address if not isinstance(address, str) else ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip.version == net.version and ip in net for net in allow_networks):
        return True
    return not _blocked(ip)


def _ipv4_part(part: str) -> int | None:
    try:
        if part[:2].lower() == "0x":
            return (
                int(part[2:] or "0", 16)
                if all(c in "0123456789abcdefABCDEF" for c in part[2:])
                else None
            )
        if not (part.isascii() and part.isdigit()):
            return None
        return int(part, 8) if len(part) > 1 and part[0] == "0" else int(part)
    except ValueError:
        return None


def parse_ip_host(host: str) -> IPAddress | None:
    """The address a URL host spells, in any spelling a resolver accepts (``127.1``, ``0x7f.1``,
    ``2130706433``, ``017700000001``, ``[::ffff:127.0.0.1]``), or ``None`` for a host name.
    A host that ends in a number but is no valid IPv4 address raises ``UnsupportedURL``."""
    name = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in name:
        try:
            return ipaddress.IPv6Address(unquote(name))
        except ValueError as e:
            raise UnsupportedURL(f"invalid IPv6 host {host[:60]!r}") from e
    parts = name.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if not parts[-1] or _ipv4_part(parts[-1]) is None:
        return None
    values = [_ipv4_part(p) if p else None for p in parts]
    if len(values) > 4 or any(v is None for v in values):
        raise UnsupportedURL(f"invalid IPv4 host {host[:60]!r}")
    numbers = [v for v in values if v is not None]
    if any(v > 255 for v in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise UnsupportedURL(f"invalid IPv4 host {host[:60]!r}")
    value = numbers[-1] + sum(v << (8 * (3 - i)) for i, v in enumerate(numbers[:-1]))
    return ipaddress.IPv4Address(value)


def _system_resolver(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


# -- httpcore plumbing ---------------------------------------------------------------------------


class _Deadline:
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
    def __init__(self, inner: httpcore.NetworkStream, deadline: _Deadline) -> None:
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


class _VettedBackend(httpcore.SyncBackend):
    """Resolves, vets, then connects to an IP literal; the blocked get no connection at all."""

    def __init__(self, policy: FetchPolicy, resolver: Resolver, deadline: _Deadline) -> None:
        self._policy = policy
        self._resolver = resolver
        self._deadline = deadline
        self._dns = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ingestor-dns")

    def _resolve(self, host: str, port: int) -> list[str]:
        left = self._deadline.left()
        if left is not None and left <= 0:
            raise FetchTimeout(f"the {self._policy.timeout_s:g}s deadline passed resolving {host}")
        future = self._dns.submit(self._resolver, host, port)
        try:
            return list(future.result(timeout=left))
        except FutureTimeout as e:
            future.cancel()
            raise FetchTimeout(
                f"the {self._policy.timeout_s:g}s deadline passed resolving {host}"
            ) from e
        except (OSError, UnicodeError, ValueError) as e:
            raise TransportError(f"cannot resolve {host}: {_line(e)}") from e

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
            if address_allowed(text, self._policy.allow_networks):
                ip = ipaddress.ip_address(text)
                mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
                allowed.append(mapped or ip)
        if not found:
            raise TransportError(f"{host} resolves to no address")
        if not allowed:
            if literal is not None:
                raise BlockedAddress(f"{host} is a blocked address ({literal})")
            shown = ", ".join(sorted(set(found))[:3])
            raise BlockedAddress(f"{host} resolves only to blocked addresses ({shown})")
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


class _Transport(httpx.BaseTransport):
    """httpx's ``HTTPTransport`` without proxies or environment, over our network backend."""

    def __init__(self, backend: _VettedBackend) -> None:
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


# -- content decoding ----------------------------------------------------------------------------


class _Decoder(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]: ...


class _Zlib:
    """gzip (members concatenated) or deflate (zlib-wrapped or raw), at most 64 KiB a piece."""

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._d: Any = None

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data or self._d is not None:
            if self._d is None:
                raw = not self._gzip and (len(data) < 2 or (data[0] * 256 + data[1]) % 31 != 0)
                self._d = zlib.decompressobj(31 if self._gzip else -15 if raw else 15)
            out = self._d.decompress(data, _CHUNK)
            if out:
                yield out
            if self._d.unconsumed_tail:
                data = self._d.unconsumed_tail
            elif self._d.eof:
                data = self._d.unused_data
                if not (self._gzip and data.startswith(b"\x1f\x8b")):
                    return  # trailing bytes after the stream are ignored, as browsers do
                self._d = None
            elif len(out) == _CHUNK:
                data = b""  # output may be pending inside zlib
            else:
                return


class _Brotli:
    def __init__(self) -> None:
        self._d = brotli.Decompressor()

    def feed(self, data: bytes) -> Iterator[bytes]:
        out = self._d.process(data, output_buffer_limit=_CHUNK)
        while True:
            if out:
                yield out
            if self._d.can_accept_more_data():
                return
            out = self._d.process(b"", output_buffer_limit=_CHUNK)


def _decoders(content_encoding: str) -> list[_Decoder]:
    """Decoders in the order to apply them (the reverse of the order the server applied)."""
    names = [t.strip().lower() for t in content_encoding.split(",") if t.strip()]
    chain: list[_Decoder] = []
    for name in reversed(names):
        if name in ("gzip", "x-gzip", "deflate"):
            chain.append(_Zlib(gzip=name != "deflate"))
        elif name == "br":
            chain.append(_Brotli())
        elif name != "identity":
            raise TransportError(f"unsupported Content-Encoding {name[:20]!r}")
    if len(chain) > 3:
        raise TransportError("too many Content-Encoding layers")
    return chain


def _decode(chain: list[_Decoder], data: bytes) -> Iterator[bytes]:
    """``data`` through every decoder, lazily: no layer holds more than one piece at a time."""
    if not chain:
        yield data
        return
    for piece in chain[0].feed(data):
        yield from _decode(chain[1:], piece)


# -- header hints --------------------------------------------------------------------------------


def _http_date(value: str | None) -> datetime | None:
    if not value or len(value) > 64:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _max_age(headers: httpx.Headers, now: datetime) -> int | None:
    """Freshness from ``Cache-Control: max-age`` (``s-maxage`` is for shared caches), else
    ``Expires`` minus ``Date``; ``no-store``/``no-cache`` mean no hint. An invalid ``Expires``
    means already stale (RFC 9111)."""
    directives: dict[str, str] = {}
    for part in headers.get("cache-control", "").split(","):
        name, _, value = part.partition("=")
        directives.setdefault(name.strip().lower(), value.strip().strip('"'))
    if "no-store" in directives or "no-cache" in directives:
        return None
    age = directives.get("max-age", "")
    if age.isascii() and age.isdigit():
        return min(int(age[:10]), 2**31 - 1)
    if "expires" not in headers:
        return None
    expires = _http_date(headers["expires"])
    if expires is None:
        return 0
    date = _http_date(headers.get("date")) or now
    return max(0, min(int((expires - date).total_seconds()), 2**31 - 1))


def _retry_after(value: str | None, now: datetime) -> datetime | None:
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return now + min(timedelta(seconds=int(value[:10])), _MAX_HINT)
    when = _http_date(value)
    return None if when is None else min(max(when, now), now + _MAX_HINT)


def _header(headers: httpx.Headers, name: str, limit: int = 1024) -> str | None:
    value = headers.get(name)
    return value if value is not None and 0 < len(value) <= limit else None


def _line(error: BaseException) -> str:
    text = " ".join(str(error).split())[:160]
    return text or type(error).__name__


def _validator(value: str | None) -> str | None:
    """A stored ETag/Last-Modified, if it can be sent back as a header unchanged."""
    ok = value is not None and value.isascii() and value.isprintable() and len(value) <= 1024
    return value if ok else None


# -- the fetcher ---------------------------------------------------------------------------------


class _Slot:
    __slots__ = ("semaphore", "users")

    def __init__(self, size: int) -> None:
        self.semaphore = threading.BoundedSemaphore(size)
        self.users = 0


class Fetcher:
    """Fetches feeds; thread-safe, one instance shared by the daemon's worker threads."""

    def __init__(self, policy: FetchPolicy, *, resolver: Resolver | None = None) -> None:
        self._policy = policy
        self._deadline = _Deadline()
        self._backend = _VettedBackend(policy, resolver or _system_resolver, self._deadline)
        self._transport = _Transport(self._backend)
        self._slots: dict[str, _Slot] = {}
        self._slots_lock = threading.Lock()

    def close(self) -> None:
        self._transport.close()
        self._backend.close()

    def fetch(self, source: FeedSource, *, now: datetime) -> FetchResult:
        """Fetch ``source`` once. Expected failures come back as ``status="error"``; ``url`` is
        the address the answer came from (the last redirect hop), a base for relative links."""
        start = time.monotonic()
        where = [source.url]
        try:
            if source.url[:5].lower() == "file:":
                result = self._fetch_file(source, now)
            else:
                result = self._fetch_http(source, now, start + self._policy.timeout_s, where)
        except FetchError as e:
            result = FetchResult(url=where[-1], status="error", fetched_at=now, error=e)
        return replace(result, elapsed_ms=int((time.monotonic() - start) * 1000))

    # -- http ------------------------------------------------------------------------------

    def _fetch_http(
        self, source: FeedSource, now: datetime, deadline: float, where: list[str]
    ) -> FetchResult:
        self._deadline.set(deadline)
        try:
            return self._follow(source, now, deadline, where)
        except FetchError:
            raise
        except httpcore.TimeoutException as e:
            raise FetchTimeout(
                f"timed out ({type(e).__name__}; total deadline {self._policy.timeout_s:g}s)"
            ) from e
        except (httpx.InvalidURL, httpcore.UnsupportedProtocol, UnicodeError) as e:
            raise UnsupportedURL(f"invalid URL: {_line(e)}") from e
        except httpcore.ProtocolError as e:
            # h11 quotes the offending bytes after a colon; they may be the body: keep the gist
            raise TransportError(f"{type(e).__name__}: {str(e).split(':', 1)[0][:80]}") from e
        except (httpcore.NetworkError, httpx.HTTPError, OSError, zlib.error, brotli.error) as e:
            raise TransportError(f"{type(e).__name__}: {_line(e)}") from e
        finally:
            self._deadline.set(None)

    def _follow(
        self, source: FeedSource, now: datetime, deadline: float, where: list[str]
    ) -> FetchResult:
        url = httpx.URL(source.url)
        seen = {str(url)}
        permanent = True
        for hop in range(self._policy.max_redirects + 1):
            if url.scheme not in ("http", "https") or not url.host:
                raise UnsupportedURL(
                    f"refusing {url.scheme or 'scheme-less'} URL {str(url)[:80]!r}"
                )
            with self._host_slot(url.host, deadline):
                response = self._send(url, source, deadline)
                try:
                    if response.status_code not in _REDIRECTS:
                        moved = str(url) if hop and permanent else None
                        return self._finish(response, now, deadline, moved)
                finally:
                    response.close()
            location = response.headers.get("location")
            if not location:
                raise HTTPStatusError(
                    f"HTTP {response.status_code} without Location", response.status_code
                )
            permanent = permanent and response.status_code in (301, 308)
            url = url.join(location.strip())
            where.append(str(url))
            if str(url) in seen:
                raise TooManyRedirects(f"redirect loop back to {str(url)[:80]}")
            seen.add(str(url))
        raise TooManyRedirects(f"more than {self._policy.max_redirects} redirects")

    @contextmanager
    def _host_slot(self, host: str, deadline: float) -> Iterator[None]:
        """At most ``per_host`` requests to one host at once; the map only holds hosts in use."""
        with self._slots_lock:
            slot = self._slots.setdefault(host, _Slot(self._policy.per_host))
            slot.users += 1
        try:
            if not slot.semaphore.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise FetchTimeout(
                    f"the {self._policy.timeout_s:g}s deadline passed waiting for {host}"
                )
            try:
                yield
            finally:
                slot.semaphore.release()
        finally:
            with self._slots_lock:
                slot.users -= 1
                if slot.users == 0:
                    del self._slots[host]

    def _send(self, url: httpx.URL, source: FeedSource, deadline: float) -> httpx.Response:
        left = deadline - time.monotonic()
        if left <= 0:
            raise FetchTimeout(f"the {self._policy.timeout_s:g}s deadline passed")
        headers = {
            "User-Agent": self._policy.user_agent,
            "Accept": ACCEPT,
            "Accept-Encoding": "gzip, deflate, br",
        }
        if etag := _validator(source.etag):
            headers["If-None-Match"] = etag
        if modified := _validator(source.last_modified):
            headers["If-Modified-Since"] = modified
        timeout = {
            "connect": min(self._policy.connect_timeout_s, left),
            "read": left,
            "write": left,
            "pool": left,
        }
        request = httpx.Request("GET", url, headers=headers, extensions={"timeout": timeout})
        return self._transport.handle_request(request)

    def _finish(
        self, response: httpx.Response, now: datetime, deadline: float, moved: str | None
    ) -> FetchResult:
        status = response.status_code
        headers = response.headers
        common: dict[str, Any] = {
            "url": str(response.request.url), "fetched_at": now, "http_status": status,
            "permanent_url": moved,
        }  # fmt: skip
        if status == 304 or 200 <= status < 300:
            common.update(
                etag=_header(headers, "etag"),
                last_modified=_header(headers, "last-modified", 100),
                max_age_s=_max_age(headers, now),
            )
        if status == 304:
            return FetchResult(status="not_modified", **common)
        if 200 <= status < 300:
            body = self._read_body(response, deadline)
            content_type = _header(headers, "content-type", 200)
            return FetchResult(status="ok", body=body, content_type=content_type, **common)
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = "unknown status"
        retry = _retry_after(headers.get("retry-after"), now) if status in (429, 503) else None
        error = HTTPStatusError(f"HTTP {status} {phrase}", status)
        return FetchResult(status="error", error=error, retry_after=retry, **common)

    def _read_body(self, response: httpx.Response, deadline: float) -> bytes:
        cap = self._policy.max_body_bytes
        length = response.headers.get("content-length", "").strip()
        if length.isascii() and length.isdigit() and int(length[:20]) > cap:
            raise BodyTooLarge(f"Content-Length {length[:20]} is over the {cap}-byte cap")
        chain = _decoders(response.headers.get("content-encoding", ""))
        pieces: list[bytes] = []  # joined once at the end: no reallocation copies on the way
        size = raw = 0
        for data in response.iter_raw():
            raw += len(data)
            if raw > cap:
                raise BodyTooLarge(f"the body passed the {cap}-byte cap")
            for piece in _decode(chain, data):
                size += len(piece)
                if size > cap:
                    raise BodyTooLarge(f"the decoded body passed the {cap}-byte cap")
                pieces.append(piece)
            if time.monotonic() > deadline:
                raise FetchTimeout(
                    f"the {self._policy.timeout_s:g}s deadline passed reading the body"
                )
        return b"".join(pieces)

    # -- local files -----------------------------------------------------------------------

    def _fetch_file(self, source: FeedSource, now: datetime) -> FetchResult:
        """A feed file the operator's configuration names: same cap, mtime as Last-Modified."""
        parts = urlsplit(source.url)
        path = unquote(parts.path)
        if parts.netloc not in ("", "localhost") or not path.startswith("/") or "\x00" in path:
            raise UnsupportedURL("a file: URL must name an absolute local path")
        cap = self._policy.max_body_bytes
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):  # a FIFO or device could block or never end
                os.close(fd)
                raise UnsupportedURL(f"{path[:80]} is not a regular file")
            with open(fd, "rb", buffering=0) as fh:
                if info.st_size > cap:
                    raise BodyTooLarge(f"{path[:80]} is over the {cap}-byte cap")
                modified = email.utils.formatdate(info.st_mtime, usegmt=True)
                if source.last_modified == modified:
                    return FetchResult(source.url, "not_modified", now, last_modified=modified)
                body = fh.read(cap + 1)
        except OSError as e:
            raise TransportError(f"cannot read {path[:80]}: {e.strerror}") from e
        if len(body) > cap:
            raise BodyTooLarge(f"{path[:80]} is over the {cap}-byte cap")
        return FetchResult(source.url, "ok", now, body=body, last_modified=modified)
