"""The one orchestrator: every stage is called from here, and only from here.

One poll of one feed::

    result = fetch(feed)                                    # fetch/: network I/O only
    if result failed or was not modified:
        state = schedule.plan(feed, result)                 # schedule.py: pure timing maths
        store.write: update_feed(state)                     # nothing else changes
        return
    parsed, stories = budget.run(parse + normalize, body)   # parse.py, normalize.py, in a worker
                                                            # process under a time budget
    for each new entry that is only a summary (a few, within one fetch deadline):
        page = fetch_page(entry.link)                       # fetch/: same checks as a feed
        story = budget.run(article_story, story, page)      # normalize: the page's main text
    signatures = [fingerprint(s) for s in stories]          # fingerprint.py
    with store.write() as tx:                               # one serialized transaction
        catch up the clusterer with merges and stories other processes committed
        for story, signature:
            if tx.find_story(guid, url, external id, source + content hash):
                duplicate (or an in-place edit: update_story); continue
            assignment = clusterer.assign(signature, story.when)   # cluster.py
            insert story; create the event if new; add the membership
            clusterer.add(...)                              # undone if the transaction fails
            clusterer.fold(event, assignment.merge_with)    # events the story shows are one
            merge those events in the store too
        set the canonical story of every touched event
        tx.update_feed(schedule.plan(...))                  # the poll state, same transaction
    log "feed_polled" feed= status= new= duplicates= new_events= articles= elapsed_ms=

A tick runs that for every due feed on a bounded pool of worker threads; fetching, parsing and
fingerprinting happen in parallel, the write step one feed at a time. Replay and evaluation feed
files and dataset records through the same normalize -> fingerprint -> ingest steps.

Owns: the worker pool, the write step, and the translation of expected failures into
``FeedRunResult`` values. Anything that is not an ``IngestorError`` is a bug: it is logged as
critical and re-raised. ``Pipeline`` is one class in three files: this one (polling and the
write step), ``_index`` (loading and checking the clusterer's window, ``index rebuild``) and
``_replay`` (replay and evaluation); ``_wiring`` turns settings into the stages' policies.
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
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import Any

import structlog

from ingestor import schedule
from ingestor.budget import BudgetRunner
from ingestor.cluster import Clusterer, Merged, Undo, make_index
from ingestor.config import Settings
from ingestor.errors import IngestorError, ParseError, SchemaError
from ingestor.fingerprint import fingerprint
from ingestor.models import (
    Counts,
    FeedRunResult,
    FeedSource,
    FeedState,
    FetchResult,
    Signature,
    Story,
    StoryKey,
)
from ingestor.pipeline._index import IndexMaintenance
from ingestor.pipeline._replay import Replaying, evaluate_dataset
from ingestor.pipeline._wiring import (
    ReplaySummary,
    Written,
    article_story,
    ms_since,
    parse_and_normalize,
    utcnow,
    with_title,
)
from ingestor.store import Store, WriteTx, open_store

__all__ = [
    "Pipeline",
    "ReplaySummary",
    "Written",
    "article_story",
    "evaluate_dataset",
    "utcnow",
]

log = structlog.get_logger()


class Pipeline(IndexMaintenance, Replaying):
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
        self.fp_policy = settings.fingerprint
        self.clusterer = Clusterer(
            settings.cluster,
            recipe=settings.fingerprint,
            index=make_index(
                settings.cluster,
                settings.fingerprint,
                url=settings.index_url,
                namespace=f"ingestor:{settings.fingerprint.version}",
            ),
        )
        self._budget = budget if budget is not None else BudgetRunner(workers=0)
        self._fetcher = fetcher
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._seen_story_id = 0
        self._seen_merge_id = 0
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
            settings.effective_database_url, max_revisions=settings.store.max_revisions
        )
        try:
            status = store.schema_status()
            if not status.up_to_date:
                allowed = settings.store.auto_migrate if migrate is None else migrate
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
                    budget_s=settings.parse.time_budget_s,
                    preload=("ingestor.pipeline",),
                )
            pipeline = cls(store, settings, budget=budget, **kwargs)
            pipeline.load_index(now=now or utcnow())
            return pipeline
        except BaseException:
            store.close()
            raise

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
            from ingestor.fetch import Fetcher

            self._fetcher = Fetcher(self.settings.fetch)
        return self._fetcher

    # -- the write step ------------------------------------------------------------------------
    def _catch_up(self) -> None:
        """Index what other processes committed since we last looked (several daemons). A
        shared index should hold those stories already (their writer put them there before
        committing); ``ensure`` checks, and queues any it lacks for this transaction's index
        write."""
        # Merges first: a story committed after a merge is reported in the event it went into.
        # This process's own merges come back too, and change nothing (their event is gone).
        for merge in self.store.merges_since(self._seen_merge_id):
            self._seen_merge_id = merge.id
            self.clusterer.merge(merge.into, merge.gone)
        caught = []
        for item in self.store.stories_since(self._seen_story_id):
            self._seen_story_id = max(self._seen_story_id, item.story_id)
            if item.signature.version == self.fp_policy.version and (
                self.clusterer.event_of(item.story_id) is None
            ):
                shared = self.clusterer.index.shared
                self.clusterer.add(
                    item.story_id,
                    item.event_id,
                    item.signature,
                    when=item.when,
                    source=item.source,
                    reason=item.reason,
                    similarity=item.similarity,
                    index=not shared,
                )
                if shared and not self.clusterer.redundant(item.reason, item.similarity):
                    caught.append((item.story_id, item.signature.terms, item.signature.shingles))
        if caught:
            missing = self.clusterer.index.ensure(caught)
            if missing:
                log.warning("index_repaired", stories=missing, reason="committed, not indexed")

    def ingest(
        self,
        items: Sequence[tuple[Story, Signature]],
        *,
        feed_id: int | None = None,
        feed_state: FeedState | None = None,
        now: datetime,
    ) -> Written:
        """Store a batch of fingerprinted stories, assign each to an event, and write the feed's
        poll state, all in one transaction. The clusterer is rolled back if the commit fails."""
        counts: Counter[str] = Counter()
        events: dict[int, int] = {}
        with self._write_lock:
            undo: list[Undo | Merged] = []
            try:
                with self.store.write() as tx:
                    self._catch_up()
                    for position, (story, signature) in enumerate(items):
                        event_id = self._ingest_one(
                            tx, story, signature, feed_id, now, counts, undo
                        )
                        if event_id is not None:
                            events[position] = event_id
                    # Every event that gained a story may have a new canonical story.
                    for event_id in self._touched(undo):
                        tx.set_canonical(event_id, self.clusterer.canonical(event_id))
                    # A shared index is written before the store commits: any committed story
                    # is then findable by every daemon, and a failed commit takes the entries
                    # out again (undo). A crash in between leaves ids the store never had,
                    # which other daemons ignore and the start-up check removes.
                    self.clusterer.commit()
                    if feed_id is not None and feed_state is not None:
                        tx.update_feed(feed_id, feed_state)
            except BaseException:
                self.clusterer.undo(undo)
                raise
            for change in undo:
                if isinstance(change, Undo):
                    self._seen_story_id = max(self._seen_story_id, change.story_id)
        return Written(Counts(**counts), events)

    def _touched(self, changes: list[Undo | Merged]) -> set[int]:
        """The events that gained stories in this transaction, as they are now (a story's
        event may have been merged into another since it joined)."""
        touched = set()
        for change in changes:
            event_id = (
                change.into
                if isinstance(change, Merged)
                else self.clusterer.event_of(change.story_id)
            )
            if event_id is not None:
                touched.add(event_id)
        return touched

    def _ingest_one(
        self,
        tx: WriteTx,
        story: Story,
        signature: Signature,
        feed_id: int | None,
        now: datetime,
        counts: Counter[str],
        undo: list[Undo | Merged],
    ) -> int | None:
        match = tx.find_story(StoryKey.of(story, feed_id))
        if match is not None:
            if match.content_hash != story.content_hash and tx.update_story(
                match.story_id, story, signature
            ):
                counts["updated"] += 1
            else:
                counts["duplicates"] += 1
            return match.event_id
        assignment = self.clusterer.assign(signature, story.when)
        story_id = tx.insert_story(story, signature, feed_id=feed_id)
        event_id = assignment.event_id
        if event_id is None:
            event_id = tx.create_event(story_id, now=now)
            counts["new_events"] += 1
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
        counts["new"] += 1
        if assignment.merge_with:
            event_id, merges = self.clusterer.fold(event_id, assignment.merge_with)
            undo.extend(merges)
            for merge in merges:
                tx.merge_events(merge.into, merge.gone.id, story_id=story_id, now=now)
            counts["merges"] += len(merges)
        return event_id

    # -- polling ---------------------------------------------------------------------------
    def _plan(self, feed: FeedSource, result: FetchResult, **kwargs: Any) -> FeedState:
        with self._rng_lock:
            state = schedule.plan(
                feed,
                result,
                now=result.fetched_at,
                policy=self.settings.schedule,
                rng=self._rng,
                **kwargs,
            )
        if state.status != feed.status and state.status in ("parked", "gone"):
            # Polling stops here: say so once, loudly, with the way back.
            log.warning(
                f"feed_{state.status}",
                consecutive_errors=state.consecutive_errors,
                last_error=state.last_error,
                hint="`ingestor feeds add URL` polls it again",
            )
        return state

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
                result = FeedRunResult(feed.url, "error", error=error, elapsed_ms=ms_since(started))
                with contextlib.suppress(IngestorError):
                    self.store.release_feed(feed.id, self.owner)
            except Exception:
                log.critical("bug", feed=feed.url, exc_info=True)
                raise
            log.info(
                "feed_polled",
                status=result.status,
                **result.counts.as_dict(),
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
                elapsed_ms=ms_since(started),
                next_poll_at=state.next_poll_at,
            )
        try:
            parsed, stories, skipped = self._budget.run(
                parse_and_normalize,
                fetched.body,
                url=fetched.url,
                content_type=fetched.content_type,
                max_entries=self.settings.parse.max_entries,
                now=now,
            )
        except ParseError as error:
            state = self._plan(feed, fetched, ttl_s=None, parse_error=f"{error.kind}: {error}")
            self.ingest((), feed_id=feed.id, feed_state=state, now=now)
            return FeedRunResult(
                feed.url,
                "error",
                error=error,
                elapsed_ms=ms_since(started),
                next_poll_at=state.next_poll_at,
            )
        # Oldest first: feeds list the newest entry first, and a story should meet the events
        # that were already news when it was published.
        stories = sorted(stories, key=lambda story: story.when)
        stories, articles, articles_failed = self._with_articles(feed, stories, now=now)
        items = [(story, fingerprint(story, self.fp_policy)) for story in stories]
        state = self._plan(feed, fetched, ttl_s=parsed.ttl_s)
        if parsed.title and not feed.title:
            state = with_title(state, parsed.title)
        written = self.ingest(items, feed_id=feed.id, feed_state=state, now=now)
        counts = Counts(skipped=skipped, articles=articles, articles_failed=articles_failed)
        return FeedRunResult(
            feed.url,
            "ok",
            written.counts + counts,
            elapsed_ms=ms_since(started),
            next_poll_at=state.next_poll_at,
        )

    def _with_articles(
        self, feed: FeedSource, stories: list[Story], *, now: datetime
    ) -> tuple[list[Story], int, int]:
        """Replace the text of new entries that carry only a summary (fewer than
        ``fetch_article_below_words`` words) by the main text of the page they link to, newest
        first, at most ``fetch_article_max_per_poll`` pages and one fetch deadline for all of
        them. Only entries of http(s) feeds (a local file's links are not the operator's to
        fetch), and only entries not already stored as they are: a feed lists the same entries
        poll after poll, and their pages are fetched once. A page that fails or is not the
        article leaves the summary; the poll goes on either way. Returns the stories and how
        many pages were used and how many were fetched in vain."""
        below = self.settings.fetch.article_below_words
        limit = self.settings.fetch.article_max_per_poll
        if not (below and limit and feed.url[:8].lower().startswith(("http://", "https://"))):
            return stories, 0, 0
        out = list(stories)
        deadline = time.monotonic() + self.settings.fetch.timeout_s
        fetched = used = 0
        for position in reversed(range(len(out))):
            story = out[position]
            if fetched >= limit or time.monotonic() >= deadline:
                break
            if not story.url or len(story.text.split()) >= below:
                continue
            stored = self.store.find_story(StoryKey.of(story, feed.id))
            if stored is not None and stored.content_hash == story.content_hash:
                continue
            fetched += 1
            page = self.fetcher.fetch_page(
                story.url, now=now, timeout_s=deadline - time.monotonic()
            )
            better = None
            if page.status == "ok":
                try:
                    better = self._budget.run(
                        article_story, story, page.body, content_type=page.content_type
                    )
                except ParseError as error:
                    page = replace(page, error=error)
            if better is None:
                log.debug(
                    "article_skipped",
                    url=story.url,
                    reason=str(page.error) if page.error else "not the article",
                )
                continue
            out[position] = better
            used += 1
        return out, used, fetched - used

    def tick(self, *, now: datetime | None = None) -> list[FeedRunResult]:
        """Poll every feed that is due, on a bounded pool of worker threads."""
        now = now or utcnow()
        # Leased, not just read: several daemons on one database never poll a feed twice. The
        # poll's update_feed ends the lease; a daemon that dies leaves it to expire.
        feeds = self.store.claim_due_feeds(
            now=now,
            limit=self.settings.daemon.batch,
            owner=self.owner,
            lease_s=self.settings.daemon.lease_s,
        )
        if not feeds:
            return []
        workers = min(self.settings.fetch.workers, len(feeds))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poll") as pool:
            results = list(pool.map(functools.partial(self.poll, now=now), feeds))
        self.clusterer.evict()
        return results

    # -- replay ------------------------------------------------------------------------------
