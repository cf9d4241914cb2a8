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
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from ingestor.budget import BudgetRunner
from ingestor.config import Settings
from ingestor.errors import IngestorError, NormalizeError, ParseError, ReplayError
from ingestor.models import Counts, Signature, Story
from ingestor.pipeline._clock import StreamClock, in_time_order
from ingestor.pipeline._stages import Prepared, ReplaySummary, prepare_item, utcnow
from ingestor.pipeline._write import WriteStep
from ingestor.replay import FeedFile, Record, ReplayItem, is_collection, iter_replay

if TYPE_CHECKING:
    from ingestor.evaluate import EvalReport

__all__ = ["Replayer", "evaluate_dataset"]

log = structlog.get_logger()

Tag = tuple[Record | None, Signature]
"""What rides with a replayed story through the stream clock: its record and signature."""
AHEAD_PER_WORKER = 4
"""Inputs prepared ahead of the write step per worker: enough to keep every worker busy, few
enough that memory stays bounded."""


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

        def write(ready: list[tuple[Story, Tag]]) -> None:
            nonlocal oldest
            for story, (record, signature) in ready:
                if not pending:
                    oldest = time.monotonic()
                pending.append((story, signature))
                records.append(record)
                if len(pending) >= batch or time.monotonic() - oldest >= max_delay_s:
                    flush()

        for given in paths:
            clock: StreamClock[Tag] = StreamClock(now)
            ordered = is_collection(Path(given))
            gathered: list[tuple[Story, Tag]] = []
            emit = gathered.extend if ordered else write
            for item, prepared in self._prepared(iter_replay([given]), now=now):
                summary.items += 1
                if progress is not None:
                    progress(1)
                if isinstance(prepared, IngestorError):
                    summary.errors += 1
                    # The summary carries every message (the CLI prints each once): debug here.
                    if item is prepared:  # the input itself could not be read
                        summary.error_messages.append(str(prepared))
                        log.debug("replay_skipped", error=str(prepared), error_kind=prepared.kind)
                        continue
                    assert not isinstance(item, IngestorError)
                    summary.error_messages.append(f"{item.path}: {prepared}")
                    log.debug("replay_skipped", path=item.path, error=str(prepared))
                    if isinstance(item, Record) and on_record is not None:
                        on_record(item, None)
                    continue
                if prepared.skipped:
                    summary.counts += Counts(skipped=prepared.skipped)
                record = item if isinstance(item, Record) else None
                ready: list[tuple[Story, Tag]] = []
                for story, signature in zip(prepared.stories, prepared.signatures, strict=True):
                    ready.extend(clock.place(story, (record, signature)))
                emit(in_time_order(ready) if isinstance(item, FeedFile) else ready)
            emit(clock.flush())
            if ordered:
                write(in_time_order(gathered))
        flush()
        summary.seconds = time.monotonic() - started
        return summary

    def _prepared(
        self, items: Iterable[ReplayItem | IngestorError], *, now: datetime
    ) -> Iterator[tuple[ReplayItem | IngestorError, Prepared | IngestorError]]:
        """Each input with its stories and signatures (``prepare_item``) or the error that
        kept it out, in input order. With budget workers, as many inputs are prepared at once as
        there are workers (each under the parse time budget), a bounded number ahead of the
        write step; without, one at a time in this thread."""
        run = partial(
            self.budget.run, prepare_item, now=now,
            max_entries=self.settings.parse.max_entries, policy=self.settings.fingerprint,
        )  # fmt: skip

        def one(
            item: ReplayItem | IngestorError,
        ) -> tuple[ReplayItem | IngestorError, Prepared | IngestorError]:
            if isinstance(item, IngestorError):
                return item, item
            try:
                return item, run(item)
            except (ParseError, NormalizeError) as error:
                return item, error

        workers = self.budget.workers
        if workers <= 1:
            yield from map(one, items)
            return
        with ThreadPoolExecutor(workers, thread_name_prefix="replay") as pool:
            ahead: deque[Future[tuple[ReplayItem | IngestorError, Prepared | IngestorError]]]
            ahead = deque()
            for item in items:
                ahead.append(pool.submit(one, item))
                if len(ahead) >= AHEAD_PER_WORKER * workers:
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()


def evaluate_dataset(
    path: Path,
    settings: Settings,
    *,
    assignments: Path | None = None,
    progress: Callable[[int], None] | None = None,
    story_days: float | None = None,
    workers: int = 0,
) -> EvalReport:
    """Stream a labelled dataset, in file order, through normalize -> fingerprint -> cluster with
    a throwaway SQLite store, and score the predicted events against the gold ones; with
    ``story_days``, against story-level labels too (``evaluate.story_labels``). A file that holds
    no labelled record is a ``ReplayError``, not a perfect score. ``workers``: budget worker
    processes that prepare the records (``Replayer._prepared``); the scores are the same."""
    import json
    import tempfile

    from ingestor import evaluate

    seen: list[tuple[Record, int | None]] = []
    with tempfile.TemporaryDirectory(prefix="ingestor-eval-") as tmp:
        scratch = settings.model_copy(update={"database_url": f"sqlite:///{Path(tmp) / 'eval.db'}"})
        from ingestor.pipeline import Pipeline

        with Pipeline.open(scratch, migrate=True, budget_workers=workers) as pipeline:
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
