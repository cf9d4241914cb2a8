"""The read queries over events: listing with filters, offsets or a keyset cursor, one event
with its variants and merges, and where a merged (or deleted) event went.

Owns: those queries, as functions over an open ``Connection`` (``store.sql`` opens it, read-only
when the store is). Moved out of ``store.sql`` so each module stays one concern.

Does not: open connections, write, or decide what a caller shows. Inputs are the tables of
``store.schema``; outputs are ``models`` values.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, and_, exists, func, or_, select

from ingestor.errors import NotFound
from ingestor.models import Event, EventDetail
from ingestor.store.rows import (
    event_from_row,
    event_query,
    events_filter,
    merge_from_row,
    variant_from_row,
)
from ingestor.store.schema import curations, event_merges, events, memberships, stories

__all__ = [
    "count_events", "get_event", "list_events", "merged_into", "missing_event",
]  # fmt: skip

_MAX_HOPS = 100
"""Merge chains longer than this are not followed (a cycle would be a bug; this bounds it)."""


def _like(text: str) -> str:
    """``text`` as a LIKE pattern matching it anywhere, its wildcards escaped (with ``\\``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_events(
    conn: Connection,
    *,
    since: datetime | None = None,
    min_size: int = 1,
    limit: int = 50,
    offset: int = 0,
    q: str | None = None,
    source: str | None = None,
    before: tuple[datetime, int] | None = None,
) -> list[Event]:
    """Events with at least ``min_size`` members that a story joined at or after ``since``
    (ingestion time: ``rows.events_filter``), newest first (last seen, then id). ``q``: the
    canonical title contains it (case aside); ``source``: a variant comes from that source
    (case aside); ``offset`` rows skipped; ``before``: only events after this ``(last_seen,
    id)`` in that order (the keyset a cursor carries)."""
    query = event_query().where(*events_filter(since, min_size))
    if q:
        title = query.selected_columns.title
        query = query.where(func.lower(title).like(_like(q.lower()), escape="\\"))
    if source:
        member = stories.alias("by_source")
        query = query.where(
            exists(
                select(1)
                .select_from(memberships.join(member, member.c.id == memberships.c.story_id))
                .where(
                    memberships.c.event_id == events.c.id,
                    func.lower(member.c.source) == source.lower(),
                )
            )
        )
    if before is not None:
        seen, event_id = before
        query = query.where(
            or_(
                events.c.last_seen < seen,
                and_(events.c.last_seen == seen, events.c.id < event_id),
            )
        )
    query = query.order_by(events.c.last_seen.desc(), events.c.id.desc())
    return [event_from_row(row) for row in conn.execute(query.limit(limit).offset(offset))]


def count_events(conn: Connection, *, since: datetime | None = None, min_size: int = 1) -> int:
    """How many events ``list_events`` pages through with these filters."""
    query = select(func.count()).select_from(events).where(*events_filter(since, min_size))
    return int(conn.execute(query).scalar_one())


def get_event(conn: Connection, event_id: int) -> EventDetail:
    """The event and its variants, oldest first (by the story's ``when``, then id); raises
    ``NotFound`` saying whether it never was or was merged (and into what)."""
    variants_query = (
        select(stories, memberships)
        .join(memberships, memberships.c.story_id == stories.c.id)
        .where(memberships.c.event_id == event_id)
        .order_by(stories.c.when_at, stories.c.id)
    )
    row = conn.execute(event_query().where(events.c.id == event_id, events.c.size > 0)).first()
    if row is None:
        raise NotFound(missing_event(conn, event_id))
    variants = tuple(variant_from_row(v) for v in conn.execute(variants_query))
    merged = conn.execute(
        select(event_merges)
        .where(event_merges.c.into_event_id == event_id)
        .order_by(event_merges.c.id)
    ).all()
    return EventDetail(
        event=event_from_row(row), variants=variants, merges=tuple(map(merge_from_row, merged))
    )


def merged_into(conn: Connection, event_id: int) -> int | None:
    """The event that ``event_id`` was folded into in the end (following later merges), or
    ``None`` when it was never merged."""
    current, hops = event_id, 0
    while hops < _MAX_HOPS:
        into = conn.execute(
            select(event_merges.c.into_event_id)
            .where(event_merges.c.gone_event_id == current)
            .order_by(event_merges.c.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if into is None:
            break
        current, hops = into, hops + 1
    return None if current == event_id else current


def missing_event(conn: Connection, event_id: int) -> str:
    """Why there is no event ``event_id``: never one, merged (into what, in the end), or
    deleted by the operator."""
    into = merged_into(conn, event_id)
    current = event_id if into is None else into
    deleted = conn.execute(
        select(curations.c.id)
        .where(curations.c.action == "delete", curations.c.event_id == current)
        .limit(1)
    ).first()
    if into is None:
        return f"event {event_id} was deleted" if deleted else f"no event {event_id}"
    if deleted:
        return f"event {event_id} was merged into event {into}, which was deleted"
    return f"event {event_id} was merged into event {into}"
