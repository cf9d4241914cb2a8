"""The library: one ``Ingestor`` that the CLI, the daemon and an HTTP server all call.

Owns: ``Ingestor`` (lemon24/reader's ``Reader`` is the model), and what each of its operations
opens, which is only what it needs:

* reading (``list_events``, ``count_events``, ``get_event``, ``get_story``, ``merged_into``,
  ``list_feeds``, ``get_feed``, ``last_poll``, ``export_opml``, ``index_status``, ``db_status``,
  ``counts``) opens the store read-only: nothing is written, no file or directory is created,
  the shared index is only read;
* curating the feed list (``add_feed``, ``remove_feed``, ``refresh_feeds``, ``reset_feed``,
  ``import_opml``, ``sync_feeds``) opens the store alone, with its schema checked (and migrated if
  allowed);
* polling, replaying and ``rebuild_index`` open the whole pipeline over that store: the
  clustering window is loaded (and a shared index checked) the first time one of them runs.

Each is opened once and kept until ``close``. The schema is checked once, by
``store.ensure_schema``. Evaluation opens nothing of this object's: it runs on a throwaway
store.

Does not: parse arguments, print, or turn errors into exit codes (``cli``), or schedule ticks
(``daemon``). Expected failures are raised as ``IngestorError``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ingestor import opml
from ingestor.config import Settings
from ingestor.errors import NotFound
from ingestor.models import (
    Event,
    EventDetail,
    FeedRunResult,
    FeedSource,
    StoryDetail,
    feed_identity,
)
from ingestor.pipeline import (
    DeliveryReport,
    IndexStatus,
    Pipeline,
    ReplaySummary,
    survey,
    utcnow,
)
from ingestor.replay import count_replay
from ingestor.store import SchemaStatus, Store, ensure_schema, open_store

if TYPE_CHECKING:
    from ingestor.evaluate import EvalReport

__all__ = ["OPML_MAX_BYTES", "DatabaseStatus", "FeedAdded", "Ingestor", "OPMLExport"]

OPML_MAX_BYTES = opml.MAX_BYTES
"""The largest OPML document ``import_opml`` reads."""


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


@dataclass(frozen=True, slots=True)
class DatabaseStatus:
    url: str
    schema: SchemaStatus
    counts: dict[str, int] | None
    """Rows per table, when the schema is current."""


class Ingestor:
    """Feeds in, events out: every operation of ``ingestor``; see the module docstring.

    ``store`` (tests) is used for reading and writing alike, its schema checked like an opened
    one; ``fetcher``, ``rng`` and ``budget_workers`` go to the pipeline when one is opened;
    ``migrate`` overrides ``store.auto_migrate``."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        fetcher: Any = None,
        rng: random.Random | None = None,
        budget_workers: int = 0,
        migrate: bool | None = None,
    ) -> None:
        self.settings = settings
        self._given = store
        self._fetcher = fetcher
        self._rng = rng
        self._budget_workers = budget_workers
        self._migrate = settings.store.auto_migrate if migrate is None else migrate
        self._store: Store | None = None
        self._reader: Store | None = None
        self._pipeline: Pipeline | None = None

    # -- what is open ------------------------------------------------------------------------
    def _writable(self) -> Store:
        """The store, opened once for writing, its schema current."""
        if self._store is None:
            store = self._given or open_store(
                self.settings.effective_database_url,
                max_revisions=self.settings.store.max_revisions,
                webhooks=self.settings.webhooks.urls,
            )
            try:
                ensure_schema(store, migrate=self._migrate)
            except BaseException:
                if store is not self._given:
                    store.close()
                raise
            self._store = store
        return self._store

    def _readable(self) -> Store:
        """A store to read from, its schema current: the writable one when it is open, else
        one opened read-only."""
        if self._store is not None:
            return self._store
        if self._given is not None:
            return self._writable()
        if self._reader is None:
            reader = open_store(self.settings.effective_database_url, read_only=True)
            try:
                ensure_schema(reader, migrate=False)
            except BaseException:
                reader.close()
                raise
            self._reader = reader
        return self._reader

    def pipeline(self, *, now: datetime | None = None) -> Pipeline:
        """The whole pipeline over the store, its window loaded (once): what polling,
        replaying and rebuilding run on."""
        if self._pipeline is None:
            self._pipeline = Pipeline.over(
                self._writable(),
                self.settings,
                budget_workers=self._budget_workers,
                now=now,
                fetcher=self._fetcher,
                rng=self._rng,
            )
        return self._pipeline

    def start(self, *, now: datetime | None = None) -> str:
        """Open everything polling needs now rather than at the first tick (the daemon's
        start-up, which then fails fast); the database's URL, password masked."""
        return self.pipeline(now=now).store.url

    @property
    def indexed_events(self) -> int:
        """Events in the clustering window (0 before the pipeline is opened)."""
        return self._pipeline.clusterer.events if self._pipeline is not None else 0

    def close(self) -> None:
        """Close whatever was opened (a given store too)."""
        if self._pipeline is not None:
            self._pipeline.close()  # closes the store it runs over
        elif self._store is not None:
            self._store.close()
        if self._reader is not None:
            self._reader.close()
        self._pipeline = self._store = self._reader = None

    def __enter__(self) -> Ingestor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- feeds -------------------------------------------------------------------------------
    # Every URL an operator gives is taken by its identity (``models.feed_identity``: scheme
    # and host in lower case, no default port), and a feed stored before under another spelling
    # of the same identity is found as that row.
    def _known_url(self, store: Store, url: str) -> str:
        """The stored URL of the feed ``url`` names, else ``url``'s identity."""
        identity = feed_identity(url)
        if store.get_feed(identity) is not None:
            return identity
        for feed in store.list_feeds(include_removed=True):
            if feed_identity(feed.url) == identity:
                return feed.url
        return identity

    def add_feed(self, url: str, *, now: datetime | None = None) -> FeedAdded:
        """Add a feed (or revive a removed, parked or gone one); due at once. Says whether it
        was new, revived, or already present."""
        store = self._writable()
        url = self._known_url(store, url)
        before = store.get_feed(url)
        feed = store.add_feed(url, now=now or utcnow())
        if before is None:
            return FeedAdded(feed, "added")
        return FeedAdded(feed, "present" if before.status == "active" else "revived")

    def remove_feed(self, url: str) -> bool:
        """Mark a feed removed (its stories stay); ``False`` if the store does not know it."""
        store = self._writable()
        return store.remove_feed(self._known_url(store, url))

    def get_feed(self, url: str) -> FeedSource:
        """One feed and its health; ``NotFound`` when the store does not know it."""
        store = self._readable()
        feed = store.get_feed(self._known_url(store, url))
        if feed is None:
            raise NotFound(f"no such feed: {feed_identity(url)}")
        return feed

    def refresh_feeds(self, url: str | None = None, *, now: datetime | None = None) -> int:
        """Make a feed (every active feed when ``url`` is ``None``) due now, its errors and
        backoff kept; ``NotFound`` for an unknown feed, and 0 for one that is not active."""
        store = self._writable()
        known = None if url is None else self._known_url(store, url)
        if known is not None and store.get_feed(known) is None:
            raise NotFound(f"no such feed: {known}")
        return store.refresh_feeds(known, now=now or utcnow())

    def reset_feed(self, url: str, *, now: datetime | None = None) -> FeedSource:
        """Clear a feed's errors and backoff and make it due now (a parked or gone one becomes
        active; a removed one stays removed); ``NotFound`` for an unknown feed."""
        store = self._writable()
        known = self._known_url(store, url)
        feed = store.reset_feed(known, now=now or utcnow())
        if feed is None:
            raise NotFound(f"no such feed: {known}")
        return feed

    def sync_feeds(self, urls: Iterable[str] | None = None, *, now: datetime | None = None) -> int:
        """Add the configured feeds (or ``urls``) the store does not know yet; never revive a
        removed one. Returns how many were added."""
        listed = self.settings.feed_urls() if urls is None else list(urls)
        store = self._writable()
        stored = {feed_identity(f.url): f.url for f in store.list_feeds(include_removed=True)}
        wanted = [stored.get(feed_identity(u), feed_identity(u)) for u in listed]
        return store.sync_feeds(wanted, now=now or utcnow())

    def import_opml(self, data: bytes, *, now: datetime | None = None) -> opml.OPMLImport:
        """Add every http(s) feed an OPML document lists that the store does not know; a
        known one is left as it is, a removed one included."""
        listed = opml.read_opml(data)
        store = self._writable()
        now = now or utcnow()
        added: list[str] = []
        present: list[str] = []
        removed = 0
        for given, title in listed.feeds:
            url = self._known_url(store, given)
            known = store.get_feed(url)
            if known is not None:
                present.append(url)
                removed += known.status == "removed"
                continue
            store.add_feed(url, now=now, title=title)
            added.append(url)
        return opml.OPMLImport(tuple(added), tuple(present), removed, listed.refused)

    def export_opml(self, *, now: datetime | None = None) -> OPMLExport:
        """The feeds (not the removed ones) as an OPML 2.0 document; local feed files left out."""
        rows = self._readable().list_feeds()
        document = opml.write_opml(((f.url, f.title) for f in rows), created=now or utcnow())
        local = sum(1 for f in rows if opml.feed_url_problem(f.url) is not None)
        return OPMLExport(document, len(rows) - local, local)

    def list_feeds(
        self, *, include_removed: bool = False, failing: bool = False
    ) -> list[FeedSource]:
        """The feeds (removed ones too with ``include_removed``); with ``failing``, only those
        whose last poll failed or that polling gave up on (parked, gone)."""
        rows = self._readable().list_feeds(include_removed=include_removed)
        if failing:
            rows = [f for f in rows if f.consecutive_errors > 0 or f.status in ("parked", "gone")]
        return rows

    # -- events ------------------------------------------------------------------------------
    def list_events(
        self,
        *,
        since: datetime | None = None,
        min_size: int = 1,
        limit: int = 50,
        offset: int = 0,
        q: str | None = None,
        source: str | None = None,
        before: tuple[datetime, int] | None = None,
    ) -> list[Event]:
        """Events, newest first (by last seen, then id): ``since`` is ingestion time (events a
        story joined at or after it), ``q`` in the canonical title, a variant from ``source``;
        ``offset`` rows skipped, or only those after the ``(last_seen, id)`` of ``before``."""
        return self._readable().list_events(
            since=since, min_size=min_size, limit=limit, offset=offset, q=q, source=source,
            before=before,
        )  # fmt: skip

    def count_events(self, *, since: datetime | None = None, min_size: int = 1) -> int:
        """How many events ``list_events`` pages through."""
        return self._readable().count_events(since=since, min_size=min_size)

    def get_event(self, event_id: int) -> EventDetail:
        """An event with every variant; an event merged into another is that one (its id then
        differs from ``event_id``); ``NotFound`` when there is none."""
        store = self._readable()
        try:
            return store.get_event(event_id)
        except NotFound:
            into = store.merged_into(event_id)
            if into is None:
                raise
            return store.get_event(into)

    def get_story(self, story_id: int) -> StoryDetail:
        """A story with its event and how it joined; ``NotFound`` when there is none."""
        return self._readable().get_story(story_id)

    def merged_into(self, event_id: int) -> int | None:
        """Where a merged event's stories are now (``None``: it was never merged)."""
        return self._readable().merged_into(event_id)

    def last_poll(self) -> datetime | None:
        """When any feed was last polled (by any process sharing the store), or ``None``."""
        polled = [f.last_polled_at for f in self._readable().list_feeds(include_removed=True)]
        return max((t for t in polled if t is not None), default=None)

    def score_description(self) -> dict[str, Any]:
        """The verification score and the thresholds applied to it (for ``--explain``); opens
        nothing."""
        from ingestor.pipeline import score_description

        return score_description(self.settings)

    def counts(self) -> dict[str, int]:
        """Rows per table: feeds, stories, events, memberships."""
        return self._readable().counts()

    def merge_count(self) -> int:
        """Event merges recorded (the merge log's ids count up from 1 and are never removed)."""
        return self._readable().max_merge_id()

    # -- polling and replay ------------------------------------------------------------------
    def tick(self, *, now: datetime | None = None) -> list[FeedRunResult]:
        """Poll every due feed this process can lease."""
        return self.pipeline().tick(now=now)

    def deliver_webhooks(self, *, now: datetime | None = None) -> DeliveryReport:
        """Send the due webhook notifications (after the writes that made them committed)."""
        return self.pipeline().deliver_webhooks(now=now or utcnow())

    def webhook_backlog(self) -> int:
        """Webhook notifications not delivered yet."""
        return self._readable().webhook_backlog()

    def replay(
        self, paths: Sequence[Path], *, progress: Callable[[int], None] | None = None
    ) -> ReplaySummary:
        """Ingest feed files, article files and record streams (directories and archives)."""
        return self.pipeline().replay(paths, progress=progress)

    @staticmethod
    def count_inputs(paths: Sequence[Path]) -> int | None:
        """How many items a replay of ``paths`` will read, when that is cheap to know."""
        return count_replay(list(paths))

    def evaluate(
        self,
        dataset: Path,
        *,
        assignments: Path | None = None,
        progress: Callable[[int], None] | None = None,
        story_days: float | None = None,
        workers: int = 0,
    ) -> EvalReport:
        """Score clustering on a labelled stream, on a throwaway store (and against story-level
        labels too, with ``story_days``); ``workers`` prepare the inputs as in a replay."""
        from ingestor.pipeline import evaluate_dataset

        return evaluate_dataset(
            dataset, self.settings, assignments=assignments, progress=progress,
            story_days=story_days, workers=workers,
        )  # fmt: skip

    # -- the index and the database ----------------------------------------------------------
    def index_status(self, *, now: datetime | None = None) -> IndexStatus:
        """The clustering window and its LSH index, as a start-up now would load them, read
        without writing anything."""
        return survey(self._readable(), self.settings, now=now or utcnow())

    def rebuild_index(self, *, now: datetime | None = None) -> dict[str, int]:
        """Recompute stale signatures and rebuild the LSH index from the store."""
        now = now or utcnow()
        return self.pipeline(now=now).rebuild_index(now=now)

    def db_status(self) -> DatabaseStatus:
        """The schema revision, and the rows per table when it is current; an empty or
        missing database is reported, never created."""
        store = self._store or self._given
        opened = None
        if store is None:
            store = opened = open_store(self.settings.effective_database_url, read_only=True)
        try:
            status = store.schema_status()
            counts = store.counts() if status.up_to_date else None
            return DatabaseStatus(store.url, status, counts)
        finally:
            if opened is not None:
                opened.close()

    def migrate_db(self) -> tuple[str | None, SchemaStatus]:
        """Bring the schema to head (creating it on an empty database): the revision before,
        and the status after."""
        store = self._store or self._given
        opened = None
        if store is None:
            store = opened = open_store(self.settings.effective_database_url)
        try:
            before = store.schema_status().current
            return before, store.migrate()
        finally:
            if opened is not None:
                opened.close()
