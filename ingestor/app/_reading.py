"""The facade's reading operations over events and stories: listings, one event or story,
search, the export stream, counts and the score description.

Owns: the bodies of those ``Ingestor`` methods (each a function over the facade, bound in
``ingestor.app``). They open the store read-only (``Ingestor._readable``): nothing is written,
no file or directory is created.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ingestor.errors import NotFound
from ingestor.models import (
    Event,
    EventDetail,
    ExportedEvent,
    SearchHit,
    StoryDetail,
)

if TYPE_CHECKING:
    from ingestor.app import Ingestor


def list_events(
    self: Ingestor,
    *,
    since: datetime | None = None,
    min_size: int = 1,
    limit: int = 50,
    offset: int = 0,
    q: str | None = None,
    source: str | None = None,
    before: tuple[datetime, int] | None = None,
) -> list[Event]:
    """Events, newest first (by last seen, then id): ``since`` is ingestion time (events a
    story joined at or after it), ``q`` in the canonical title, a variant from ``source``;
    ``offset`` rows skipped, or only those after the ``(last_seen, id)`` of ``before``."""
    return self._readable().list_events(
        since=since, min_size=min_size, limit=limit, offset=offset, q=q, source=source,
        before=before,
    )  # fmt: skip


def count_events(self: Ingestor, *, since: datetime | None = None, min_size: int = 1) -> int:
    """How many events ``list_events`` pages through."""
    return self._readable().count_events(since=since, min_size=min_size)


def get_event(self: Ingestor, event_id: int) -> EventDetail:
    """An event with every variant; an event merged into another is that one (its id then
    differs from ``event_id``); ``NotFound`` when there is none."""
    store = self._readable()
    try:
        return store.get_event(event_id)
    except NotFound:
        into = store.merged_into(event_id)
        if into is None:
            raise
        return store.get_event(into)


def get_story(self: Ingestor, story_id: int) -> StoryDetail:
    """A story with every revision and its event; ``NotFound`` when there is none."""
    return self._readable().get_story(story_id)


def merged_into(self: Ingestor, event_id: int) -> int | None:
    """Where a merged event's stories are now (``None``: it was never merged)."""
    return self._readable().merged_into(event_id)


def last_poll(self: Ingestor) -> datetime | None:
    """When any feed was last polled (by any process sharing the store), or ``None``."""
    polled = [f.last_polled_at for f in self._readable().list_feeds(include_removed=True)]
    return max((t for t in polled if t is not None), default=None)


def score_description(self: Ingestor) -> dict[str, Any]:
    """The verification score and the thresholds applied to it (for ``--explain``); opens
    nothing."""
    from ingestor.pipeline import score_description

    return score_description(self.settings)


def counts(self: Ingestor) -> dict[str, int]:
    """Rows per table: feeds, stories, events, memberships."""
    return self._readable().counts()


def merge_count(self: Ingestor) -> int:
    """Event merges recorded (the merge log's ids count up from 1 and are never removed)."""
    return self._readable().max_merge_id()


def search(self: Ingestor, query: str, *, limit: int = 20) -> list[SearchHit]:
    """Stories matching every word of ``query``, best first."""
    return self._readable().search(query, limit=limit)


def export_events(
    self: Ingestor, *, since: datetime | None = None, min_size: int = 1
) -> Iterable[ExportedEvent]:
    """Every event with its variants, streamed a page at a time."""
    return self._readable().iter_export(since=since, min_size=min_size)
