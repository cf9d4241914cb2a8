"""The facade's feed-list operations: adding, removing, refreshing, resetting and syncing
feeds, OPML in and out, and reading the feed list.

Owns: the bodies of those ``Ingestor`` methods (each a function over the facade, bound in
``ingestor.app``), ``OPMLExport`` and ``FeedAdded``. Every URL an operator gives is taken by its
identity (``models.feed_identity``: scheme and host in lower case, no default port), and a feed
stored before under another spelling of the same identity is found as that row. They open the
store alone (``Ingestor._writable``), or read-only for reading.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from ingestor import opml
from ingestor.errors import NotFound
from ingestor.models import (
    FeedSource,
    feed_identity,
)
from ingestor.pipeline import (
    utcnow,
)
from ingestor.store import Store

if TYPE_CHECKING:
    from ingestor.app import Ingestor


@dataclass(frozen=True, slots=True)
class OPMLExport:
    document: bytes
    exported: int
    local: int
    """Local feed files left out (a path means nothing on another machine)."""


@dataclass(frozen=True, slots=True)
class FeedAdded:
    feed: FeedSource
    outcome: Literal["added", "revived", "present"]
    """New to the store, back from removed/parked/gone, or already there (then only due now)."""


def _known_url(self: Ingestor, store: Store, url: str) -> str:
    """The stored URL of the feed ``url`` names, else ``url``'s identity."""
    identity = feed_identity(url)
    if store.get_feed(identity) is not None:
        return identity
    for feed in store.list_feeds(include_removed=True):
        if feed_identity(feed.url) == identity:
            return feed.url
    return identity


def add_feed(self: Ingestor, url: str, *, now: datetime | None = None) -> FeedAdded:
    """Add a feed (or revive a removed, parked or gone one); due at once. Says whether it
    was new, revived, or already present."""
    store = self._writable()
    url = _known_url(self, store, url)
    before = store.get_feed(url)
    feed = store.add_feed(url, now=now or utcnow())
    if before is None:
        return FeedAdded(feed, "added")
    return FeedAdded(feed, "present" if before.status == "active" else "revived")


def remove_feed(self: Ingestor, url: str) -> bool:
    """Mark a feed removed (its stories stay); ``False`` if the store does not know it."""
    store = self._writable()
    return store.remove_feed(_known_url(self, store, url))


def get_feed(self: Ingestor, url: str) -> FeedSource:
    """One feed and its health; ``NotFound`` when the store does not know it."""
    store = self._readable()
    feed = store.get_feed(_known_url(self, store, url))
    if feed is None:
        raise NotFound(f"no such feed: {feed_identity(url)}")
    return feed


def refresh_feeds(self: Ingestor, url: str | None = None, *, now: datetime | None = None) -> int:
    """Make a feed (every active feed when ``url`` is ``None``) due now, its errors and
    backoff kept; ``NotFound`` for an unknown feed, and 0 for one that is not active."""
    store = self._writable()
    known = None if url is None else _known_url(self, store, url)
    if known is not None and store.get_feed(known) is None:
        raise NotFound(f"no such feed: {known}")
    return store.refresh_feeds(known, now=now or utcnow())


def reset_feed(self: Ingestor, url: str, *, now: datetime | None = None) -> FeedSource:
    """Clear a feed's errors and backoff and make it due now (a parked or gone one becomes
    active; a removed one stays removed); ``NotFound`` for an unknown feed."""
    store = self._writable()
    known = _known_url(self, store, url)
    feed = store.reset_feed(known, now=now or utcnow())
    if feed is None:
        raise NotFound(f"no such feed: {known}")
    return feed


def sync_feeds(
    self: Ingestor, urls: Iterable[str] | None = None, *, now: datetime | None = None
) -> int:
    """Add the configured feeds (or ``urls``) the store does not know yet; never revive a
    removed one. Returns how many were added."""
    listed = self.settings.feed_urls() if urls is None else list(urls)
    store = self._writable()
    stored = {feed_identity(f.url): f.url for f in store.list_feeds(include_removed=True)}
    wanted = [stored.get(feed_identity(u), feed_identity(u)) for u in listed]
    return store.sync_feeds(wanted, now=now or utcnow())


def import_opml(self: Ingestor, data: bytes, *, now: datetime | None = None) -> opml.OPMLImport:
    """Add every http(s) feed an OPML document lists that the store does not know; a
    known one is left as it is, a removed one included."""
    listed = opml.read_opml(data)
    store = self._writable()
    now = now or utcnow()
    added: list[str] = []
    present: list[str] = []
    removed = 0
    for given, title in listed.feeds:
        url = _known_url(self, store, given)
        known = store.get_feed(url)
        if known is not None:
            present.append(url)
            removed += known.status == "removed"
            continue
        store.add_feed(url, now=now, title=title)
        added.append(url)
    return opml.OPMLImport(tuple(added), tuple(present), removed, listed.refused)


def export_opml(self: Ingestor, *, now: datetime | None = None) -> OPMLExport:
    """The feeds (not the removed ones) as an OPML 2.0 document; local feed files left out."""
    rows = self._readable().list_feeds()
    document = opml.write_opml(((f.url, f.title) for f in rows), created=now or utcnow())
    local = sum(1 for f in rows if opml.feed_url_problem(f.url) is not None)
    return OPMLExport(document, len(rows) - local, local)


def list_feeds(
    self: Ingestor, *, include_removed: bool = False, failing: bool = False
) -> list[FeedSource]:
    """The feeds (removed ones too with ``include_removed``); with ``failing``, only those
    whose last poll failed or that polling gave up on (parked, gone)."""
    rows = self._readable().list_feeds(include_removed=include_removed)
    if failing:
        rows = [f for f in rows if f.consecutive_errors > 0 or f.status in ("parked", "gone")]
    return rows
