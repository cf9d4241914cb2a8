"""Candidates: the events a story might join, found through the LSH index and scored.

Owns: ``copies`` (the events holding a story whose shingles the LSH index says the story may
copy, each with its exact Jaccard) and ``by_terms`` (the events the key-term index finds,
most hits first, up to ``max_candidates`` beyond the copies), and ``score``, which measures
every signal of ``_decision.Candidate`` against each: the cosine with its centroid, the copy
Jaccard, and for the events the story meets at ``merge_threshold`` their centroids' cosine with
the best-ranked one.

Does not: decide (``_decision``) or change anything. Only events whose span, widened by the
window on both sides, holds the story's time are candidates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime

from ingestor.cluster._decision import Candidate
from ingestor.cluster._index import LSHIndex
from ingestor.cluster._state import Window
from ingestor.models import Signature
from ingestor.policies import ClusterPolicy

__all__ = ["by_terms", "copies", "score"]


def copies(
    window: Window, index: LSHIndex, signature: Signature, when: datetime
) -> dict[int, float]:
    """Event -> the best shingle Jaccard of the story with one of its members, for the events
    in the window holding a story the copy index finds, in the order they were found."""
    import numpy as np

    found: dict[int, float] = {}
    if not (signature.shingles and window.shingles):
        return found
    mine = np.frombuffer(signature.shingles, "<u4")
    for story_id in index.query_copies(signature.shingles):
        event_id = window.story_event.get(story_id)
        twin = window.shingles.get(story_id)
        if event_id is None or twin is None:
            continue  # evicted here, or committed elsewhere and not caught up yet
        if not window.in_window(window.events[event_id], when):
            continue
        jaccard = float(np.count_nonzero(mine == twin)) / len(mine)
        if jaccard > found.get(event_id, 0.0):
            found[event_id] = jaccard
    return found


def by_terms(
    policy: ClusterPolicy,
    window: Window,
    index: LSHIndex,
    signature: Signature,
    when: datetime,
    found: Mapping[int, float],
) -> list[int]:
    """The events beyond ``found`` (the copies' events) that the key-term index finds in the
    window, most hits first, as many as ``max_candidates``."""
    hits: Counter[int] = Counter()
    if signature.terms and window.story_event:
        for story_id in index.query_terms(signature.terms):
            event_id = window.story_event.get(story_id)
            if event_id is not None:
                hits[event_id] += 1
    chosen: list[int] = []
    seen = set(found)
    for event_id, _ in hits.most_common():
        if len(seen) >= policy.max_candidates + len(found):
            break
        if event_id not in seen and window.in_window(window.events[event_id], when):
            seen.add(event_id)
            chosen.append(event_id)
    return chosen


def score(
    policy: ClusterPolicy,
    window: Window,
    vector: Mapping[str, float],
    found: Mapping[int, float],
    others: Sequence[int] = (),
) -> list[Candidate]:
    """Every signal of each candidate: the copies' events (``found``, with their Jaccard) and
    ``others``, in that order, which is the order the decision breaks copy ties by."""
    events = window.events
    order = [*found, *others]
    cosines = {event_id: events[event_id].cosine(vector) for event_id in order}
    pairs: dict[int, float | None] = {}
    if policy.merge_threshold > 0.0 and len(order) > 1:
        top = max(order, key=lambda e: (cosines[e], e))
        for event_id in order:
            if event_id != top and cosines[event_id] >= policy.merge_threshold:
                pairs[event_id] = events[top].centroid_cosine(events[event_id])
    return [
        Candidate(
            event_id,
            events[event_id].first,
            events[event_id].last,
            cosines[event_id],
            found.get(event_id, 0.0),
            pairs.get(event_id),
        )
        for event_id in order
    ]
