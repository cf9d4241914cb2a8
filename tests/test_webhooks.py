"""Webhooks: the outbox is written in the transaction that makes the change and delivered after
commit, signed, with an idempotency key, retried with backoff until a 2xx, given up after the
last attempt, and subject to the feeds' address checks."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ingestor.app import Ingestor
from ingestor.config import Settings
from ingestor.models import Assignment, Story
from ingestor.store import open_store
from tests.web import SAMPLES

SECRET = "hook-secret"


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers the queued statuses
    (then 200)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def _settings(
    tmp_path: Path, url: str, *, allow: bool = True, feeds: tuple[str, ...] = (), **webhooks: Any
) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'ingestor.db'}",
        webhooks={"urls": [url], "secret": SECRET, **webhooks},
        fetch={"allow_networks": ["127.0.0.0/8"] if allow else []},
        feeds={"urls": feeds},
    )


def _outbox(tmp_path: Path) -> list[tuple[str, str, int]]:
    import sqlite3

    with sqlite3.connect(tmp_path / "ingestor.db") as db:
        return db.execute(
            "SELECT kind, status, attempts FROM webhook_outbox ORDER BY id"
        ).fetchall()


def test_every_new_event_and_join_is_delivered_signed_once(
    tmp_path: Path, receiver: Receiver
) -> None:
    """Replaying the seed articles writes one ``event.created`` and four
    ``event.variant_added`` notifications; one delivery run POSTs each, with a valid HMAC-SHA256
    signature of the body and an idempotency key that is the body's id, and leaves no backlog."""
    with Ingestor(_settings(tmp_path, receiver.url)) as app:
        app.replay([SAMPLES / "articles"])
        assert app.webhook_backlog() == 5
        report = app.deliver_webhooks()
        assert (report.delivered, report.retrying, report.failed) == (5, 0, 0)
        assert app.webhook_backlog() == 0
        assert app.deliver_webhooks().delivered == 0  # nothing is sent twice
    kinds = [r["headers"]["X-Ingestor-Event"] for r in receiver.received]
    assert sorted(kinds) == ["event.created"] + ["event.variant_added"] * 4
    for request in receiver.received:
        headers, body = request["headers"], request["body"]
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Ingestor-Signature"], expected)
        payload = json.loads(body)
        assert headers["Idempotency-Key"] == payload["id"]
        assert payload["type"] == headers["X-Ingestor-Event"]
        assert headers["Content-Type"] == "application/json"
    assert len({json.loads(r["body"])["event_id"] for r in receiver.received}) == 1


def test_a_failed_delivery_is_retried_after_its_backoff_with_the_same_key(
    tmp_path: Path, receiver: Receiver
) -> None:
    """A 500 leaves the notification pending until its backoff has passed; then it is sent again
    with the same idempotency key and marked delivered."""
    with Ingestor(_settings(tmp_path, receiver.url, backoff_base_s=30)) as app:
        app.replay([SAMPLES / "articles" / "rt-putin-north-korea-trip-goals.txt"])
        now = datetime.now(UTC)  # after the write that made the notification
        receiver.statuses = [500]
        assert app.deliver_webhooks(now=now).retrying == 1
        assert app.deliver_webhooks(now=now + timedelta(seconds=29)).delivered == 0
        assert len(receiver.received) == 1
        assert app.deliver_webhooks(now=now + timedelta(seconds=31)).delivered == 1
    first, second = receiver.received
    assert first["headers"]["Idempotency-Key"] == second["headers"]["Idempotency-Key"]
    assert _outbox(tmp_path) == [("event.created", "delivered", 2)]


def test_a_notification_is_kept_as_failed_after_the_last_attempt(
    tmp_path: Path, receiver: Receiver
) -> None:
    """With ``max_attempts`` 2, two failures end the retries: the row stays, as failed, and
    leaves the backlog."""
    with Ingestor(_settings(tmp_path, receiver.url, max_attempts=2)) as app:
        app.replay([SAMPLES / "articles" / "rt-putin-north-korea-trip-goals.txt"])
        now = datetime.now(UTC)
        receiver.statuses = [503, 503]
        assert app.deliver_webhooks(now=now).retrying == 1
        assert app.deliver_webhooks(now=now + timedelta(hours=1)).failed == 1
        assert app.webhook_backlog() == 0
    assert _outbox(tmp_path) == [("event.created", "failed", 2)]


def test_the_address_checks_apply_to_webhooks(tmp_path: Path, receiver: Receiver) -> None:
    """Without ``fetch.allow_networks``, a webhook URL on loopback is refused before any
    connection, and the notification waits for a retry."""
    with Ingestor(_settings(tmp_path, receiver.url, allow=False)) as app:
        app.replay([SAMPLES / "articles" / "rt-putin-north-korea-trip-goals.txt"])
        assert app.deliver_webhooks().retrying == 1
    assert receiver.received == []
    assert _outbox(tmp_path) == [("event.created", "pending", 1)]


def _story(name: str) -> Story:
    when = datetime(2024, 6, 18, tzinfo=UTC)
    return Story(source=name, title=name, text=f"{name} text", fetched=when, content_hash=name)


def test_the_outbox_commits_and_rolls_back_with_the_change(tmp_path: Path) -> None:
    """A write transaction that fails leaves no notification; one that commits leaves one per
    URL for each new event, join and merge."""
    urls = ("https://a.example/hook", "https://b.example/hook")
    store = open_store(f"sqlite:///{tmp_path / 'ingestor.db'}", webhooks=urls)
    now = datetime(2024, 6, 18, 12, tzinfo=UTC)
    joined = Assignment(event_id=None, reason="new", similarity=0.0)
    try:
        store.migrate()

        def fail_after_writing() -> None:
            with store.write() as tx:
                story = tx.insert_story(_story("lost"), None, feed_id=None)
                tx.add_membership(story, tx.create_event(story, now=now), joined, now=now)
                raise RuntimeError("the transaction fails")

        with pytest.raises(RuntimeError):
            fail_after_writing()
        assert _outbox(tmp_path) == []
        with store.write() as tx:
            first = tx.insert_story(_story("one"), None, feed_id=None)
            second = tx.insert_story(_story("two"), None, feed_id=None)
            a = tx.create_event(first, now=now)
            tx.add_membership(first, a, joined, now=now)
            b = tx.create_event(second, now=now)
            tx.add_membership(second, b, joined, now=now)
            tx.merge_events(a, b, story_id=second, now=now)
        kinds = [kind for kind, _status, _attempts in _outbox(tmp_path)]
        assert kinds == ["event.created"] * 4 + ["event.merged"] * 2
        assert store.webhook_backlog() == 6
    finally:
        store.close()


def test_a_daemon_tick_delivers_what_its_polls_wrote(tmp_path: Path, receiver: Receiver) -> None:
    """One daemon tick over the sample feeds polls them, then, its writes committed, delivers
    a notification for every event it created."""
    from ingestor.daemon import TickTotals, run_tick

    feeds = tuple(p.resolve().as_uri() for p in sorted((SAMPLES / "feeds").glob("*.xml")))
    with Ingestor(_settings(tmp_path, receiver.url, feeds=feeds)) as app:
        app.sync_feeds()
        totals = TickTotals()
        run_tick(app, totals)
        assert app.webhook_backlog() == 0
        events = app.counts()["events"]
    created = [r for r in receiver.received if r["headers"]["X-Ingestor-Event"] == "event.created"]
    assert totals.counts.new_events == events == len(created)
