"""How the CLI shows what an operator reads beyond the event list: one story and its
revisions, a word diff of two stories, search results, export rows, and the durations
``prune`` takes.

Owns: the text and ``--json`` forms of ``StoryDetail``, ``SearchHit`` and ``ExportedEvent``,
the CSV row of an event (every cell that a spreadsheet would read as a formula, one starting
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, is prefixed with ``'``: feed titles
are hostile), and ``parse_duration``. Pure: values in, strings or dicts out (``render`` does the
same for events and feeds; the two are apart only to keep each module small).

Does not: read the store or write files; ``cli`` does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from ingestor.errors import ConfigError, one_line
from ingestor.explain import MAX_DIFF_WORDS, word_diff
from ingestor.models import ExportedEvent, SearchHit, Story, StoryDetail, Variant

__all__ = [
    "CSV_FIELDS",
    "csv_row",
    "diff_json",
    "diff_text",
    "export_json",
    "parse_duration",
    "search_json",
    "search_table",
    "story_json",
    "story_text",
]

_DURATION = re.compile(r"^(\d{1,6})\s*([hdw])$")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
CSV_FIELDS = (
    "id", "size", "first_seen", "last_seen", "canonical_story_id", "title", "url", "source",
    "sources",
)  # fmt: skip


def parse_duration(value: str) -> timedelta:
    """``90d``, ``12h``, ``2w``: a positive duration; ``ConfigError`` naming the forms."""
    match = _DURATION.match(value.strip().lower())
    if match is None or int(match.group(1)) == 0:
        raise ConfigError(f"{value!r} is not a duration: use a number and h, d or w (90d, 12h)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


# -- one story ---------------------------------------------------------------------------------
def _story_fields(story: Story) -> dict[str, Any]:
    return {
        "title": story.title, "source": story.source, "url": story.url, "guid": story.guid,
        "feed_url": story.feed_url, "external_id": story.external_id,
        "published": _iso(story.published), "fetched": _iso(story.fetched),
        "content_hash": story.content_hash,
    }  # fmt: skip


def story_json(detail: StoryDetail) -> dict[str, Any]:
    return (
        {"id": detail.story_id, "event_id": detail.event_id}
        | _story_fields(detail.story)
        | {
            "updated_at": _iso(detail.updated_at),
            "deleted_at": _iso(detail.deleted_at),
            "text": detail.story.text,
            "revisions": [
                {
                    "title": r.title,
                    "text": r.text,
                    "content_hash": r.content_hash,
                    "replaced_at": _iso(r.replaced_at),
                }
                for r in detail.revisions
            ],
        }
    )


def story_text(detail: StoryDetail) -> str:
    story = detail.story
    event = str(detail.event_id) if detail.event_id is not None else "none (its event was deleted)"
    lines = [
        f"Story {detail.story_id}: {one_line(story.title)}",
        f"  event:     {event}",
        f"  source:    {one_line(story.source)}",
        f"  feed:      {one_line(story.feed_url or '-')}",
        f"  url:       {one_line(story.url or '-')}",
        f"  published: {_time(story.published)}",
        f"  fetched:   {_time(story.fetched)}",
        f"  updated:   {_time(detail.updated_at)}",
        f"  revisions: {len(detail.revisions)}",
        "",
        story.text,
    ]
    for number, revision in enumerate(detail.revisions, 1):
        lines += [
            "",
            f"-- revision {number} (replaced {_time(revision.replaced_at)}): "
            f"{one_line(revision.title)}",
            revision.text,
        ]
    return "\n".join(lines)


# -- two stories compared --------------------------------------------------------------------
def diff_json(a: StoryDetail, b: StoryDetail, *, max_words: int = MAX_DIFF_WORDS) -> dict[str, Any]:
    runs, truncated = word_diff(a.story.text, b.story.text, max_words=max_words)
    return {
        "a": {"id": a.story_id, "title": a.story.title, "source": a.story.source},
        "b": {"id": b.story_id, "title": b.story.title, "source": b.story.source},
        "truncated": truncated,
        "max_words": max_words,
        "runs": [{"op": op, "words": words} for op, words in runs],
    }


def diff_text(a: StoryDetail, b: StoryDetail, *, max_words: int = MAX_DIFF_WORDS) -> str:
    """The words only in A as ``[-...-]``, only in B as ``{+...+}``, the rest as they are."""
    runs, truncated = word_diff(a.story.text, b.story.text, max_words=max_words)
    marks = {"=": "{}", "-": "[-{}-]", "+": "{{+{}+}}"}
    lines = [
        f"--- story {a.story_id}: {one_line(a.story.title)} ({one_line(a.story.source)})",
        f"+++ story {b.story_id}: {one_line(b.story.title)} ({one_line(b.story.source)})",
        " ".join(marks[op].format(words) for op, words in runs),
    ]
    if truncated:
        lines.append(f"(truncated: only the first {max_words} words of each text compared)")
    return "\n".join(lines)


# -- search ------------------------------------------------------------------------------------
def search_json(hits: Sequence[SearchHit]) -> list[dict[str, Any]]:
    return [
        {
            "story_id": h.story_id,
            "event_id": h.event_id,
            "title": h.title,
            "source": h.source,
            "when": h.when.isoformat(),
            "rank": round(h.rank, 6),
        }
        for h in hits
    ]


def search_table(hits: Sequence[SearchHit]) -> str:
    if not hits:
        return "no stories found"
    rows = [
        [
            str(h.story_id),
            str(h.event_id or "-"),
            _time(h.when),
            _cut(h.source, 24),
            _cut(h.title, 80),
        ]
        for h in hits
    ]
    headers = ["STORY", "EVENT", "TIME (UTC)", "SOURCE", "TITLE"]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers) - 1)]
    return "\n".join(
        "  ".join([c.ljust(widths[i]) for i, c in enumerate(r[:-1])] + [r[-1]]).rstrip()
        for r in [headers, *rows]
    )


def _cut(value: str, width: int) -> str:
    value = one_line(" ".join(value.split()))
    return value if len(value) <= width else value[: width - 1] + "…"


# -- export ------------------------------------------------------------------------------------
def _variant(variant: Variant) -> dict[str, Any]:
    return {"story_id": variant.story_id, "reason": variant.reason,
            "similarity": variant.similarity} | _story_fields(variant.story)  # fmt: skip


def export_json(event: ExportedEvent, *, variants: bool = True) -> dict[str, Any]:
    """One JSON Lines object: the event, its canonical story and (``variants``) every one."""
    story = event.canonical.story
    out: dict[str, Any] = {
        "id": event.id, "size": event.size, "first_seen": _iso(event.first_seen),
        "last_seen": _iso(event.last_seen), "canonical_story_id": event.canonical.story_id,
        "title": story.title, "url": story.url, "source": story.source,
        "sources": event.sources,
    }  # fmt: skip
    if variants:
        out["variants"] = [_variant(v) for v in event.variants]
    return out


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def csv_row(event: ExportedEvent) -> list[str]:
    """One CSV row (``CSV_FIELDS``), every cell safe from formula injection."""
    flat = export_json(event, variants=False)
    flat["sources"] = "; ".join(event.sources)
    return [_cell(flat[name]) for name in CSV_FIELDS]
