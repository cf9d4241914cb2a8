"""The one orchestrator: every stage is called from here, and only from here.

One poll of one feed::

    result = fetch(feed)                                    # fetch/: network I/O only
    if result failed or was not modified:
        state = schedule.plan(feed, result)                 # schedule.py: pure timing maths
        store.write: update_feed(state)                     # nothing else changes
        return
    parsed, stories = budget.run(parse + normalize, body)   # parse.py, normalize.py, in a worker
                                                            # process under a time budget
    signatures = [fingerprint(s) for s in stories]          # fingerprint.py
    with store.write() as tx:                               # one serialized transaction
        catch up the clusterer with stories other processes committed
        for story, signature:
            if tx.find_story(guid, url, external id, source + content hash):
                duplicate (or an in-place edit: update_story); continue
            assignment = clusterer.assign(signature, story.when)   # cluster.py
            insert story; create the event if new; add the membership
            clusterer.add(...)                              # undone if the transaction fails
        set the canonical story of every touched event
        tx.update_feed(schedule.plan(...))                  # the poll state, same transaction
    log "feed_polled" feed= status= new= duplicates= new_events= elapsed_ms=

A tick runs that for every due feed on a bounded pool of worker threads; fetching, parsing and
fingerprinting happen in parallel, the write step one feed at a time. Replay and evaluation feed
files and dataset records through the same normalize -> fingerprint -> ingest steps.

Owns: turning settings into stage policies, the worker pool, the write step, and the
translation of expected failures into ``FeedRunResult`` values. Anything that is not an
``IngestorError`` is a bug: it is logged as critical and re-raised.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from ingestor import normalize, parse, schedule
from ingestor.budget import BudgetRunner
from ingestor.cluster import Clusterer, ClusterPolicy, LSHIndex, Undo
from ingestor.config import Settings
from ingestor.errors import IngestorError, NormalizeError, ParseError, SchemaError
from ingestor.fingerprint import FingerprintPolicy, fingerprint
from ingestor.models import (
    FeedRunResult,
    FeedSource,
    FeedState,
    FetchResult,
    ParsedFeed,
    Signature,
    Story,
)
from ingestor.replay import ArticleFile, FeedFile, Record, iter_replay
from ingestor.store import Store, WriteTx, open_store

if TYPE_CHECKING:
    from ingestor.evaluate import EvalReport

__all__ = [
    "BatchCounts",
    "Pipeline",
    "ReplaySummary",
    "cluster_policy",
    "evaluate_dataset",
    "fingerprint_policy",
    "utcnow",
]

log = structlog.get_logger()


def utcnow() -> datetime:
    return datetime.now(UTC)


def fingerprint_policy(settings: Settings) -> FingerprintPolicy:
    return FingerprintPolicy(
        shingle_size=settings.fingerprint_shingle_size,
        num_perm=settings.fingerprint_num_perm,
        key_terms=settings.fingerprint_key_terms,
        max_terms=settings.fingerprint_max_terms,
        name_boost=settings.fingerprint_name_boost,
        title_boost=settings.fingerprint_title_boost,
    )


def cluster_policy(settings: Settings) -> ClusterPolicy:
    return ClusterPolicy(
        rewrite_threshold=settings.cluster_rewrite_threshold,
        copy_threshold=settings.cluster_copy_threshold,
        candidate_threshold=settings.cluster_candidate_threshold,
        window=timedelta(hours=settings.cluster_window_hours),
        time_penalty=settings.cluster_time_penalty,
        prior_docs=settings.cluster_prior_docs,
        num_perm=settings.fingerprint_num_perm,
        max_candidates=settings.cluster_max_candidates,
        canonical=settings.cluster_canonical,
        source_priority=settings.cluster_source_priority,
    )


@dataclass(slots=True)
class BatchCounts:
    new: int = 0
    duplicates: int = 0
    updated: int = 0
    new_events: int = 0
    skipped: int = 0
    events: dict[int, int] = field(default_factory=dict)
    """Story key (position in the batch) -> event id, for evaluation."""

    def add(self, other: BatchCounts) -> None:
        self.new += other.new
        self.duplicates += other.duplicates
        self.updated += other.updated
        self.new_events += other.new_events
        self.skipped += other.skipped


@dataclass(slots=True)
class ReplaySummary:
    items: int = 0
    errors: int = 0
    counts: BatchCounts = field(default_factory=BatchCounts)
    seconds: float = 0.0
    error_messages: list[str] = field(default_factory=list)


def _parse_and_normalize(
    body: bytes, *, url: str, content_type: str | None, max_entries: int, now: datetime
) -> tuple[ParsedFeed, list[Story], int]:
    """Parse a feed document and normalize its entries: the hostile-input part of a poll, run in
    a budget worker so a pathological document costs a process, never a thread."""
    parsed = parse.parse_feed(
        body, url=url, content_type=content_type, max_entries=max_entries, now=now
    )
    stories: list[Story] = []
    skipped = 0
    for entry in parsed.entries:
        try:
            stories.append(
                normalize.normalize_entry(entry, feed_url=url, feed_title=parsed.title, fetched=now)
            )
        except NormalizeError:
            skipped += 1
    light = ParsedFeed(parsed.title, parsed.link, (), parsed.ttl_s, parsed.warning)
    return light, stories, skipped


class Pipeline:
    """Everything a daemon, a replay or an evaluation needs, wired from settings."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        budget: BudgetRunner | None = None,
        fetcher: Any = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.fp_policy = fingerprint_policy(settings)
        policy = cluster_policy(settings)
        self.clusterer = Clusterer(
            policy,
            index=LSHIndex(
                num_perm=policy.num_perm,
                copy_threshold=policy.copy_threshold,
                candidate_threshold=policy.candidate_threshold,
                url=settings.index_url,
                namespace=f"ingestor:{self.fp_policy.version}",
            ),
        )
        self.schedule_policy = schedule.SchedulePolicy(
            interval_s=settings.schedule_interval_s,
            min_interval_s=settings.schedule_min_interval_s,
            max_interval_s=settings.schedule_max_interval_s,
            jitter=settings.schedule_jitter,
            backoff_base_s=settings.schedule_backoff_base_s,
            backoff_max_s=settings.schedule_backoff_max_s,
            park_after_errors=settings.schedule_park_after_errors,
        )
        self._budget = budget if budget is not None else BudgetRunner(workers=0)
        self._fetcher = fetcher
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._seen_story_id = 0
        self.stale_signatures = 0
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        """Who holds this process's feed leases."""

    # -- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        migrate: bool | None = None,
        budget_workers: int = 0,
        now: datetime | None = None,
        **kwargs: Any,
    ) -> Pipeline:
        """Open the store, check (or migrate) its schema, and load the clusterer's window."""
        store = open_store(
            settings.effective_database_url, max_revisions=settings.store_max_revisions
        )
        try:
            status = store.schema_status()
            if not status.up_to_date:
                allowed = settings.store_auto_migrate if migrate is None else migrate
                if not allowed:
                    raise SchemaError(
                        f"database schema is at {status.current or 'nothing'}, this version "
                        f"needs {status.head}: run `ingestor db migrate`"
                    )
                before = status.current
                status = store.migrate()
                log.info("schema_migrated", database=store.url, old=before, new=status.current)
            budget = None
            if budget_workers:
                budget = BudgetRunner(
                    workers=budget_workers,
                    budget_s=settings.parse_time_budget_s,
                    preload=("ingestor.pipeline",),
                )
            pipeline = cls(store, settings, budget=budget, **kwargs)
            pipeline.load_index(now=now or utcnow())
            return pipeline
        except BaseException:
            store.close()
            raise

    def load_index(self, *, now: datetime) -> int:
        """Rebuild the clusterer from the stories of the last window, and check a shared LSH
        index against them (count and fingerprint version), repairing what differs."""
        since = self._window_start(now)
        version = self.fp_policy.version
        fresh = []
        for item in self.store.iter_index(since=since):
            self._seen_story_id = max(self._seen_story_id, item.story_id)
            if item.signature.version != version:
                self.stale_signatures += 1
                continue
            fresh.append(item)
        shared = self.clusterer.index.shared
        loaded = self.clusterer.load(fresh, index=not shared)
        log.info(
            "index_loaded",
            stories=loaded,
            events=self.clusterer.events,
            stale_signatures=self.stale_signatures,
            fingerprint=version,
            index="redis" if shared else "memory",
        )
        if shared:
            check = self.clusterer.reconcile(fresh, newest_id=self._seen_story_id)
            log.info(
                "index_checked",
                namespace=self.clusterer.index.namespace,
                expected=check.expected,
                present=check.present,
                inserted=check.missing,
                removed=check.removed,
                agrees=check.missing == 0 and check.removed == 0,
            )
        if self.stale_signatures:
            log.warning(
                "stale_signatures",
                count=self.stale_signatures,
                hint="run `ingestor index rebuild` to recompute them",
            )
        return loaded

    def _window_start(self, now: datetime) -> datetime:
        """Where the clusterer's window starts: one window before the newest story, or before
        ``now`` if that is earlier (a backfill of old news keeps its window across restarts)."""
        newest = self.store.newest_story_time()
        end = now if newest is None else min(now, newest)
        return end - self.clusterer.policy.window

    def rebuild_index(self, *, now: datetime, batch: int = 500) -> dict[str, int]:
        """``ingestor index rebuild``: recompute every stale or missing signature of the window's
        stories under the current fingerprint version, then rebuild the LSH index (in memory,
        or the shared one from scratch) from the store."""
        since = self._window_start(now)
        version = self.fp_policy.version
        resigned = 0
        pending: list[tuple[int, Signature]] = []

        def flush() -> None:
            with self._write_lock, self.store.write() as tx:
                for story_id, signature in pending:
                    tx.set_signature(story_id, signature)
            pending.clear()

        for story_id, story in self.store.iter_unsigned(version, since=since):
            pending.append((story_id, fingerprint(story, self.fp_policy)))
            resigned += 1
            if len(pending) >= batch:
                flush()
        flush()
        with self._write_lock:
            self.clusterer.index.clear()
            self.clusterer = Clusterer(self.clusterer.policy, index=self.clusterer.index)
            self._seen_story_id = 0
            self.stale_signatures = 0
            items = list(self.store.iter_index(since=since))
            for item in items:
                self._seen_story_id = max(self._seen_story_id, item.story_id)
            loaded = self.clusterer.load(items)
            self.clusterer.commit()
        log.info(
            "index_rebuilt", resigned=resigned, stories=loaded, events=self.clusterer.events,
            fingerprint=version, index=self.clusterer.index.namespace,
        )  # fmt: skip
        return {
            "resigned": resigned,
            "stories": loaded,
            "events": self.clusterer.events,
            "indexed": len(self.clusterer.index.story_ids()),
        }

    def close(self) -> None:
        if self._fetcher is not None:
            self._fetcher.close()
        self._budget.close()
        self.store.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def fetcher(self) -> Any:
        if self._fetcher is None:
            from ipaddress import ip_network

            from ingestor.fetch import Fetcher, FetchPolicy

            s = self.settings
            self._fetcher = Fetcher(
                FetchPolicy(
                    timeout_s=s.fetch_timeout_s,
                    connect_timeout_s=s.fetch_connect_timeout_s,
                    max_body_bytes=s.fetch_max_body_bytes,
                    max_redirects=s.fetch_max_redirects,
                    user_agent=s.fetch_user_agent,
                    allow_networks=tuple(
                        ip_network(n, strict=False) for n in s.fetch_allow_networks
                    ),
                    per_host=s.fetch_per_host,
                )
            )
        return self._fetcher

    # -- the write step ------------------------------------------------------------------------
    def _catch_up(self) -> None:
        """Index what other processes committed since we last looked (several daemons)."""
        for item in self.store.stories_since(self._seen_story_id):
            self._seen_story_id = max(self._seen_story_id, item.story_id)
            if item.signature.version == self.fp_policy.version and (
                self.clusterer.event_of(item.story_id) is None
            ):
                # A shared index already holds it: its writer put it there after committing.
                self.clusterer.add(
                    item.story_id,
                    item.event_id,
                    item.signature,
                    when=item.when,
                    source=item.source,
                    reason=item.reason,
                    similarity=item.similarity,
                    index=not self.clusterer.index.shared,
                )

    def ingest(
        self,
        items: Sequence[tuple[Story, Signature]],
        *,
        feed_id: int | None = None,
        feed_state: FeedState | None = None,
        now: datetime,
    ) -> BatchCounts:
        """Store a batch of fingerprinted stories, assign each to an event, and write the feed's
        poll state, all in one transaction. The clusterer is rolled back if the commit fails."""
        counts = BatchCounts()
        with self._write_lock:
            undo: list[Undo] = []
            try:
                with self.store.write() as tx:
                    self._catch_up()
                    for position, (story, signature) in enumerate(items):
                        event_id = self._ingest_one(
                            tx, story, signature, feed_id, now, counts, undo
                        )
                        if event_id is not None:
                            counts.events[position] = event_id
                    # Every event that gained a story may have a new canonical story.
                    for event_id in {change.event_id for change in undo}:
                        tx.set_canonical(event_id, self.clusterer.canonical(event_id))
                    if feed_id is not None and feed_state is not None:
                        tx.update_feed(feed_id, feed_state)
            except BaseException:
                self.clusterer.undo(undo)
                raise
            for change in undo:
                self._seen_story_id = max(self._seen_story_id, change.story_id)
            try:
                self.clusterer.commit()
            except IngestorError as error:
                # The stories are safe in the store; the next start-up check re-inserts them.
                log.warning("index_write_failed", error=str(error), stories=len(undo))
        return counts

    def _ingest_one(
        self,
        tx: WriteTx,
        story: Story,
        signature: Signature,
        feed_id: int | None,
        now: datetime,
        counts: BatchCounts,
        undo: list[Undo],
    ) -> int | None:
        match = tx.find_story(
            feed_id=feed_id,
            guid=story.guid,
            url=story.url,
            content_hash=story.content_hash,
            source=story.source,
            external_id=story.external_id,
        )
        if match is not None:
            if match.content_hash != story.content_hash and tx.update_story(
                match.story_id, story, signature
            ):
                counts.updated += 1
            else:
                counts.duplicates += 1
            return match.event_id
        assignment = self.clusterer.assign(signature, story.when)
        story_id = tx.insert_story(story, signature, feed_id=feed_id)
        event_id = assignment.event_id
        if event_id is None:
            event_id = tx.create_event(story_id, now=now)
            counts.new_events += 1
        tx.add_membership(story_id, event_id, assignment, now=now)
        undo.append(
            self.clusterer.add(
                story_id,
                event_id,
                signature,
                when=story.when,
                source=story.source,
                assignment=assignment,
            )
        )
        counts.new += 1
        return event_id

    # -- polling ---------------------------------------------------------------------------
    def _plan(self, feed: FeedSource, result: FetchResult, **kwargs: Any) -> FeedState:
        with self._rng_lock:
            return schedule.plan(
                feed,
                result,
                now=result.fetched_at,
                policy=self.schedule_policy,
                rng=self._rng,
                **kwargs,
            )

    def poll(self, feed: FeedSource, *, now: datetime) -> FeedRunResult:
        """Fetch, parse, normalize, fingerprint and store one feed. Expected failures come back
        as ``FeedRunResult(status="error")``; the feed's schedule is written either way."""
        started = time.monotonic()
        assert feed.id is not None, "poll() takes feeds from the store"
        with structlog.contextvars.bound_contextvars(feed=feed.url):
            try:
                result = self._poll(feed, now=now, started=started)
            except IngestorError as error:
                # A failure after fetching (the store refused the write): the poll did not
                # happen as far as the feed's state goes, so it is simply due again.
                result = FeedRunResult(feed.url, "error", error=error, elapsed_ms=_ms(started))
                with contextlib.suppress(IngestorError):
                    self.store.release_feed(feed.id, self.owner)
            except Exception:
                log.critical("bug", feed=feed.url, exc_info=True)
                raise
            log.info(
                "feed_polled",
                status=result.status,
                new=result.new,
                duplicates=result.duplicates,
                updated=result.updated,
                new_events=result.new_events,
                elapsed_ms=result.elapsed_ms,
                **(
                    {"error": str(result.error), "error_kind": result.error.kind}
                    if result.error
                    else {}
                ),
                next_poll_at=result.next_poll_at.isoformat() if result.next_poll_at else None,
            )
            return result

    def _poll(self, feed: FeedSource, *, now: datetime, started: float) -> FeedRunResult:
        assert feed.id is not None
        fetched = self.fetcher.fetch(feed, now=now)
        if fetched.status != "ok":
            state = self._plan(feed, fetched, ttl_s=None)
            self.ingest((), feed_id=feed.id, feed_state=state, now=now)
            return FeedRunResult(
                feed.url,
                "not_modified" if fetched.status == "not_modified" else "error",
                error=fetched.error,
                elapsed_ms=_ms(started),
                next_poll_at=state.next_poll_at,
            )
        try:
            parsed, stories, _skipped = self._budget.run(
                _parse_and_normalize,
                fetched.body,
                url=fetched.url,
                content_type=fetched.content_type,
                max_entries=self.settings.parse_max_entries,
                now=now,
            )
        except ParseError as error:
            state = self._plan(feed, fetched, ttl_s=None, parse_error=f"{error.kind}: {error}")
            self.ingest((), feed_id=feed.id, feed_state=state, now=now)
            return FeedRunResult(
                feed.url,
                "error",
                error=error,
                elapsed_ms=_ms(started),
                next_poll_at=state.next_poll_at,
            )
        # Oldest first: feeds list the newest entry first, and a story should meet the events
        # that were already news when it was published.
        stories = sorted(stories, key=lambda story: story.when)
        items = [(story, fingerprint(story, self.fp_policy)) for story in stories]
        state = self._plan(feed, fetched, ttl_s=parsed.ttl_s)
        if parsed.title and not feed.title:
            state = _with_title(state, parsed.title)
        counts = self.ingest(items, feed_id=feed.id, feed_state=state, now=now)
        return FeedRunResult(
            feed.url,
            "ok",
            new=counts.new,
            duplicates=counts.duplicates,
            updated=counts.updated,
            new_events=counts.new_events,
            elapsed_ms=_ms(started),
            next_poll_at=state.next_poll_at,
        )

    def tick(self, *, now: datetime | None = None) -> list[FeedRunResult]:
        """Poll every feed that is due, on a bounded pool of worker threads."""
        now = now or utcnow()
        # Leased, not just read: several daemons on one database never poll a feed twice. The
        # poll's update_feed ends the lease; a daemon that dies leaves it to expire.
        feeds = self.store.claim_due_feeds(
            now=now,
            limit=self.settings.daemon_batch,
            owner=self.owner,
            lease_s=self.settings.daemon_lease_s,
        )
        if not feeds:
            return []
        workers = min(self.settings.fetch_workers, len(feeds))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poll") as pool:
            results = list(pool.map(functools.partial(self.poll, now=now), feeds))
        self.clusterer.evict()
        return results

    # -- replay ------------------------------------------------------------------------------
    def replay(
        self,
        paths: Sequence[Path],
        *,
        now: datetime | None = None,
        batch: int = 200,
        progress: Callable[[int], None] | None = None,
        on_record: Callable[[Record, int | None], None] | None = None,
    ) -> ReplaySummary:
        """Feed files, article files and record streams through normalize -> fingerprint ->
        ingest. ``on_record`` hears every dataset record with the event it landed in."""
        now = now or utcnow()
        started = time.monotonic()
        summary = ReplaySummary()
        pending: list[tuple[Story, Signature]] = []
        records: list[Record | None] = []

        def flush() -> None:
            if not pending:
                return
            counts = self.ingest(pending, now=now)
            summary.counts.add(counts)
            if on_record is not None:
                for position, record in enumerate(records):
                    if record is not None:
                        on_record(record, counts.events.get(position))
            pending.clear()
            records.clear()

        for item in iter_replay(paths):
            summary.items += 1
            if progress is not None:
                progress(1)
            if isinstance(item, IngestorError):
                summary.errors += 1
                summary.error_messages.append(str(item))
                log.warning("replay_skipped", error=str(item), error_kind=item.kind)
                continue
            try:
                stories = self._replay_stories(item, now=now)
            except (ParseError, NormalizeError) as error:
                summary.errors += 1
                summary.error_messages.append(f"{item.path}: {error}")
                log.warning("replay_skipped", path=item.path, error=str(error))
                if isinstance(item, Record) and on_record is not None:
                    on_record(item, None)
                continue
            for story in stories:
                pending.append((story, fingerprint(story, self.fp_policy)))
                records.append(item if isinstance(item, Record) else None)
            if len(pending) >= batch:
                flush()
        flush()
        self.clusterer.evict()
        summary.seconds = time.monotonic() - started
        return summary

    def _replay_stories(
        self, item: FeedFile | ArticleFile | Record, *, now: datetime
    ) -> list[Story]:
        if isinstance(item, FeedFile):
            _, stories, _skipped = self._budget.run(
                _parse_and_normalize,
                item.body,
                url=item.uri,
                content_type=None,
                max_entries=self.settings.parse_max_entries,
                now=now,
            )
            return list(stories)
        return [
            normalize.normalize_article(
                item.text,
                is_html=item.is_html,
                title=item.title,
                url=item.url,
                source=item.source,
                published=item.published,
                fetched=now,
                external_id=item.id if isinstance(item, Record) else None,
            )
        ]


def _with_title(state: FeedState, title: str) -> FeedState:
    from dataclasses import replace

    return replace(state, title=title)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def evaluate_dataset(
    path: Path,
    settings: Settings,
    *,
    assignments: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> EvalReport:
    """Stream a labelled dataset, in file order, through normalize -> fingerprint -> cluster with
    a throwaway SQLite store, and score the predicted events against the gold ones."""
    import json
    import tempfile

    from ingestor import evaluate

    gold: list[str] = []
    predicted: list[str] = []
    datasets: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ingestor-eval-") as tmp:
        scratch = settings.model_copy(update={"database_url": f"sqlite:///{Path(tmp) / 'eval.db'}"})
        out = assignments.open("w", encoding="utf-8") if assignments else None
        try:
            with Pipeline.open(scratch, migrate=True) as pipeline:

                def record(item: Record, event_id: int | None) -> None:
                    # A document that could not be read is an event of its own.
                    label = f"e{event_id}" if event_id is not None else f"unread:{item.id}"
                    gold.append(item.event or f"unlabelled:{item.id}")
                    predicted.append(label)
                    datasets.append(item.dataset or "")
                    if out is not None:
                        out.write(json.dumps({"id": item.id, "event_id": event_id}) + "\n")

                summary = pipeline.replay([path], progress=progress, on_record=record)
        finally:
            if out is not None:
                out.close()
    return evaluate.score(gold, predicted, datasets, seconds=summary.seconds)
