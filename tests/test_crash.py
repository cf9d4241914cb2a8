"""Crash safety, in small: the daemon killed with SIGKILL at seeded random moments (and, on
PostgreSQL, its backends ended with ``pg_terminate_backend``), the store checked after each;
and what that harness and the two-daemon benchmark found, pinned one case at a time.

The harness is ``benchmarks/crash.py`` (run there with the full counts); these tests run it with
a few kills each, so they stay bounded: a few feeds on 127.0.0.1, the daemon as a child process,
a fresh SQLite file or PostgreSQL schema per test. Every invariant the harness checks must hold
at every check: no story stored twice, no feed state ahead of its stories, no event without
members, no membership without a story, no story without an event, canonical stories are
members, every start's index matches the store, nothing served is lost, clean exits.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from benchmarks import crash
from ingestor.app import Ingestor
from ingestor.config import load_settings
from ingestor.daemon import TickTotals, run_daemon
from ingestor.errors import StoreError
from ingestor.fingerprint import fingerprint
from ingestor.models import FeedSource, Story
from ingestor.pipeline import Pipeline
from ingestor.store import Store, open_store
from tests.services import require_postgres, require_redis

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[1]


def assert_clean(report: crash.Report) -> None:
    failed = {name: c.first_failure for name, c in report.checks.items() if c.failures}
    assert not failed, "\n".join(report.lines())
    for name in ("no_duplicate_stories", "feed_state_not_ahead", "no_story_lost", "clean_exit"):
        assert report.checks[name].runs > 0, name
    assert report.checks["index_agrees_with_store"].runs >= 2
    lines = "\n".join(report.lines())
    assert report.counters["stored_stories"] == report.counters["served_entries"] > 0, lines
    assert report.counters["events_with_copies"] > 0, lines


def test_sqlite_store_survives_sigkill_at_random_moments(tmp_path: Path) -> None:
    """Eight SIGKILLs of the daemon on SQLite (seeded) leave no duplicated story, no feed state
    ahead of its stories, no event without members; at the end nothing served is lost and the
    index loaded at start-up matches the store."""
    options = crash.Options(kills=8, feeds=3, seed=11, max_delay_s=1.0, startup_share=0.4)
    report = crash.run(options, tmp_path)
    assert report.counters["kills"] == 8
    assert_clean(report)


@pytest.mark.postgres
def test_postgres_store_survives_sigkill_and_terminated_backends(tmp_path: Path) -> None:
    """Four SIGKILLs and three rounds of pg_terminate_backend on the daemon's connections
    (seeded, in a transaction when one is caught) keep every store invariant on PostgreSQL, in
    a fresh schema."""
    url = require_postgres()
    options = crash.Options(
        backend="postgres", kills=4, terminations=3, feeds=3, seed=5, max_delay_s=1.5,
        startup_share=0.3, postgres_url=url,
    )  # fmt: skip
    report = crash.run(options, tmp_path)
    assert report.counters["kills"] == 4
    assert report.counters["terminations"] == 3
    assert report.counters["backends_ended"] >= 3
    assert_clean(report)


class LostConnectionStore:
    """A real store whose first due-feeds claim fails the way a terminated PostgreSQL backend
    makes it fail (a ``StoreError``); later claims go through."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.failed = threading.Event()

    def claim_due_feeds(self, **kwargs: Any) -> list[FeedSource]:
        if not self.failed.is_set():
            self.failed.set()
            raise StoreError("claim_due_feeds: terminating connection due to administrator command")
        return self.inner.claim_due_feeds(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_daemon_keeps_ticking_after_a_lost_database_connection(tmp_path: Path) -> None:
    """A tick whose due-feeds claim fails with a StoreError (a lost connection, an expected
    failure) is logged and the daemon ticks on, instead of stopping."""
    settings = load_settings(
        None, flags={"database_url": f"sqlite:///{tmp_path / 'ingestor.db'}"}, environ={}
    )
    store = open_store(settings.effective_database_url)
    store.migrate()
    flaky = LostConnectionStore(store)
    app = Ingestor(settings, store=flaky)  # type: ignore[arg-type]
    stop = threading.Event()
    ticks: list[datetime] = []

    def on_tick(_totals: TickTotals) -> None:
        ticks.append(datetime.now(UTC))
        if len(ticks) >= 2:
            stop.set()

    watchdog = threading.Timer(15, stop.set)
    watchdog.start()
    saved = structlog.get_config()
    try:
        with capture_logs() as logs, contextlib.suppress(StoreError):
            run_daemon(app, tick_s=1, stop=stop, install_signals=False, on_tick=on_tick)
    finally:
        watchdog.cancel()
        app.close()
        structlog.configure(**saved)
    assert flaky.failed.is_set()
    assert len(ticks) >= 2, [entry["event"] for entry in logs]
    assert not [entry for entry in logs if entry["event"] == "tick_crashed"]


SIGNAL_IN_LOG_WRITE = """
import io, os, signal, sys
from pathlib import Path
from ingestor import logs
from ingestor.config import load_settings
from ingestor.app import Ingestor
from ingestor.daemon import run_daemon
from ingestor.store import open_store

class SignalsWhileWriting(io.TextIOBase):
    '''stderr, but SIGTERM arrives while the daemon_started line is being written.'''
    fired = False

    def write(self, text):
        sys.__stderr__.write(text)
        if '"daemon_started"' in text and not self.fired:
            self.fired = True
            os.kill(os.getpid(), signal.SIGTERM)  # handled before this write returns
        return len(text)

    def flush(self):
        sys.__stderr__.flush()

    def isatty(self):
        return False

logs.configure(fmt="json", stream=SignalsWhileWriting())
url = "sqlite:///" + sys.argv[1]
settings = load_settings(None, flags={"database_url": url}, environ={})
store = open_store(url)
store.migrate()
run_daemon(Ingestor(settings, store=store), tick_s=60)
print("exited", file=sys.__stderr__)
"""


def test_sigterm_during_a_log_write_stops_the_daemon(tmp_path: Path) -> None:
    """A SIGTERM that arrives while the main thread writes a log line (here: the
    ``daemon_started`` line) still stops the daemon, with its ``daemon_stopped`` line."""
    script = tmp_path / "signal_in_write.py"
    script.write_text(SIGNAL_IN_LOG_WRITE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGESTOR_")}
    process = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "ingestor.db")],
        cwd=ROOT, env=env | {"PYTHONPATH": str(ROOT)}, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _out, err = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        _out, err = process.communicate()
    assert '"daemon_started"' in err
    assert process.returncode == 0, err[-2000:]
    assert '"daemon_stopped"' in err
    assert err.rstrip().endswith("exited")


ARTICLE = ROOT / "samples" / "articles" / "viewus-putin-rodong-sinmun-oped.txt"
NOW = datetime(2024, 6, 18, 12, tzinfo=UTC)


def _story(source: str, extra: str = "") -> Story:
    text = ARTICLE.read_text(encoding="utf-8") + extra
    return Story(
        source=source, title=text.splitlines()[0], text=text, fetched=NOW, published=NOW,
        content_hash=f"{source}-{len(text)}", url=f"https://{source}/putin-op-ed",
    )  # fmt: skip


def _two_writers(tmp_path: Path, index_url: str) -> tuple[int, int]:
    """Writer B opens on an empty store; writer A (its index in memory, so nothing reaches a
    shared index) commits a story; then B ingests a copy of it. The events of both."""
    flags = {"database_url": f"sqlite:///{tmp_path / 'shared.db'}", "fingerprint_max_terms": 199}
    b = Pipeline.open(load_settings(None, flags=flags | {"index_url": index_url}, environ={}))
    a = Pipeline.open(load_settings(None, flags=flags, environ={}))
    try:
        b.clusterer.index.clear()  # max_terms 199 names a namespace of this test's own
        original, copy = _story("first.example"), _story("second.example", "\nOne more line.")
        first = a.ingest([(original, fingerprint(original, a.fp_policy))], now=NOW)
        second = b.ingest([(copy, fingerprint(copy, b.fp_policy))], now=NOW)
        return first.events[0], second.events[0]
    finally:
        b.clusterer.index.clear()
        a.close()
        b.close()


def test_a_copy_joins_the_event_another_writer_committed(tmp_path: Path) -> None:
    """With in-memory indexes, a writer catches up with a story another process committed and
    puts that story's copy in the same event."""
    first, second = _two_writers(tmp_path, "")
    assert first == second


@pytest.mark.redis
def test_a_copy_joins_a_committed_story_the_shared_index_lacks(tmp_path: Path) -> None:
    """With the shared Redis index, a story another process committed but whose index write
    has not landed (yet) is still found as a candidate: its copy joins its event."""
    first, second = _two_writers(tmp_path, require_redis())
    assert first == second
