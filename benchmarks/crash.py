"""Crash safety: kill the daemon at random moments and check the store after every kill.

    python benchmarks/crash.py                               # SQLite, 100 kills
    python benchmarks/crash.py --backend postgres            # 30 kills + 20 pg_terminate_backend
    python benchmarks/crash.py --backend postgres --index-url redis://127.0.0.1:6379/12 --json

A server on 127.0.0.1 serves K RSS feeds that gain entries on every poll: each response carries
the entries of every version so far, with an ETag naming the version. The daemon runs as a child
process (``python -m ingestor run``, a 1 s tick and poll interval, 10 s leases) on a fresh SQLite
file or a fresh PostgreSQL schema, and is killed with SIGKILL at seeded random moments, then
started again; with PostgreSQL its backends are also ended with ``pg_terminate_backend`` (in
a transaction when one is caught in time) while it keeps running. After every kill the store is
checked (one snapshot): no story stored twice, no feed state ahead of its stories (every entry
of every version up to the stored ETag is stored), every event has as many memberships as its
size and at least one (an event merged into another: none, size 0, and its merge logged), no
membership without a story, no story without an event, canonical stories are members. Every
start's ``index_loaded`` line must count what the store holds (stories with a membership and
the daemon's fingerprint version); with ``--index-url`` (an empty Redis
database, emptied afterwards) the start-up check may repair what a crash cut off (counted), but
must find nothing to repair after a clean stop. At the end the server stops growing, the daemon
runs until every feed is stored at its last version (no story lost), stops on SIGTERM, and
starts once more (``run --once``) for a last index check.

Entries are built so that the feeds carry copies of one another (the same topic text plus a
sentence of each feed's own), so events have several members. ``kills_mid_poll`` counts kills
that left a lease behind (between claiming a feed and writing its poll). The daemon's log is
kept in the work directory when a check fails or with ``--keep``; a daemon that does not stop
on SIGTERM has its stacks dumped there (SIGABRT with ``PYTHONFAULTHANDLER``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

GUID = re.compile(r"crash-f(\d+)-v(\d+)-e(\d+)")
ETAG = re.compile(r'"v(\d+)"')
START_TIMEOUT_S = 60.0


@dataclass
class Options:
    backend: str = "sqlite"
    kills: int = 100
    terminations: int = 0
    feeds: int = 6
    per_version: int = 1
    seed: int = 1
    max_delay_s: float = 3.0
    """Kills land up to this long after the daemon reports it started."""
    startup_share: float = 0.15
    """The share of kills aimed at start-up (migrations, index loading) instead."""
    postgres_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    index_url: str = ""
    lease_s: int = 10
    quiesce_timeout_s: float = 90.0


# -- the feeds ----------------------------------------------------------------------------------
class GrowingFeeds:
    """K feeds that gain ``per_version`` entries on every poll until frozen."""

    def __init__(self, feeds: int, per_version: int, seed: int) -> None:
        from wordfreq import top_n_list

        self.versions = [0] * feeds
        self.per_version = per_version
        self.seed = seed
        self.frozen = False
        self.lock = threading.Lock()
        self.words = [w for w in top_n_list("en", 4000)[200:] if w.isalpha()]
        self.base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        self.server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> GrowingFeeds:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, k: int) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/feed/{k}.xml"

    def served(self) -> set[tuple[int, int, int]]:
        """Every entry a response has carried: ``(feed, version, entry)``."""
        with self.lock:
            return self.entries(dict(enumerate(self.versions)))

    def entries(self, upto: dict[int, int]) -> set[tuple[int, int, int]]:
        """The entries of every version up to ``upto[feed]``."""
        return {(k, v, j) for k, top in upto.items() for v in range(1, top + 1)
                for j in range(self.per_version)}  # fmt: skip

    def poll(self, k: int) -> int:
        with self.lock:
            if not self.frozen:
                self.versions[k] += 1
            return self.versions[k]

    def _sentence(self, rng: random.Random, n: int) -> str:
        return " ".join(rng.choice(self.words) for _ in range(n)).capitalize() + "."

    def item(self, k: int, v: int, j: int) -> str:
        topic = (v - 1) * self.per_version + j
        rng = random.Random(f"{self.seed}:topic:{topic}")
        title = " ".join(rng.choice(self.words) for _ in range(7)).capitalize()
        body = [self._sentence(rng, 12) for _ in range(6)]
        own = self._sentence(random.Random(f"{self.seed}:{k}:{v}:{j}"), 12)
        when = format_datetime(self.base + timedelta(seconds=10 * topic), usegmt=True)
        html = "".join(f"<p>{escape(s)}</p>" for s in [*body, own])
        return (
            f"<item><title>{escape(title)}</title>"
            f"<link>https://pub{k}.example/news/{topic}-{v}-{j}.html</link>"
            f'<guid isPermaLink="false">crash-f{k}-v{v}-e{j}</guid>'
            f"<pubDate>{when}</pubDate><description>{escape(html)}</description></item>"
        )

    def document(self, k: int, version: int) -> bytes:
        items = [self.item(k, v, j) for v in range(version, 0, -1) for j in range(self.per_version)]
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Publisher {k}</title><link>https://pub{k}.example/</link>"
            f"<description>feed {k}</description>{''.join(items)}</channel></rss>"
        ).encode()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a daemon killed mid-request resets its connection: expected here


def _handler(feeds: GrowingFeeds) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            match = re.fullmatch(r"/feed/(\d+)\.xml", self.path)
            if match is None or int(match[1]) >= len(feeds.versions):
                return self.reply(404, b"", {})
            version = feeds.poll(int(match[1]))
            etag = f'"v{version}"'
            if self.headers.get("If-None-Match") == etag:
                return self.reply(304, b"", {"ETag": etag})
            body = feeds.document(int(match[1]), version)
            self.reply(200, body, {"ETag": etag, "Content-Type": "application/rss+xml"})

        def reply(self, code: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(code)
            for name, value in (headers | {"Content-Length": str(len(body))}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler


# -- the daemon ---------------------------------------------------------------------------------
class Daemon:
    """``python -m ingestor ... run`` in a session of its own; JSON log lines read on a thread."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.process: subprocess.Popen[str] | None = None
        self.lines: list[dict[str, Any]] = []
        self.errors: list[str] = []
        """The ``error: ...`` lines the command printed (why it exited)."""
        self.cond = threading.Condition()
        self.starts = 0

    def start(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INGESTOR_")}
        env["PYTHONFAULTHANDLER"] = "1"  # SIGABRT dumps every thread's stack into the log
        self.lines = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ingestor", "--config", str(self.config), "run", *args],
            cwd=self.config.parent, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )  # fmt: skip
        self.starts += 1
        threading.Thread(target=self._read, args=(self.process, self.lines), daemon=True).start()

    def _read(self, process: subprocess.Popen[str], lines: list[dict[str, Any]]) -> None:
        assert process.stderr is not None
        with self.log.open("a", encoding="utf-8") as out:
            out.write(f"--- start {self.starts} pid {process.pid}\n")
            for line in process.stderr:
                out.write(line)
                if line.startswith("error:"):
                    self.errors.append(line.strip())
                try:
                    entry = json.loads(line) if line.startswith("{") else None
                except ValueError:
                    entry = None  # a line cut short by SIGKILL
                if isinstance(entry, dict):
                    with self.cond:
                        lines.append(entry)
                        self.cond.notify_all()

    def wait_for(self, event: str, timeout: float = START_TIMEOUT_S) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    if line.get("event") == event:
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or not self.alive():
                    return None
                self.cond.wait(min(left, 0.2))

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> int:
        """SIGKILL the daemon alone; its worker processes must go by themselves. Returns how many
        of them were still there 5 s later (then killed with the process group)."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return 0
            time.sleep(0.05)
        os.killpg(self.process.pid, signal.SIGKILL)
        return 1

    def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM and wait; the exit code, or ``None`` if it hung (its stacks are then dumped
        into the log with SIGABRT, and it is killed)."""
        assert self.process is not None
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGABRT)
            time.sleep(2)
            self.kill()
            return None


# -- the store, as the checker sees it -----------------------------------------------------------
@dataclass
class Check:
    runs: int = 0
    failures: int = 0
    first_failure: str | None = None

    def record(self, problem: str | None, when: str) -> None:
        self.runs += 1
        if problem is not None:
            self.failures += 1
            if self.first_failure is None:
                self.first_failure = f"{when}: {problem}"


INVARIANTS = (
    "no_duplicate_stories", "feed_state_not_ahead", "events_have_members",
    "memberships_have_stories", "stories_have_events", "canonical_is_member",
    "index_agrees_with_store", "no_story_lost", "clean_exit",
)  # fmt: skip
_QUERIES = {
    "dup_guid": "SELECT count(*) FROM (SELECT feed_id, guid FROM stories WHERE guid IS NOT NULL"
    " GROUP BY feed_id, guid HAVING count(*) > 1) d",
    "dup_url": "SELECT count(*) FROM (SELECT url FROM stories WHERE url IS NOT NULL"
    " GROUP BY url HAVING count(*) > 1) d",
    # An event merged into another stays behind as a row of size 0 with no members; any other
    # event has as many members as its size, and at least one.
    "bad_events": "SELECT count(*) FROM (SELECT e.id FROM events e LEFT JOIN memberships m"
    " ON m.event_id = e.id GROUP BY e.id, e.size HAVING count(m.story_id) <> e.size"
    " OR (e.size = 0 AND e.id NOT IN (SELECT gone_event_id FROM event_merges))) d",
    "orphan_memberships": "SELECT count(*) FROM memberships m LEFT JOIN stories s"
    " ON s.id = m.story_id WHERE s.id IS NULL",
    "stories_without_event": "SELECT count(*) FROM stories s LEFT JOIN memberships m"
    " ON m.story_id = s.id WHERE m.story_id IS NULL",
    "canonical_not_member": "SELECT count(*) FROM events e LEFT JOIN memberships m"
    " ON m.story_id = e.canonical_story_id AND m.event_id = e.id"
    " WHERE m.story_id IS NULL AND e.size > 0",
}


@dataclass
class Snapshot:
    counts: dict[str, int]
    stored: list[tuple[int, int, int]]
    """``(feed, version, entry)`` of every stored story, duplicates kept."""
    etags: dict[int, int]
    """Feed -> the version its stored ETag names (0: none yet)."""
    lease_owners: list[str]
    indexable: dict[str, int]
    """Fingerprint version -> stories with a membership and a signature of that version: what a
    start of the daemon (running that version) must index."""
    events: int
    multi: int
    """Events with more than one member."""


def snapshot(engine: Engine, urls: dict[str, int]) -> Snapshot:
    with engine.connect() as conn:
        counts = {name: int(conn.execute(text(sql)).scalar_one()) for name, sql in _QUERIES.items()}
        stored = []
        query = "SELECT f.url, s.guid FROM stories s JOIN feeds f ON f.id = s.feed_id"
        for url, guid in conn.execute(text(query)):
            match = GUID.fullmatch(guid or "")
            stored.append((urls[url], int(match[2]), int(match[3])) if match else (-1, 0, 0))
        etags, owners = {}, []
        for url, etag, owner in conn.execute(text("SELECT url, etag, lease_owner FROM feeds")):
            match = ETAG.fullmatch(etag or "")
            etags[urls[url]] = int(match[1]) if match else 0
            owners += [owner] if owner else []
        query = (
            "SELECT s.signature_version, count(*) FROM stories s JOIN memberships m"
            " ON m.story_id = s.id WHERE s.signature IS NOT NULL GROUP BY s.signature_version"
        )
        indexable = {str(v): int(c) for v, c in conn.execute(text(query))}
        events = conn.execute(text("SELECT count(*) FROM events WHERE size > 0")).scalar_one()
        multi = conn.execute(text("SELECT count(*) FROM events WHERE size > 1")).scalar_one()
    return Snapshot(counts, stored, etags, owners, indexable, int(events), int(multi))


def missing(snap: Snapshot, feeds: GrowingFeeds, upto: dict[int, int]) -> int:
    return len(feeds.entries(upto) - set(snap.stored))


def check_store(snap: Snapshot, feeds: GrowingFeeds, checks: dict[str, Check], when: str) -> None:
    c = snap.counts
    dups = len(snap.stored) - len(set(snap.stored))
    twice = c["dup_guid"] or c["dup_url"] or dups or (-1, 0, 0) in snap.stored
    problem = f"{c['dup_guid']} (feed, guid), {c['dup_url']} url, {dups} entry duplicates"
    checks["no_duplicate_stories"].record(problem if twice else None, when)
    behind = missing(snap, feeds, snap.etags)
    problem = f"{behind} entries up to the stored ETag's version are missing"
    checks["feed_state_not_ahead"].record(problem if behind else None, when)
    for name, key in (
        ("events_have_members", "bad_events"),
        ("memberships_have_stories", "orphan_memberships"),
        ("stories_have_events", "stories_without_event"),
        ("canonical_is_member", "canonical_not_member"),
    ):
        checks[name].record(f"{c[key]} rows ({key})" if c[key] else None, when)


@contextmanager
def database(options: Options, work: Path) -> Iterator[tuple[str, str]]:
    """The daemon's URL and the checker's: a SQLite file, or a fresh PostgreSQL schema whose
    connections carry an application name of their own (so only they are terminated)."""
    if options.backend == "sqlite":
        url = f"sqlite:///{work / 'crash.db'}"
        yield url, url
        return
    schema = f"crash_{uuid.uuid4().hex[:12]}"
    admin = create_engine(options.postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    base = make_url(options.postgres_url)
    try:
        daemon_url = base.update_query_dict({"options": f"-csearch_path={schema}",
                                             "application_name": schema})  # fmt: skip
        checker_url = daemon_url.update_query_dict({"application_name": f"{schema}-check"})
        yield (daemon_url.render_as_string(hide_password=False),
               checker_url.render_as_string(hide_password=False))  # fmt: skip
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def shared_index(url: str) -> Iterator[None]:
    """A Redis database for the daemon's shared index: must be empty; emptied afterwards."""
    if not url:
        yield
        return
    import redis

    client = redis.Redis.from_url(url)
    if client.dbsize():
        raise SystemExit(f"{url} is not empty: name a spare Redis database")
    try:
        yield
    finally:
        client.flushdb()
        client.close()


def terminate(engine: Engine, app: str, wait_s: float) -> tuple[int, int]:
    """End the daemon's backends, preferring those in a transaction (watched for up to
    ``wait_s``). Returns (backends ended, of which in a transaction)."""
    query = text("SELECT pid, xact_start IS NOT NULL FROM pg_stat_activity"
                 " WHERE application_name = :app AND pid <> pg_backend_pid()")  # fmt: skip
    deadline = time.monotonic() + wait_s
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        while True:
            rows = conn.execute(query, {"app": app}).all()
            busy = [pid for pid, in_tx in rows if in_tx]
            if busy or time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        targets = busy or [pid for pid, _ in rows]
        for pid in targets:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    return len(targets), len(busy)


def write_config(work: Path, url: str, feeds: GrowingFeeds, options: Options) -> Path:
    config = work / "ingestor.toml"
    config.write_text(
        f'data_dir = "{work}"\ndatabase_url = {json.dumps(url)}\n'
        f'index_url = {json.dumps(options.index_url)}\nlog_format = "json"\n\n'
        f"[feeds]\nurls = {json.dumps([feeds.url(k) for k in range(len(feeds.versions))])}\n\n"
        "[schedule]\ninterval_s = 1\nmin_interval_s = 1\nmax_interval_s = 5\njitter = 0.0\n"
        "backoff_base_s = 1\nbackoff_max_s = 2\npark_after_errors = 1000\n\n"
        '[fetch]\nallow_networks = ["127.0.0.1/32"]\ntimeout_s = 10.0\nconnect_timeout_s = 2.0\n\n'
        "[parse]\nmax_entries = 10000\ntime_budget_s = 30.0\n\n"
        f"[daemon]\ntick_s = 1\nlease_s = {options.lease_s}\n",
        encoding="utf-8",
    )
    return config


# -- the run --------------------------------------------------------------------------------------
COUNTERS = ("kills", "kills_at_startup", "kills_mid_poll", "terminations", "backends_ended",
            "backends_in_transaction", "daemon_exits", "starts", "orphaned_workers")  # fmt: skip


@dataclass
class Report:
    options: dict[str, Any]
    counters: dict[str, Any] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    checks: dict[str, Check] = field(default_factory=lambda: {n: Check() for n in INVARIANTS})

    @property
    def ok(self) -> bool:
        return all(c.failures == 0 for c in self.checks.values())

    def lines(self) -> list[str]:
        out = [f"{key:<26} {value}" for key, value in self.counters.items()]
        for name, c in self.checks.items():
            verdict = "ok" if not c.failures else f"FAILED {c.failures}x, first {c.first_failure}"
            out.append(f"{name:<26} {verdict} ({c.runs} checks)")
        return out

    def to_json(self) -> dict[str, Any]:
        checks = {name: asdict(c) for name, c in self.checks.items()}
        return {"options": self.options, "counters": self.counters, "ok": self.ok, "checks": checks}


def run(options: Options, work: Path) -> Report:
    """One seeded crash run in ``work``; see the module docstring."""
    from sqlalchemy.exc import DBAPIError

    rng = random.Random(options.seed)
    report = Report(asdict(options))
    n, checks, began = report.counters, report.checks, time.monotonic()
    actions = ["kill"] * options.kills + ["terminate"] * options.terminations
    rng.shuffle(actions)
    versions: set[str] = set()
    expected: dict[str, int] = {}
    with (
        GrowingFeeds(options.feeds, options.per_version, options.seed) as feeds,
        database(options, work) as (daemon_url, checker_url),
        shared_index(options.index_url),
    ):
        urls = {feeds.url(k): k for k in range(options.feeds)}
        isolation = {"isolation_level": "REPEATABLE READ"} if options.backend == "postgres" else {}
        engine = create_engine(checker_url, **isolation)  # one snapshot per check
        daemon = Daemon(write_config(work, daemon_url, feeds, options), work / "daemon.log")

        def look() -> Snapshot | None:
            try:
                return snapshot(engine, urls)
            except DBAPIError:
                return None  # no schema yet: every start so far was killed before migrating

        def start(*args: str) -> None:
            before = look()
            expected.clear()
            expected.update(before.indexable if before else {})
            daemon.start(*args)
            n["starts"] += 1

        def index_check(when: str, *, after_crash: bool = True) -> None:
            """Did the last start index what the store held (for the daemon's fingerprint)?
            A shared index may lack what a crash cut off (the start repairs it, counted), but
            not after a clean stop."""
            line = daemon.wait_for("index_loaded", 0)
            if line is None:
                return  # killed before it got there
            versions.add(line["fingerprint"])
            want = expected.get(line["fingerprint"], 0)
            problem = f"index_loaded {line['stories']}, store {want}"
            checked = daemon.wait_for("index_checked", 2) if options.index_url else None
            if checked is not None:
                n["index_repairs"] = n.get("index_repairs", 0) + checked["inserted"]
                n["index_repairs"] += checked["removed"]
                if not (checked["agrees"] or after_crash):
                    problem, want = f"index_checked {checked}", -1
            checks["index_agrees_with_store"].record(
                None if line["stories"] == want else problem, when
            )

        def store_check(when: str) -> Snapshot | None:
            snap = look()
            if snap is not None:  # None: killed before it ever migrated, nothing to check
                check_store(snap, feeds, checks, when)
            return snap

        for number, action in enumerate(actions, 1):
            when = f"{action} {number} (seed {options.seed})"
            fresh = not daemon.alive()
            if fresh:
                start()
            if action == "kill" and fresh and rng.random() < options.startup_share:
                time.sleep(rng.uniform(0.1, 2.5))  # start-up: migrating, loading the index
            else:
                if daemon.wait_for("daemon_started") is None:
                    checks["clean_exit"].record(f"no start: {daemon.errors[-1:]}", when)
                time.sleep(rng.uniform(0, options.max_delay_s))
            if action == "kill":
                pid = daemon.process.pid if daemon.process else 0
                n["kills_at_startup"] += daemon.wait_for("daemon_started", 0) is None
                n["orphaned_workers"] += daemon.kill()
                n["kills"] += 1
                index_check(when)
                snap = store_check(when)
                owners = snap.lease_owners if snap else []
                n["kills_mid_poll"] += any(f":{pid}:" in owner for owner in owners)
                continue
            app = str(make_url(daemon_url).query["application_name"])
            ended, busy = terminate(engine, app, 2.0)
            n["terminations"] += 1
            n["backends_ended"] += ended
            n["backends_in_transaction"] += busy
            time.sleep(1.0)
            store_check(when)
            if not daemon.alive():  # it gave up on the lost connection; the next action restarts
                n["daemon_exits"] += 1
                n.setdefault("daemon_exit_reasons", []).extend(daemon.errors[-1:])
                index_check(when)

        # If every kill came before the first request, nothing was served, and a frozen feed
        # would never serve anything: the end would check nothing. Let the daemon poll first.
        if not feeds.served():
            if not daemon.alive():
                start()
            deadline = time.monotonic() + options.quiesce_timeout_s
            while not feeds.served() and daemon.alive() and time.monotonic() < deadline:
                time.sleep(0.2)
        # The end: no more growth; the daemon catches up, stops cleanly, and starts once more.
        with feeds.lock:
            feeds.frozen = True
            final = dict(enumerate(feeds.versions))
        if daemon.alive():
            checks["clean_exit"].record(None if daemon.stop() == 0 else "exit code", "last stop")
        store_check("after the last kill")
        start()
        if daemon.wait_for("daemon_started") is not None:
            index_check("first start after the last kill")
        deadline = time.monotonic() + options.quiesce_timeout_s
        while time.monotonic() < deadline:
            snap = store_check("while catching up")
            if snap is not None and snap.etags == final and missing(snap, feeds, final) == 0:
                break
            time.sleep(0.5)
        code = daemon.stop()
        stopped = daemon.wait_for("daemon_stopped", 0) is not None
        checks["clean_exit"].record(None if code == 0 and stopped else f"exit {code}", "SIGTERM")
        snap = store_check("at the end")
        if snap is None:
            raise RuntimeError("the store has no schema at the end")
        lost = missing(snap, feeds, final)
        problem = f"{lost} of {len(feeds.served())} served entries not stored"
        checks["no_story_lost"].record(problem if lost else None, "at the end")
        start("--once")
        assert daemon.process is not None
        code = daemon.process.wait(timeout=START_TIMEOUT_S)
        checks["clean_exit"].record(None if code == 0 else f"exit code {code}", "run --once")
        index_check("last start (run --once)", after_crash=False)
        engine.dispose()
    n.update(served_entries=len(feeds.served()), stored_stories=len(snap.stored),
             events=snap.events, events_with_copies=snap.multi, fingerprints=sorted(versions),
             seconds=round(time.monotonic() - began, 1))  # fmt: skip
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--kills", type=int, help="default: 100 on SQLite, 30 on PostgreSQL")
    parser.add_argument("--terminations", type=int, help="pg_terminate_backend calls (default 20)")
    parser.add_argument("--feeds", type=int, default=Options.feeds)
    parser.add_argument("--seed", type=int, default=Options.seed)
    parser.add_argument("--postgres-url", default=Options.postgres_url)
    parser.add_argument("--index-url", default="", help="a Redis URL for a shared index")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    postgres = args.backend == "postgres"
    options = Options(
        backend=args.backend,
        kills=args.kills if args.kills is not None else (30 if postgres else 100),
        terminations=(20 if args.terminations is None else args.terminations) if postgres else 0,
        feeds=args.feeds, seed=args.seed, postgres_url=args.postgres_url,
        index_url=args.index_url,
    )  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="ingestor-crash-"))
    report = run(options, work)
    print(json.dumps(report.to_json(), indent=2) if args.json else "\n".join(report.lines()))
    if args.keep or not report.ok:
        print(f"work directory (daemon.log, crash.db): {work}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
