"""Settings turned into stage policies, and the small values the pipeline hands around.

Owns: the policy builders (settings in, each stage's policy value out), the write and replay
results, and
``parse_and_normalize``, the part of a poll that reads hostile bytes and therefore runs in a
budget worker process (a module-level function, so it pickles by reference).

Does not: poll, store or cluster; ``ingestor.pipeline`` does, with these.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from ingestor import charsets, normalize, parse, schedule
from ingestor.cluster import ClusterPolicy
from ingestor.config import Settings
from ingestor.errors import NormalizeError
from ingestor.fingerprint import FingerprintPolicy
from ingestor.models import Counts, FeedState, ParsedFeed, Story

__all__ = [
    "ReplaySummary",
    "Written",
    "article_story",
    "cluster_policy",
    "fingerprint_policy",
    "ms_since",
    "parse_and_normalize",
    "schedule_policy",
    "utcnow",
    "with_title",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


def fingerprint_policy(settings: Settings) -> FingerprintPolicy:
    return FingerprintPolicy(
        shingle_size=settings.fingerprint_shingle_size,
        shingle_perm=settings.fingerprint_shingle_perm,
        num_perm=settings.fingerprint_num_perm,
        key_terms=settings.fingerprint_key_terms,
        max_terms=settings.fingerprint_max_terms,
        name_boost=settings.fingerprint_name_boost,
        title_boost=settings.fingerprint_title_boost,
        short_text=settings.fingerprint_short_text,
    )


def cluster_policy(settings: Settings) -> ClusterPolicy:
    return ClusterPolicy(
        rewrite_threshold=settings.cluster_rewrite_threshold,
        copy_threshold=settings.cluster_copy_threshold,
        candidate_threshold=settings.cluster_candidate_threshold,
        window=timedelta(hours=settings.cluster_window_hours),
        time_penalty=settings.cluster_time_penalty,
        prior_docs=settings.cluster_prior_docs,
        num_perm=settings.fingerprint_num_perm,
        shingle_perm=settings.fingerprint_shingle_perm,
        max_candidates=settings.cluster_max_candidates,
        redundant_copy=settings.cluster_redundant_copy,
        canonical=settings.cluster_canonical,
        source_priority=settings.cluster_source_priority,
        merge_threshold=settings.cluster_merge_threshold,
        merge_min_words=settings.fingerprint_short_text,
    )


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


def schedule_policy(settings: Settings) -> schedule.SchedulePolicy:
    return schedule.SchedulePolicy(
        interval_s=settings.schedule_interval_s,
        min_interval_s=settings.schedule_min_interval_s,
        max_interval_s=settings.schedule_max_interval_s,
        jitter=settings.schedule_jitter,
        backoff_base_s=settings.schedule_backoff_base_s,
        backoff_max_s=settings.schedule_backoff_max_s,
        park_after_errors=settings.schedule_park_after_errors,
    )


def with_title(state: FeedState, title: str) -> FeedState:
    return replace(state, title=title)


def ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
