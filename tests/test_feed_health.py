"""A feed that stops working says so: parked after repeated failures, gone after a 410, with
one warning line each and its health visible in ``ingestor feeds list``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from ingestor import render
from ingestor.config import load_settings
from ingestor.pipeline import Pipeline
from tests.faultserver import FaultServer, status

T0 = datetime(2024, 6, 18, 12, tzinfo=UTC)


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    settings = load_settings(
        None,
        flags={
            "database_url": f"sqlite:///{tmp_path / 'db.sqlite'}",
            "fetch_allow_networks": ("127.0.0.1/32",),
            "fetch_timeout_s": 2.0,
            "schedule_park_after_errors": 2,
        },
        environ={},
    )
    saved = structlog.get_config()
    with Pipeline.open(settings, migrate=True, now=T0) as opened:
        yield opened
    structlog.configure(**saved)


def _warnings(logs: list[dict[str, object]]) -> list[str]:
    return [str(e["event"]) for e in logs if e.get("log_level") == "warning"]


def test_a_failing_feed_is_parked_and_says_so(pipeline: Pipeline) -> None:
    """After ``park_after_errors`` failures in a row the feed is parked, one warning says so
    (with the way back), and the feed list shows its status, errors and last error."""
    with FaultServer() as server:
        url = server.route("/broken", status(500))
        feed = pipeline.store.add_feed(url, now=T0)
        with capture_logs() as logs:
            for poll in range(3):
                current = pipeline.store.get_feed(url)
                assert current is not None
                if current.status != "active":
                    break
                pipeline.poll(current, now=T0 + timedelta(hours=poll))
    parked = pipeline.store.get_feed(url)
    assert parked is not None
    assert parked.status == "parked"
    assert parked.consecutive_errors == 2
    # Each failed poll is a warning, and the one that parks the feed says so once more.
    assert _warnings(logs) == ["feed_polled", "feed_parked", "feed_polled"]
    table = render.feeds_table(pipeline.store.list_feeds())
    assert "parked" in table
    assert "http_status" in table
    assert feed.id == parked.id


def test_a_feed_answering_410_is_gone_at_once(pipeline: Pipeline) -> None:
    """A 410 stops polling at the first answer, with one ``feed_gone`` warning."""
    with FaultServer() as server:
        url = server.route("/retired", status(410))
        feed = pipeline.store.add_feed(url, now=T0)
        with capture_logs() as logs:
            result = pipeline.poll(feed, now=T0)
    assert result.status == "error"
    gone = pipeline.store.get_feed(url)
    assert gone is not None
    assert gone.status == "gone"
    assert _warnings(logs) == ["feed_gone", "feed_polled"]
    assert pipeline.store.due_feeds(now=T0 + timedelta(days=30), limit=10) == []
