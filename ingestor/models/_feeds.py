"""The feed side of a poll: a feed as the store knows it, one fetch, a parsed document, the
poll state written back, and the outcome with its counts."""

from __future__ import annotations

from dataclasses import asdict, astuple, dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from ingestor.errors import IngestorError
from ingestor.models._time import check_utc

__all__ = [
    "Counts",
    "FeedRunResult",
    "FeedSource",
    "FeedState",
    "FeedStatus",
    "FetchResult",
    "ParsedEntry",
    "ParsedFeed",
    "feed_identity",
]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def feed_identity(url: str) -> str:
    """The URL a feed is known by: an http(s) URL with its scheme and host in lower case, the
    default port left out and an empty path as ``/`` (``HTTPS://Example.COM:443`` is
    ``https://example.com/``). The path and query stay as given: servers may tell their case
    apart. Anything else (a ``file:`` URI, a URL that does not parse) is returned unchanged."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host:
        return url
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    if userinfo:
        netloc = f"{userinfo}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, parts.fragment))


FeedStatus = Literal["active", "parked", "gone", "removed"]
"""``active`` is polled; ``parked`` stopped after too many consecutive failures (``feeds add``
revives it); ``gone`` answered 410; ``removed`` was removed by the operator (a tombstone, so the
configuration's feed list does not bring it back)."""


@dataclass(frozen=True, slots=True)
class FeedSource:
    """A feed as the store knows it: where it lives and its poll state."""

    url: str
    id: int | None = None
    title: str | None = None
    status: FeedStatus = "active"
    etag: str | None = None
    last_modified: str | None = None
    next_poll_at: datetime | None = None
    last_polled_at: datetime | None = None
    last_status: str | None = None
    consecutive_errors: int = 0
    last_error: str | None = None

    def __post_init__(self) -> None:
        check_utc(self.next_poll_at, "next_poll_at")
        check_utc(self.last_polled_at, "last_polled_at")


@dataclass(frozen=True, slots=True)
class FeedState:
    """The poll state written back after a poll, in the same transaction as the poll's stories."""

    status: FeedStatus
    next_poll_at: datetime
    last_polled_at: datetime
    last_status: str
    consecutive_errors: int
    etag: str | None = None
    last_modified: str | None = None
    last_error: str | None = None
    url: str | None = None
    """A new URL after a permanent redirect (301/308); ``None`` keeps the stored one."""
    title: str | None = None

    def __post_init__(self) -> None:
        check_utc(self.next_poll_at, "next_poll_at")
        check_utc(self.last_polled_at, "last_polled_at")


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one fetch of one feed came back with. Failures are values: ``status="error"``."""

    url: str
    status: Literal["ok", "not_modified", "error"]
    fetched_at: datetime
    http_status: int | None = None
    body: bytes = b""
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    permanent_url: str | None = None
    """Set when every redirect on the way was permanent (301/308): the feed's new address."""
    retry_after: datetime | None = None
    """When the server asked us to come back (``Retry-After``), absolute UTC."""
    max_age_s: int | None = None
    """Freshness lifetime the server announced (``Cache-Control: max-age`` or ``Expires``)."""
    elapsed_ms: int = 0
    error: IngestorError | None = None

    def __post_init__(self) -> None:
        check_utc(self.fetched_at, "fetched_at")
        check_utc(self.retry_after, "retry_after")


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    """One feed entry as the document said it, before any cleaning. Text fields are hostile."""

    guid: str | None
    link: str | None
    title: str | None
    content_html: str | None
    """The richest body the entry carries (``content`` over ``summary``), raw HTML or text."""
    published: datetime | None = None
    updated: datetime | None = None
    author: str | None = None

    def __post_init__(self) -> None:
        check_utc(self.published, "published")
        check_utc(self.updated, "updated")


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed feed document: its channel fields and its entries."""

    title: str | None
    link: str | None
    entries: tuple[ParsedEntry, ...]
    ttl_s: int | None = None
    """RSS ``<ttl>`` in seconds, if given."""
    warning: str | None = None
    """Why the document was ill-formed, when the parser recovered anyway."""


@dataclass(frozen=True, slots=True)
class Counts:
    """What a batch of entries came to. Every poll, write and replay result carries one, and
    they add up (``a + b``): the daemon's totals and the CLI's summaries are sums of them.

    Every entry a poll or a replayed feed file reads is exactly one of ``new``, ``duplicates``,
    ``updated`` or ``skipped``."""

    new: int = 0
    """Stories stored for the first time."""
    duplicates: int = 0
    """Entries already stored as they are (or edits past ``store.max_revisions``)."""
    updated: int = 0
    """Stored stories edited in place: a new revision of the same row."""
    skipped: int = 0
    """Entries normalization left nothing usable of (no text, no title, no link)."""
    new_events: int = 0
    """Events the new stories started."""
    merges: int = 0
    """Events folded into another because a new story showed they are one."""
    articles: int = 0
    """Summaries replaced by the main text of the article page they link to."""
    articles_failed: int = 0
    """Article pages fetched in vain (an error, or a page that is not the article)."""

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    def as_dict(self) -> dict[str, int]:
        """Every count by name, in field order (log lines and ``--json``)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class FeedRunResult:
    """The outcome of one poll of one feed: what the summary log line and the CLI report."""

    feed_url: str
    status: Literal["ok", "not_modified", "error", "skipped"]
    counts: Counts = Counts()
    elapsed_ms: int = 0
    error: IngestorError | None = None
    next_poll_at: datetime | None = None

    def __post_init__(self) -> None:
        check_utc(self.next_poll_at, "next_poll_at")
