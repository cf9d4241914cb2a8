"""The records of curation, search, export and retention that the store hands back.

Owns: ``Curation`` (one entry of the curation log other daemons replay), ``Revision`` and
``StoryDetail`` (``stories show``), ``SearchHit`` (``search``), ``ExportedEvent`` (one row of
``events export``) and ``PruneReport`` (``prune``). Every time is aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from ingestor.models._stories import Story, Variant
from ingestor.models._time import check_utc

__all__ = [
    "Curation",
    "CurationAction",
    "ExportedEvent",
    "PruneReport",
    "Revision",
    "SearchHit",
    "StoryDetail",
]

CurationAction = Literal["merge", "split", "move", "delete", "prune"]


@dataclass(frozen=True, slots=True)
class Curation:
    """One curation step, as logged: which events it changed (``event_id``, and
    ``other_event_id`` for a merge, split or move) or, for a prune, the ``cutoff``."""

    id: int
    action: CurationAction
    event_id: int | None
    other_event_id: int | None
    stories: int
    cutoff: datetime | None
    created_at: datetime

    def __post_init__(self) -> None:
        check_utc(self.created_at, "created_at")

    @property
    def events(self) -> tuple[int, ...]:
        return tuple(e for e in (self.event_id, self.other_event_id) if e is not None)


@dataclass(frozen=True, slots=True)
class Revision:
    """An earlier text of an edited story, replaced at ``replaced_at``."""

    title: str
    text: str
    content_hash: str
    replaced_at: datetime


@dataclass(frozen=True, slots=True)
class StoryDetail:
    """One stored story: its clean text, its earlier texts (oldest first), its event and how
    it joined it."""

    story_id: int
    story: Story
    event_id: int | None
    """``None`` when its event was deleted (the story is kept as a known duplicate)."""
    variant: Variant | None = None
    """Its membership (reason, similarity, signals, when it joined); ``None`` with no event."""
    revisions: tuple[Revision, ...] = ()
    updated_at: datetime | None = None
    deleted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SearchHit:
    story_id: int
    event_id: int | None
    title: str
    source: str
    when: datetime
    rank: float
    """Higher is better; comparable within one result list only."""


@dataclass(frozen=True, slots=True)
class ExportedEvent:
    """One event with its variants, as ``events export`` writes it."""

    id: int
    size: int
    first_seen: datetime
    last_seen: datetime
    canonical: Variant
    variants: tuple[Variant, ...]

    @property
    def sources(self) -> list[str]:
        return sorted({v.story.source for v in self.variants})


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What a prune removed (or, a dry run, would remove)."""

    cutoff: datetime
    stories: int
    events_removed: int
    events_changed: int
    dry_run: bool = False
    story_ids: tuple[int, ...] = ()
    """The stories removed (for the clustering index)."""
    changed_events: tuple[int, ...] = ()
    """The events that lost members and kept some (their canonical story is chosen again)."""
    removed_events: tuple[int, ...] = ()
    """The events that lost every member, and so were removed."""
