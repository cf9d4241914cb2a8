"""The facade's curation and retention: merging, splitting and deleting events, moving
stories, pruning old stories and the daemon's daily retention.

Owns: the bodies of those ``Ingestor`` methods (each a function over the facade, bound in
``ingestor.app``). They open the store alone: the store logs each step, and every clustering
window replays the log before its next write (this process's at once, when its pipeline is open).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ingestor.models import (
    PruneReport,
)
from ingestor.pipeline import (
    Curator,
    utcnow,
)

if TYPE_CHECKING:
    from ingestor.app import Ingestor


def _curated(self: Ingestor) -> Curator:
    return Curator(self._writable(), self.settings)


def _replayed(self: Ingestor) -> None:
    """This process's window, when open, takes the curation in at once."""
    if self._pipeline is not None:
        with self._pipeline.window.lock:
            self._pipeline.window.replay_curation()


def merge_events(self: Ingestor, into: int, gone: int, *, now: datetime | None = None) -> int:
    """Fold event ``gone`` into ``into`` for good (replayed like an automatic merge)."""
    merge_id = _curated(self).merge(into, gone, now=now or utcnow())
    _replayed(self)
    return merge_id


def split_event(
    self: Ingestor, event_id: int, story_ids: Sequence[int], *, now: datetime | None = None
) -> int:
    """The stories leave ``event_id`` and form a new event that no automatic merge folds
    back into it; the new event's id."""
    new = _curated(self).split(event_id, story_ids, now=now or utcnow())
    _replayed(self)
    return new


def move_story(self: Ingestor, story_id: int, event_id: int, *, now: datetime | None = None) -> int:
    """Move a story into another event (the two kept apart); the event it left."""
    left = _curated(self).move(story_id, event_id, now=now or utcnow())
    _replayed(self)
    return left


def delete_event(self: Ingestor, event_id: int, *, now: datetime | None = None) -> int:
    """Delete an event; its stories stay known (a later poll finds them as duplicates)."""
    count = _curated(self).delete(event_id, now=now or utcnow())
    _replayed(self)
    return count


def prune(
    self: Ingestor, before: datetime, *, dry_run: bool = False, now: datetime | None = None
) -> PruneReport:
    """Remove the stories whose time is before ``before`` (``dry_run``: only count,
    writing nothing), keeping events and the index consistent."""
    if dry_run:
        return self._readable().prune_preview(before)
    report = _curated(self).prune(before, now=now or utcnow())
    _replayed(self)
    return report


def apply_retention(self: Ingestor, *, now: datetime | None = None) -> PruneReport | None:
    """The daemon's retention: with ``store.retention_days`` set, prune once a day (the
    first call, then a day after the last prune); ``None`` when nothing was due."""
    days = self.settings.store.retention_days
    now = now or utcnow()
    if not days or (self._retained_at is not None and now - self._retained_at < timedelta(days=1)):
        return None
    report = self.prune(now - timedelta(days=days), now=now)
    self._retained_at = now  # after it succeeded: a failed prune is tried at the next tick
    return report
