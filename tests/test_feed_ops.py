"""The operator's feed commands through the library and the store (SQLite and PostgreSQL):
``refresh`` makes feeds due now, ``reset`` forgets their failures, and a feed URL is known by
its identity (scheme and host case, default port), rows stored under another spelling included."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingestor.app import Ingestor
from ingestor.errors import NotFound
from ingestor.models import FeedState
from ingestor.store import Store, open_store
from tests.local import local_settings

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(days=1)


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Ingestor]:
    store = open_store(database_url)
    store.migrate()
    with Ingestor(local_settings(tmp_path, database_url=database_url), store=store) as opened:
        yield opened


def _fail(store: Store, url: str, *, errors: int, status: str = "active") -> None:
    """Write a failed poll's state: ``errors`` in a row, backed off to a day after ``T0``."""
    feed = store.get_feed(url)
    assert feed is not None
    assert feed.id is not None
    state = FeedState(
        status=status,  # type: ignore[arg-type]
        next_poll_at=LATER,
        last_polled_at=T0,
        last_status="error",
        consecutive_errors=errors,
        last_error="blocked_address: 10.0.0.5 is a blocked address",
    )
    with store.write() as tx:
        tx.update_feed(feed.id, state)


def test_refresh_makes_feeds_due_now_and_keeps_their_errors(app: Ingestor) -> None:
    """``refresh URL`` and ``refresh`` of every feed bring backed-off active feeds forward to
    now with their error counts kept; a parked feed is not refreshed; an unknown one is an
    error."""
    store = app._writable()
    for name in ("a", "b", "c"):
        app.add_feed(f"https://{name}.example/rss", now=T0)
        _fail(store, f"https://{name}.example/rss", errors=3)
    _fail(store, "https://c.example/rss", errors=10, status="parked")
    assert store.due_feeds(now=T0, limit=10) == []
    assert app.refresh_feeds("HTTPS://A.example/rss", now=T0) == 1
    due = store.due_feeds(now=T0, limit=10)
    assert [f.url for f in due] == ["https://a.example/rss"]
    assert due[0].consecutive_errors == 3
    assert app.refresh_feeds("https://c.example/rss", now=T0) == 0
    assert app.refresh_feeds(None, now=T0) == 2
    assert sorted(f.url for f in store.due_feeds(now=T0, limit=10)) == [
        "https://a.example/rss",
        "https://b.example/rss",
    ]
    with pytest.raises(NotFound, match="no such feed"):
        app.refresh_feeds("https://unknown.example/rss", now=T0)


def test_reset_clears_errors_and_backoff_and_revives_a_parked_feed(app: Ingestor) -> None:
    """``reset URL`` forgets a feed's failures (errors, last error, backoff) and makes it due
    now; a parked feed becomes active, a removed one stays removed; unknown is NotFound."""
    store = app._writable()
    app.add_feed("https://a.example/rss", now=T0)
    app.add_feed("https://b.example/rss", now=T0)
    _fail(store, "https://a.example/rss", errors=10, status="parked")
    reset = app.reset_feed("https://A.EXAMPLE:443/rss", now=T0)
    assert reset.url == "https://a.example/rss"
    assert (reset.status, reset.consecutive_errors, reset.last_error) == ("active", 0, None)
    assert reset.next_poll_at == T0
    assert [f.url for f in store.due_feeds(now=T0, limit=10)] == [
        "https://a.example/rss",
        "https://b.example/rss",
    ]
    assert app.remove_feed("https://b.example/rss")
    assert app.reset_feed("https://b.example/rss", now=T0).status == "removed"
    with pytest.raises(NotFound, match="no such feed"):
        app.reset_feed("https://unknown.example/rss", now=T0)


def test_a_feed_is_known_by_its_identity(app: Ingestor) -> None:
    """The same feed spelled with another scheme or host case or its default port is the same
    feed: a second add says it is present, and a row stored under another spelling (before URLs
    were normalized) is found, not doubled."""
    first = app.add_feed("HTTPS://Example.COM/feed.xml", now=T0)
    assert (first.outcome, first.feed.url) == ("added", "https://example.com/feed.xml")
    again = app.add_feed("https://example.com:443/feed.xml", now=T0)
    assert (again.outcome, again.feed.id) == ("present", first.feed.id)
    assert app.add_feed("https://example.com/Feed.xml", now=T0).outcome == "added"  # paths differ
    store = app._writable()
    store.add_feed("HTTP://Old.Example/rss", now=T0)  # as an older version stored it
    old = app.add_feed("http://old.example:80/rss", now=T0)
    assert (old.outcome, old.feed.url) == ("present", "HTTP://Old.Example/rss")
    assert app.sync_feeds(["http://OLD.example/rss", "https://EXAMPLE.com/feed.xml"]) == 0
    assert len(app.list_feeds()) == 3
    assert app.remove_feed("http://old.example/rss")
    assert app.add_feed("http://old.example/rss", now=T0).outcome == "revived"
