"""The values handed from one pipeline stage to the next.

Owns: one frozen dataclass per hand-off, in the order data flows
(``FeedSource`` -> ``FetchResult`` -> ``ParsedFeed``/``ParsedEntry`` -> ``Story`` -> ``Signature``
-> ``Assignment`` -> ``Event``/``Variant`` -> ``FeedRunResult`` with its ``Counts``), plus the small
records the store hands back.

Does not: import any stage, any third-party library, or read the clock. Every ``datetime`` here is
timezone-aware UTC; constructors check that, so a naive time is a bug caught at the hand-off, not
a silent shift hours later.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from ingestor.errors import IngestorError

__all__ = [
    "Assignment",
    "Counts",
    "Event",
    "EventDetail",
    "EventMerge",
    "FeedRunResult",
    "FeedSource",
    "FeedState",
    "FeedStatus",
    "FetchResult",
    "IndexedStory",
    "ParsedEntry",
    "ParsedFeed",
    "Reason",
    "Signature",
    "Story",
    "StoryKey",
    "StoryMatch",
    "Variant",
]


def _utc(value: datetime | None, name: str) -> None:
    if value is not None and value.utcoffset() != timedelta(0):
        raise ValueError(f"{name} must be a timezone-aware UTC datetime, got {value!r}")


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
        _utc(self.next_poll_at, "next_poll_at")
        _utc(self.last_polled_at, "last_polled_at")


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
        _utc(self.next_poll_at, "next_poll_at")
        _utc(self.last_polled_at, "last_polled_at")


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
        _utc(self.fetched_at, "fetched_at")
        _utc(self.retry_after, "retry_after")


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
        _utc(self.published, "published")
        _utc(self.updated, "updated")


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
class Story:
    """One normalized story: clean text, canonical URL, UTC times, content hash."""

    source: str
    """Who carried it: the publisher's host, or the name a replayed file gives."""
    title: str
    text: str
    fetched: datetime
    content_hash: str
    url: str | None = None
    guid: str | None = None
    html: str | None = None
    """Sanitized HTML of the body, when the entry had HTML."""
    published: datetime | None = None
    feed_url: str | None = None
    external_id: str | None = None
    """A replayed record's own id (datasets), kept so results can be matched back."""

    def __post_init__(self) -> None:
        _utc(self.fetched, "fetched")
        _utc(self.published, "published")

    @property
    def when(self) -> datetime:
        """The time the story counts as news: published, falling back to fetched."""
        return self.published if self.published is not None else self.fetched


_SIG_HEADER = struct.Struct("<HHHI")


@dataclass(frozen=True, slots=True)
class Signature:
    """Everything clustering needs to know about a story, derived from its text and versioned.

    ``version`` names the fingerprint recipe; signatures of another version are stale and are
    recomputed rather than compared (see ``fingerprint.VERSION``).
    """

    version: str
    shingles: bytes
    """MinHash values over word shingles (copies), little-endian uint32."""
    terms: bytes
    """MinHash values over the story's distinctive terms (rewrites), little-endian uint32."""
    weights: Mapping[str, float] = field(default_factory=dict)
    """The story's weighted terms, for verification."""
    length: int = 0
    """Number of word tokens in the text."""
    credits: tuple[str, ...] = ()
    """Agencies the text credits as its origin ("Reuters", "TASS", ...)."""
    language: str = "en"
    """The language whose background frequencies weigh the terms (``lexicon.detect_language``)."""

    def to_bytes(self) -> bytes:
        """A compact, self-describing encoding for storage."""
        meta = json.dumps(
            {
                "v": self.version,
                "w": dict(self.weights),
                "n": self.length,
                "c": list(self.credits),
                "l": self.language,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        header = _SIG_HEADER.pack(1, len(self.shingles) // 4, len(self.terms) // 4, len(meta))
        return header + self.shingles + self.terms + meta

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        codec, n_shingles, n_terms, n_meta = _SIG_HEADER.unpack_from(data)
        if codec != 1:
            raise ValueError(f"unknown signature codec {codec}")
        offset = _SIG_HEADER.size
        shingles = data[offset : offset + 4 * n_shingles]
        offset += 4 * n_shingles
        terms = data[offset : offset + 4 * n_terms]
        offset += 4 * n_terms
        meta = json.loads(data[offset : offset + n_meta])
        return cls(
            version=meta["v"],
            shingles=shingles,
            terms=terms,
            weights=meta["w"],
            length=meta["n"],
            credits=tuple(meta["c"]),
            language=meta.get("l", "en"),
        )


Reason = Literal["identical", "near-copy", "rewrite", "new"]
"""Why a story went where it went: the same text as a member (``identical``), nearly the same
text (``near-copy``: shingle Jaccard at ``copy_threshold`` or more), the same story told
otherwise (``rewrite``: its vector meets the event's centroid), or no event close enough
(``new``)."""


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where the clusterer put a story: an existing event or a new one, and why."""

    event_id: int | None
    """The event joined; ``None`` starts a new event."""
    reason: Reason
    similarity: float
    """The verification score that decided (1.0 for identical text, 0.0 for a new event)."""
    signals: Mapping[str, float] = field(default_factory=dict)
    """Every score computed on the way, for ``events show --explain``."""
    merge_with: tuple[int, ...] = ()
    """Other candidate events the story resembles as strongly as ``merge_threshold``: one
    story told in two events that split early. The pipeline asks ``Clusterer.plan_merge``
    about each once the story is in."""


@dataclass(frozen=True, slots=True)
class EventMerge:
    """One event folded into another: ``gone``'s stories now belong to ``into``."""

    id: int
    into: int
    gone: int
    story_id: int
    """The story whose arrival showed the two events are one."""
    merged_at: datetime

    def __post_init__(self) -> None:
        _utc(self.merged_at, "merged_at")


@dataclass(frozen=True, slots=True)
class StoryKey:
    """What a stored copy of a story is found by (``find_story``): its feed's GUID, its
    canonical URL, a replayed record's own id, then its source and content hash."""

    content_hash: str
    source: str
    feed_id: int | None = None
    guid: str | None = None
    url: str | None = None
    external_id: str | None = None

    @classmethod
    def of(cls, story: Story, feed_id: int | None) -> StoryKey:
        return cls(
            story.content_hash, story.source, feed_id, story.guid, story.url, story.external_id
        )


@dataclass(frozen=True, slots=True)
class StoryMatch:
    """An already stored story that an incoming one is an exact copy of (same feed GUID, same
    canonical URL, or same text from the same source)."""

    story_id: int
    event_id: int | None
    matched_on: Literal["guid", "url", "external_id", "content"]
    content_hash: str


@dataclass(frozen=True, slots=True)
class IndexedStory:
    """A stored story as the clusterer needs it to rebuild its index."""

    story_id: int
    event_id: int
    source: str
    when: datetime
    signature: Signature
    title: str = ""
    reason: str = ""
    """How it joined its event (``Assignment.reason``)."""
    similarity: float = 0.0

    def __post_init__(self) -> None:
        _utc(self.when, "when")


@dataclass(frozen=True, slots=True)
class Event:
    """One story as told by every outlet that carried it: a summary row."""

    id: int
    canonical_story_id: int
    title: str
    first_seen: datetime
    last_seen: datetime
    size: int
    sources: int = 0
    """Number of distinct sources among the variants."""

    def __post_init__(self) -> None:
        _utc(self.first_seen, "first_seen")
        _utc(self.last_seen, "last_seen")


@dataclass(frozen=True, slots=True)
class Variant:
    """One story inside an event, with how it joined."""

    story_id: int
    story: Story
    similarity: float
    reason: str
    joined_at: datetime
    signals: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _utc(self.joined_at, "joined_at")


@dataclass(frozen=True, slots=True)
class EventDetail:
    """An event with its canonical story and every variant (canonical included), oldest first."""

    event: Event
    variants: tuple[Variant, ...]
    merges: tuple[EventMerge, ...] = ()
    """Events folded into this one, oldest first (their variants are among ``variants``)."""

    @property
    def canonical(self) -> Variant:
        for variant in self.variants:
            if variant.story_id == self.event.canonical_story_id:
                return variant
        raise LookupError(f"event {self.event.id} has no canonical variant")


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
        return Counts(
            self.new + other.new,
            self.duplicates + other.duplicates,
            self.updated + other.updated,
            self.skipped + other.skipped,
            self.new_events + other.new_events,
            self.merges + other.merges,
            self.articles + other.articles,
            self.articles_failed + other.articles_failed,
        )

    def as_dict(self) -> dict[str, int]:
        """Every count by name, in field order (log lines and ``--json``)."""
        return {
            "new": self.new,
            "duplicates": self.duplicates,
            "updated": self.updated,
            "skipped": self.skipped,
            "new_events": self.new_events,
            "merges": self.merges,
            "articles": self.articles,
            "articles_failed": self.articles_failed,
        }


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
        _utc(self.next_poll_at, "next_poll_at")
