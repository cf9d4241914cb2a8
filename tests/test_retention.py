"""Retention: ``prune`` removes stories older than a cutoff with their revisions, search
entries and memberships; events that lose members get their size, span and canonical story
again, events that lose all are removed; every clustering window (and a shared index) follows;
``store.retention_days`` makes the daemon prune once a day; ``--dry-run`` changes nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from ingestor import normalize
from ingestor.app import Ingestor
from ingestor.daemon import TickTotals, run_tick
from ingestor.errors import NotFound
from ingestor.models import Story
from ingestor.pipeline import Pipeline
from tests.local import local_settings
from tests.test_cli import Cli
from tests.test_curation import assert_consistent
from tests.test_merges import NOW, items, open_pipeline, story, words

OLD = NOW - timedelta(hours=13)
CUTOFF = NOW - timedelta(hours=12)


def at(item: Story, when: object) -> Story:
    return replace(item, published=when, fetched=when)


def article(n: int, text: str, when: object) -> Story:
    return normalize.normalize_article(
        text, is_html=False, title=f"Story {n}", url=f"https://p{n}.example/{n}",
        source=f"p{n}.example", published=when, fetched=when,
    )  # fmt: skip


def fill(pipeline: Pipeline) -> dict[str, int]:
    """Event ``mixed``: two old stories and a new one; event ``old``: old stories only;
    event ``new``: one new story. Returns the event ids."""
    core = words("mix", 30)
    mixed = pipeline.ingest(
        items(
            [
                at(story(1, core + words("a", 6)), OLD),
                at(story(2, core + words("b", 6)), OLD),
                at(story(3, core + words("c", 6)), NOW),
            ]
        ),
        now=NOW,
    ).events
    assert len(set(mixed.values())) == 1
    old = pipeline.ingest(items([article(4, " ".join(words("old", 30)), OLD)]), now=NOW)
    new = pipeline.ingest(items([article(5, " ".join(words("new", 30)), NOW)]), now=NOW)
    return {"mixed": mixed[0], "old": old.events[0], "new": new.events[0]}


def assert_search_in_step(url: str) -> None:
    """SQLite: the FTS5 index agrees with the stories table (its integrity check fails on an
    entry left behind)."""
    if not url.startswith("sqlite"):
        return
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO stories_fts(stories_fts, rank) VALUES ('integrity-check', 1)")
            )
    finally:
        engine.dispose()


def test_prune_keeps_events_consistent_in_the_store_and_every_window(
    database_url: str, tmp_path: Path
) -> None:
    with open_pipeline(database_url, tmp_path) as daemon:
        events = fill(daemon)
        store = daemon.store
        mixed = store.get_event(events["mixed"])
        old_ids = [v.story_id for v in mixed.variants if v.story.when == OLD]
        before = store.counts()
        with Ingestor(local_settings(tmp_path, database_url=database_url)) as app:
            assert [h.story_id for h in app.search("abab")] == [old_ids[0]]
            dry = app.prune(CUTOFF, dry_run=True)
            assert (dry.stories, dry.events_removed, dry.events_changed) == (3, 1, 1)
            assert store.counts() == before
            report = app.prune(CUTOFF, now=NOW)
            assert (report.stories, report.events_removed, report.events_changed) == (3, 1, 1)
            assert app.search("abab") == []
            assert_search_in_step(database_url)
            with pytest.raises(NotFound):
                app.get_story(old_ids[0])
            assert app.prune(CUTOFF, now=NOW).stories == 0
        after = store.counts()
        assert after["stories"] == before["stories"] - 3
        assert after["events"] == 2
        shrunk = store.get_event(events["mixed"]).event
        assert shrunk.size == 1
        assert shrunk.first_seen == NOW
        assert shrunk.canonical_story_id not in old_ids
        with pytest.raises(NotFound):
            store.get_event(events["old"])
        daemon.ingest([], now=NOW)  # the daemon catches up with the prune
        assert all(daemon.clusterer.event_of(i) is None for i in old_ids)
        assert_consistent(daemon)
    with open_pipeline(database_url, tmp_path) as restarted:
        assert_consistent(restarted)


def test_pruned_revisions_and_merge_log_rows_go_too(database_url: str, tmp_path: Path) -> None:
    """A pruned story's revisions go with it (the foreign keys would refuse otherwise), and
    so does a merge whose story was pruned."""
    from tests.test_merges import split_story

    with open_pipeline(database_url, tmp_path) as daemon:
        stories = [replace(s, fetched=OLD) for s in split_story()]  # no published time
        for s in stories:
            daemon.ingest(items([s]), now=NOW)
        edited = replace(stories[0], text=stories[0].text + " extra words", content_hash="edit")
        assert daemon.ingest(items([edited]), now=NOW).counts.updated == 1
        assert daemon.store.merges_since(0)
    with Ingestor(local_settings(tmp_path, database_url=database_url)) as app:
        assert app.prune(CUTOFF, now=NOW).stories == 5
        assert app.counts() == {"feeds": 0, "stories": 0, "events": 0, "memberships": 0}
        assert app.list_events() == []


def test_the_daemon_applies_retention_once_a_day(tmp_path: Path) -> None:
    settings = local_settings(tmp_path, store_retention_days=1)
    with Pipeline.open(settings, migrate=True, now=NOW) as pipeline:
        pipeline.ingest(items([article(1, " ".join(words("aged", 30)), NOW - timedelta(days=2))]),
                        now=NOW)  # fmt: skip
    with Ingestor(settings) as app, capture_logs() as logs:
        totals = TickTotals()
        run_tick(app, totals, now=NOW)
        assert app.counts()["stories"] == 0
        with Pipeline.open(settings, now=NOW) as other:
            other.ingest(
                items([article(2, " ".join(words("late", 30)), NOW - timedelta(days=3))]),
                now=NOW,
            )
        run_tick(app, totals, now=NOW + timedelta(hours=1))
        assert app.counts()["stories"] == 1  # not a day since the last prune
        run_tick(app, totals, now=NOW + timedelta(days=1, hours=1))
        assert app.counts()["stories"] == 0
    assert [e["stories"] for e in logs if e["event"] == "stories_pruned"] == [1, 1]


def test_retention_is_off_by_default(tmp_path: Path) -> None:
    settings = local_settings(tmp_path)
    assert settings.store.retention_days == 0
    with Ingestor(settings) as app:
        assert app.apply_retention(now=NOW) is None


def test_prune_on_the_command_line(tmp_path: Path) -> None:
    cli = Cli.make(tmp_path / "prune", [])
    cli("db", "migrate")
    out = cli("prune", "--older-than", "90d", "--dry-run").stdout
    assert out.startswith("would remove 0 stories before ")
    report = cli.json("prune", "--older-than", "2w")
    assert report["stories"] == 0
    assert report["dry_run"] is False
    for bad in ("90", "0d", "3y", "-5d", "d"):
        result = cli("prune", "--older-than", bad, code=2)
        assert "is not a duration" in result.stderr


def test_pruned_stories_leave_a_shared_index(tmp_path: Path) -> None:
    import redis

    from ingestor.cluster import make_index
    from ingestor.pipeline._window import namespace
    from tests.services import require_redis

    url = require_redis()
    redis.Redis.from_url(url).flushdb()
    settings = local_settings(tmp_path, index_url=url)
    with Pipeline.open(settings, migrate=True, now=NOW) as daemon:
        events = fill(daemon)
        ids = {v.story_id for v in daemon.store.get_event(events["old"]).variants}
        assert ids <= daemon.clusterer.index.story_ids()
        with Ingestor(settings) as app:
            app.prune(CUTOFF, now=NOW)
        shared = make_index(settings.cluster, settings.fingerprint, url=url,
                            namespace=namespace(settings))  # fmt: skip
        assert not ids & shared.story_ids()
        daemon.ingest([], now=NOW)
        assert_consistent(daemon)


def test_a_failed_daily_prune_is_tried_again_at_the_next_tick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingestor.errors import StoreError

    settings = local_settings(tmp_path, store_retention_days=1)
    with Pipeline.open(settings, migrate=True, now=NOW) as pipeline:
        pipeline.ingest(items([article(1, " ".join(words("aged", 30)), NOW - timedelta(days=2))]),
                        now=NOW)  # fmt: skip
    with Ingestor(settings) as app:
        real = app.prune

        def failing(*args: object, **kwargs: object) -> object:
            raise StoreError("the database went away (injected)")

        monkeypatch.setattr(app, "prune", failing)
        with pytest.raises(StoreError):
            app.apply_retention(now=NOW)
        monkeypatch.setattr(app, "prune", real)
        report = app.apply_retention(now=NOW + timedelta(minutes=1))
        assert report is not None
        assert report.stories == 1


def test_a_prune_in_batches_ends_where_one_transaction_would(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two stories a transaction: the same stories, events removed and events shrunk (an
    event is counted once however many batches touch it), every event consistent."""
    from ingestor.pipeline import _curate

    monkeypatch.setattr(_curate, "PRUNE_BATCH", 2)
    with open_pipeline(database_url, tmp_path) as daemon:
        events = fill(daemon)
        with Ingestor(local_settings(tmp_path, database_url=database_url)) as app:
            report = app.prune(CUTOFF, now=NOW)
        assert (report.stories, report.events_removed, report.events_changed) == (3, 1, 1)
        assert report.removed_events == (events["old"],)
        assert len(daemon.store.curations_since(0)) == 2
        daemon.ingest([], now=NOW)
        assert_consistent(daemon)
