"""Only a story's own feed may edit it: another feed reusing its link with another headline
adds a variant (or, with the same text, is a copy), and the first feed's story stays as it was.
Run against SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingestor.fingerprint import fingerprint
from ingestor.models import Story, StoryKey
from ingestor.normalize import content_hash
from ingestor.pipeline import Pipeline
from tests.local import local_settings

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LINK = "https://real.example/2024/05/river-flood"
TEXT = (
    "The river rose two metres overnight and the council evacuated four hundred homes "
    "in the lower town, opening the sports hall as a shelter for families."
)


def _story(title: str, *, guid: str | None, feed_url: str, minutes: int = 0) -> Story:
    return Story(
        source="real.example",
        title=title,
        text=TEXT,
        fetched=T0 + timedelta(minutes=minutes),
        content_hash=content_hash(title, TEXT),
        url=LINK,
        guid=guid,
        published=T0 - timedelta(hours=1),
        feed_url=feed_url,
    )


@pytest.fixture
def pipeline(database_url: str, tmp_path: Path) -> Iterator[Pipeline]:
    settings = local_settings(tmp_path, database_url=database_url)
    with Pipeline.open(settings, migrate=True) as opened:
        yield opened


def _write(pipeline: Pipeline, story: Story, feed_id: int, minutes: int) -> None:
    signature = fingerprint(story, pipeline.fp_policy)
    pipeline.writer.write(
        [(story, signature)], feed_id=feed_id, now=T0 + timedelta(minutes=minutes)
    )


def test_another_feed_reusing_a_link_adds_a_variant_and_never_edits(pipeline: Pipeline) -> None:
    """Feed B's entry with feed A's link and a fake headline leaves A's stored story unchanged
    (no revision), is stored as B's own story in an event, and A's next poll is a duplicate."""
    store = pipeline.store
    a = store.add_feed("https://real.example/rss.xml", now=T0)
    b = store.add_feed("https://fake.example/rss.xml", now=T0)
    real = _story("Flood: 400 homes evacuated", guid="urn:real:1", feed_url=a.url)
    fake = _story("Council resigns over flood", guid="urn:fake:1", feed_url=b.url, minutes=5)
    _write(pipeline, real, a.id, 0)
    _write(pipeline, fake, b.id, 5)

    found = store.find_story(StoryKey.of(real, a.id))
    assert found is not None
    assert not found.foreign
    assert found.content_hash == real.content_hash
    assert store.counts()["stories"] == 2
    events = store.list_events(limit=10)
    variants = [v for e in events for v in store.get_event(e.id).variants]
    by_title = {v.story.title: v.story for v in variants}
    assert set(by_title) == {real.title, fake.title}
    assert by_title[real.title].url == LINK
    assert by_title[real.title].feed_url == a.url
    assert by_title[fake.title].url is None
    assert by_title[fake.title].feed_url == b.url
    # Credited to the feed that carried it, not to the publisher the link names.
    assert by_title[real.title].source == "real.example"
    assert by_title[fake.title].source == "fake.example"

    again = pipeline.writer.write(
        [(real, fingerprint(real, pipeline.fp_policy))], feed_id=a.id, now=T0 + timedelta(hours=1)
    )
    assert (again.counts.new, again.counts.duplicates, again.counts.updated) == (0, 1, 0)
    fake_again = pipeline.writer.write(
        [(fake, fingerprint(fake, pipeline.fp_policy))], feed_id=b.id, now=T0 + timedelta(hours=1)
    )
    assert (fake_again.counts.new, fake_again.counts.duplicates) == (0, 1)
    assert store.counts()["stories"] == 2


def test_the_same_link_and_text_from_another_feed_is_a_copy(pipeline: Pipeline) -> None:
    """Another feed carrying the same entry (same link, same text) is a duplicate of it."""
    store = pipeline.store
    a = store.add_feed("https://real.example/rss.xml", now=T0)
    b = store.add_feed("https://aggregator.example/rss.xml", now=T0)
    real = _story("Flood: 400 homes evacuated", guid="urn:real:1", feed_url=a.url)
    _write(pipeline, real, a.id, 0)
    copy = _story(real.title, guid="urn:agg:9", feed_url=b.url, minutes=3)
    written = pipeline.writer.write(
        [(copy, fingerprint(copy, pipeline.fp_policy))], feed_id=b.id, now=T0
    )
    assert (written.counts.new, written.counts.duplicates) == (0, 1)
    assert store.counts()["stories"] == 1


def test_find_story_marks_another_feeds_url_as_foreign(pipeline: Pipeline) -> None:
    """A URL match is the feed's own story, or ``foreign`` for another feed or a record."""
    store = pipeline.store
    a = store.add_feed("https://real.example/rss.xml", now=T0)
    b = store.add_feed("https://fake.example/rss.xml", now=T0)
    real = _story("Flood", guid="urn:real:1", feed_url=a.url)
    _write(pipeline, real, a.id, 0)
    probe = StoryKey(hashlib.sha256(b"x").hexdigest(), "other", url=LINK)
    own = store.find_story(StoryKey(probe.content_hash, "other", feed_id=a.id, url=LINK))
    other = store.find_story(StoryKey(probe.content_hash, "other", feed_id=b.id, url=LINK))
    record = store.find_story(probe)
    assert own is not None
    assert not own.foreign
    assert other is not None
    assert other.foreign
    assert other.matched_on == "url"
    assert record is not None
    assert record.foreign


def test_a_variant_without_a_guid_is_found_again_as_its_feeds_own(pipeline: Pipeline) -> None:
    """A reusing feed whose entries have no GUID stores its variant once: the next poll finds it
    by its own source and text (a duplicate), neither a second variant nor a refused write."""
    store = pipeline.store
    a = store.add_feed("https://real.example/rss.xml", now=T0)
    b = store.add_feed("https://fake.example/rss.xml", now=T0)
    _write(
        pipeline, _story("Flood: 400 homes evacuated", guid="urn:real:1", feed_url=a.url), a.id, 0
    )
    fake = _story("Council resigns over flood", guid=None, feed_url=b.url, minutes=5)
    counts = []
    for minutes in (5, 65):
        written = pipeline.writer.write(
            [(fake, fingerprint(fake, pipeline.fp_policy))],
            feed_id=b.id,
            now=T0 + timedelta(minutes=minutes),
        )
        counts.append((written.counts.new, written.counts.duplicates, written.counts.updated))
    assert counts == [(1, 0, 0), (0, 1, 0)]
    assert store.counts()["stories"] == 2
