"""The orchestrator end to end: idempotent ingest, rollback of store and clusterer together,
polls against a local HTTP server (ok, 304, error statuses, a page that is not a feed), the one
summary line per poll, and a tick that a set of hostile feeds cannot hold past its deadline.

Every server listens on 127.0.0.1 and the fetcher is allowed that address only; a stub resolver
gives the hostile feeds their own host names (so they do not share a per-host slot with the
healthy one) and points one redirect at 127.0.0.2, where a listener counts connections.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from ingestor import normalize, parse
from ingestor.config import Settings
from ingestor.errors import HTTPStatusError, ParseError, StoreError
from ingestor.fetch import Fetcher
from ingestor.fingerprint import fingerprint
from ingestor.models import Assignment, Signature, Story, StoryMatch
from ingestor.pipeline import Pipeline, WriteDecision, decide, utcnow
from ingestor.pipeline._decide import needs_assignment
from ingestor.store import Store, WriteTx, open_store
from tests.faultserver import (
    FaultServer,
    Listener,
    StubResolver,
    drip,
    feed,
    gzip_bomb,
    redirect,
    silent,
    status,
)
from tests.local import local_settings

FEEDS = Path(__file__).resolve().parents[1] / "samples" / "feeds"
DEADLINE_S = 1.0
MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """Whatever a test configures, the next one starts with the logging it found."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def make_settings(tmp_path: Path, **flags: Any) -> Settings:
    return local_settings(
        tmp_path,
        **{
            "fetch_timeout_s": DEADLINE_S,
            "fetch_connect_timeout_s": 0.5,
            "fetch_max_body_bytes": MiB,
            **flags,
        },
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def pipeline(settings: Settings) -> Iterator[Pipeline]:
    with Pipeline.open(settings, migrate=True) as opened:
        yield opened


def feed_items(pipeline: Pipeline, name: str, now: datetime) -> list[tuple[Story, Signature]]:
    """The stories of one sample feed file, parsed, normalized and fingerprinted."""
    path = FEEDS / name
    parsed = parse.parse_feed(path.read_bytes(), url=path.as_uri(), now=now)
    stories = [
        normalize.normalize_entry(e, feed_url=path.as_uri(), feed_title=parsed.title, fetched=now)
        for e in parsed.entries
    ]
    return [(s, fingerprint(s, pipeline.fp_policy)) for s in stories]


def partition(store: Store) -> set[frozenset[tuple[str | None, str | None]]]:
    """The stored events as sets of (feed URL, guid) keys: comparable across stores."""
    out = set()
    for event in store.list_events(limit=10_000):
        detail = store.get_event(event.id)
        out.add(frozenset((v.story.feed_url, v.story.guid) for v in detail.variants))
    return out


def assert_clusterer_matches_store(pipeline: Pipeline) -> None:
    """The in-memory index holds exactly the stored stories, each in its stored event."""
    store, clusterer = pipeline.store, pipeline.clusterer
    counts = store.counts()
    assert clusterer.stories == counts["stories"]
    assert clusterer.events == counts["events"]
    for event in store.list_events(limit=10_000):
        for variant in store.get_event(event.id).variants:
            assert clusterer.event_of(variant.story_id) == event.id


# -- ingest ----------------------------------------------------------------------------------


def test_ingesting_the_same_batch_twice_adds_nothing_the_second_time(pipeline: Pipeline) -> None:
    """A batch ingested again is all duplicates: no story, event or index entry is added."""
    now = utcnow()
    items = feed_items(pipeline, "catchnews-atom.xml", now) + feed_items(
        pipeline, "rt-rss.xml", now
    )
    first = pipeline.ingest(items, now=now)
    counts = pipeline.store.counts()
    assert first.counts.new == len(items) == counts["stories"]
    second = pipeline.ingest(items, now=now)
    assert (second.counts.new, second.counts.new_events, second.counts.updated) == (0, 0, 0)
    assert second.counts.duplicates == len(items)
    assert second.events == first.events
    assert pipeline.store.counts() == counts
    assert_clusterer_matches_store(pipeline)


@dataclass
class FlakyTx:
    """A real write transaction that fails on the ``fail_at``-th story insert while armed."""

    tx: WriteTx
    owner: FlakyStore

    def insert_story(
        self, story: Story, signature: Signature | None, *, feed_id: int | None
    ) -> int:
        self.owner.inserts += 1
        if self.owner.fail_at is not None and self.owner.inserts >= self.owner.fail_at:
            raise StoreError("insert_story: disk I/O error (injected)")
        return self.tx.insert_story(story, signature, feed_id=feed_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tx, name)


class FlakyStore:
    """A real SQL store whose write transactions can be told to fail mid-batch."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.fail_at: int | None = None
        self.inserts = 0

    def arm(self, fail_at: int) -> None:
        self.fail_at, self.inserts = fail_at, 0

    def disarm(self) -> None:
        self.fail_at = None

    def write(self) -> AbstractContextManager[Any]:
        @contextmanager
        def tx() -> Iterator[FlakyTx]:
            with self.inner.write() as real:
                yield FlakyTx(real, self)

        return tx()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_failed_transaction_rolls_back_the_store_and_the_clusterer(
    settings: Settings, tmp_path: Path
) -> None:
    """A write that fails mid-batch leaves the store and the index exactly as they were, and the
    same batch retried ends where an undisturbed run ends."""
    now = utcnow()
    inner = open_store(settings.effective_database_url)
    inner.migrate()
    store = FlakyStore(inner)
    pipeline = Pipeline(store, settings)  # type: ignore[arg-type]
    try:
        batch1 = feed_items(pipeline, "rt-rss.xml", now)
        batch2 = feed_items(pipeline, "catchnews-atom.xml", now) + feed_items(
            pipeline, "globalheadlines-atom.xml", now
        )
        pipeline.ingest(batch1, now=now)
        counts, events = inner.counts(), partition(inner)
        before = [pipeline.clusterer.assign(sig, story.when) for story, sig in batch2]
        # At least one story of batch2 joins an event of batch1 (the Chile quake), so the
        # failed transaction changed an existing event in the index as well as adding new ones.
        assert any(a.event_id is not None for a in before)

        store.arm(fail_at=len(batch2))
        with pytest.raises(StoreError, match="injected"):
            pipeline.ingest(batch2, now=now)
        assert store.inserts == len(batch2)  # it failed on the last story, after the others
        assert inner.counts() == counts
        assert partition(inner) == events
        assert_clusterer_matches_store(pipeline)
        after = [pipeline.clusterer.assign(sig, story.when) for story, sig in batch2]
        assert [(a.event_id, a.reason) for a in after] == [(b.event_id, b.reason) for b in before]
        assert [a.similarity for a in after] == pytest.approx([b.similarity for b in before])

        store.disarm()
        retried = pipeline.ingest(batch2, now=now)
        assert retried.counts.new == len(batch2)
        assert_clusterer_matches_store(pipeline)
    finally:
        pipeline.close()

    with Pipeline.open(make_settings(tmp_path / "clean"), migrate=True) as clean:
        clean.ingest(feed_items(clean, "rt-rss.xml", now), now=now)
        clean.ingest(
            feed_items(clean, "catchnews-atom.xml", now)
            + feed_items(clean, "globalheadlines-atom.xml", now),
            now=now,
        )
        expected = partition(clean.store)
    reopened = open_store(settings.effective_database_url)
    try:
        assert partition(reopened) == expected
    finally:
        reopened.close()


# -- poll ------------------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


def test_poll_stores_stories_and_the_etag_then_a_304_writes_only_the_schedule(
    pipeline: Pipeline, server: FaultServer
) -> None:
    """A 200 stores the feed's stories with its ETag; the next poll sends the ETag, gets a 304
    and changes nothing but the feed's schedule."""
    body = (FEEDS / "rt-rss.xml").read_bytes()
    url = server.route("/rt.xml", feed(body, etag='"v1"'))
    now = utcnow()
    pipeline.store.add_feed(url, now=now)
    source = pipeline.store.get_feed(url)
    assert source is not None

    result = pipeline.poll(source, now=now)
    assert result.status == "ok", result.error
    assert (result.counts.new, result.counts.duplicates, result.counts.new_events) == (3, 0, 3)
    polled = pipeline.store.get_feed(url)
    assert polled is not None
    assert polled.etag == '"v1"'
    assert polled.last_status == "ok"
    assert polled.consecutive_errors == 0
    assert polled.next_poll_at is not None
    assert polled.next_poll_at > now
    assert polled.title  # the channel title was saved with the first poll
    counts = pipeline.store.counts()
    assert counts["stories"] == 3

    later = now + timedelta(hours=1)
    again = pipeline.poll(polled, now=later)
    assert again.status == "not_modified"
    assert (again.counts.new, again.counts.duplicates, again.counts.new_events) == (0, 0, 0)
    assert server.recorded[-1].headers.get("If-None-Match") == '"v1"'
    assert pipeline.store.counts() == counts
    after = pipeline.store.get_feed(url)
    assert after is not None
    assert after.etag == '"v1"'
    assert after.last_polled_at == later
    assert after.next_poll_at is not None
    assert after.next_poll_at > later


@pytest.mark.parametrize("code", [404, 410, 429, 500, 503])
def test_an_error_status_is_an_error_result_and_backs_the_feed_off(
    pipeline: Pipeline, server: FaultServer, code: int
) -> None:
    """An error status comes back as ``FeedRunResult(status="error")`` carrying the status, and
    the feed's next poll moves out by the backoff (a 410 marks the feed gone)."""
    url = server.route(f"/{code}", status(code, body=b"<html>error page</html>"))
    now = utcnow()
    source = pipeline.store.add_feed(url, now=now)
    result = pipeline.poll(source, now=now)
    assert result.status == "error"
    assert isinstance(result.error, HTTPStatusError)
    assert result.error.status_code == code
    assert result.counts.new == 0
    stored = pipeline.store.get_feed(url)
    assert stored is not None
    assert stored.consecutive_errors == 1
    assert stored.last_status == "error"
    assert stored.last_error is not None
    assert str(code) in stored.last_error
    assert stored.status == ("gone" if code == 410 else "active")
    base = pipeline.settings.schedule.backoff_base_s * (1 - pipeline.settings.schedule.jitter)
    assert stored.next_poll_at is not None
    assert stored.next_poll_at >= now + timedelta(seconds=base)
    assert result.next_poll_at == stored.next_poll_at
    assert pipeline.store.counts()["stories"] == 0


def test_a_page_that_is_not_a_feed_is_an_error_result_not_an_exception(
    pipeline: Pipeline, server: FaultServer
) -> None:
    """An HTML page served where a feed should be is a parse error result with a backed-off
    schedule, and stores nothing."""
    page = b"<!DOCTYPE html><html><head><title>Home</title></head><body><p>Hi</p></body></html>"
    url = server.route("/page", feed(page, content_type="text/html; charset=utf-8"))
    now = utcnow()
    source = pipeline.store.add_feed(url, now=now)
    result = pipeline.poll(source, now=now)
    assert result.status == "error"
    assert isinstance(result.error, ParseError)
    stored = pipeline.store.get_feed(url)
    assert stored is not None
    assert stored.last_status == "parse_error"
    assert stored.consecutive_errors == 1
    assert stored.next_poll_at is not None
    assert stored.next_poll_at > now
    assert pipeline.store.counts()["stories"] == 0


def test_each_poll_logs_one_summary_line_for_its_feed(
    pipeline: Pipeline, server: FaultServer
) -> None:
    """Every poll, whatever its outcome, logs exactly one ``feed_polled`` line naming the feed,
    with its status and counts."""
    urls = {
        "ok": server.route("/ok", feed((FEEDS / "viewusglobal-rss.xml").read_bytes())),
        "error": server.route("/gone", status(500)),
    }
    now = utcnow()
    sources = {k: pipeline.store.add_feed(u, now=now) for k, u in urls.items()}
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        for source in sources.values():
            pipeline.poll(source, now=now)
    polled = [entry for entry in logs if entry["event"] == "feed_polled"]
    assert [entry["feed"] for entry in polled] == list(urls.values())
    for (expected, url), entry in zip(urls.items(), polled, strict=True):
        assert entry["status"] == expected
        assert entry["feed"] == url
        for key in ("new", "duplicates", "new_events", "elapsed_ms"):
            assert isinstance(entry[key], int)
    assert polled[0]["new"] == 2
    assert polled[1]["error_kind"] == "http_status"
    assert "feed" not in structlog.contextvars.get_contextvars()  # unbound after the poll


# -- tick ------------------------------------------------------------------------------------


def test_a_tick_stores_the_healthy_feed_whatever_the_hostile_ones_do(
    tmp_path: Path, server: FaultServer
) -> None:
    """Beside a silent server, a drip, a gzip bomb and a redirect to an internal address, the
    healthy feed's stories are stored, every hostile feed is an error, nothing connects to the
    internal address, and the tick ends by the fetch deadline plus a small bound (a correctness
    bound on the deadline, not a speed target)."""
    with Listener("127.0.0.2") as internal:
        port = server.port
        server.route("/good", feed((FEEDS / "21cir-rss.xml").read_bytes()))
        server.route("/silent", silent(10.0))
        server.route("/drip", drip(0.2))
        server.route("/bomb", gzip_bomb(1024**3))
        server.route("/to-internal", redirect(f"http://internal.test:{internal.port}/admin"))
        names = ("good", "silent", "drip", "bomb", "redirect")
        resolver = StubResolver(
            {"internal.test": ["127.0.0.2"], **{f"{n}.test": ["127.0.0.1"] for n in names}}
        )
        settings = make_settings(tmp_path)
        fetcher = Fetcher(
            settings.fetch,
            resolver=resolver,
        )
        paths = {
            "good": "/good",
            "silent": "/silent",
            "drip": "/drip",
            "bomb": "/bomb",
            "redirect": "/to-internal",
        }
        urls = {n: f"http://{n}.test:{port}{p}" for n, p in paths.items()}
        with Pipeline.open(settings, migrate=True, fetcher=fetcher) as pipeline:
            now = utcnow()
            for url in urls.values():
                pipeline.store.add_feed(url, now=now)
            started = time.monotonic()
            results = {r.feed_url: r for r in pipeline.tick(now=now)}
            elapsed = time.monotonic() - started
            counts = pipeline.store.counts()
        assert internal.accepted == 0
    assert set(results) == set(urls.values())
    good = results[urls["good"]]
    assert good.status == "ok", good.error
    assert good.counts.new == 2
    assert counts["stories"] == 2
    kinds = {"silent": "timeout", "drip": "timeout", "bomb": "too_large"}
    kinds["redirect"] = "blocked_address"
    for name, kind in kinds.items():
        result = results[urls[name]]
        assert result.status == "error", name
        assert getattr(result.error, "kind", None) == kind, (name, result.error)
    assert elapsed <= DEADLINE_S + 2.0


def test_signatures_of_another_recipe_are_stale_until_rebuilt(tmp_path: Path) -> None:
    """Reopened under another fingerprint recipe, the stored signatures are counted stale and
    kept out of the index (never compared with new ones) until ``rebuild_index`` recomputes
    them."""
    now = utcnow()
    with Pipeline.open(make_settings(tmp_path), migrate=True) as first:
        first.ingest(feed_items(first, "rt-rss.xml", now), now=now)
    other = make_settings(tmp_path, fingerprint_shingle_size=4)
    with capture_logs() as logs, Pipeline.open(other, now=now) as reopened:
        assert reopened.stale_signatures == 3
        assert reopened.clusterer.stories == 0
        rebuilt = reopened.rebuild_index(now=now)
        assert (rebuilt["resigned"], rebuilt["stories"]) == (3, 3)
        assert reopened.clusterer.stories == 3
    assert [e["count"] for e in logs if e["event"] == "stale_signatures"] == [3]
    with Pipeline.open(other, now=now) as again:
        assert again.stale_signatures == 0
        assert again.clusterer.stories == 3


@pytest.mark.parametrize(("max_delay_s", "sizes"), [(3600.0, [5]), (0.0, [1, 1, 1, 1, 1])])
def test_replay_commits_by_batch_size_or_by_delay_whichever_comes_first(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, max_delay_s: float, sizes: list[int]
) -> None:
    """A replay holds read stories back at most ``max_delay_s``: with no delay allowed each
    story is committed on its own, so a concurrent writer sees it at once."""
    articles = Path(__file__).resolve().parents[1] / "samples" / "articles"
    ingest, seen = pipeline.writer.write, []

    def spy(items: list[tuple[Story, Signature]], **kwargs: Any) -> Any:
        seen.append(len(items))
        return ingest(items, **kwargs)

    monkeypatch.setattr(pipeline.writer, "write", spy)
    summary = pipeline.replay([articles], batch=200, max_delay_s=max_delay_s)
    assert seen == sizes
    assert summary.counts.new == 5


EMPTY_ENTRY_FEED = b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>Wire</title><link>https://wire.example/</link>
<item><title>Putin arrives in Pyongyang</title><link>https://wire.example/a</link>
<description>Russian President Vladimir Putin arrived in Pyongyang on Tuesday.</description>
<pubDate>Tue, 18 Jun 2024 20:00:00 GMT</pubDate></item>
<item><title>   </title><description>&lt;p&gt; &lt;/p&gt;</description>
<link>https://wire.example/b</link></item>
</channel></rss>"""


def test_entries_normalization_drops_are_counted_as_skipped(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """An entry with nothing usable left is counted as ``skipped`` by a poll and by a replay,
    so every entry is exactly one of new, duplicates, updated or skipped."""
    path = tmp_path / "wire.xml"
    path.write_bytes(EMPTY_ENTRY_FEED)
    source = pipeline.store.add_feed(path.as_uri(), now=utcnow())
    polled = pipeline.poll(source, now=utcnow()).counts
    assert (polled.new, polled.skipped) == (1, 1)
    replayed = pipeline.replay([path]).counts
    assert (replayed.new, replayed.duplicates, replayed.skipped) == (0, 1, 1)
    total = polled + replayed
    assert (total.new, total.duplicates, total.skipped) == (1, 1, 2)


def test_the_write_decision_is_duplicate_edit_new_or_merge() -> None:
    """What the store found and the clusterer's assignment decide the write alone: the same
    text is a duplicate, another text an edit of the stored story, a story the store lacks is
    new (joining the assigned event or starting one), and a merge when the assignment names
    events to fold."""
    story = Story(source="wire.example", title="t", text="x", fetched=utcnow(), content_hash="h")
    found = StoryMatch(story_id=7, event_id=3, matched_on="url", content_hash="h")
    assert decide(found, story, None) == WriteDecision("duplicate", 7, 3)
    edited = StoryMatch(story_id=7, event_id=3, matched_on="guid", content_hash="old")
    assert decide(edited, story, None) == WriteDecision("edit", 7, 3)
    joins = Assignment(5, "rewrite", 0.4)
    assert decide(None, story, joins) == WriteDecision("new", None, 5, joins)
    starts = Assignment(None, "new", 0.0)
    assert decide(None, story, starts).event_id is None
    folds = Assignment(5, "rewrite", 0.6, merge_with=(2,))
    assert decide(None, story, folds).kind == "merge"
    with pytest.raises(ValueError, match="assignment"):
        decide(None, story, None)
    # Another feed's story under the same URL: the same text is a copy, another text never an
    # edit but a new variant, stored without the URL the other story holds.
    other = StoryMatch(story_id=7, event_id=3, matched_on="url", content_hash="old", foreign=True)
    assert needs_assignment(other, story)
    assert decide(other, story, joins) == WriteDecision("new", None, 5, joins, variant_of=7)
    copy = StoryMatch(story_id=7, event_id=3, matched_on="url", content_hash="h", foreign=True)
    assert not needs_assignment(copy, story)
    assert decide(copy, story, None) == WriteDecision("duplicate", 7, 3)
