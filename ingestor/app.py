"""The library: one ``Ingestor`` that the CLI, the daemon and an HTTP server all call.

Owns: ``Ingestor`` (lemon24/reader's ``Reader`` is the model), and what each of its operations
opens, which is only what it needs:

* reading (``list_events``, ``get_event``, ``list_feeds``, ``export_opml``, ``index_status``,
  ``db_status``, ``counts``) opens the store read-only: nothing is written, no file or directory
  is created, the shared index is only read;
* curating the feed list (``add_feed``, ``remove_feed``, ``import_opml``, ``sync_feeds``) opens
  the store alone, with its schema checked (and migrated if allowed);
* polling, replaying and ``rebuild_index`` open the whole pipeline over that store: the
  clustering window is loaded (and a shared index checked) the first time one of them runs;
* reading stories (``get_story``, ``search``, ``export_events``) opens the store read-only;
  curation (``merge_events``, ``split_event``, ``move_story``, ``delete_event``) and ``prune``
  open the store alone: the store logs each step, and every clustering window replays the log
  before its next write (this process's at once, when its pipeline is open).

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
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingestor import opml
from ingestor.config import Settings
from ingestor.models import (
    Event,
    EventDetail,
    ExportedEvent,
    FeedRunResult,
    FeedSource,
    PruneReport,
    SearchHit,
    StoryDetail,
)
from ingestor.pipeline import Curator, IndexStatus, Pipeline, ReplaySummary, survey, utcnow
from ingestor.replay import count_replay
from ingestor.store import SchemaStatus, Store, ensure_schema, open_store

if TYPE_CHECKING:
    from ingestor.evaluate import EvalReport

__all__ = ["OPML_MAX_BYTES", "DatabaseStatus", "Ingestor", "OPMLExport"]

OPML_MAX_BYTES = opml.MAX_BYTES
"""The largest OPML document ``import_opml`` reads."""


@dataclass(frozen=True, slots=True)
class OPMLExport:
    document: bytes
    exported: int
    local: int
    """Local feed files left out (a path means nothing on another machine)."""


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
        self._retained_at: datetime | None = None

    # -- what is open ------------------------------------------------------------------------
    def _writable(self) -> Store:
        """The store, opened once for writing, its schema current."""
        if self._store is None:
            store = self._given or open_store(
                self.settings.effective_database_url,
                max_revisions=self.settings.store.max_revisions,
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
    def add_feed(self, url: str, *, now: datetime | None = None) -> FeedSource:
        """Add a feed (or revive a removed, parked or gone one); due at once."""
        return self._writable().add_feed(url, now=now or utcnow())

    def remove_feed(self, url: str) -> bool:
        """Mark a feed removed (its stories stay); ``False`` if the store does not know it."""
        return self._writable().remove_feed(url)

    def sync_feeds(self, urls: Iterable[str] | None = None, *, now: datetime | None = None) -> int:
        """Add the configured feeds (or ``urls``) the store does not know yet; never revive a
        removed one. Returns how many were added."""
        listed = self.settings.feed_urls() if urls is None else list(urls)
        return self._writable().sync_feeds(listed, now=now or utcnow())

    def import_opml(self, data: bytes, *, now: datetime | None = None) -> opml.OPMLImport:
        """Add every http(s) feed an OPML document lists that the store does not know; a
        known one is left as it is, a removed one included."""
        listed = opml.read_opml(data)
        store = self._writable()
        now = now or utcnow()
        added: list[str] = []
        present: list[str] = []
        removed = 0
        for url, title in listed.feeds:
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

    def list_feeds(self, *, include_removed: bool = False) -> list[FeedSource]:
        return self._readable().list_feeds(include_removed=include_removed)

    # -- events ------------------------------------------------------------------------------
    def list_events(
        self, *, since: datetime | None = None, min_size: int = 1, limit: int = 50
    ) -> list[Event]:
        """Events, newest first (by last seen)."""
        return self._readable().list_events(since=since, min_size=min_size, limit=limit)

    def get_event(self, event_id: int) -> EventDetail:
        """An event with every variant; ``NotFound`` when there is none."""
        return self._readable().get_event(event_id)

    def score_description(self) -> dict[str, Any]:
        """The verification score and the thresholds applied to it (for ``--explain``); opens
        nothing."""
        from ingestor.pipeline import score_description

        return score_description(self.settings)

    def counts(self) -> dict[str, int]:
        """Rows per table: feeds, stories, events, memberships."""
        return self._readable().counts()

    # -- curation, stories, retention ------------------------------------------------------
    def _curated(self) -> Curator:
        return Curator(self._writable(), self.settings)

    def _replayed(self) -> None:
        """This process's window, when open, takes the curation in at once."""
        if self._pipeline is not None:
            with self._pipeline.window.lock:
                self._pipeline.window.replay_curation()

    def merge_events(self, into: int, gone: int, *, now: datetime | None = None) -> int:
        """Fold event ``gone`` into ``into`` for good (replayed like an automatic merge)."""
        merge_id = self._curated().merge(into, gone, now=now or utcnow())
        self._replayed()
        return merge_id

    def split_event(
        self, event_id: int, story_ids: Sequence[int], *, now: datetime | None = None
    ) -> int:
        """The stories leave ``event_id`` and form a new event that no automatic merge folds
        back into it; the new event's id."""
        new = self._curated().split(event_id, story_ids, now=now or utcnow())
        self._replayed()
        return new

    def move_story(self, story_id: int, event_id: int, *, now: datetime | None = None) -> int:
        """Move a story into another event (the two kept apart); the event it left."""
        left = self._curated().move(story_id, event_id, now=now or utcnow())
        self._replayed()
        return left

    def delete_event(self, event_id: int, *, now: datetime | None = None) -> int:
        """Delete an event; its stories stay known (a later poll finds them as duplicates)."""
        count = self._curated().delete(event_id, now=now or utcnow())
        self._replayed()
        return count

    def prune(
        self, before: datetime, *, dry_run: bool = False, now: datetime | None = None
    ) -> PruneReport:
        """Remove the stories whose time is before ``before`` (``dry_run``: only count,
        writing nothing), keeping events and the index consistent."""
        if dry_run:
            return self._readable().prune_preview(before)
        report = self._curated().prune(before, now=now or utcnow())
        self._replayed()
        return report

    def apply_retention(self, *, now: datetime | None = None) -> PruneReport | None:
        """The daemon's retention: with ``store.retention_days`` set, prune once a day (the
        first call, then a day after the last prune); ``None`` when nothing was due."""
        days = self.settings.store.retention_days
        now = now or utcnow()
        if not days or (
            self._retained_at is not None and now - self._retained_at < timedelta(days=1)
        ):
            return None
        report = self.prune(now - timedelta(days=days), now=now)
        self._retained_at = now  # after it succeeded: a failed prune is tried at the next tick
        return report

    def get_story(self, story_id: int) -> StoryDetail:
        """A story with every revision and its event; ``NotFound`` when there is none."""
        return self._readable().get_story(story_id)

    def search(self, query: str, *, limit: int = 20) -> list[SearchHit]:
        """Stories matching every word of ``query``, best first."""
        return self._readable().search(query, limit=limit)

    def export_events(
        self, *, since: datetime | None = None, min_size: int = 1
    ) -> Iterable[ExportedEvent]:
        """Every event with its variants, streamed a page at a time."""
        return self._readable().iter_export(since=since, min_size=min_size)

    # -- polling and replay ------------------------------------------------------------------
    def tick(self, *, now: datetime | None = None) -> list[FeedRunResult]:
        """Poll every due feed this process can lease."""
        return self.pipeline().tick(now=now)

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
    ) -> EvalReport:
        """Score clustering on a labelled stream, on a throwaway store (and against story-level
        labels too, with ``story_days``)."""
        from ingestor.pipeline import evaluate_dataset

        return evaluate_dataset(
            dataset, self.settings, assignments=assignments, progress=progress,
            story_days=story_days,
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
