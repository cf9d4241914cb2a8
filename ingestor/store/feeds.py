"""The feed list's writes on one connection: add (or revive), remove, sync with the
configuration, and the operator's ``refresh`` (due now) and ``reset`` (errors and backoff
cleared).

Owns: the SQL of those operations, called by ``SQLStore`` inside its write transaction (like
``store.tx.find_story``). Does not: open transactions, read the clock (``now`` is an argument),
or normalize feed URLs (the facade does, before any of these sees one).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ingestor.models import FeedSource
from ingestor.store.rows import feed_from_row
from ingestor.store.schema import feeds

__all__ = ["add_feed", "refresh_feeds", "remove_feed", "reset_feed", "sync_feeds"]

_REVIVABLE = ("removed", "parked", "gone")
_CHUNK = 500
"""Rows per ``IN (...)`` list, well under SQLite's bound-parameter limit."""
_CLEARED: dict[str, Any] = {
    "status": "active",
    "consecutive_errors": 0,
    "last_error": None,
    "lease_owner": None,
    "lease_expires_at": None,
}
"""A feed's failures forgotten: active, no errors, no lease."""


def add_feed(conn: Connection, url: str, *, now: datetime, title: str | None) -> FeedSource:
    """Add a feed due at ``now``. A removed, parked or gone one comes back active with its error
    count reset; an active one scheduled later is brought forward to ``now``."""
    row = conn.execute(select(feeds).where(feeds.c.url == url)).first()
    if row is None:
        conn.execute(
            insert(feeds).values(
                url=url, title=title, status="active", next_poll_at=now, created_at=now
            )
        )
    else:
        values: dict[str, Any] = {}
        if row.status in _REVIVABLE:
            values.update(_CLEARED, next_poll_at=now)
        elif row.next_poll_at is not None and row.next_poll_at > now:
            values["next_poll_at"] = now
        if title is not None:
            values["title"] = title
        if values:
            conn.execute(update(feeds).where(feeds.c.id == row.id).values(**values))
    return feed_from_row(conn.execute(select(feeds).where(feeds.c.url == url)).one())


def remove_feed(conn: Connection, url: str) -> bool:
    result = conn.execute(
        update(feeds)
        .where(feeds.c.url == url)
        .values(status="removed", lease_owner=None, lease_expires_at=None)
    )
    return result.rowcount > 0


def sync_feeds(conn: Connection, urls: Iterable[str], *, now: datetime) -> int:
    wanted = [u for u in dict.fromkeys(urls) if u]
    added = 0
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        known = set(conn.scalars(select(feeds.c.url).where(feeds.c.url.in_(chunk))))
        new = [u for u in chunk if u not in known]
        if new:
            conn.execute(
                insert(feeds),
                [
                    {"url": u, "status": "active", "next_poll_at": now, "created_at": now}
                    for u in new
                ],
            )
            added += len(new)
    return added


def refresh_feeds(conn: Connection, url: str | None, *, now: datetime) -> int:
    """Make the active feed ``url`` (every active feed when ``None``) due at ``now``, its
    backoff and errors kept; returns how many feeds that touched."""
    query = update(feeds).where(feeds.c.status == "active")
    if url is not None:
        query = query.where(feeds.c.url == url)
    return conn.execute(query.values(next_poll_at=now)).rowcount


def reset_feed(conn: Connection, url: str, *, now: datetime) -> FeedSource | None:
    """Forget a feed's failures: active (a parked or gone one too; a removed one stays
    removed), no consecutive errors or last error, no lease, due at ``now``. ``None`` when the
    store does not know ``url``."""
    row = conn.execute(select(feeds.c.id, feeds.c.status).where(feeds.c.url == url)).first()
    if row is None:
        return None
    values: dict[str, Any] = {**_CLEARED, "next_poll_at": now}
    if row.status == "removed":
        values["status"] = "removed"
    conn.execute(update(feeds).where(feeds.c.id == row.id).values(**values))
    return feed_from_row(conn.execute(select(feeds).where(feeds.c.id == row.id)).one())
