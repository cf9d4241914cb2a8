"""The state assignment decides over: the window's events, their centroids and members.

Owns: ``Event`` (one event's time span, the span of its dated members, centroid and members)
and ``Window`` (every event of the window, which event each story is in, the shingle MinHash of
each indexed story for exact Jaccard, the term postings, the newest time seen), with the
arithmetic on centroids: a story's vector joins or leaves one, two centroids are compared or
folded together.

Does not: decide anything (``_decision``), search the LSH index (``_candidates``) or weigh terms
(``_statistics``). A centroid is the sum of its members' unit vectors, with its squared norm
kept alongside so that a cosine costs one pass over the story's terms.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ingestor.cluster._canonical import CanonicalRule, Member, Tally

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["Event", "Window"]


@dataclass(slots=True)
class Event:
    id: int
    first: datetime
    last: datetime
    centroid: dict[str, float] = field(default_factory=dict)
    norm2: float = 0.0
    members: list[Member] = field(default_factory=list)
    dated: tuple[datetime, datetime] | None = None
    """The span of the members whose time is their own (published, or fetched by a poll):
    what the score's time gap is measured against; ``None`` when no member has one."""
    tally: tuple[list[Member], int, Tally] | None = field(default=None, repr=False, compare=False)
    """The canonical choice's tally, the member list it counted and how many of it (see
    ``canonical``)."""

    def canonical(self, rule: CanonicalRule, priority: tuple[str, ...] = ()) -> int:
        """The canonical story under ``rule``, at a cost independent of the event's size.

        ``members`` only grows in place (``append``, ``extend``); whatever takes members out
        shrinks it or replaces the list, and then the tally is counted again from the start."""
        members, kept = self.members, self.tally
        if (
            kept is None or kept[0] is not members or kept[1] > len(members)
            or kept[2].rule != rule or kept[2].priority != tuple(p.lower() for p in priority)
        ):  # fmt: skip
            kept = (members, 0, Tally(rule, priority))
        tally = kept[2]
        for member in members[kept[1] :]:
            tally.add(member)
        self.tally = (members, len(members), tally)
        return tally.choose()

    def widen(self, when: datetime, *, dated: bool) -> None:
        """Take a member at ``when`` into the spans."""
        self.first = min(self.first, when)
        self.last = max(self.last, when)
        if dated:
            span = self.dated
            self.dated = (when, when) if span is None else (min(span[0], when), max(span[1], when))

    def fold_span(self, other: Event) -> None:
        """Take another event's spans into this one's (a merge)."""
        self.first, self.last = min(self.first, other.first), max(self.last, other.last)
        a, b = self.dated, other.dated
        if b is not None:
            self.dated = b if a is None else (min(a[0], b[0]), max(a[1], b[1]))

    def cosine(self, vector: Mapping[str, float]) -> float:
        """The cosine between a unit vector and this event's centroid."""
        if self.norm2 <= 0.0:
            return 0.0
        centroid = self.centroid
        dot = sum([vector[t] * centroid[t] for t in vector.keys() & centroid.keys()])
        return dot / math.sqrt(self.norm2)

    def centroid_cosine(self, other: Event) -> float | None:
        """The cosine between this event's centroid and ``other``'s (``None`` when either is
        empty)."""
        if self.norm2 <= 0.0 or other.norm2 <= 0.0:
            return None
        small, large = sorted((self.centroid, other.centroid), key=len)
        dot = sum([x * large.get(t, 0.0) for t, x in small.items()])
        return dot / math.sqrt(self.norm2 * other.norm2)

    def add_vector(self, vector: Mapping[str, float]) -> None:
        centroid = self.centroid
        get = centroid.get
        dot = 0.0
        for term, x in vector.items():
            before = get(term, 0.0)
            dot += x * before
            centroid[term] = before + x
        self.norm2 += 2.0 * dot + (1.0 if vector else 0.0)  # |C+v|^2 = |C|^2 + 2C.v + |v|^2

    def fold_in(self, centroid: Mapping[str, float]) -> None:
        """Add another event's centroid to this one (a merge)."""
        mine = self.centroid
        for term, x in centroid.items():
            mine[term] = mine.get(term, 0.0) + x
        self.norm2 = sum(x * x for x in mine.values())

    def subtract(self, centroid: Mapping[str, float]) -> None:
        """Take a vector (or another event's centroid) back out of this centroid."""
        mine = self.centroid
        for term, x in centroid.items():
            mine[term] = mine.get(term, 0.0) - x
        self.norm2 = sum(x * x for x in mine.values())


class Window:
    """The events of the window and the stories in them; see the module docstring."""

    def __init__(self, window: timedelta) -> None:
        self.window = window
        self.events: dict[int, Event] = {}
        self.story_event: dict[int, int] = {}
        self.shingles: dict[int, npt.NDArray[np.uint32]] = {}
        """Shingle MinHash values of the indexed stories, for exact Jaccard with a copy."""
        self.indexed: set[int] = set()
        """Stories this process expects in the LSH index (not the redundant copies)."""
        self.newest: datetime | None = None
        self.postings: dict[str, set[int]] = {}
        """Term -> the indexed stories posted under it (``ClusterPolicy.posted_terms``)."""
        self.posted: dict[int, tuple[str, ...]] = {}
        """Story -> the terms it is posted under, to take it out again."""
        self.apart: dict[int, set[int]] = {}
        """Event -> the events the operator split apart from it: never merged automatically."""

    def post(self, story_id: int, terms: Iterable[str]) -> None:
        posted = self.posted[story_id] = tuple(terms)
        for term in posted:
            self.postings.setdefault(term, set()).add(story_id)

    def unpost(self, story_id: int) -> None:
        for term in self.posted.pop(story_id, ()):
            stories = self.postings.get(term)
            if stories is not None:
                stories.discard(story_id)
                if not stories:
                    del self.postings[term]

    def in_window(self, event: Event, when: datetime) -> bool:
        window = self.window
        return event.first - window <= when <= event.last + window

    def event_of(self, story_id: int) -> Event | None:
        event_id = self.story_event.get(story_id)
        return None if event_id is None else self.events[event_id]

    def stale(self, now: datetime) -> Iterator[Event]:
        """Events quiet for longer than the window before ``now``."""
        horizon = now - self.window
        yield from [e for e in self.events.values() if e.last < horizon]
