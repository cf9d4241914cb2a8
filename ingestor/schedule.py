"""When to poll a feed next: intervals, server hints, backoff, jitter, parking.

Owns: ``plan``, which turns one poll's outcome into the ``FeedState`` the pipeline writes back
(in the same transaction as the poll's stories), and ``backoff_s``.

Does not: read the clock, draw from the global random generator, do I/O or read settings. ``now``
and a ``random.Random`` come in as arguments, so a plan is reproducible; the pipeline passes the
``SchedulePolicy`` (``ingestor.policies``: the ``[schedule]`` settings) and the RSS ``ttl`` it
parsed.

The rules, in order:

* Success (200 or 304, and the document parsed): wait the longest of the configured interval,
  the feed's ``ttl`` and the server's freshness lifetime (``Cache-Control: max-age`` /
  ``Expires``). Hints only lengthen the wait: polling less often than a server allows is
  polite, more often is not. Errors reset to zero.
* Failure (fetch error or unparsable document): wait ``backoff_base_s * 2**(n-1)`` for the
  n-th failure in a row, at most ``backoff_max_s``. After ``park_after_errors`` failures in a
  row the feed is ``parked``; a 410 makes it ``gone`` at once. Validators (ETag/Last-Modified)
  stay as they were, since no stories were stored.
* Then jitter (a uniform factor in ``1 +- jitter``) spreads feeds that started together, a
  ``Retry-After`` pushes the time out to at least what the server asked, and the delay is
  clamped to ``[min_interval_s, max_interval_s]`` (``max(max_interval_s, backoff_max_s)`` after
  a failure), so no server, hint or bug can make us poll in a tight loop or park a feed silently
  for a year.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from ingestor.errors import HTTPStatusError
from ingestor.models import FeedSource, FeedState, FeedStatus, FetchResult
from ingestor.policies import SchedulePolicy

__all__ = ["SchedulePolicy", "backoff_s", "plan"]


def backoff_s(errors: int, policy: SchedulePolicy) -> int:
    """The wait after ``errors`` failures in a row (``errors >= 1``), before jitter and clamps."""
    exponent = min(max(errors, 1) - 1, 40)
    return int(min(policy.backoff_base_s * 2**exponent, policy.backoff_max_s))


def _is_gone(result: FetchResult) -> bool:
    error = result.error
    return result.http_status == 410 or (
        isinstance(error, HTTPStatusError) and error.status_code == 410
    )


def plan(
    feed: FeedSource,
    result: FetchResult,
    *,
    ttl_s: int | None,
    now: datetime,
    policy: SchedulePolicy,
    rng: random.Random,
    parse_failed: bool = False,
    parse_error: str | None = None,
) -> FeedState:
    """The feed's state after this poll. ``parse_failed`` (or a ``parse_error`` message) marks a
    fetched document that could not be parsed: a failure like any other."""
    parse_failed = parse_failed or parse_error is not None
    failed = result.status == "error" or parse_failed
    status: FeedStatus
    if failed:
        errors = feed.consecutive_errors + 1
        delay = float(backoff_s(errors, policy))
        upper = policy.error_max_s
        if _is_gone(result):
            status = "gone"
        else:
            status = "parked" if errors >= policy.park_after_errors else "active"
        etag, last_modified, url = feed.etag, feed.last_modified, None
        if result.status == "error":
            last_status = "error"
            err = result.error
            last_error = f"{err.kind}: {err.message}" if err is not None else "fetch failed"
        else:
            last_status = "parse_error"
            # ``parse_error`` names its kind already ("parse_timeout: ..."): no second prefix.
            last_error = parse_error or "parse: the document is not a feed we can read"
    else:
        errors = 0
        hints = [policy.interval_s, ttl_s or 0, result.max_age_s or 0]
        delay = float(max(hints))
        upper = policy.max_interval_s
        status = "active"
        if result.status == "ok":
            etag, last_modified = result.etag, result.last_modified
        else:  # 304: the stored validators still describe what we have, unless new ones came
            etag = result.etag or feed.etag
            last_modified = result.last_modified or feed.last_modified
        moved = result.permanent_url
        url = moved if moved and moved != feed.url else None
        last_status, last_error = result.status, None
    if feed.status == "removed":
        status = "removed"  # the operator's decision; a poll in flight does not undo it
    delay *= 1.0 + rng.uniform(-policy.jitter, policy.jitter)
    if result.retry_after is not None:
        delay = max(delay, (result.retry_after - now).total_seconds())
    delay = min(max(delay, float(policy.min_interval_s)), float(upper))
    return FeedState(
        status=status,
        next_poll_at=now + timedelta(seconds=delay),
        last_polled_at=now,
        last_status=last_status,
        consecutive_errors=errors,
        etag=etag,
        last_modified=last_modified,
        last_error=last_error[:500] if last_error else None,
        url=url,
    )
