"""The facade's runs: polling ticks, webhook delivery, replay, evaluation, and the index and
database commands.

Owns: the bodies of those ``Ingestor`` methods (each a function over the facade, bound in
``ingestor.app``) and ``DatabaseStatus``. Polling, replaying and ``rebuild_index`` open the whole
pipeline (``Ingestor.pipeline``); evaluation runs on a throwaway store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ingestor.models import (
    FeedRunResult,
)
from ingestor.pipeline import (
    DeliveryReport,
    IndexStatus,
    ReplaySummary,
    survey,
    utcnow,
)
from ingestor.store import SchemaStatus, open_store

if TYPE_CHECKING:
    from ingestor.app import Ingestor
    from ingestor.evaluate import EvalReport


@dataclass(frozen=True, slots=True)
class DatabaseStatus:
    url: str
    schema: SchemaStatus
    counts: dict[str, int] | None
    """Rows per table, when the schema is current."""


def tick(self: Ingestor, *, now: datetime | None = None) -> list[FeedRunResult]:
    """Poll every due feed this process can lease."""
    return self.pipeline().tick(now=now)


def deliver_webhooks(self: Ingestor, *, now: datetime | None = None) -> DeliveryReport:
    """Send the due webhook notifications (after the writes that made them committed)."""
    return self.pipeline().deliver_webhooks(now=now or utcnow())


def webhook_backlog(self: Ingestor) -> int:
    """Webhook notifications not delivered yet."""
    return self._readable().webhook_backlog()


def replay(
    self: Ingestor, paths: Sequence[Path], *, progress: Callable[[int], None] | None = None
) -> ReplaySummary:
    """Ingest feed files, article files and record streams (directories and archives)."""
    return self.pipeline().replay(paths, progress=progress)


def evaluate(
    self: Ingestor,
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


def index_status(self: Ingestor, *, now: datetime | None = None) -> IndexStatus:
    """The clustering window and its LSH index, as a start-up now would load them, read
    without writing anything."""
    return survey(self._readable(), self.settings, now=now or utcnow())


def rebuild_index(self: Ingestor, *, now: datetime | None = None) -> dict[str, int]:
    """Recompute stale signatures and rebuild the LSH index from the store."""
    now = now or utcnow()
    return self.pipeline(now=now).rebuild_index(now=now)


def db_status(self: Ingestor) -> DatabaseStatus:
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


def migrate_db(self: Ingestor) -> tuple[str | None, SchemaStatus]:
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
