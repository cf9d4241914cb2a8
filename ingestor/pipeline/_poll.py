"""Polling: one feed fetched, parsed, normalized, fingerprinted and written; a tick of them.

Owns: ``Poller``: the worker pool of a tick (over the feeds the store leases to this process),
one poll of one feed (fetch, the budgeted parse and normalize, article pages for summaries,
fingerprints, the schedule's next poll, and the write, with the feed's poll state in the same
transaction), its one ``feed_polled`` line, and the translation of expected failures into
``FeedRunResult`` values. Anything that is not an ``IngestorError`` is a bug: logged as critical
and re-raised.

Does not: decide or write stories (``_write``), or keep the window (``_window``).
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import Any

import structlog

from ingestor import schedule
from ingestor.budget import BudgetRunner
from ingestor.config import Settings
from ingestor.errors import IngestorError, ParseBusy, ParseError, ParseTimeout
from ingestor.fingerprint import fingerprint
from ingestor.models import (
    Counts,
    FeedRunResult,
    FeedSource,
    FeedState,
    FetchResult,
    Story,
    StoryKey,
)
from ingestor.pipeline._stages import (
    article_story,
    ms_since,
    parse_and_normalize,
    utcnow,
    with_title,
)
from ingestor.pipeline._write import WriteStep
from ingestor.store import Store

__all__ = ["Poller"]

log = structlog.get_logger()


class Poller:
    """Polls feeds through a ``WriteStep``; see the module docstring."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        writer: WriteStep,
        *,
        budget: BudgetRunner,
        fetcher: Any = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.writer = writer
        self.budget = budget
        self._fetcher = fetcher
        self._fetcher_lock = threading.Lock()
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        """Who holds this process's feed leases."""

    @property
    def fetcher(self) -> Any:
        """The one fetcher of this process, built on first use. A tick's poll threads all ask
        for it at once: built under a lock, or each would build its own connection pool (and
        the per-host connection limit would be per thread)."""
        fetcher = self._fetcher
        if fetcher is None:
            with self._fetcher_lock:
                if self._fetcher is None:
                    from ingestor.fetch import Fetcher

                    self._fetcher = Fetcher(self.settings.fetch)
                fetcher = self._fetcher
        return fetcher

    def close(self) -> None:
        with self._fetcher_lock:
            fetcher, self._fetcher = self._fetcher, None
        if fetcher is not None:
            fetcher.close()

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
            # A failed poll is a warning: the operator has something to look at.
            report = log.warning if result.status == "error" else log.info
            report(
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
            self.writer.write((), feed_id=feed.id, feed_state=state, now=now)
            return FeedRunResult(
                feed.url,
                "not_modified" if fetched.status == "not_modified" else "error",
                error=fetched.error,
                elapsed_ms=ms_since(started),
                next_poll_at=state.next_poll_at,
            )
        try:
            parsed, stories, skipped = self.budget.run(
                parse_and_normalize,
                fetched.body,
                url=fetched.url,
                content_type=fetched.content_type,
                max_entries=self.settings.parse.max_entries,
                now=now,
                # The wait for a free worker comes out of the poll's total deadline.
                deadline=started + self.settings.fetch.timeout_s,
            )
        except ParseBusy:
            raise  # other feeds' documents held the workers: this feed is simply due again
        except ParseError as error:
            if isinstance(error, ParseTimeout):
                # Reported each time; the schedule backs the feed off like any failure, so a
                # document that keeps using up its budget costs a worker ever more rarely.
                log.warning(
                    "feed_over_budget",
                    budget_s=self.settings.parse.time_budget_s,
                    consecutive_errors=feed.consecutive_errors + 1,
                )
            state = self._plan(feed, fetched, ttl_s=None, parse_error=f"{error.kind}: {error}")
            self.writer.write((), feed_id=feed.id, feed_state=state, now=now)
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
        items = [(story, fingerprint(story, self.settings.fingerprint)) for story in stories]
        state = self._plan(feed, fetched, ttl_s=parsed.ttl_s)
        if parsed.title and not feed.title:
            state = with_title(state, parsed.title)
        written = self.writer.write(items, feed_id=feed.id, feed_state=state, now=now)
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
                    better = self.budget.run(
                        article_story,
                        story,
                        page.body,
                        content_type=page.content_type,
                        deadline=deadline,
                    )
                except ParseError as error:
                    page = replace(page, error=error)
            if better is None:
                if page.error is not None:  # the page failed: worth the operator's eye
                    log.warning(
                        "article_failed",
                        url=story.url,
                        error=str(page.error),
                        error_kind=page.error.kind,
                        http_status=page.http_status,
                    )
                else:  # fetched, but not the article: the summary stays, as designed
                    log.debug("article_skipped", url=story.url, reason="not the article")
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
        self.writer.window.clusterer.evict()
        return results
