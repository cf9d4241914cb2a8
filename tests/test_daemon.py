"""The daemon as a process: ``ingestor run --once`` and ``ingestor run`` in a subprocess against
feeds a local HTTP server on 127.0.0.1 serves, and ``run_daemon`` in-process with a stop event.

The subprocess's output is not a terminal, so its log lines are JSON, one object a line, on
stderr. Every wait on the subprocess has a timeout, so a daemon that does not stop fails the test
rather than hanging it.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import structlog
from structlog.testing import capture_logs

from ingestor.app import Ingestor
from ingestor.config import Settings
from ingestor.daemon import TickTotals, run_daemon
from ingestor.models import FeedSource
from ingestor.pipeline import utcnow
from ingestor.store import Store, open_store
from tests.faultserver import FaultServer, feed, status
from tests.local import local_settings

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "feeds"
SERVED = {"/rt.xml": "rt-rss.xml", "/viewus.xml": "viewusglobal-rss.xml"}
WAIT_S = 60.0
"""Upper bound on any wait for the subprocess (start-up imports, a tick, shutdown)."""


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """Whatever a test configures, the next one starts with the logging it found."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    """Two sample feeds and a feed that always fails, on 127.0.0.1."""
    with FaultServer() as srv:
        for path, name in SERVED.items():
            srv.route(path, feed((SAMPLES / name).read_bytes(), etag=f'"{name}"'))
        srv.route("/broken.xml", status(500))
        yield srv


def feed_urls(server: FaultServer) -> list[str]:
    return [server.url(p) for p in (*SERVED, "/broken.xml")]


def write_config(directory: Path, urls: list[str], *, tick_s: int = 60) -> Path:
    config = directory / "ingestor.toml"
    config.write_text(
        f'database_url = "sqlite:///{directory / "ingestor.db"}"\n'
        'log_format = "json"\n\n'
        f"[feeds]\nurls = {json.dumps(urls)}\n\n"
        '[fetch]\nallow_networks = ["127.0.0.1/32"]\ntimeout_s = 2.0\nconnect_timeout_s = 1.0\n\n'
        f"[daemon]\ntick_s = {tick_s}\n",
        encoding="utf-8",
    )
    return config


def ingestor(config: Path, *args: str, **popen: Any) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGESTOR_")}
    return subprocess.Popen(
        [sys.executable, "-m", "ingestor", "--config", str(config), *args],
        cwd=config.parent,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_run_once_logs_one_json_summary_line_per_feed(tmp_path: Path, server: FaultServer) -> None:
    """``run --once`` off a terminal polls every configured feed once and logs one JSON
    ``feed_polled`` line per feed, with its status and counts, then exits 0."""
    urls = feed_urls(server)
    process = ingestor(write_config(tmp_path, urls), "run", "--once")
    try:
        stdout, stderr = process.communicate(timeout=WAIT_S)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert stdout == ""
    lines = json_lines(stderr)
    polled = [line for line in lines if line["event"] == "feed_polled"]
    assert sorted(line["feed"] for line in polled) == sorted(urls)
    by_feed = {line["feed"]: line for line in polled}
    for url in urls[:2]:
        assert by_feed[url]["status"] == "ok"
        assert by_feed[url]["new"] == (2 if "viewus" in url else 3)
    assert by_feed[urls[2]]["status"] == "error"
    assert by_feed[urls[2]]["error_kind"] == "http_status"
    for line in polled:
        for key in ("new", "duplicates", "new_events", "elapsed_ms"):
            assert isinstance(line[key], int)
        # A failed poll is a warning (the operator has something to look at).
        assert line["level"] == ("warning" if line["status"] == "error" else "info")
    assert "polled 3 feed(s): 5 new stories" in stderr
    assert [line["event"] for line in lines].count("tick_finished") == 1


class Lines:
    """A subprocess's stderr read line by line on a thread, so waits can have timeouts."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, event: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if line.startswith("{") and json.loads(line).get("event") == event:
                return dict(json.loads(line))
        raise AssertionError(f"no {event!r} line within {timeout} s; got {self.seen!r}")

    def rest(self, timeout: float) -> list[str]:
        self._thread.join(timeout)
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return self.seen
            if line is not None:
                self.seen.append(line)


@pytest.mark.slow
def test_the_daemon_stops_cleanly_on_sigterm_after_its_first_tick(
    tmp_path: Path, server: FaultServer
) -> None:
    """``run`` ticks until SIGTERM, then lets the tick finish, logs one ``daemon_stopped``
    summary line and exits 0, within a bounded time."""
    process = ingestor(write_config(tmp_path, feed_urls(server), tick_s=1), "run")
    try:
        assert process.stderr is not None
        lines = Lines(process.stderr)
        started = lines.wait_for("daemon_started", WAIT_S)
        assert started["tick_s"] == 1
        tick = lines.wait_for("tick_finished", WAIT_S)
        assert tick["feeds"] == 3
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=WAIT_S)
        rest = lines.rest(WAIT_S)
    finally:
        process.kill()
    assert process.returncode == 0, "".join(lines.seen)
    events = json_lines("".join(rest))
    assert [e["event"] for e in events].count("daemon_stopping") == 1
    stopped = [e for e in events if e["event"] == "daemon_stopped"]
    assert len(stopped) == 1
    assert stopped[0]["ticks"] >= 1
    assert stopped[0]["feeds_polled"] == 3  # the feeds are not due again within seconds
    assert stopped[0]["new"] == 5
    assert stopped[0]["errors"] == 1
    # daemon_stopped is the one summary line: no second, human one after it.
    assert not any(line.startswith("polled ") for line in rest)


def make_settings(tmp_path: Path) -> Settings:
    return local_settings(tmp_path, fetch_timeout_s=2.0)


def test_run_daemon_in_process_ticks_until_its_stop_event_is_set(
    tmp_path: Path, server: FaultServer
) -> None:
    """``run_daemon`` ticks at once, stops when its ``stop`` event is set, logs the start, every
    tick and one stop summary, and hands back the totals; the signal handlers it installed are
    put back."""
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    stop = threading.Event()
    ticks: list[TickTotals] = []

    def on_tick(totals: TickTotals) -> None:
        ticks.append(totals)
        stop.set()

    with Ingestor(make_settings(tmp_path), migrate=True) as app:
        app.sync_feeds(feed_urls(server), now=utcnow())
        app.start()  # the window loads before the daemon starts, as `ingestor run` does it
        with capture_logs() as logs:
            totals = run_daemon(app, tick_s=1, stop=stop, on_tick=on_tick)
        counts = app.counts()
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    assert totals.ticks == 1
    assert ticks == [totals]
    assert (totals.feeds, totals.counts.new, totals.errors) == (3, 5, 1)
    assert counts["stories"] == 5
    names = [entry["event"] for entry in logs]
    assert names[0] == "daemon_started"
    assert names[-1] == "daemon_stopped"
    assert names.count("tick_finished") == 1
    assert names.count("feed_polled") == 3
    stopped = logs[-1]
    assert (stopped["ticks"], stopped["feeds_polled"], stopped["new"]) == (1, 3, 5)


class BuggyStore:
    """A real store whose due-feeds queries fail with an error no stage expects (a bug)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    def due_feeds(self, **_: Any) -> list[FeedSource]:
        raise RuntimeError("bug: due_feeds exploded")

    def claim_due_feeds(self, **_: Any) -> list[FeedSource]:
        raise RuntimeError("bug: due_feeds exploded")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_tick_that_crashes_stops_the_daemon(tmp_path: Path) -> None:
    """A tick that fails with something other than an ``IngestorError`` is logged as critical
    and stops the daemon instead of letting it tick on."""
    settings = make_settings(tmp_path)
    store = open_store(settings.effective_database_url)
    store.migrate()
    app = Ingestor(settings, store=BuggyStore(store))  # type: ignore[arg-type]
    stop = threading.Event()
    watchdog = threading.Timer(WAIT_S, stop.set)  # never reached unless the crash is ignored
    watchdog.start()
    try:
        with capture_logs() as logs, pytest.raises(RuntimeError, match="due_feeds exploded"):
            run_daemon(app, tick_s=1, stop=stop, install_signals=False)
    finally:
        watchdog.cancel()
        app.close()
    crashed = [entry for entry in logs if entry["event"] == "tick_crashed"]
    assert len(crashed) == 1
    assert crashed[0]["log_level"] == "critical"
    assert [entry["event"] for entry in logs].count("daemon_stopped") == 1


def test_a_crashed_tick_is_re_raised_by_run_daemon(tmp_path: Path) -> None:
    """After a tick crashes with a bug, ``run_daemon`` shuts down and re-raises it, so the
    process ends with a non-zero status."""
    settings = make_settings(tmp_path)
    store = open_store(settings.effective_database_url)
    store.migrate()
    app = Ingestor(settings, store=BuggyStore(store))  # type: ignore[arg-type]
    stop = threading.Event()
    watchdog = threading.Timer(WAIT_S, stop.set)
    watchdog.start()
    try:
        with pytest.raises(RuntimeError, match="due_feeds exploded"):
            run_daemon(app, tick_s=1, stop=stop, install_signals=False)
    finally:
        watchdog.cancel()
        app.close()
