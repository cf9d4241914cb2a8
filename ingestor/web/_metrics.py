"""Operations: the Prometheus metrics and what ``/healthz`` reports.

Owns: ``Metrics``, one ``prometheus_client`` registry per server (never the global one, so two
servers in one process, or a test's, do not collide). Two kinds of numbers:

* what the daemon does, counted as it happens: ``observe_tick`` is handed every tick's
  ``FeedRunResult`` values and duration by the daemon (``daemon.run_daemon``'s ``on_results``,
  wired by ``ingestor run --serve``). A server without a daemon in its process reports these
  as zero;
* what the store holds, read at each scrape through the facade (stories, events, feeds,
  merges, the webhook backlog, the clustering window's events when a daemon runs here).

Does not: time anything itself or touch the pipeline: the durations are the ones the poll
results carry (``elapsed_ms``) and the tick's own, measured by the daemon's caller.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ingestor.app import Ingestor
from ingestor.errors import IngestorError
from ingestor.models import FeedRunResult

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_TICK_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class _StoreCollector(Collector):
    """The store's numbers, read at scrape time."""

    def __init__(self, app: Ingestor, indexed: Callable[[], int | None]) -> None:
        self._app = app
        self._indexed = indexed

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("ingestor_store_up", "1 when the store answered this scrape")
        try:
            counts = self._app.counts()
            merges = self._app.merge_count()
            backlog = self._app.webhook_backlog()
        except IngestorError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        for name, helptext in (
            ("stories", "Stories stored"),
            ("events", "Events stored (merged-away events not counted)"),
            ("feeds", "Feeds known, removed ones included"),
            ("memberships", "Stories placed in an event"),
        ):
            yield GaugeMetricFamily(f"ingestor_{name}", helptext, value=counts.get(name, 0))
        yield GaugeMetricFamily("ingestor_event_merges", "Event merges recorded", value=merges)
        yield GaugeMetricFamily(
            "ingestor_webhook_backlog", "Webhook notifications not delivered yet", value=backlog
        )
        indexed = self._indexed()
        if indexed is not None:
            yield GaugeMetricFamily(
                "ingestor_index_events",
                "Events in this process's clustering window (its LSH index)",
                value=indexed,
            )


class Metrics:
    """One registry: the daemon's counters and histograms, the store's gauges."""

    def __init__(
        self,
        app: Ingestor,
        *,
        indexed: Callable[[], int | None] | None = None,
        tick_s: float | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.tick_s = tick_s
        """The daemon's tick interval, when one runs in this process: ``/healthz`` calls the
        daemon stalled when no tick has ended for ``stalled_after`` seconds."""
        self._lock = threading.Lock()
        self.last_tick: float | None = None
        """``time.monotonic()`` at the end of the last tick observed (``None``: none yet)."""
        self.polls = Counter(
            "ingestor_polls", "Feed polls by outcome", ["status"], registry=self.registry
        )
        for status in ("ok", "not_modified", "error", "skipped"):
            self.polls.labels(status=status)
        self.new_stories = Counter(
            "ingestor_new_stories", "New stories written by polls", registry=self.registry
        )
        self.new_events = Counter(
            "ingestor_new_events", "Events created by polls", registry=self.registry
        )
        self.merges = Counter("ingestor_merges", "Event merges by polls", registry=self.registry)
        self.fetch_seconds = Histogram(
            "ingestor_fetch_seconds",
            "Time one feed's poll took (fetch, parse, write)",
            buckets=_FETCH_BUCKETS,
            registry=self.registry,
        )
        self.tick_seconds = Histogram(
            "ingestor_tick_seconds",
            "Time one daemon tick took",
            buckets=_TICK_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StoreCollector(app, indexed or (lambda: None)))

    def observe_tick(self, results: Sequence[FeedRunResult], seconds: float) -> None:
        """Count one tick: each poll's outcome, counts and duration, and the tick's duration."""
        with self._lock:
            for result in results:
                self.polls.labels(status=result.status).inc()
                self.fetch_seconds.observe(result.elapsed_ms / 1000)
                self.new_stories.inc(result.counts.new)
                self.new_events.inc(result.counts.new_events)
                self.merges.inc(result.counts.merges)
            self.tick_seconds.observe(seconds)
            self.last_tick = time.monotonic()

    @property
    def stalled_after(self) -> float | None:
        """Seconds without a finished tick after which the daemon counts as stalled: three
        intervals and the longest a tick's polls may run (the fetch deadline is at most 600 s)."""
        return None if self.tick_s is None else 3 * self.tick_s + 600

    def last_tick_age(self) -> float | None:
        """Seconds since the last observed tick ended, or ``None``."""
        return None if self.last_tick is None else time.monotonic() - self.last_tick

    def render(self) -> bytes:
        data: bytes = generate_latest(self.registry)
        return data


def health(app: Ingestor, metrics: Metrics, *, now: Any) -> tuple[bool, dict[str, Any]]:
    """Whether the store answers (and this process's daemon ticks), how long ago a feed was
    polled (by any process) and this process's daemon last ticked."""
    out: dict[str, Any] = {}
    try:
        polled = app.last_poll()
    except IngestorError as error:
        return False, {"status": "error", "store": "unreachable", "error": str(error)}
    out["status"] = "ok"
    out["store"] = "ok"
    out["last_poll_at"] = polled.isoformat() if polled else None
    out["last_poll_age_s"] = round((now - polled).total_seconds(), 3) if polled else None
    age = metrics.last_tick_age()
    out["last_tick_age_s"] = None if age is None else round(age, 3)
    limit = metrics.stalled_after
    if age is not None and limit is not None and age > limit:
        out["status"] = "stalled"
        return False, out
    return True, out
