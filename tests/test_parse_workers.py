"""Busy parse workers and documents over budget: waiting for a worker ends at the poll's
deadline (the feed is due again, not failed), and a feed whose document uses up its budget is
backed off further after each failure and reported. Servers listen on 127.0.0.1."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from ingestor.budget import BudgetRunner
from ingestor.errors import ParseBusy, ParseTimeout
from ingestor.pipeline import Pipeline, utcnow
from tests.faultserver import FaultServer, feed
from tests.local import local_settings
from tests.test_budget import _echo, _sleep

pytestmark = pytest.mark.timeout(60)

FEEDS = Path(__file__).resolve().parents[1] / "samples" / "feeds"
HOSTILE = (
    '<rss version="2.0"><channel><title>t</title><item><title>x</title>'
    f"<author>{'a.' * 40_000}</author></item></channel></rss>"
).encode()


def _hold(runner: BudgetRunner, seconds: float, budget_s: float) -> threading.Thread:
    """A thread whose call holds one of ``runner``'s workers (returned once it holds it)."""

    def hog() -> None:
        with contextlib.suppress(ParseTimeout):
            runner.run(_sleep, seconds, budget_s=budget_s)

    thread = threading.Thread(target=hog)
    thread.start()
    for _ in range(500):
        if runner._idle.qsize() == 0:
            break
        time.sleep(0.01)
    return thread


def test_waiting_for_a_worker_ends_at_the_deadline() -> None:
    """With every worker busy, a call with a deadline gives up with ParseBusy when it passes,
    while the busy call is still running; without contention the same call runs."""
    with BudgetRunner(workers=1, budget_s=5.0) as runner:
        assert runner.run(_echo, 1, deadline=time.monotonic() + 5) == 1
        hog = _hold(runner, 30, budget_s=4.0)
        with pytest.raises(ParseBusy, match="no parse worker"):
            runner.run(_echo, 2, deadline=time.monotonic() + 0.2)
        assert hog.is_alive()
        hog.join(timeout=30)
        assert runner.run(_echo, 3, deadline=time.monotonic() + 5) == 3


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


def _pipeline(tmp_path: Path, **flags: object) -> Pipeline:
    settings = local_settings(tmp_path, fetch_timeout_s=0.5, **flags)
    return Pipeline.open(settings, migrate=True, budget_workers=1)


def test_a_poll_that_finds_every_worker_busy_is_due_again(
    tmp_path: Path, server: FaultServer
) -> None:
    """A healthy feed whose parse cannot get a worker before its deadline fails this poll as
    ``parse_busy`` without counting an error against the feed; the next poll stores it."""
    url = server.route("/rt.xml", feed((FEEDS / "rt-rss.xml").read_bytes()))
    with _pipeline(tmp_path) as pipeline:
        source = pipeline.store.add_feed(url, now=utcnow())
        hog = _hold(pipeline.budget, 30, budget_s=4.0)
        result = pipeline.poll(source, now=utcnow())
        assert hog.is_alive()
        assert result.status == "error"
        assert isinstance(result.error, ParseBusy)
        after = pipeline.store.get_feed(url)
        assert after is not None
        assert after.consecutive_errors == 0
        assert after.last_status is None
        hog.join(timeout=30)
        again = pipeline.poll(after, now=utcnow())
        assert again.status == "ok", again.error
        assert again.counts.new == 3


def test_a_feed_over_its_budget_is_backed_off_and_reported(
    tmp_path: Path, server: FaultServer
) -> None:
    """Each poll whose document uses up the budget is a failure named ``parse_timeout`` (once),
    logged as ``feed_over_budget``, and pushes the next poll out further."""
    url = server.route("/hostile.xml", feed(HOSTILE))
    with _pipeline(tmp_path, parse_time_budget_s=0.5) as pipeline:
        source = pipeline.store.add_feed(url, now=utcnow())
        waits = []
        for n in (1, 2):
            now = utcnow()
            with capture_logs() as logs:
                result = pipeline.poll(source, now=now)
            assert isinstance(result.error, ParseTimeout)
            stored = pipeline.store.get_feed(url)
            assert stored is not None
            assert stored.consecutive_errors == n
            assert stored.last_error is not None
            assert stored.last_error.startswith("parse_timeout: ")
            assert stored.next_poll_at is not None
            waits.append((stored.next_poll_at - now).total_seconds())
            over = [e for e in logs if e["event"] == "feed_over_budget"]
            assert len(over) == 1
            assert over[0]["log_level"] == "warning"
            assert over[0]["consecutive_errors"] == n
            source = stored
        assert waits[1] > waits[0]
