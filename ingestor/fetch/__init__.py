"""Network I/O for feeds: one conditional GET per feed, bounded in time, size and reach.

Owns: the HTTP client (httpx over httpcore; imported nowhere outside this package), redirects,
the total deadline, the body cap, turning every transport failure into a ``FetchError`` value,
and ``file:`` feeds the operator configures. This module holds ``Fetcher`` (its ``FetchPolicy``
is the ``[fetch]`` settings section, from ``ingestor.policies``); the pieces it is built from
live beside it:

* ``_addresses``: the pure address policy (blocked ranges, IP spellings, the allow-list);
* ``_content``: bounded body decoders and the hints read from headers (cache, Retry-After,
  validators);
* ``_net``: the vetted network backend, the per-fetch deadline and the httpx transport;
* ``_post``: ``Poster``, one webhook POST over the same backend.

Does not: parse, retry, sleep or decide when to poll next (``schedule``), and never raises for a
failure it expects: ``Fetcher.fetch`` returns ``FetchResult(status="error", error=...)``.

Inputs: ``FeedSource`` rows from the store (URL, stored ETag/Last-Modified) and a ``FetchPolicy``
(the ``fetch`` section of the settings). Every byte and header that comes back is hostile.

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
"""

from __future__ import annotations

import email.utils
import http
import os
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import httpcore
import httpx

from ingestor.errors import (
    BodyTooLarge,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    TooManyRedirects,
    TransportError,
    UnsupportedURL,
    one_line,
)
from ingestor.fetch._addresses import IPAddress as IPAddress  # kept importable from here
from ingestor.fetch._addresses import address_allowed, parse_ip_host
from ingestor.fetch._content import (
    DECODE_ERRORS,
    ETAG_MAX_CHARS,
    decode,
    decoders,
    header,
    max_age,
    retry_after,
    validator,
)
from ingestor.fetch._net import Outbound, Resolver
from ingestor.fetch._post import Poster
from ingestor.models import FeedSource, FetchResult
from ingestor.policies import FetchPolicy

__all__ = ["FetchPolicy", "Fetcher", "Poster", "address_allowed", "parse_ip_host"]

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, "
    "text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
ACCEPT_PAGE = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


# -- the fetcher ---------------------------------------------------------------------------------


class _Slot:
    __slots__ = ("semaphore", "users")

    def __init__(self, size: int) -> None:
        self.semaphore = threading.BoundedSemaphore(size)
        self.users = 0


SPOOL_BYTES = 256 * 1024
"""Body bytes a fetch keeps in memory while reading; beyond that it spools to a temporary file."""


def _bare(error: FetchError) -> FetchError:
    """``error`` without tracebacks (its own and its causes'): a failure is kept as a value in
    results and logs, and a traceback would keep every local of the failed fetch alive with
    it, an oversized body included."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = None
        current = current.__cause__ or current.__context__
    return error


class Fetcher:
    """Fetches feeds; thread-safe, one instance shared by the daemon's worker threads."""

    def __init__(self, policy: FetchPolicy, *, resolver: Resolver | None = None) -> None:
        self._policy = policy
        self._net = Outbound(policy, resolver=resolver)
        self._deadline, self._transport = self._net.deadline, self._net.transport
        self._slots: dict[str, _Slot] = {}
        self._slots_lock = threading.Lock()

    def close(self) -> None:
        self._net.close()

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
            result = FetchResult(url=where[-1], status="error", fetched_at=now, error=_bare(e))
        return replace(result, elapsed_ms=int((time.monotonic() - start) * 1000))

    def fetch_page(self, url: str, *, now: datetime, timeout_s: float) -> FetchResult:
        """Fetch an article page a feed entry links to: http(s) only (a feed's link is hostile,
        never a local path), with the same address checks, per-host limit and body cap as a
        feed, and a total deadline of ``timeout_s`` (at most the policy's)."""
        start = time.monotonic()
        where = [url]
        timeout_s = min(timeout_s, self._policy.timeout_s)
        try:
            if urlsplit(url).scheme.lower() not in ("http", "https"):
                raise UnsupportedURL(f"refusing a non-http(s) article link {url[:80]!r}")
            if timeout_s <= 0:
                raise FetchTimeout("no time was left for this page")
            result = self._fetch_http(
                FeedSource(url=url), now, start + timeout_s, where, accept=ACCEPT_PAGE
            )
        except (FetchError, ValueError) as e:
            error = e if isinstance(e, FetchError) else UnsupportedURL(f"invalid URL: {e}")
            result = FetchResult(url=where[-1], status="error", fetched_at=now, error=_bare(error))
        return replace(result, elapsed_ms=int((time.monotonic() - start) * 1000))

    # -- http ------------------------------------------------------------------------------

    def _fetch_http(
        self,
        source: FeedSource,
        now: datetime,
        deadline: float,
        where: list[str],
        *,
        accept: str = ACCEPT,
    ) -> FetchResult:
        self._deadline.set(deadline)
        try:
            return self._follow(source, now, deadline, where, accept)
        except FetchError:
            raise
        except httpcore.TimeoutException as e:
            raise FetchTimeout(
                f"timed out ({type(e).__name__}; total deadline {self._policy.timeout_s:g}s)"
            ) from e
        except (httpx.InvalidURL, httpcore.UnsupportedProtocol, UnicodeError) as e:
            raise UnsupportedURL(f"invalid URL: {one_line(e, limit=160)}") from e
        except httpcore.ProtocolError as e:
            # h11 quotes the offending bytes after a colon; they may be the body: keep the gist
            raise TransportError(f"{type(e).__name__}: {str(e).split(':', 1)[0][:80]}") from e
        except (httpcore.NetworkError, httpx.HTTPError, OSError) as e:
            raise TransportError(f"{type(e).__name__}: {one_line(e, limit=160)}") from e
        except DECODE_ERRORS as e:  # a corrupt gzip/deflate/brotli body
            raise TransportError(f"{type(e).__name__}: {one_line(e, limit=160)}") from e
        finally:
            self._deadline.set(None)

    def _follow(
        self, source: FeedSource, now: datetime, deadline: float, where: list[str], accept: str
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
                response = self._send(url, source, deadline, accept)
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

    def _send(
        self, url: httpx.URL, source: FeedSource, deadline: float, accept: str
    ) -> httpx.Response:
        left = deadline - time.monotonic()
        if left <= 0:
            raise FetchTimeout(f"the {self._policy.timeout_s:g}s deadline passed")
        headers = {
            "User-Agent": self._policy.user_agent,
            "Accept": accept,
            "Accept-Encoding": "gzip, deflate, br",
        }
        if etag := validator(source.etag):
            headers["If-None-Match"] = etag
        if modified := validator(source.last_modified):
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
                # Stored and sent back: printable ASCII within a cap, else not kept at all.
                etag=validator(header(headers, "etag", ETAG_MAX_CHARS)),
                last_modified=validator(header(headers, "last-modified", 100)),
                max_age_s=max_age(headers, now),
            )
        if status == 304:
            return FetchResult(status="not_modified", **common)
        if 200 <= status < 300:
            body = self._read_body(response, deadline)
            content_type = header(headers, "content-type", 200)
            return FetchResult(status="ok", body=body, content_type=content_type, **common)
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = "unknown status"
        retry = retry_after(headers.get("retry-after"), now) if status in (429, 503) else None
        error = HTTPStatusError(f"HTTP {status} {phrase}", status)
        return FetchResult(status="error", error=error, retry_after=retry, **common)

    def _read_body(self, response: httpx.Response, deadline: float) -> bytes:
        cap = self._policy.max_body_bytes
        length = response.headers.get("content-length", "").strip()
        if length.isascii() and length.isdigit() and int(length[:20]) > cap:
            raise BodyTooLarge(f"Content-Length {length[:20]} is over the {cap}-byte cap")
        chain = decoders(response.headers.get("content-encoding", ""))
        # In memory up to SPOOL_BYTES, then on disk: however many feeds of a tick are reading
        # oversized bodies at once, each holds at most that much memory until its cap stops it.
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as body:
            size = raw = 0
            for data in response.iter_raw():
                raw += len(data)
                if raw > cap:
                    raise BodyTooLarge(f"the body passed the {cap}-byte cap")
                for piece in decode(chain, data):
                    size += len(piece)
                    if size > cap:
                        raise BodyTooLarge(f"the decoded body passed the {cap}-byte cap")
                    body.write(piece)
                if time.monotonic() > deadline:
                    raise FetchTimeout(
                        f"the {self._policy.timeout_s:g}s deadline passed reading the body"
                    )
            body.seek(0)
            return body.read()

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
