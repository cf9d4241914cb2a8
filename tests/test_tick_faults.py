"""One ``Pipeline.tick()`` over a store holding a healthy feed and one feed per server fault.

Every faulty feed must end as its expected ``FeedRunResult`` and stored poll state (error kind,
backoff, ``gone`` after a 410, ``Retry-After`` in ``next_poll_at``, a moved feed's new URL, a 304
that writes only the schedule) while the healthy feeds' stories are stored, the internal listener
on 127.0.0.2 is never connected to, and memory stays bounded by the body cap.

Each feed has a host name of its own (a stub resolver maps it to 127.0.0.1), so the per-host
limit never queues one fault behind another. ``elapsed_ms <= deadline + 1 s`` is a correctness
bound on the deadline mechanism (a drip or a silent server must not hold a worker past it), not
a speed target. Memory is the tracemalloc peak while the tick runs, after a warm-up tick has
imported and cached what a first poll imports.

Two more ticks pin how memory behaves beyond one fetch: several oversized bodies read at the same
time stay within twice the cap together (bodies spool to disk past a small buffer), and a failed
fetch's result does not keep its body alive (errors travel without tracebacks).
"""

from __future__ import annotations

import gc
import random
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ingestor.config import Settings
from ingestor.errors import (
    BlockedAddress,
    BodyTooLarge,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    ParseError,
    TooManyRedirects,
)
from ingestor.fetch import Fetcher
from ingestor.models import FeedRunResult, FeedSource, FeedState
from ingestor.pipeline import Pipeline
from ingestor.store import Store, open_store
from ingestor.store.schema import stories
from tests.faultserver import (
    BLOCK,
    FaultServer,
    Handler,
    Listener,
    Route,
    StubResolver,
    big_body,
    drip,
    feed,
    gzip_bomb,
    peak_memory,
    redirect,
    silent,
    status,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DEADLINE_S = 2.0
CAP = 2 * 1024 * 1024
INTERVAL_S = 1800
BACKOFF_S = 300
JITTER = 0.1
ETAG = '"v1"'


def _rss(title: str, slug: str, items: int = 3) -> bytes:
    """A small, real-shaped RSS document with ``items`` distinct stories."""
    topics = [
        (
            "City council approves riverside flood barrier",
            "The council voted 31 to 4 on Tuesday to fund a 2.4 km barrier along the east bank, "
            "after two winters of flooding closed the ring road for eleven days.",
        ),
        (
            "Regional rail operator orders forty new trains",
            "The operator said the battery-electric units would replace diesel stock on the "
            "northern lines from 2027, cutting journey times by up to nine minutes.",
        ),
        (
            "University opens public archive of wartime letters",
            "More than 12,000 letters written between 1939 and 1946 were scanned by volunteers "
            "and can now be searched by name, town and regiment.",
        ),
        (
            "Harbour authority extends night ferry timetable",
            "Ferries will run every forty minutes until 1 a.m. on weekends from June, the "
            "authority said, after a trial last summer carried 80,000 passengers.",
        ),
    ]
    entries = "".join(
        f"<item><title>{t} ({slug})</title>"
        f"<link>https://news.example.com/{slug}/{i}</link>"
        f"<guid>https://news.example.com/{slug}/{i}</guid>"
        f"<pubDate>Wed, 01 May 2024 0{i}:30:00 GMT</pubDate>"
        f"<description>&lt;p&gt;{body} Reported for {slug}.&lt;/p&gt;</description></item>"
        for i, (t, body) in enumerate(topics[:items])
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>https://news.example.com/{slug}/</link>"
        f"{entries}</channel></rss>"
    ).encode()


HEALTHY = _rss("Example Daily", "daily")
MOVED = _rss("Example Moved", "moved", items=2)


@dataclass
class Ticked:
    """What one tick left behind: results and stored feeds by case, and what it cost."""

    results: dict[str, FeedRunResult]
    before: dict[str, FeedSource]
    after: dict[str, FeedSource | None]
    stored: dict[str, int]
    """Stories stored per case (by the feed's row id)."""
    urls: dict[str, str]
    elapsed: float
    peak: int
    accepted: int
    again: list[FeedRunResult]
    """A second tick at the same instant: nothing may be due."""


def _routes(internal_port: int) -> dict[str, Route]:
    """Case name -> route; each case is served on a host of its own, ``<case>.test``."""
    return {
        "healthy": feed(HEALTHY, etag='"h1"'),
        "silent": silent(),
        "drip": drip(0.25),
        "huge": big_body(100 * 10**6, content_length=False),
        "huge-announced": big_body(100 * 10**6),
        "bomb": gzip_bomb(1024**3),
        "loop": redirect("/loop-b"),
        "loop-b": redirect("/loop"),
        "to-internal-ip": redirect(f"http://127.0.0.2:{internal_port}/admin"),
        "to-internal-name": redirect(f"http://internal.test:{internal_port}/admin"),
        "to-metadata-ip": redirect("http://169.254.169.254/latest/meta-data/"),
        "to-metadata-name": redirect(f"http://metadata.test:{internal_port}/latest/meta-data/"),
        "429-seconds": status(429, {"Retry-After": "7200"}),
        "429-date": status(429, {"Retry-After": format_datetime(NOW + timedelta(hours=3), True)}),
        "500": status(500, body=b"<html>internal error page</html>"),
        "503": status(503, {"Retry-After": "600"}),
        "304": feed(HEALTHY, etag=ETAG),
        "301": redirect("/moved-here", 301),
        "moved-here": feed(MOVED),
        "301-to-500": redirect("/500", 301),
        "410": status(410),
        "not-a-feed": status(200, {"Content-Type": "text/html"}, b"<html><p>Hello</p></html>"),
    }


CASES = [name for name in _routes(0) if name not in ("loop-b", "moved-here")]


def _settings(database_url: str) -> Settings:
    """Settings from values alone: no settings file, no environment."""
    return Settings.model_validate(
        {
            "database_url": database_url,
            "fetch": {
                "timeout_s": DEADLINE_S,
                "connect_timeout_s": 1.0,
                "max_body_bytes": CAP,
                "allow_networks": ("127.0.0.1/32",),
                "workers": 32,
            },
            "schedule": {
                "interval_s": INTERVAL_S,
                "backoff_base_s": BACKOFF_S,
                "jitter": JITTER,
            },
        }
    )


def _pipeline(settings: Settings, resolver: StubResolver) -> Pipeline:
    """A pipeline on a fresh store whose fetcher uses the stub resolver and the allow-list."""
    store = open_store(settings.effective_database_url)
    store.migrate()
    fetcher = Fetcher(
        settings.fetch,
        resolver=resolver,
    )
    pipeline = Pipeline(store, settings, fetcher=fetcher, rng=random.Random(20240501))
    pipeline.load_index(now=NOW)
    return pipeline


def _stored_per_feed(store: Store) -> dict[int, int]:
    engine = store._engine  # type: ignore[attr-defined]  # the SQL store's own engine
    query = select(stories.c.feed_id, func.count()).group_by(stories.c.feed_id)
    with engine.connect() as conn:
        return {row[0]: row[1] for row in conn.execute(query)}


@pytest.fixture(scope="module")
def ticked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ticked]:
    tmp: Path = tmp_path_factory.mktemp("tick")
    with FaultServer() as server, Listener("127.0.0.2") as internal:
        for name, route in _routes(internal.port).items():
            server.route(f"/{name}", route)
        resolver = StubResolver(
            {
                "internal.test": ["127.0.0.2"],
                "metadata.test": ["169.254.169.254"],
                "warmup.test": ["127.0.0.1"],
                **{f"{name}.test": ["127.0.0.1"] for name in CASES},
            }
        )
        # Warm-up: a first poll imports and caches (parsers, sanitizer, SQL statements).
        with _pipeline(_settings(f"sqlite:///{tmp / 'warmup.db'}"), resolver) as warm:
            warm.store.add_feed(server.url("/healthy", host="warmup.test"), now=NOW)
            assert [r.status for r in warm.tick(now=NOW)] == ["ok"]

        urls = {name: server.url(f"/{name}", host=f"{name}.test") for name in CASES}
        with _pipeline(_settings(f"sqlite:///{tmp / 'tick.db'}"), resolver) as pipeline:
            store = pipeline.store
            for url in urls.values():
                store.add_feed(url, now=NOW)
            not_modified = store.get_feed(urls["304"])
            assert not_modified is not None
            assert not_modified.id is not None
            with store.write() as tx:  # a feed polled before, with a validator to send back
                tx.update_feed(
                    not_modified.id,
                    FeedState(
                        status="active",
                        next_poll_at=NOW - timedelta(minutes=1),
                        last_polled_at=NOW - timedelta(minutes=31),
                        last_status="ok",
                        consecutive_errors=0,
                        etag=ETAG,
                    ),
                )
            before = {name: store.get_feed(url) for name, url in urls.items()}

            def run() -> list[FeedRunResult]:
                return pipeline.tick(now=NOW)

            started = time.monotonic()
            results, peak = peak_memory(run)
            elapsed = time.monotonic() - started
            again = pipeline.tick(now=NOW)
            by_url = {r.feed_url: r for r in results}
            moved_to = server.url("/moved-here", host="301.test")
            after = {
                name: store.get_feed(moved_to if name == "301" else url)
                for name, url in urls.items()
            }
            per_feed = _stored_per_feed(store)
            stored = {}
            for name, source in before.items():
                assert source is not None
                assert source.id is not None
                stored[name] = per_feed.get(source.id, 0)
            yield Ticked(
                results={name: by_url[url] for name, url in urls.items()},
                before={name: s for name, s in before.items() if s is not None},
                after=after,
                stored=stored,
                urls=urls,
                elapsed=elapsed,
                peak=peak,
                accepted=internal.accepted,
                again=again,
            )


# -- expectations --------------------------------------------------------------------------------

Check = Callable[[Ticked, str], None]


def _between(value: datetime | None, low_s: float, high_s: float) -> None:
    assert value is not None
    assert NOW + timedelta(seconds=low_s) <= value <= NOW + timedelta(seconds=high_s), value


def failed(kind: type[FetchError], *, next_poll_s: float | None = None) -> Check:
    """An error result of ``kind``; the feed stays active with one error and backs off (or waits
    exactly what ``Retry-After`` asked); nothing but the schedule is written."""

    def check(t: Ticked, name: str) -> None:
        result, feed_after = t.results[name], t.after[name]
        assert result.status == "error"
        assert isinstance(result.error, kind), result.error
        assert "\n" not in str(result.error)
        assert feed_after is not None
        assert feed_after.status == "active"
        assert feed_after.consecutive_errors == 1
        assert feed_after.last_status == "error"
        assert feed_after.last_error is not None
        assert feed_after.last_error.startswith(f"{result.error.kind}: ")
        assert feed_after.last_polled_at == NOW
        assert feed_after.etag is None
        assert feed_after.last_modified is None
        assert feed_after.next_poll_at == result.next_poll_at
        if next_poll_s is None:
            _between(feed_after.next_poll_at, BACKOFF_S * (1 - JITTER), BACKOFF_S * (1 + JITTER))
        else:
            assert feed_after.next_poll_at == NOW + timedelta(seconds=next_poll_s)
        assert t.stored[name] == 0

    return check


def http_failed(code: int, *, next_poll_s: float | None = None) -> Check:
    base = failed(HTTPStatusError, next_poll_s=next_poll_s)

    def check(t: Ticked, name: str) -> None:
        base(t, name)
        error = t.results[name].error
        assert isinstance(error, HTTPStatusError)
        assert error.status_code == code
        assert "error page" not in str(error)

    return check


def healthy(t: Ticked, name: str) -> None:
    result, feed_after = t.results[name], t.after[name]
    assert result.status == "ok", result.error
    assert (result.counts.new, result.counts.duplicates) == (3, 0)
    assert t.stored[name] == 3
    assert feed_after is not None
    assert (feed_after.status, feed_after.last_status) == ("active", "ok")
    assert feed_after.etag == '"h1"'
    assert feed_after.title == "Example Daily"
    _between(feed_after.next_poll_at, INTERVAL_S * (1 - JITTER), INTERVAL_S * (1 + JITTER))


def not_modified(t: Ticked, name: str) -> None:
    result, before, feed_after = t.results[name], t.before[name], t.after[name]
    assert result.status == "not_modified"
    assert (result.counts.new, result.counts.duplicates, result.error) == (0, 0, None)
    assert t.stored[name] == 0
    assert feed_after is not None
    assert feed_after.etag == ETAG == before.etag
    assert (feed_after.title, feed_after.url) == (before.title, before.url)
    assert (feed_after.last_status, feed_after.consecutive_errors) == ("not_modified", 0)
    assert feed_after.last_polled_at == NOW
    _between(feed_after.next_poll_at, INTERVAL_S * (1 - JITTER), INTERVAL_S * (1 + JITTER))


def moved_permanently(t: Ticked, name: str) -> None:
    result, feed_after = t.results[name], t.after[name]
    assert result.status == "ok", result.error
    assert result.counts.new == 2
    assert feed_after is not None, "the feed was not found under its new URL"
    assert feed_after.id == t.before[name].id
    assert feed_after.url.endswith("/moved-here")
    assert feed_after.last_status == "ok"
    assert t.stored[name] == 2


def moved_then_failed(t: Ticked, name: str) -> None:
    """A permanent redirect to a failing address: an error, and the stored URL is kept."""
    http_failed(500)(t, name)
    feed_after = t.after[name]
    assert feed_after is not None
    assert feed_after.url == t.urls[name]


def unparsable(t: Ticked, name: str) -> None:
    result, feed_after = t.results[name], t.after[name]
    assert result.status == "error"
    assert isinstance(result.error, ParseError), result.error
    assert feed_after is not None
    assert (feed_after.status, feed_after.last_status) == ("active", "parse_error")
    assert feed_after.consecutive_errors == 1
    assert feed_after.last_error is not None
    assert feed_after.last_error.startswith("parse: ")
    assert not feed_after.last_error.startswith("parse: parse")  # the kind is named once
    _between(feed_after.next_poll_at, BACKOFF_S * (1 - JITTER), BACKOFF_S * (1 + JITTER))
    assert t.stored[name] == 0


def gone(t: Ticked, name: str) -> None:
    result, feed_after = t.results[name], t.after[name]
    assert result.status == "error"
    assert isinstance(result.error, HTTPStatusError)
    assert result.error.status_code == 410
    assert feed_after is not None
    assert feed_after.status == "gone"
    assert feed_after.last_status == "error"
    assert t.stored[name] == 0


EXPECTED: dict[str, Check] = {
    "healthy": healthy,
    "silent": failed(FetchTimeout),
    "drip": failed(FetchTimeout),
    "huge": failed(BodyTooLarge),
    "huge-announced": failed(BodyTooLarge),
    "bomb": failed(BodyTooLarge),
    "loop": failed(TooManyRedirects),
    "to-internal-ip": failed(BlockedAddress),
    "to-internal-name": failed(BlockedAddress),
    "to-metadata-ip": failed(BlockedAddress),
    "to-metadata-name": failed(BlockedAddress),
    "429-seconds": http_failed(429, next_poll_s=7200),
    "429-date": http_failed(429, next_poll_s=3 * 3600),
    "500": http_failed(500),
    "503": http_failed(503, next_poll_s=600),
    "304": not_modified,
    "301": moved_permanently,
    "301-to-500": moved_then_failed,
    "410": gone,
    "not-a-feed": unparsable,
}


def test_every_case_has_an_expectation() -> None:
    """The battery and its expectations name the same cases."""
    assert sorted(EXPECTED) == sorted(CASES)


@pytest.mark.parametrize("case", CASES)
def test_feed_ends_in_its_expected_state(ticked: Ticked, case: str) -> None:
    """Each feed of the tick ends with its expected result and stored state, within the fetch
    deadline plus one second."""
    EXPECTED[case](ticked, case)
    assert ticked.results[case].elapsed_ms <= (DEADLINE_S + 1) * 1000


def test_tick_polls_every_feed_once_within_the_deadline(ticked: Ticked) -> None:
    """The whole tick, fifteen-odd faults included, is over within the deadline plus one second,
    and a second tick at the same instant finds nothing due."""
    assert ticked.elapsed <= DEADLINE_S + 1
    assert ticked.again == []


def test_tick_memory_grows_by_less_than_twice_the_body_cap(ticked: Ticked) -> None:
    """The whole battery, a streamed 100 MB body and a 1 GiB gzip bomb among it, grows memory by
    less than twice the body cap."""
    assert ticked.peak < 2 * CAP, f"peak {ticked.peak / 2**20:.1f} MiB"


def _paced_body(total: int, interval_s: float) -> Route:
    """``total`` zero bytes without a Content-Length, 64 KiB every ``interval_s`` seconds, so
    that several of them are in flight at the same time."""

    def route(h: Handler) -> None:
        h.head(200, {"Content-Type": "application/rss+xml"})
        sent = 0
        while sent < total and h.send(bytes(BLOCK)):
            sent += BLOCK
            time.sleep(interval_s)

    return route


def test_oversized_bodies_in_flight_together_stay_within_twice_the_body_cap(
    tmp_path: Path,
) -> None:
    """Four oversized bodies read at the same time in one tick grow memory by less than twice the
    body cap, all four together."""
    hosts = [f"big{i}.test" for i in range(4)]
    with FaultServer() as server:
        server.route("/big", _paced_body(3 * CAP, 0.01))
        resolver = StubResolver({host: ["127.0.0.1"] for host in hosts})
        with _pipeline(_settings(f"sqlite:///{tmp_path / 'big.db'}"), resolver) as pipeline:
            for host in hosts:
                pipeline.store.add_feed(server.url("/big", host=host), now=NOW)
            results, peak = peak_memory(lambda: pipeline.tick(now=NOW))
    assert [type(r.error) for r in results] == [BodyTooLarge] * len(hosts)
    assert peak < 2 * CAP, f"peak {peak / 2**20:.1f} MiB"


def test_results_of_oversized_feeds_do_not_keep_their_bodies(tmp_path: Path) -> None:
    """Holding a tick's results (as ``tick()`` itself does until its last feed is polled, and the
    daemon until it has logged them) keeps less than one body cap of memory, however many feeds
    were oversized."""
    hosts = [f"over{i}.test" for i in range(3)]
    with FaultServer() as server:
        server.route("/huge", big_body(100 * 10**6, content_length=False))
        resolver = StubResolver({host: ["127.0.0.1"] for host in hosts})
        with _pipeline(_settings(f"sqlite:///{tmp_path / 'over.db'}"), resolver) as pipeline:
            for host in hosts:
                pipeline.store.add_feed(server.url("/huge", host=host), now=NOW)
            tracemalloc.start()
            try:
                before, _ = tracemalloc.get_traced_memory()
                results = pipeline.tick(now=NOW)
                gc.collect()
                retained = tracemalloc.get_traced_memory()[0] - before
            finally:
                tracemalloc.stop()
    assert [type(r.error) for r in results] == [BodyTooLarge] * len(hosts)
    assert retained < CAP, f"{retained / 2**20:.1f} MiB retained by {len(results)} results"


def test_no_connection_reaches_the_internal_listener(ticked: Ticked) -> None:
    """Redirects to 127.0.0.2 and to 169.254.169.254, by address or by name, connect nowhere."""
    assert ticked.accepted == 0
