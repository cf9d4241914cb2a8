"""How the CLI shows things: fixed-width tables for people, plain dicts for ``--json``.

Owns: formatting of events, variants and feeds, and the parsing of the CLI's small value types
(``--since 24h``, a feed given as a local path). Pure: values in, strings or dicts out.

Does not: read the store or settings; ``cli`` hands it what to show.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ingestor.errors import ConfigError, one_line
from ingestor.explain import shared_passages
from ingestor.models import Counts, Event, EventDetail, FeedSource, Story, Variant, feed_identity

__all__ = [
    "counts_text",
    "detail_json",
    "detail_text",
    "event_json",
    "events_table",
    "feed_json",
    "feed_target",
    "feeds_table",
    "parse_since",
    "score_text",
    "story_json",
    "variant_score",
]

_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str, *, now: datetime | None = None) -> datetime:
    """``24h``, ``7d``, ``30m``, ``2w`` before now, or an ISO-8601 date or time (UTC if no zone)."""
    now = now or datetime.now(UTC)
    try:
        match = _RELATIVE.match(value.strip().lower())
        if match:
            return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except (ValueError, OverflowError) as e:
        raise ConfigError(
            f"--since: {one_line(value)!r} is neither a time nor a span like 24h or 7d"
        ) from e


def feed_target(value: str) -> str:
    """A feed URL by its identity (http/https: ``models.feed_identity``), or a local path as an
    absolute ``file:`` URI."""
    parts = urlsplit(value)
    if parts.scheme in ("http", "https"):
        if not parts.netloc:
            raise ConfigError(f"{value!r} has no host")
        return feed_identity(value)
    if parts.scheme == "file":
        return value
    if parts.scheme and len(parts.scheme) > 1:
        raise ConfigError(f"{value!r}: only http, https and local files can be feeds")
    path = Path(value).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"{value!r} is neither an http(s) URL nor an existing file")
    return path.as_uri()


def same_feed(a: str, b: str) -> bool:
    """Whether two feed URLs name one feed (``models.feed_identity``)."""
    return feed_identity(a) == feed_identity(b)


def counts_text(counts: Counts) -> str:
    """A poll's or a replay's counts in words: "13 new stories, 2 duplicates, ..." (the
    article counts only when an article page was fetched)."""
    parts = [
        f"{counts.new} new stories",
        f"{counts.duplicates} duplicates",
        f"{counts.updated} updated",
        f"{counts.skipped} entries skipped",
        f"{counts.new_events} new events",
        f"{counts.merges} merges",
    ]
    if counts.articles or counts.articles_failed:
        parts.append(f"{counts.articles} article pages ({counts.articles_failed} in vain)")
    return ", ".join(parts)


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _cut(value: str, width: int) -> str:
    value = one_line(" ".join(value.split()))
    return value if len(value) <= width else value[: width - 1] + "…"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, last_wide: bool = True) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row[:-1] if last_wide else row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [list(headers), *rows]:
        cells = [c.ljust(widths[i]) for i, c in enumerate(row[:-1])] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


# -- events ------------------------------------------------------------------------------------
def event_json(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "size": event.size,
        "sources": event.sources,
        "first_seen": event.first_seen.isoformat(),
        "last_seen": event.last_seen.isoformat(),
        "canonical_story_id": event.canonical_story_id,
        "title": event.title,
    }


def events_table(events: Sequence[Event], *, total: int | None = None, offset: int = 0) -> str:
    """Events newest first by last seen (the column the order is by comes first), with a line
    saying which rows of ``total`` these are when there are more."""
    if not events:
        return "no events" + (f" past offset {offset} (of {total})" if offset and total else "")
    rows = [
        [
            str(e.id),
            str(e.size),
            str(e.sources),
            _time(e.last_seen),
            _time(e.first_seen),
            _cut(e.title, 80),
        ]
        for e in events
    ]
    headers = ["ID", "SIZE", "SOURCES", "LAST SEEN (UTC)", "FIRST SEEN", "CANONICAL TITLE"]
    table = _table(headers, rows)
    if total is not None and (offset or len(events) < total):
        first, last = offset + 1, offset + len(events)
        more = f"; --offset {last} for the next" if last < total else ""
        table += f"\nshowing {first}-{last} of {total} events (--limit, --offset{more})"
    return table


def story_json(story: Story) -> dict[str, Any]:
    return {
        "source": story.source,
        "title": story.title,
        "url": story.url,
        "guid": story.guid,
        "published": story.published.isoformat() if story.published else None,
        "fetched": story.fetched.isoformat(),
        "feed_url": story.feed_url,
        "external_id": story.external_id,
        "content_hash": story.content_hash,
        "text": story.text,
    }


def _variant_json(variant: Variant, canonical: Variant, *, explain: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "story_id": variant.story_id,
        "canonical": variant.story_id == canonical.story_id,
        "similarity": variant.similarity,
        "reason": variant.reason,
        "joined_at": variant.joined_at.isoformat(),
        "story": story_json(variant.story),
    }
    if explain:
        out["signals"] = dict(variant.signals)
        out["shared_passages"] = (
            []
            if variant.story_id == canonical.story_id
            else shared_passages(variant.story.text, canonical.story.text)
        )
    return out


def shown_variants(detail: EventDetail, limit: int | None) -> list[Variant]:
    """The variants an event's view shows: all of them, or the first ``limit`` in time order
    with the canonical story always among them (so what is explained stays bounded however
    large the event)."""
    variants = list(detail.variants)
    if limit is None or len(variants) <= limit:
        return variants
    canonical = detail.canonical
    shown = variants[:limit]
    if canonical not in shown:
        shown = [*variants[: max(0, limit - 1)], canonical]
    return shown


def detail_json(
    detail: EventDetail,
    *,
    explain: bool = False,
    score: Mapping[str, Any] | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    canonical = detail.canonical
    shown = shown_variants(detail, limit)
    out = event_json(detail.event) | {
        "variants": [_variant_json(v, canonical, explain=explain) for v in shown],
        "variants_shown": len(shown),
        "merged": [
            {"event_id": m.gone, "story_id": m.story_id, "merged_at": m.merged_at.isoformat()}
            for m in detail.merges
        ],
    }
    if explain and score is not None:
        out["score"] = dict(score)
    return out


_FEATURE_TEXT = {"cosine": "cosine", "log_gap_days": "ln(1+gap_days)"}


def score_text(score: Mapping[str, Any]) -> list[str]:
    """The verification score as a formula with its weights, and the thresholds applied."""
    weights: Mapping[str, float] = score["weights"]
    terms = " ".join(
        f"{'-' if w < 0 else '+'} {abs(w):.3f}·{_FEATURE_TEXT.get(name, name)}"
        for name, w in weights.items()
    )
    return [
        f"Verification score, fitted for {score.get('fingerprint') or 'any recipe'}:",
        f"  p = 1/(1+exp(-({score['bias']:.3f} {terms})))",
        f"  joins at p >= {score['join_probability']:g} with cosine >= {score['min_cosine']:g}; "
        f"merges two events at p >= {score['merge_probability']:g};",
        f"  gap_days is {score.get('unknown_gap_days', 1.5):g} when a time is unknown "
        "(half the window the score was fitted with)",
    ]


def variant_score(signals: Mapping[str, float], score: Mapping[str, Any]) -> str | None:
    """How one variant's score came about: each weight times its value."""
    if "cosine" not in signals or "gap_days" not in signals or not signals.get("candidates"):
        return None
    values = {
        "cosine": signals["cosine"],
        "log_gap_days": math.log1p(max(0.0, signals["gap_days"])),
    }
    weights: Mapping[str, float] = score["weights"]
    parts = [f"{score['bias']:.2f}"] + [
        f"{w * values.get(n, 0.0):+.2f} ({_FEATURE_TEXT.get(n, n)} {values.get(n, 0.0):.3f})"
        for n, w in weights.items()
    ]
    z = float(score["bias"]) + sum(w * values.get(n, 0.0) for n, w in weights.items())
    p = 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0
    return f"  score: p = {p:.3f} from {' '.join(parts)}"


def detail_text(
    detail: EventDetail,
    *,
    explain: bool = False,
    score: Mapping[str, Any] | None = None,
    limit: int | None = None,
) -> str:
    event, canonical = detail.event, detail.canonical
    shown = shown_variants(detail, limit)
    story = canonical.story
    lines = [
        f"Event {event.id}: {event.size} variant(s) from {event.sources} source(s), "
        f"first seen {_time(event.first_seen)}, last seen {_time(event.last_seen)} UTC",
        "",
        f"Canonical story ({_cut(story.source, 80)}, {_time(story.when)}):",
        f"  {_cut(story.title, 200)}",
    ]
    if story.url:
        lines.append(f"  {_cut(story.url, 300)}")
    lines += textwrap.wrap(
        _cut(story.text, 600), width=96, initial_indent="  ", subsequent_indent="  "
    )
    lines.append("")
    rows = [
        [
            str(v.story_id) + ("*" if v.story_id == canonical.story_id else ""),
            _cut(v.story.source, 28),
            _time(v.story.when),
            f"{v.similarity:.2f}",
            v.reason,
            _cut(v.story.title, 70),
        ]
        for v in shown
    ]
    lines.append(_table(["STORY", "SOURCE", "TIME (UTC)", "SIM", "JOINED AS", "TITLE"], rows))
    lines.append("(* canonical)")
    if len(shown) < len(detail.variants):
        lines.append(
            f"Showing {len(shown)} of {len(detail.variants)} variants "
            f"(--variants {len(detail.variants)} shows them all)."
        )
    for merge in detail.merges:
        lines.append(
            f"Event {merge.gone} merged into this one at {_time(merge.merged_at)} UTC: story "
            f"{merge.story_id} met both as one story."
        )
    if explain and score is not None:
        lines += ["", *score_text(score)]
    if explain:
        for v in shown:
            lines += ["", f"Story {v.story_id} ({_cut(v.story.source, 80)}): joined as {v.reason}"]
            if v.signals:
                signals = ", ".join(f"{k}={v.signals[k]:g}" for k in sorted(v.signals))
                lines.append(f"  signals: {signals}")
                explained = variant_score(v.signals, score) if score is not None else None
                if explained:
                    lines.append(explained)
            if v.story_id == canonical.story_id:
                lines.append("  this is the canonical story")
                continue
            passages = shared_passages(v.story.text, canonical.story.text)
            if not passages:
                lines.append("  shares no passage of 5+ words with the canonical story")
            for passage in passages:
                lines.append(f"  shares: “{_cut(passage, 160)}”")
    return "\n".join(lines)


# -- feeds -------------------------------------------------------------------------------------
def feed_json(feed: FeedSource) -> dict[str, Any]:
    return {
        "id": feed.id,
        "url": feed.url,
        "title": feed.title,
        "status": feed.status,
        "last_polled_at": feed.last_polled_at.isoformat() if feed.last_polled_at else None,
        "last_status": feed.last_status,
        "consecutive_errors": feed.consecutive_errors,
        "next_poll_at": feed.next_poll_at.isoformat() if feed.next_poll_at else None,
        "last_error": feed.last_error,
    }


def feed_text(feed: FeedSource) -> str:
    """One feed, every field on its own line, the last error whole (wrapped)."""
    lines = [
        f"feed:         {one_line(feed.url)}",
        f"title:        {one_line(feed.title or '-')}",
        f"status:       {feed.status}",
        f"last poll:    {_time(feed.last_polled_at)} UTC ({feed.last_status or '-'})",
        f"errors:       {feed.consecutive_errors} in a row",
        f"next poll:    {_time(feed.next_poll_at)} UTC",
    ]
    if feed.last_error:
        wrapped = textwrap.wrap(
            one_line(feed.last_error), width=96, initial_indent="  ", subsequent_indent="  "
        )
        lines += ["last error:", *wrapped]
    return "\n".join(lines)


def feeds_table(feeds: Sequence[FeedSource]) -> str:
    if not feeds:
        return "no feeds"
    rows = [
        [
            f.status,
            _time(f.last_polled_at),
            f.last_status or "-",
            str(f.consecutive_errors),
            _time(f.next_poll_at),
            _cut(f.url, 60) + (f"  ({_cut(f.last_error, 60)})" if f.last_error else ""),
        ]
        for f in feeds
    ]
    table = _table(
        ["STATUS", "LAST POLL", "RESULT", "ERRORS", "NEXT POLL", "URL (LAST ERROR)"], rows
    )
    if any(f.last_error and len(one_line(f.last_error)) > 60 for f in feeds):
        table += "\n(errors cut: `ingestor feeds show URL` or `feeds list --json` has them whole)"
    return table
