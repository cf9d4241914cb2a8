"""The stages a worker process runs, and the small values the pipeline's parts hand around.

Owns: ``parse_and_normalize`` and ``article_story``, the parts of a poll that read hostile bytes
and therefore run in a budget worker process (module-level functions, so they pickle by
reference), ``prepare_item``, the same for one replayed input, fingerprints included, and the
write and replay results (``Written``, ``ReplaySummary``).

Does not: poll, store or cluster; the pipeline's parts beside this module do, with these.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from ingestor import charsets, normalize, parse
from ingestor.errors import NormalizeError
from ingestor.fingerprint import fingerprint
from ingestor.models import Counts, FeedState, ParsedFeed, Signature, Story
from ingestor.policies import FingerprintPolicy
from ingestor.replay import FeedFile, Record, ReplayItem

__all__ = [
    "Prepared",
    "ReplaySummary",
    "Written",
    "article_story",
    "ms_since",
    "parse_and_normalize",
    "prepare_item",
    "utcnow",
    "with_title",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Written:
    """What one write transaction did."""

    counts: Counts
    events: Mapping[int, int]
    """Position in the batch -> the event that story is in, for evaluation."""


@dataclass(slots=True)
class ReplaySummary:
    """What a replay read and wrote: ``items`` inputs, of which ``errors`` could not be read
    (each with its message), and the ``counts`` of the entries of the rest."""

    items: int = 0
    errors: int = 0
    counts: Counts = field(default_factory=Counts)
    seconds: float = 0.0
    error_messages: list[str] = field(default_factory=list)


def parse_and_normalize(
    body: bytes, *, url: str, content_type: str | None, max_entries: int, now: datetime
) -> tuple[ParsedFeed, list[Story], int]:
    """Parse a feed document and normalize its entries: the hostile-input part of a poll, run in
    a budget worker so a pathological document costs a process, never a thread."""
    parsed = parse.parse_feed(
        body, url=url, content_type=content_type, max_entries=max_entries, now=now
    )
    stories: list[Story] = []
    skipped = 0
    for entry in parsed.entries:
        try:
            stories.append(
                normalize.normalize_entry(entry, feed_url=url, feed_title=parsed.title, fetched=now)
            )
        except NormalizeError:
            skipped += 1
    light = ParsedFeed(parsed.title, parsed.link, (), parsed.ttl_s, parsed.warning)
    return light, stories, skipped


@dataclass(frozen=True, slots=True)
class Prepared:
    """One replayed input, ready for the write step: its stories in the order read, how many of
    its entries normalization dropped, and each story's signature."""

    stories: list[Story]
    skipped: int
    signatures: list[Signature]


def prepare_item(
    item: ReplayItem, *, now: datetime, max_entries: int, policy: FingerprintPolicy
) -> Prepared:
    """Parse (a feed file), normalize and fingerprint one replayed input: what a replay worker
    runs, in a budget worker process like ``parse_and_normalize``. A signature depends on the
    text alone, never on the time a stream gives the story later."""
    if isinstance(item, FeedFile):
        _, stories, skipped = parse_and_normalize(
            item.body, url=item.uri, content_type=None, max_entries=max_entries, now=now
        )
    else:
        stories, skipped = [normalize.normalize_article(
            item.text, is_html=item.is_html, title=item.title, url=item.url, source=item.source,
            published=item.published, fetched=now,
            external_id=item.id if isinstance(item, Record) else None,
        )], 0  # fmt: skip
    return Prepared(stories, skipped, [fingerprint(story, policy) for story in stories])


_PAGE_TYPES = ("text/html", "application/xhtml+xml", "text/plain")


def article_story(story: Story, body: bytes, *, content_type: str | None) -> Story | None:
    """``story`` with the main text of the page its entry links to (``body``, as fetched), or
    ``None`` when the page is not its article. Decoding and extraction read hostile bytes, so
    this runs in a budget worker like ``parse_and_normalize``."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media and media not in _PAGE_TYPES:
        return None  # a PDF, an image, a feed: not a page to read
    page = charsets.decode_text(body, content_type=content_type, is_html=True)
    return normalize.with_article_page(story, page)


def with_title(state: FeedState, title: str) -> FeedState:
    return replace(state, title=title)


def ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
