"""A shared LSH index checked against the store, and repaired.

Owns: ``IndexCheck`` (what the check found) and ``reconcile``: the stories the window loaded
from the store that the shared (Redis) index lacks are inserted (a crash between a commit and
the index write), and the index's ids the store does not hold in the window are removed
(rolled back, or evicted by nobody).

Does not: load the window (``Clusterer.load``) or decide anything. The store is the source of
truth; the index only ever holds a superset of it, which this brings back to the window.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ingestor.cluster._index import LSHIndex
from ingestor.cluster._state import Window
from ingestor.models import IndexedStory

__all__ = ["IndexCheck", "reconcile"]


@dataclass(frozen=True, slots=True)
class IndexCheck:
    """What ``reconcile`` found in a shared index."""

    expected: int
    present: int
    missing: int
    removed: int


def reconcile(
    window: Window, index: LSHIndex, stories: Iterable[IndexedStory], *, newest_id: int
) -> IndexCheck:
    """Compare a shared LSH index with the stories loaded from the store, and repair it.
    Stories newer than ``newest_id`` (the newest the store showed) are left alone: another
    daemon may have just written them."""
    items = {item.story_id: item for item in stories if item.story_id in window.indexed}
    present = index.story_ids()
    missing = sorted(set(items) - present)
    extra = sorted(k for k in present - set(window.story_event) if k <= newest_id)
    for story_id in missing:
        signature = items[story_id].signature
        index.insert(story_id, terms=signature.terms, shingles=signature.shingles)
    index.commit()
    index.remove(extra)
    return IndexCheck(
        expected=len(window.indexed), present=len(present), missing=len(missing),
        removed=len(extra),
    )  # fmt: skip
