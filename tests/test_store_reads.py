"""The reads the server makes, on SQLite and PostgreSQL alike: events filtered by title and
source and paged by their ``(last_seen, id)`` key, a story with its event, where a merged event
went, and the webhook outbox's claim, lease and outcome."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ingestor.errors import NotFound
from ingestor.models import Assignment, Story
from ingestor.store import Store, open_store

T0 = datetime(2024, 6, 18, tzinfo=UTC)
NEW = Assignment(event_id=None, reason="new", similarity=0.0)
JOIN = Assignment(event_id=None, reason="rewrite", similarity=0.9, signals={"cosine": 0.8})


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_store(database_url, webhooks=("https://hooks.example/in",))
    try:
        opened.migrate()
        yield opened
    finally:
        opened.close()


def _story(title: str, source: str, hours: int) -> Story:
    when = T0 + timedelta(hours=hours)
    return Story(source=source, title=title, text=f"{title} text", fetched=when,
                 content_hash=f"{title}-{source}", published=when)  # fmt: skip


def _fill(store: Store) -> dict[str, int]:
    """Five events, one an hour (the last two at the same time), the first with a second
    source; then event "e1" folded into "e0"."""
    ids: dict[str, int] = {}
    with store.write() as tx:
        for i, (title, hours) in enumerate(
            [("Quake 50% off_coast", 0), ("Quake inland", 1), ("Vote", 2), ("Match", 3),
             ("Tie", 3)]
        ):  # fmt: skip
            story = tx.insert_story(_story(title, f"src{i}", hours), None, feed_id=None)
            event = tx.create_event(story, now=T0)
            tx.add_membership(story, event, NEW, now=T0)
            ids[f"e{i}"] = event
            ids[f"s{i}"] = story
        extra = tx.insert_story(_story("Quake again", "Other Wire", 0), None, feed_id=None)
        tx.add_membership(extra, ids["e0"], JOIN, now=T0 + timedelta(hours=5))
        ids["extra"] = extra
        gone = tx.insert_story(_story("Gone", "src9", 0), None, feed_id=None)
        ids["gone"] = tx.create_event(gone, now=T0)
        tx.add_membership(gone, ids["gone"], NEW, now=T0)
        tx.merge_events(ids["e0"], ids["gone"], story_id=gone, now=T0)
    return ids


def test_events_page_by_key_and_filter_by_title_and_source(store: Store) -> None:
    """Pages of two, each continuing after its predecessor's last ``(last_seen, id)``, give
    every event once, newest first; ``q`` matches the title case aside with its wildcards
    taken literally; ``source`` matches any variant's source case aside."""
    ids = _fill(store)
    whole = [e.id for e in store.list_events(limit=100)]
    assert len(whole) == 5
    paged: list[int] = []
    before = None
    while True:
        page = store.list_events(limit=2, before=before)
        if not page:
            break
        paged += [e.id for e in page]
        before = (page[-1].last_seen, page[-1].id)
    assert paged == whole
    assert whole[:2] == sorted([ids["e3"], ids["e4"]], reverse=True)  # same time: id breaks ties
    assert [e.id for e in store.list_events(q="QUAKE")] == [ids["e1"], ids["e0"]]
    assert [e.id for e in store.list_events(q="50% off_")] == [ids["e0"]]
    assert store.list_events(q="5_%") == []
    assert [e.id for e in store.list_events(source="other wire")] == [ids["e0"]]
    assert all(e.created_at == T0 for e in store.list_events())


def test_a_story_and_a_merged_event_are_found(store: Store) -> None:
    """A story names its event and how it joined; a merged event's id leads to the event it is
    part of; unknown ones are ``NotFound`` or ``None``."""
    ids = _fill(store)
    found = store.get_story(ids["extra"])
    assert found.event_id == ids["e0"]
    assert found.variant is not None
    assert found.variant.reason == "rewrite"
    assert found.story.source == "Other Wire"
    with pytest.raises(NotFound):
        store.get_story(99_999)
    assert store.merged_into(ids["gone"]) == ids["e0"]
    assert store.merged_into(ids["e1"]) is None


def test_the_outbox_is_claimed_leased_and_finished(store: Store) -> None:
    """The writes left one notification per change; a claim leases them (a second claim at the
    same time gets none), a failure moves the next attempt, a delivery ends it."""
    _fill(store)
    assert store.webhook_backlog() == 8  # 6 new events, 1 join, 1 merge
    now = T0 + timedelta(days=1)
    items = store.claim_webhooks(now=now, limit=3, lease_s=60)
    assert [i.kind for i in items] == ["event.created"] * 3
    assert len({i.idempotency_key for i in items}) == 3
    assert len(store.claim_webhooks(now=now, limit=10, lease_s=60)) == 5
    assert store.claim_webhooks(now=now, limit=10, lease_s=60) == []
    first, second, third = items
    store.finish_webhook(first.id, now=now, delivered=True, retry_at=None, error=None)
    store.finish_webhook(second.id, now=now, delivered=False,
                         retry_at=now + timedelta(hours=1), error="HTTP 500")  # fmt: skip
    store.finish_webhook(third.id, now=now, delivered=False, retry_at=None, error="HTTP 410")
    assert store.webhook_backlog() == 6
    later = store.claim_webhooks(now=now + timedelta(hours=2), limit=10, lease_s=60)
    assert second.id in [i.id for i in later]
    assert [i.attempts for i in later if i.id == second.id] == [1]
