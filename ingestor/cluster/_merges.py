"""Merging events: two events one story shows to be one, folded together in the window.

Owns: ``Merged`` (what a merge changed, so it can be taken back), ``plan`` (which way two events
merge), ``fold`` (every merge an assignment's ``merge_with`` asks for), ``merge`` (one fold,
planned here or replayed from another process's log) and ``unmerge`` (its undo).

Does not: decide that two events are one (``_decision.same_story`` does, from the candidates'
signals) or touch the store: the pipeline logs each ``Merged`` there in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ingestor.cluster._state import Event, Window

__all__ = ["Merged", "fold", "merge", "plan", "unmerge"]


@dataclass(frozen=True, slots=True)
class Merged:
    """What ``merge`` changed, so ``unmerge`` can take it back."""

    into: int
    gone: Event
    """The folded event as it was (its object, no longer mutated)."""
    previous_span: tuple[datetime, datetime]
    members_before: int
    previous_dated: tuple[datetime, datetime] | None = None
    apart: tuple[frozenset[int], frozenset[int]] | None = None
    """The separations of ``into`` and ``gone`` before the merge, when either had any."""


def plan(window: Window, event_id: int, other: int) -> tuple[int, int] | None:
    """Which way events ``event_id`` and ``other`` merge: ``(into, gone)``, the larger
    absorbing the smaller, the older on a tie; ``None`` when either has left the window or they
    are one already."""
    a, b = window.events.get(event_id), window.events.get(other)
    if a is None or b is None or a is b or b.id in window.apart.get(a.id, ()):
        return None  # a pair the operator split apart is never merged automatically
    into, gone = sorted((a, b), key=lambda e: (-len(e.members), e.id))
    return into.id, gone.id


def fold(window: Window, event_id: int, others: Iterable[int]) -> tuple[int, list[Merged]]:
    """Merge every event of ``others`` that ``plan`` finds to be one with ``event_id`` (which
    a story just joined). Returns the event the story is in now and the merges made, in order
    (each is an undo record, and the store must log each)."""
    done = []
    for other in others:
        planned = plan(window, event_id, other)
        if planned is None:
            continue
        change = merge(window, *planned)
        if change is not None:
            done.append(change)
            event_id = planned[0]
    return event_id, done


def merge(window: Window, into: int, gone: int) -> Merged | None:
    """Fold event ``gone`` into ``into`` (a merge this process planned, or one another process
    committed). ``None`` when there is nothing to fold: ``gone`` is not in the window. When
    ``into`` is not (evicted here), ``gone`` simply takes its id."""
    events = window.events
    folded = events.pop(gone, None)
    if folded is None:
        return None
    kept = events.get(into)
    if kept is None:
        kept = events[into] = Event(into, folded.first, folded.last)
        # renamed, not merged: an undo must leave no empty ``into`` behind
    span, dated = (kept.first, kept.last), kept.dated
    before = len(kept.members)
    kept.fold_in(folded.centroid)
    kept.fold_span(folded)
    kept.members.extend(folded.members)
    for member in folded.members:
        window.story_event[member.story_id] = into
    return Merged(into, folded, span, before, dated, carry_apart(window.apart, into, gone))


def carry_apart(
    apart: dict[int, set[int]], into: int, gone: int
) -> tuple[frozenset[int], frozenset[int]] | None:
    """``into`` is kept apart from whatever ``gone`` was (the store does the same); returns
    both events' separations as they were, for ``unmerge``."""
    kept, folded = apart.get(into, set()), apart.pop(gone, set())
    if not kept and not folded:
        return None
    before = (frozenset(kept), frozenset(folded))
    for other in folded:
        partners = apart.setdefault(other, set())
        partners.discard(gone)
        if other != into:
            partners.add(into)
            kept.add(other)
        if not partners:
            del apart[other]
    kept.discard(gone)
    if kept:
        apart[into] = kept
    else:
        apart.pop(into, None)
    return before


def restore_apart(
    apart: dict[int, set[int]], into: int, gone: int, before: tuple[frozenset[int], frozenset[int]]
) -> None:
    """Take back ``carry_apart``."""
    kept, folded = before
    for other in apart.pop(into, set()) - kept:
        apart.get(other, set()).discard(into)
    for other, events in ((into, kept), (gone, folded)):
        if events:
            apart[other] = set(events)
            for partner in events:
                apart.setdefault(partner, set()).add(other)
    for key in [k for k, v in apart.items() if not v]:
        del apart[key]


def unmerge(window: Window, change: Merged) -> None:
    """Take back one ``merge``."""
    events = window.events
    kept = events[change.into]
    folded = change.gone
    if change.members_before == 0:  # ``merge`` renamed ``gone`` to ``into``
        del events[change.into]
    else:
        kept.subtract(folded.centroid)
        kept.first, kept.last = change.previous_span
        kept.dated = change.previous_dated
        del kept.members[change.members_before :]
        kept.tally = None
    events[folded.id] = folded
    for member in folded.members:
        window.story_event[member.story_id] = folded.id
    if change.apart is not None:
        restore_apart(window.apart, change.into, folded.id, change.apart)
