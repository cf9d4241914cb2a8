"""The poll scheduler: intervals, server hints, backoff, parking, jitter and its invariants."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingestor.errors import FetchTimeout, HTTPStatusError, IngestorError
from ingestor.models import FeedSource, FeedState, FetchResult
from ingestor.schedule import SchedulePolicy, backoff_s, plan

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
STILL = SchedulePolicy(jitter=0.0)
URL = "https://news.example.org/feed.xml"


def ok(**kw: Any) -> FetchResult:
    return FetchResult(url=URL, status="ok", fetched_at=NOW, http_status=200, body=b"<rss/>", **kw)


def not_modified(**kw: Any) -> FetchResult:
    return FetchResult(url=URL, status="not_modified", fetched_at=NOW, http_status=304, **kw)


def failed(error: IngestorError, **kw: Any) -> FetchResult:
    code = error.status_code if isinstance(error, HTTPStatusError) else None
    return FetchResult(url=URL, status="error", fetched_at=NOW, http_status=code, error=error, **kw)


def http_error(code: int, **kw: Any) -> FetchResult:
    return failed(HTTPStatusError(f"HTTP {code}", code), **kw)


def delay(state_next: datetime) -> float:
    return (state_next - NOW).total_seconds()


def run(
    result: FetchResult,
    feed: FeedSource | None = None,
    *,
    policy: SchedulePolicy = STILL,
    ttl_s: int | None = None,
    seed: int = 0,
    **kw: Any,
) -> tuple[float, FeedState]:
    state = plan(
        feed or FeedSource(url=URL),
        result,
        ttl_s=ttl_s,
        now=NOW,
        policy=policy,
        rng=random.Random(seed),
        **kw,
    )
    return delay(state.next_poll_at), state


# -- success ---------------------------------------------------------------------------------


def test_success_waits_the_interval_and_resets_errors() -> None:
    """A 200 schedules the configured interval and clears the error count and message."""
    feed = FeedSource(url=URL, consecutive_errors=4, last_error="timeout: x")
    wait, state = run(ok(etag='"v2"', last_modified="Tue, 30 Apr 2024 10:00:00 GMT"), feed)
    assert wait == 1800
    assert state.status == "active"
    assert state.consecutive_errors == 0
    assert state.last_error is None
    assert state.last_status == "ok"
    assert state.last_polled_at == NOW
    assert (state.etag, state.last_modified) == ('"v2"', "Tue, 30 Apr 2024 10:00:00 GMT")


def test_ttl_and_max_age_only_lengthen_the_wait() -> None:
    """RSS ttl and max-age longer than the interval are honoured; shorter ones are not."""
    assert run(ok(), ttl_s=7200)[0] == 7200
    assert run(ok(max_age_s=10_800))[0] == 10_800
    assert run(ok(max_age_s=60), ttl_s=120)[0] == 1800


def test_hints_are_clamped_to_the_maximum_interval() -> None:
    """A server asking for a week between polls gets max_interval_s."""
    assert run(ok(max_age_s=7 * 86400))[0] == 86400


def test_interval_is_clamped_to_the_minimum() -> None:
    """An interval below min_interval_s is raised to it."""
    assert run(ok(), policy=SchedulePolicy(interval_s=10, min_interval_s=300, jitter=0))[0] == 300


def test_ok_without_validators_drops_the_stored_ones() -> None:
    """A 200 without ETag/Last-Modified clears the old validators: they describe a stale body."""
    _, state = run(ok(), FeedSource(url=URL, etag='"old"', last_modified="x"))
    assert (state.etag, state.last_modified) == (None, None)


def test_not_modified_keeps_validators_unless_new_ones_come() -> None:
    """A 304 keeps the stored ETag/Last-Modified, replacing only those the server re-sent."""
    feed = FeedSource(url=URL, etag='"old"', last_modified="Mon, 29 Apr 2024 00:00:00 GMT")
    _, kept = run(not_modified(), feed)
    assert (kept.etag, kept.last_modified) == (feed.etag, feed.last_modified)
    _, fresh = run(not_modified(etag='"new"'), feed)
    assert (fresh.etag, fresh.last_modified) == ('"new"', feed.last_modified)
    assert fresh.last_status == "not_modified"


def test_permanent_redirect_moves_the_feed() -> None:
    """After 301/308 all the way, the state carries the new URL; otherwise it keeps the old one."""
    new = "https://feeds.example.org/news.xml"
    assert run(ok(permanent_url=new))[1].url == new
    assert run(ok(permanent_url=URL))[1].url is None
    assert run(ok())[1].url is None
    assert run(http_error(404, permanent_url=new))[1].url is None


# -- failure ---------------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap() -> None:
    """The n-th failure in a row waits base * 2**(n-1), capped at backoff_max_s."""
    policy = SchedulePolicy(backoff_base_s=300, backoff_max_s=3600, jitter=0)
    waits = [backoff_s(n, policy) for n in range(1, 7)]
    assert waits == [300, 600, 1200, 2400, 3600, 3600]
    feed = FeedSource(url=URL, consecutive_errors=2)
    wait, state = run(failed(FetchTimeout("deadline passed")), feed, policy=policy)
    assert wait == 1200
    assert state.consecutive_errors == 3
    assert state.last_status == "error"
    assert state.last_error == "timeout: deadline passed"


def test_failure_keeps_validators_and_url() -> None:
    """A failed poll stored no stories, so the stored ETag/Last-Modified stay as they were."""
    feed = FeedSource(url=URL, etag='"a"', last_modified="Mon, 29 Apr 2024 00:00:00 GMT")
    _, state = run(http_error(500), feed)
    assert (state.etag, state.last_modified) == (feed.etag, feed.last_modified)
    assert state.url is None


def test_parked_after_too_many_failures() -> None:
    """The park_after_errors-th failure in a row parks the feed; one fewer leaves it active."""
    policy = SchedulePolicy(park_after_errors=3, jitter=0)
    assert (
        run(http_error(500), FeedSource(url=URL, consecutive_errors=1), policy=policy)[1].status
        == "active"
    )
    assert (
        run(http_error(500), FeedSource(url=URL, consecutive_errors=2), policy=policy)[1].status
        == "parked"
    )


def test_gone_on_410() -> None:
    """A 410 marks the feed gone at once."""
    _, state = run(http_error(410))
    assert state.status == "gone"
    assert state.consecutive_errors == 1


def test_retry_after_beats_a_shorter_backoff() -> None:
    """A 429 with Retry-After two hours out is not polled before then, whatever the backoff."""
    wait, _ = run(http_error(429, retry_after=NOW + timedelta(hours=2)))
    assert wait == 7200


def test_parse_failure_counts_as_a_failure() -> None:
    """An unparsable 200 backs off like an error, keeps the old validators and says why (the
    message as given, which names its kind)."""
    feed = FeedSource(url=URL, etag='"old"')
    wait, state = run(ok(etag='"new"'), feed, parse_error="parse: not XML")
    assert wait == 300
    assert state.consecutive_errors == 1
    assert state.etag == '"old"'
    assert state.last_status == "parse_error"
    assert state.last_error == "parse: not XML"
    assert run(ok(), parse_failed=True)[1].last_status == "parse_error"


def test_removed_feed_stays_removed() -> None:
    """A poll that finishes after the operator removed the feed does not bring it back."""
    assert run(ok(), FeedSource(url=URL, status="removed"))[1].status == "removed"


def test_policy_rejects_inconsistent_bounds() -> None:
    """A minimum above the maximum, or jitter of 100% or more, is refused when built."""
    with pytest.raises(ValueError, match="min_interval_s"):
        SchedulePolicy(min_interval_s=600, max_interval_s=300)
    with pytest.raises(ValueError, match="jitter"):
        SchedulePolicy(jitter=1.0)


# -- invariants ------------------------------------------------------------------------------

policies = st.builds(
    SchedulePolicy,
    interval_s=st.integers(1, 200_000),
    min_interval_s=st.integers(1, 3600),
    max_interval_s=st.integers(3600, 200_000),
    jitter=st.floats(0.0, 0.5),
    backoff_base_s=st.integers(1, 10_000),
    backoff_max_s=st.integers(60, 400_000),
    park_after_errors=st.integers(1, 20),
)
hints = st.one_of(st.none(), st.integers(0, 10**7))
retry = st.one_of(st.none(), st.integers(0, 10**7).map(lambda s: NOW + timedelta(seconds=s)))


@st.composite
def results(draw: st.DrawFn) -> FetchResult:
    kind = draw(st.sampled_from(["ok", "not_modified", "http", "timeout"]))
    extra = {"max_age_s": draw(hints), "retry_after": draw(retry)}
    if kind == "ok":
        return ok(**extra)
    if kind == "not_modified":
        return not_modified(**extra)
    if kind == "http":
        return http_error(draw(st.sampled_from([404, 410, 429, 500, 503])), **extra)
    return failed(FetchTimeout("deadline passed"), **extra)


@given(policies, results(), hints, st.integers(0, 100), st.integers(0, 2**32), st.booleans())
def test_next_poll_is_always_within_the_clamps(
    policy: SchedulePolicy,
    result: FetchResult,
    ttl: int | None,
    errors: int,
    seed: int,
    parse_failed: bool,
) -> None:
    """Whatever the outcome and hints, the next poll lies in [min, max] after now (the maximum
    is max(max_interval_s, backoff_max_s) after a failure)."""
    feed = FeedSource(url=URL, consecutive_errors=errors)
    state = plan(
        feed,
        result,
        ttl_s=ttl,
        now=NOW,
        policy=policy,
        rng=random.Random(seed),
        parse_failed=parse_failed,
    )
    wait = delay(state.next_poll_at)
    upper = policy.error_max_s if state.consecutive_errors else policy.max_interval_s
    assert policy.min_interval_s - 1e-3 <= wait <= upper + 1e-3
    assert state.last_polled_at == NOW


@given(policies, st.integers(0, 2**32))
def test_backoff_is_monotone_in_the_error_count(policy: SchedulePolicy, seed: int) -> None:
    """With the same random draw, one more failure in a row never means an earlier poll."""
    waits = []
    for errors in range(0, 40):
        feed = FeedSource(url=URL, consecutive_errors=errors)
        state = plan(
            feed, http_error(500), ttl_s=None, now=NOW, policy=policy, rng=random.Random(seed)
        )
        waits.append(delay(state.next_poll_at))
    assert waits == sorted(waits)
    assert [backoff_s(n, policy) for n in range(1, 60)] == sorted(
        backoff_s(n, policy) for n in range(1, 60)
    )


@given(policies, results(), st.integers(0, 10**6), st.integers(0, 2**32))
def test_retry_after_is_honoured_within_the_clamp(
    policy: SchedulePolicy, result: FetchResult, seconds: int, seed: int
) -> None:
    """A Retry-After no further out than the maximum is never polled before."""
    upper = policy.error_max_s if result.status == "error" else policy.max_interval_s
    seconds = min(seconds, upper)
    result = replace(result, retry_after=NOW + timedelta(seconds=seconds))
    state = plan(
        FeedSource(url=URL), result, ttl_s=None, now=NOW, policy=policy, rng=random.Random(seed)
    )
    assert delay(state.next_poll_at) >= seconds - 1e-3


@given(policies, st.integers(0, 2**32))
def test_jitter_stays_within_its_fraction(policy: SchedulePolicy, seed: int) -> None:
    """Without hints, a success waits the interval moved by at most jitter * interval."""
    state = plan(
        FeedSource(url=URL), ok(), ttl_s=None, now=NOW, policy=policy, rng=random.Random(seed)
    )
    base = policy.interval_s
    low = min(max(base * (1 - policy.jitter), policy.min_interval_s), policy.max_interval_s)
    high = min(max(base * (1 + policy.jitter), policy.min_interval_s), policy.max_interval_s)
    assert low - 1e-3 <= delay(state.next_poll_at) <= high + 1e-3


@given(policies, results(), hints, st.integers(0, 30), st.integers(0, 2**32))
def test_plan_is_deterministic_for_a_seed(
    policy: SchedulePolicy, result: FetchResult, ttl: int | None, errors: int, seed: int
) -> None:
    """The same inputs and the same seed give the same state."""
    feed = FeedSource(url=URL, consecutive_errors=errors, etag='"e"')
    first = plan(feed, result, ttl_s=ttl, now=NOW, policy=policy, rng=random.Random(seed))
    second = plan(feed, result, ttl_s=ttl, now=NOW, policy=policy, rng=random.Random(seed))
    assert first == second


def test_jitter_spreads_feeds() -> None:
    """Different random draws give different times, so feeds added together drift apart."""
    policy = SchedulePolicy(jitter=0.1)
    waits = {run(ok(), policy=policy, seed=seed)[0] for seed in range(20)}
    assert len(waits) > 10
    assert all(1620 <= w <= 1980 for w in waits)
