"""Rows to models and back: the only place that knows how a column maps to a dataclass field.

Owns: building ``FeedSource``, ``Story``, ``IndexedStory``, ``Variant``, ``Event`` and
``EventMerge`` values from result rows, the column values of a new story row, the JSON text
``memberships.signals`` holds, and the shared "due feed", "indexed story", "event summary" and
row-count queries.

Does not: open connections or transactions (``store.sql`` and ``store.tx`` do). Inputs are rows of
the tables in ``store.schema``; a value the models reject (an unknown feed status, an unreadable
signature) becomes a ``StoreError`` naming the row, never a crash further up.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast, get_args

from sqlalchemy import ColumnElement, Row, Select, and_, distinct, func, or_, select

from ingestor.errors import StoreError
from ingestor.models import (
    Event,
    EventMerge,
    FeedSource,
    FeedStatus,
    IndexedStory,
    Signature,
    Story,
    Variant,
)
from ingestor.store.schema import events, feeds, memberships, stories

__all__ = [
    "count_queries",
    "due_condition",
    "event_from_row",
    "event_query",
    "feed_from_row",
    "index_query",
    "indexed_from_row",
    "merge_from_row",
    "signals_from_text",
    "signals_to_text",
    "story_from_row",
    "story_values",
    "variant_from_row",
]

_STATUSES: frozenset[str] = frozenset(get_args(FeedStatus))


def feed_from_row(row: Row[Any]) -> FeedSource:
    m = row._mapping
    status = m["status"]
    if status not in _STATUSES:
        raise StoreError(f"feed {m['id']} has an unknown status {status!r}")
    return FeedSource(
        url=m["url"],
        id=m["id"],
        title=m["title"],
        status=cast(FeedStatus, status),
        etag=m["etag"],
        last_modified=m["last_modified"],
        next_poll_at=m["next_poll_at"],
        last_polled_at=m["last_polled_at"],
        last_status=m["last_status"],
        consecutive_errors=m["consecutive_errors"],
        last_error=m["last_error"],
    )


def due_condition(now: datetime) -> ColumnElement[bool]:
    """Active, due at ``now`` (or never scheduled), and not leased by a live claim."""
    return and_(
        feeds.c.status == "active",
        or_(feeds.c.next_poll_at.is_(None), feeds.c.next_poll_at <= now),
        or_(feeds.c.lease_expires_at.is_(None), feeds.c.lease_expires_at <= now),
    )


def story_values(story: Story, signature: Signature | None, feed_id: int | None) -> dict[str, Any]:
    return {
        "feed_id": feed_id,
        "feed_url": story.feed_url,
        "guid": story.guid,
        "url": story.url,
        "external_id": story.external_id,
        "source": story.source,
        "title": story.title,
        "text": story.text,
        "html": story.html,
        "published": story.published,
        "fetched": story.fetched,
        "when_at": story.when,
        "content_hash": story.content_hash,
        "signature_version": None if signature is None else signature.version,
        "signature": None if signature is None else signature.to_bytes(),
    }


def story_from_row(row: Row[Any]) -> Story:
    m = row._mapping
    return Story(
        source=m["source"],
        title=m["title"],
        text=m["text"],
        fetched=m["fetched"],
        content_hash=m["content_hash"],
        url=m["url"],
        guid=m["guid"],
        html=m["html"],
        published=m["published"],
        feed_url=m["feed_url"],
        external_id=m["external_id"],
    )


def index_query() -> Select[Any]:
    """Stories that belong to an event and carry a signature, by id (insertion order)."""
    return (
        select(
            stories.c.id,
            memberships.c.event_id,
            stories.c.source,
            stories.c.when_at,
            stories.c.signature,
            stories.c.title,
            memberships.c.reason,
            memberships.c.similarity,
            stories.c.published,
        )
        .join(memberships, memberships.c.story_id == stories.c.id)
        .where(stories.c.signature.is_not(None))
        .order_by(stories.c.id)
    )


def indexed_from_row(row: Row[Any]) -> IndexedStory:
    m = row._mapping
    try:
        signature = Signature.from_bytes(bytes(m["signature"]))
    except (ValueError, KeyError, TypeError, struct.error) as e:
        raise StoreError(f"story {m['id']} has an unreadable signature: {e}") from e
    return IndexedStory(
        story_id=m["id"],
        event_id=m["event_id"],
        source=m["source"],
        when=m["when_at"],
        signature=signature,
        title=m["title"],
        reason=m["reason"],
        similarity=float(m["similarity"]),
        dated=m["published"] is not None,
    )


def signals_to_text(signals: Mapping[str, float]) -> str:
    return json.dumps({str(k): float(v) for k, v in signals.items()}, sort_keys=True)


def signals_from_text(text: str | None) -> dict[str, float]:
    try:
        loaded = json.loads(text or "{}")
    except ValueError:
        return {}
    if not isinstance(loaded, dict):
        return {}
    return {
        str(k): float(v)
        for k, v in loaded.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def variant_from_row(row: Row[Any]) -> Variant:
    m = row._mapping
    return Variant(
        story_id=m["id"],
        story=story_from_row(row),
        similarity=m["similarity"],
        reason=m["reason"],
        joined_at=m["joined_at"],
        signals=signals_from_text(m["signals"]),
    )


def event_query() -> Select[Any]:
    """Events with their canonical story's title and their number of distinct sources."""
    canon = stories.alias("canon")
    member = stories.alias("member")
    sources = (
        select(func.count(distinct(member.c.source)))
        .select_from(memberships.join(member, member.c.id == memberships.c.story_id))
        .where(memberships.c.event_id == events.c.id)
        .scalar_subquery()
    )
    return select(events, canon.c.title, sources.label("sources")).join(
        canon, canon.c.id == events.c.canonical_story_id
    )


def events_filter(since: datetime | None, min_size: int) -> list[ColumnElement[bool]]:
    """The conditions of an events listing: at least ``min_size`` members and, with ``since``,
    a story that joined at or after it (ingestion time, not the stories' publication times: a
    story published last week and fetched a minute ago is news to the operator)."""
    conditions = [events.c.size >= max(1, min_size)]
    if since is not None:
        joined = select(memberships.c.story_id).where(
            memberships.c.event_id == events.c.id, memberships.c.joined_at >= since
        )
        conditions.append(joined.exists())
    return conditions


def event_from_row(row: Any) -> Event:
    return Event(
        id=row.id,
        canonical_story_id=row.canonical_story_id,
        title=row.title,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        size=row.size,
        sources=row.sources or 0,
        created_at=row.created_at,
    )


def merge_from_row(row: Any) -> EventMerge:
    return EventMerge(row.id, row.into_event_id, row.gone_event_id, row.story_id, row.merged_at)


def count_queries() -> dict[str, Select[Any]]:
    """The rows of each table that ``Store.counts`` reports."""

    def rows(table: Any) -> Select[Any]:
        return select(func.count()).select_from(table)

    return {
        "feeds": rows(feeds),
        "stories": rows(stories),
        # An event merged into another leaves a row of size 0 behind: not an event.
        "events": rows(events).where(events.c.size > 0),
        "memberships": rows(memberships),
    }
