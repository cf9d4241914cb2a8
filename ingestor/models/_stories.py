"""Stories and events: a normalized story, its signature, where the clusterer put it, and the
records the store hands back (what a story is found by, an indexed story, events, variants,
merges)."""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from ingestor.models._time import check_utc

__all__ = [
    "Assignment",
    "Event",
    "EventDetail",
    "EventMerge",
    "IndexedStory",
    "OutboxItem",
    "Reason",
    "Signature",
    "Story",
    "StoryKey",
    "StoryMatch",
    "Variant",
    "WebhookKind",
]


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
        check_utc(self.fetched, "fetched")
        check_utc(self.published, "published")

    @property
    def when(self) -> datetime:
        """The time the story counts as news: published, falling back to fetched."""
        return self.published if self.published is not None else self.fetched

    @property
    def dated(self) -> bool:
        """Whether ``when`` is the story's own time. A story without a published time counts at
        its fetch time (a poll) or at the stream's time (a replay), which places it in the
        stream but says little about when it happened: verification then treats its distance
        to any event as unknown (``cluster._score``)."""
        return self.published is not None


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
    """Other candidate events the story scores as highly as ``merge_probability``: one
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
        check_utc(self.merged_at, "merged_at")


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
    variant_source: str | None = None
    """The source this story is stored under if another feed's story has its URL (a variant is
    credited to the feed that carried it): its own copy is found by it and the content hash."""

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
    foreign: bool = False
    """Found by canonical URL only, and stored from another feed than the incoming story's:
    the same link, but not this feed's story to edit (a variant or a copy of it)."""


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
    dated: bool = True
    """Whether ``when`` is the story's own time (it has a published time), not only its place
    in a stream (``Story.dated``)."""

    def __post_init__(self) -> None:
        check_utc(self.when, "when")


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
    created_at: datetime | None = None
    """When the store created the event: with ``id``, a name for it that a recreated database
    does not reuse (the served feeds' item ids)."""

    def __post_init__(self) -> None:
        check_utc(self.first_seen, "first_seen")
        check_utc(self.last_seen, "last_seen")
        check_utc(self.created_at, "created_at")


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
        check_utc(self.joined_at, "joined_at")


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


WebhookKind = Literal["event.created", "event.variant_added", "event.merged"]


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One webhook notification for one URL, as the outbox holds it until it is delivered."""

    id: int
    url: str
    kind: WebhookKind
    event_id: int
    idempotency_key: str
    payload: str
    """The JSON body, exactly as it is signed and sent."""
    attempts: int = 0
