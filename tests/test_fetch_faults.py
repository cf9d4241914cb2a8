"""The fault battery: every way a server can misbehave ends as the expected value, by the
deadline, within the memory cap, and without a single connection to an internal address.

Each case measures its wall time and asserts ``elapsed <= deadline + 1 s``: a correctness bound on
the deadline mechanism (a drip or a silent server must not hold a worker past it), not a speed
target. Memory is the tracemalloc peak while the fetch runs, against a 2 MiB body cap.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network

import pytest

from ingestor.errors import (
    BlockedAddress,
    BodyTooLarge,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    TooManyRedirects,
)
from ingestor.fetch import Fetcher, FetchPolicy
from ingestor.models import FeedSource, FetchResult
from tests.faultserver import (
    FaultServer,
    Listener,
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
DEADLINE_S = 1.5
CAP = 2 * 1024 * 1024
RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>ok</title></channel></rss>'


@dataclass
class Rig:
    server: FaultServer
    internal: Listener
    fetcher: Fetcher

    def fetch(self, path: str, **source: str) -> tuple[FetchResult, float, int]:
        """Fetch ``path`` and return the result, the wall time and the peak memory growth."""
        url = path if "://" in path else self.server.url(path)

        def run() -> tuple[FetchResult, float]:
            start = time.monotonic()
            result = self.fetcher.fetch(FeedSource(url=url, **source), now=NOW)  # type: ignore[arg-type]
            return result, time.monotonic() - start

        (result, elapsed), peak = peak_memory(run)
        return result, elapsed, peak


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    with FaultServer() as server, Listener("127.0.0.2") as internal:
        port = internal.port
        routes = {
            "/feed": feed(RSS, etag='"v1"'),
            "/silent": silent(),
            "/drip": drip(0.25),
            "/drip-head": drip(0.25, in_headers=True),
            "/huge": big_body(100 * 10**6),
            "/huge-stream": big_body(100 * 10**6, content_length=False),
            "/bomb": gzip_bomb(1024**3),
            "/loop-a": redirect("/loop-b"),
            "/loop-b": redirect("/loop-a"),
            "/to-internal-ip": redirect(f"http://127.0.0.2:{port}/admin"),
            "/to-internal-name": redirect(f"http://internal.test:{port}/admin"),
            "/to-metadata-ip": redirect("http://169.254.169.254/latest/meta-data/"),
            "/to-metadata-name": redirect(f"http://metadata.test:{port}/latest/meta-data/"),
            "/429-seconds": status(429, {"Retry-After": "120"}),
            "/429-date": status(429, {"Retry-After": "Wed, 01 May 2024 13:00:00 GMT"}),
            "/500": status(500, body=b"<html>internal error page</html>"),
            "/503": status(503, {"Retry-After": "30"}),
            "/moved": redirect("/feed", 301),
            "/410": status(410),
        }
        for path, route in routes.items():
            server.route(path, route)
        resolver = StubResolver(
            {
                "internal.test": ["127.0.0.2"],
                "metadata.test": ["169.254.169.254"],
                **{f"{name}.test": ["127.0.0.1"] for name in ("a", "b", "c", "d", "e", "good")},
            }
        )
        policy = FetchPolicy(
            timeout_s=DEADLINE_S,
            connect_timeout_s=1.0,
            max_body_bytes=CAP,
            allow_networks=(ip_network("127.0.0.1/32"),),
        )
        fetcher = Fetcher(policy, resolver=resolver)
        try:
            yield Rig(server, internal, fetcher)
        finally:
            fetcher.close()
        assert internal.accepted == 0


Check = Callable[[FetchResult], None]


def error_is(kind: type[FetchError]) -> Check:
    def check(result: FetchResult) -> None:
        assert result.status == "error"
        assert isinstance(result.error, kind), result.error
        assert "\n" not in str(result.error)

    return check


def http_error(code: int, retry_after: datetime | None = None) -> Check:
    def check(result: FetchResult) -> None:
        assert isinstance(result.error, HTTPStatusError)
        assert result.error.status_code == code
        assert result.http_status == code
        assert result.retry_after == retry_after
        assert "error page" not in str(result.error)

    return check


def not_modified(result: FetchResult) -> None:
    assert result.status == "not_modified"
    assert result.body == b""


def moved(result: FetchResult) -> None:
    assert result.status == "ok"
    assert result.body == RSS
    assert result.permanent_url is not None
    assert result.permanent_url.endswith("/feed")


CASES: dict[str, tuple[str, dict[str, str], Check]] = {
    "silent server": ("/silent", {}, error_is(FetchTimeout)),
    "body drips a byte every 250 ms": ("/drip", {}, error_is(FetchTimeout)),
    "headers drip a byte every 250 ms": ("/drip-head", {}, error_is(FetchTimeout)),
    "100 MB announced": ("/huge", {}, error_is(BodyTooLarge)),
    "100 MB streamed": ("/huge-stream", {}, error_is(BodyTooLarge)),
    "gzip bomb 1 MB to 1 GiB": ("/bomb", {}, error_is(BodyTooLarge)),
    "redirect loop": ("/loop-a", {}, error_is(TooManyRedirects)),
    "redirect to 127.0.0.2": ("/to-internal-ip", {}, error_is(BlockedAddress)),
    "redirect to a name for 127.0.0.2": ("/to-internal-name", {}, error_is(BlockedAddress)),
    "redirect to 169.254.169.254": ("/to-metadata-ip", {}, error_is(BlockedAddress)),
    "redirect to a name for 169.254.169.254": ("/to-metadata-name", {}, error_is(BlockedAddress)),
    "429 Retry-After seconds": ("/429-seconds", {}, http_error(429, NOW + timedelta(seconds=120))),
    "429 Retry-After date": ("/429-date", {}, http_error(429, NOW + timedelta(hours=1))),
    "500": ("/500", {}, http_error(500)),
    "503 Retry-After": ("/503", {}, http_error(503, NOW + timedelta(seconds=30))),
    "304": ("/feed", {"etag": '"v1"'}, not_modified),
    "301": ("/moved", {}, moved),
    "410": ("/410", {}, http_error(410)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_fault(rig: Rig, case: str) -> None:
    """Each fault ends as its expected value within the deadline plus one second, grows memory
    by less than twice the body cap, and never connects to the internal listener."""
    path, source, check = CASES[case]
    result, elapsed, peak = rig.fetch(path, **source)
    check(result)
    assert elapsed <= DEADLINE_S + 1
    assert peak < 2 * CAP, f"peak {peak} bytes"
    assert result.fetched_at == NOW
    assert rig.internal.accepted == 0


def test_faults_do_not_hold_up_a_healthy_feed(rig: Rig) -> None:
    """Faulty fetches running alongside in a thread pool do not delay a healthy one: it is
    served before the faulty ones' deadline, and every fetch is over within deadline + 1 s."""
    faulty = {
        "a.test": "/silent",
        "b.test": "/drip",
        "c.test": "/bomb",
        "d.test": "/huge-stream",
        "e.test": "/drip-head",
    }
    start = time.monotonic()
    with ThreadPoolExecutor(len(faulty) + 1) as pool:
        futures = {
            host: pool.submit(
                rig.fetcher.fetch, FeedSource(url=rig.server.url(path, host=host)), now=NOW
            )
            for host, path in faulty.items()
        }
        time.sleep(0.1)  # the faulty fetches are under way
        healthy = rig.fetcher.fetch(
            FeedSource(url=rig.server.url("/feed", host="good.test")), now=NOW
        )
        healthy_done = time.monotonic() - start
        results = {host: future.result(timeout=DEADLINE_S + 5) for host, future in futures.items()}
    total = time.monotonic() - start
    assert healthy.status == "ok"
    assert healthy.body == RSS
    assert healthy_done < DEADLINE_S
    assert isinstance(results["a.test"].error, FetchTimeout)
    assert isinstance(results["b.test"].error, FetchTimeout)
    assert isinstance(results["c.test"].error, BodyTooLarge)
    assert isinstance(results["d.test"].error, BodyTooLarge)
    assert isinstance(results["e.test"].error, FetchTimeout)
    assert total <= DEADLINE_S + 1
    assert rig.internal.accepted == 0
