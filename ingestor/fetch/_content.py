"""Response content: bounded body decoders and the hints read from response headers.

Owns: ``Content-Encoding`` decoding (gzip, deflate, brotli, stacked up to three layers) in pieces
of at most 64 KiB, so a decompression bomb is stopped by the caller's size cap after one piece
rather than after a whole network read; and the header hints a ``FetchResult`` carries:
freshness (``Cache-Control``/``Expires``/``Date``), ``Retry-After``, and validators (``ETag``,
``Last-Modified``) both as received and as stored ones fit to send back.

Does not: read from the network, count bytes against the cap, or decide when to poll next (the
hints are raw material for ``schedule``). It never reads the clock: ``now`` is an argument.

Inputs: raw body chunks and headers of a response (hostile), and stored validators from the
``FeedSource`` row. brotli is imported here and nowhere else; its errors and zlib's are listed in
``DECODE_ERRORS`` for the fetcher to translate.
"""

from __future__ import annotations

import email.utils
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import brotli  # type: ignore[import-untyped]
import httpx

from ingestor.errors import TransportError

__all__ = [
    "DECODE_ERRORS",
    "ETAG_MAX_CHARS",
    "Decoder",
    "decode",
    "decoders",
    "header",
    "max_age",
    "retry_after",
    "validator",
]

_CHUNK = 64 * 1024
_MAX_HINT = timedelta(days=30)
"""Retry-After further out than this is treated as this (``schedule`` clamps again)."""

DECODE_ERRORS: tuple[type[Exception], ...] = (zlib.error, brotli.error)
"""What a corrupt encoded body raises while being decoded."""


# -- content decoding ----------------------------------------------------------------------------


class Decoder(Protocol):
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


def decoders(content_encoding: str) -> list[Decoder]:
    """Decoders in the order to apply them (the reverse of the order the server applied)."""
    names = [t.strip().lower() for t in content_encoding.split(",") if t.strip()]
    chain: list[Decoder] = []
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


def decode(chain: list[Decoder], data: bytes) -> Iterator[bytes]:
    """``data`` through every decoder, lazily: no layer holds more than one piece at a time."""
    if not chain:
        yield data
        return
    for piece in chain[0].feed(data):
        yield from decode(chain[1:], piece)


# -- header hints --------------------------------------------------------------------------------


def _http_date(value: str | None) -> datetime | None:
    if not value or len(value) > 64:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def max_age(headers: httpx.Headers, now: datetime) -> int | None:
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


def retry_after(value: str | None, now: datetime) -> datetime | None:
    """When a ``Retry-After`` (seconds or an HTTP date) says to come back, kept within 30 days
    and never in the past; ``None`` when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return now + min(timedelta(seconds=int(value[:10])), _MAX_HINT)
    when = _http_date(value)
    return None if when is None else min(max(when, now), now + _MAX_HINT)


def header(headers: httpx.Headers, name: str, limit: int = 1024) -> str | None:
    """A header's value if present, non-empty and at most ``limit`` characters long."""
    value = headers.get(name)
    return value if value is not None and 0 < len(value) <= limit else None


ETAG_MAX_CHARS = 256
"""The longest ETag kept (real ones are a hash or a version: tens of characters)."""


def validator(value: str | None) -> str | None:
    """An ETag/Last-Modified (received, or stored), if it can be stored, shown and sent back as
    a header unchanged: printable ASCII (no control characters) and at most 1024 characters."""
    ok = value is not None and value.isascii() and value.isprintable() and len(value) <= 1024
    return value if ok else None
