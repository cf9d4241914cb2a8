"""The daemon: APScheduler runs one periodic tick; signals end it cleanly.

Each tick also applies ``store.retention_days`` (``Ingestor.apply_retention``: a prune once a
day, nothing otherwise, so the check costs one comparison per tick).

Owns: the scheduler (APScheduler 3.11 is imported here and nowhere else), signal handling and the
daemon's summary line. Each tick asks the ``Ingestor`` (``ingestor.app``) to poll the feeds that
are due; its pipeline owns the worker pool, the per-feed log lines and every stage.

Does not: decide when a feed is due (``schedule`` computed that and the store keeps it) or poll
anything itself. One job, ``max_instances=1`` and ``coalesce=True``: a tick that overruns is
never run twice at once, and missed ticks collapse into one.

SIGINT or SIGTERM lets the running tick finish (every fetch has a total deadline and every
document a parse budget, so that is bounded), then the daemon logs one ``daemon_stopped`` line
with what it did and exits.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType

import structlog

from ingestor.app import Ingestor
from ingestor.errors import IngestorError
from ingestor.models import Counts, FeedRunResult

__all__ = ["OnResults", "TickTotals", "run_daemon", "run_tick"]

log = structlog.get_logger()


@dataclass(slots=True)
class TickTotals:
    """What the daemon has done since it started: ticks, feeds polled, failed polls, and the
    sum of every poll's ``Counts``."""

    ticks: int = 0
    feeds: int = 0
    errors: int = 0
    counts: Counts = field(default_factory=Counts)

    def add(self, results: list[FeedRunResult]) -> Counts:
        """Count one tick's results in; returns the tick's own counts."""
        tick = sum((r.counts for r in results), Counts())
        self.ticks += 1
        self.feeds += len(results)
        self.errors += sum(1 for r in results if r.status == "error")
        self.counts += tick
        return tick


OnResults = Callable[[list[FeedRunResult], float], None]
"""Told every tick's poll results and its duration in seconds (the server's metrics)."""


def run_tick(
    app: Ingestor,
    totals: TickTotals,
    *,
    now: datetime | None = None,
    on_results: OnResults | None = None,
) -> None:
    """One pass over the due feeds, with its summary line."""
    started = time.monotonic()
    results = app.tick(now=now)
    app.apply_retention(now=now)  # ``store.retention_days``: once a day, logged when it prunes
    counts = totals.add(results)
    if app.settings.webhooks.urls:
        app.deliver_webhooks(now=now)  # the tick's writes have committed
    if on_results is not None:
        on_results(results, time.monotonic() - started)
    log.info(
        "tick_finished",
        feeds=len(results),
        ok=sum(1 for r in results if r.status in ("ok", "not_modified")),
        errors=sum(1 for r in results if r.status == "error"),
        **counts.as_dict(),
        indexed_events=app.indexed_events,
        elapsed_ms=int((time.monotonic() - started) * 1000),
    )


def run_daemon(
    app: Ingestor,
    *,
    tick_s: int,
    stop: threading.Event | None = None,
    install_signals: bool = True,
    on_tick: Callable[[TickTotals], None] | None = None,
    on_results: OnResults | None = None,
) -> TickTotals:
    """Open what polling needs, then tick every ``tick_s`` seconds until SIGINT/SIGTERM (or
    ``stop`` is set); ``on_results`` is told each tick's results."""
    from apscheduler.schedulers.background import BackgroundScheduler

    database = app.start()  # the store, the schema, the window: fail before the first tick
    stop = stop or threading.Event()
    totals = TickTotals()
    started = time.monotonic()
    crashed: list[BaseException] = []

    def job() -> None:
        try:
            run_tick(app, totals, on_results=on_results)
        except IngestorError as error:
            # Expected: the database went away between polls (a restart, a dropped
            # connection). This tick is lost; the next one reconnects and goes on.
            log.error("tick_failed", error=str(error), error_kind=error.kind)
            return
        except Exception as error:
            # A bug: stop, and let it reach the caller so the process exits non-zero and a
            # supervisor restarts it.
            log.critical("tick_crashed", exc_info=True)
            crashed.append(error)
            stop.set()
            raise
        if on_tick is not None:
            on_tick(totals)

    received: list[str] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        # Only flags: the handler may interrupt this very thread inside a log write, and
        # writing from here would wait for the lock that write holds.
        received.append(signal.Signals(signum).name)
        stop.set()

    previous = {}
    if install_signals:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, on_signal)
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        job,
        "interval",
        seconds=tick_s,
        next_run_time=datetime.now(UTC),
        id="tick",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
    )
    log.info("daemon_started", tick_s=tick_s, database=database)
    scheduler.start()
    try:
        while not stop.wait(0.5):
            pass
        if received:
            log.info("daemon_stopping", signal=received[0])
    finally:
        scheduler.shutdown(wait=True)  # lets a running tick finish
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    log.info(
        "daemon_stopped",
        ticks=totals.ticks,
        feeds_polled=totals.feeds,
        errors=totals.errors,
        **totals.counts.as_dict(),
        uptime_s=int(time.monotonic() - started),
        crashed=bool(crashed),
    )
    if crashed:
        raise crashed[0]
    return totals
