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
  clustering window is loaded (and a shared index checked) the first time one of them runs;
* reading stories (``get_story``, ``search``, ``export_events``) opens the store read-only;
  curation (``merge_events``, ``split_event``, ``move_story``, ``delete_event``) and ``prune``
  open the store alone: the store logs each step, and every clustering window replays the log
  before its next write (this process's at once, when its pipeline is open).

The operations' bodies live beside this module by concern (``_feeds``, ``_reading``,
``_curation``, ``_runs``), each a function over the facade bound here as a method, so the facade
stays one object with one place that says what is open. Each is opened once and kept until
``close``. The schema is checked once, by
``store.ensure_schema``. Evaluation opens nothing of this object's: it runs on a throwaway
store.

Does not: parse arguments, print, or turn errors into exit codes (``cli``), or schedule ticks
(``daemon``). Expected failures are raised as ``IngestorError``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ingestor import opml
from ingestor.app import _curation, _feeds, _reading, _runs
from ingestor.app._feeds import FeedAdded, OPMLExport
from ingestor.app._runs import DatabaseStatus
from ingestor.config import Settings
from ingestor.pipeline import Pipeline
from ingestor.replay import count_replay
from ingestor.store import Store, ensure_schema, open_store

__all__ = ["OPML_MAX_BYTES", "DatabaseStatus", "FeedAdded", "Ingestor", "OPMLExport"]

OPML_MAX_BYTES = opml.MAX_BYTES
"""The largest OPML document ``import_opml`` reads."""


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

    @staticmethod
    def count_inputs(paths: Sequence[Path]) -> int | None:
        """How many items a replay of ``paths`` will read, when that is cheap to know."""
        return count_replay(list(paths))

    # -- feeds (``_feeds``) ------------------------------------------------------------------
    add_feed = _feeds.add_feed
    remove_feed = _feeds.remove_feed
    get_feed = _feeds.get_feed
    refresh_feeds = _feeds.refresh_feeds
    reset_feed = _feeds.reset_feed
    sync_feeds = _feeds.sync_feeds
    import_opml = _feeds.import_opml
    export_opml = _feeds.export_opml
    list_feeds = _feeds.list_feeds

    # -- events and stories, read-only (``_reading``) ---------------------------------------
    list_events = _reading.list_events
    count_events = _reading.count_events
    get_event = _reading.get_event
    get_story = _reading.get_story
    merged_into = _reading.merged_into
    last_poll = _reading.last_poll
    score_description = _reading.score_description
    counts = _reading.counts
    merge_count = _reading.merge_count
    search = _reading.search
    export_events = _reading.export_events

    # -- curation and retention (``_curation``) ---------------------------------------------
    merge_events = _curation.merge_events
    split_event = _curation.split_event
    move_story = _curation.move_story
    delete_event = _curation.delete_event
    prune = _curation.prune
    apply_retention = _curation.apply_retention

    # -- polling, replay, the index and the database (``_runs``) ---------------------------
    tick = _runs.tick
    deliver_webhooks = _runs.deliver_webhooks
    webhook_backlog = _runs.webhook_backlog
    replay = _runs.replay
    evaluate = _runs.evaluate
    index_status = _runs.index_status
    rebuild_index = _runs.rebuild_index
    db_status = _runs.db_status
    migrate_db = _runs.migrate_db
