"""Replay and evaluation: files and labelled streams through the same normalize, fingerprint
and ingest steps as a poll.

Owns: ``Replayer`` (``ingestor replay``: inputs read by ``ingestor.replay``, batched into the
write step) and ``evaluate_dataset``, which replays a labelled stream into a throwaway SQLite
store and scores the events it formed.

Time comes from the stream, never from the wall clock: a story without a published time takes
the latest one read before it in the same path (``_clock.StreamClock``), and a path that is a
directory or an archive is replayed in time order, oldest first, once all of it is read (its
stories are held in memory until then; a large backfill belongs in a JSONL stream, which is
replayed as it is read). A feed file's entries go oldest first, as in a poll.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from ingestor import normalize
from ingestor.budget import BudgetRunner
from ingestor.config import Settings
from ingestor.errors import IngestorError, NormalizeError, ParseError, ReplayError
from ingestor.fingerprint import fingerprint
from ingestor.models import Counts, Signature, Story
from ingestor.pipeline._clock import StreamClock, in_time_order
from ingestor.pipeline._stages import ReplaySummary, parse_and_normalize, utcnow
from ingestor.pipeline._write import WriteStep
from ingestor.replay import ArticleFile, FeedFile, Record, is_collection, iter_replay

if TYPE_CHECKING:
    from ingestor.evaluate import EvalReport

__all__ = ["Replayer", "evaluate_dataset"]

log = structlog.get_logger()


class Replayer:
    """Replays files and record streams through a ``WriteStep``; see the module docstring."""

    def __init__(self, settings: Settings, writer: WriteStep, *, budget: BudgetRunner) -> None:
        self.settings = settings
        self.writer = writer
        self.budget = budget

    def replay(
        self,
        paths: Sequence[Path],
        *,
        now: datetime | None = None,
        batch: int = 200,
        max_delay_s: float = 1.0,
        progress: Callable[[int], None] | None = None,
        on_record: Callable[[Record, int | None], None] | None = None,
    ) -> ReplaySummary:
        """Feed files, article files and record streams through normalize -> fingerprint ->
        ingest. ``on_record`` hears every dataset record with the event it landed in
        (which a later story may merge into another: ``Store.merges_since`` says).

        Stories are committed ``batch`` at a time, and never held back more than
        ``max_delay_s`` after the first of a batch was read: other writers on the same store
        then see them within about that delay, so concurrent replays commit in close to the
        order their inputs were read (clustering is online, and order matters to it)."""
        now = now or utcnow()
        started = time.monotonic()
        summary = ReplaySummary()
        pending: list[tuple[Story, Signature]] = []
        records: list[Record | None] = []
        oldest = 0.0  # when the first pending story was read

        def flush() -> None:
            if not pending:
                return
            written = self.writer.write(pending, now=now)
            # The window moves with the stream: events quiet for longer than it are let go
            # after every batch, so memory follows the window, not the length of the replay.
            self.writer.window.clusterer.evict()
            summary.counts += written.counts
            if on_record is not None:
                for position, record in enumerate(records):
                    if record is not None:
                        on_record(record, written.events.get(position))
            pending.clear()
            records.clear()

        def write(ready: list[tuple[Story, Record | None]]) -> None:
            nonlocal oldest
            for story, record in ready:
                if not pending:
                    oldest = time.monotonic()
                pending.append((story, fingerprint(story, self.settings.fingerprint)))
                records.append(record)
                if len(pending) >= batch or time.monotonic() - oldest >= max_delay_s:
                    flush()

        for given in paths:
            clock: StreamClock[Record | None] = StreamClock(now)
            ordered = is_collection(Path(given))
            gathered: list[tuple[Story, Record | None]] = []
            emit = gathered.extend if ordered else write
            for item in iter_replay([given]):
                summary.items += 1
                if progress is not None:
                    progress(1)
                if isinstance(item, IngestorError):
                    summary.errors += 1
                    summary.error_messages.append(str(item))
                    log.warning("replay_skipped", error=str(item), error_kind=item.kind)
                    continue
                try:
                    stories, skipped = self._replay_stories(item, now=now)
                except (ParseError, NormalizeError) as error:
                    summary.errors += 1
                    summary.error_messages.append(f"{item.path}: {error}")
                    log.warning("replay_skipped", path=item.path, error=str(error))
                    if isinstance(item, Record) and on_record is not None:
                        on_record(item, None)
                    continue
                if skipped:
                    summary.counts += Counts(skipped=skipped)
                record = item if isinstance(item, Record) else None
                ready: list[tuple[Story, Record | None]] = []
                for story in stories:
                    ready.extend(clock.place(story, record))
                emit(in_time_order(ready) if isinstance(item, FeedFile) else ready)
            emit(clock.flush())
            if ordered:
                write(in_time_order(gathered))
        flush()
        summary.seconds = time.monotonic() - started
        return summary

    def _replay_stories(
        self, item: FeedFile | ArticleFile | Record, *, now: datetime
    ) -> tuple[list[Story], int]:
        """The stories of one input, and how many of its entries normalization dropped."""
        if isinstance(item, FeedFile):
            _, stories, skipped = self.budget.run(
                parse_and_normalize,
                item.body,
                url=item.uri,
                content_type=None,
                max_entries=self.settings.parse.max_entries,
                now=now,
            )
            return list(stories), skipped
        story = normalize.normalize_article(
            item.text,
            is_html=item.is_html,
            title=item.title,
            url=item.url,
            source=item.source,
            published=item.published,
            fetched=now,
            external_id=item.id if isinstance(item, Record) else None,
        )
        return [story], 0


def evaluate_dataset(
    path: Path,
    settings: Settings,
    *,
    assignments: Path | None = None,
    progress: Callable[[int], None] | None = None,
    story_days: float | None = None,
) -> EvalReport:
    """Stream a labelled dataset, in file order, through normalize -> fingerprint -> cluster with
    a throwaway SQLite store, and score the predicted events against the gold ones; with
    ``story_days``, against story-level labels too (``evaluate.story_labels``). A file that holds
    no labelled record is a ``ReplayError``, not a perfect score."""
    import json
    import tempfile

    from ingestor import evaluate

    seen: list[tuple[Record, int | None]] = []
    with tempfile.TemporaryDirectory(prefix="ingestor-eval-") as tmp:
        scratch = settings.model_copy(update={"database_url": f"sqlite:///{Path(tmp) / 'eval.db'}"})
        from ingestor.pipeline import Pipeline

        with Pipeline.open(scratch, migrate=True) as pipeline:
            summary = pipeline.replay(
                [path], progress=progress, on_record=lambda item, e: seen.append((item, e))
            )
            # A story's event may have been merged into another after it joined.
            into = {merge.gone: merge.into for merge in pipeline.store.merges_since(0)}
    if not any(item.event for item, _ in seen):
        problem = f"; {summary.error_messages[0]}" if summary.error_messages else ""
        raise ReplayError(f"{path}: no labelled records to score{problem}")
    gold: list[str] = []
    predicted: list[str] = []
    datasets: list[str] = []
    out = assignments.open("w", encoding="utf-8") if assignments else None
    try:
        for item, event_id in seen:
            while event_id in into:
                event_id = into[event_id]
            # A document that could not be read is an event of its own.
            predicted.append(f"e{event_id}" if event_id is not None else f"unread:{item.id}")
            gold.append(item.event or f"unlabelled:{item.id}")
            datasets.append(item.dataset or "")
            if out is not None:
                out.write(json.dumps({"id": item.id, "event_id": event_id}) + "\n")
    finally:
        if out is not None:
            out.close()
    report = evaluate.score(gold, predicted, datasets, seconds=summary.seconds)
    if story_days is None:
        return report
    stories = evaluate.story_labels(gold, [item.published for item, _ in seen], story_days)
    level = evaluate.score(stories, predicted, datasets, seconds=summary.seconds)
    return replace(report, stories=replace(level, story_days=story_days))
