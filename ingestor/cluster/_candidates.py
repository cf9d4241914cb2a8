"""Candidates: the events a story might join, found through the indexes and scored.

Owns: ``copies`` (the events holding a story whose shingles the LSH index says the story may
copy, each with its exact Jaccard), ``by_terms`` (the events the key-term LSH index finds, and
the events holding a story posted under at least ``shared_terms`` of the story's most
distinctive terms, most hits first, up to ``max_candidates`` from each beyond the copies),
``posted_terms`` (the terms a story is posted under), and ``score``, which measures every signal
of ``_decision.Candidate`` against each: the cosine with its centroid, the time gap to its dated
span, the verification score of the two (``_score``), the copy Jaccard, and for the events the
story scores ``merge_probability`` against, the score of their centroids with the best-ranked
one.

Why two key-term indexes: the MinHash LSH at key-term Jaccard 0.1 misses the rewrites that
share few of their 48 key terms (a 90-word headline and lead, a local report of a shooting):
27 % of the AllSides pairs and 17 % of the GVA pairs that are one story were never candidates.
An exact posting of each story under its ten most distinctive terms, with two shared needed,
finds them at the cost of ten set look-ups (``docs/design.md`` §3.2).

Does not: decide (``_decision``) or change anything. Only events whose span, widened by the
window on both sides, holds the story's time are candidates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from ingestor.cluster._decision import Candidate, rank
from ingestor.cluster._index import LSHIndex
from ingestor.cluster._score import ScoreModel, features, gap_days, span_gap_days
from ingestor.cluster._state import Window
from ingestor.models import Signature
from ingestor.policies import ClusterPolicy

__all__ = ["by_terms", "copies", "posted_terms", "score"]


def posted_terms(policy: ClusterPolicy, signature: Signature) -> list[str]:
    """The terms a story is posted under: the first ``posted_terms`` of its signature's weights,
    which the fingerprint orders by distinctiveness (count times background IDF), so the choice
    is the story's own and the same in every process."""
    if policy.posted_terms <= 0:
        return []
    return list(signature.weights)[: policy.posted_terms]


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
    """The events beyond ``found`` (the copies' events) that the key-term LSH index finds in
    the window, most hits first, as many as ``max_candidates``; then as many again of those
    holding a story that shares ``shared_terms`` of the story's posted terms, most shared
    first."""
    hits: Counter[int] = Counter()
    if signature.terms and window.story_event:
        for story_id in index.query_terms(signature.terms):
            event_id = window.story_event.get(story_id)
            if event_id is not None:
                hits[event_id] += 1
    chosen: list[int] = []
    seen = set(found)
    _take(policy, window, when, hits, seen, chosen)
    terms = posted_terms(policy, signature)
    if terms and window.postings:
        shared: Counter[int] = Counter()
        for term in terms:
            for story_id in window.postings.get(term, ()):
                shared[story_id] += 1
        posted: Counter[int] = Counter()
        for story_id, count in shared.items():
            if count >= policy.shared_terms:
                event_id = window.story_event.get(story_id)
                if event_id is not None and count > posted[event_id]:
                    posted[event_id] = count
        _take(policy, window, when, posted, seen, chosen)
    return chosen


def _take(
    policy: ClusterPolicy,
    window: Window,
    when: datetime,
    hits: Counter[int],
    seen: set[int],
    chosen: list[int],
) -> None:
    """Add up to ``max_candidates`` events of ``hits`` (most first, the higher id on a tie) that
    are in the window for ``when`` and not ``seen`` yet."""
    taken = 0
    for event_id, _ in sorted(hits.items(), key=lambda item: (-item[1], -item[0])):
        if taken >= policy.max_candidates:
            break
        if event_id not in seen and window.in_window(window.events[event_id], when):
            seen.add(event_id)
            chosen.append(event_id)
            taken += 1


def score(
    policy: ClusterPolicy,
    model: ScoreModel,
    window: Window,
    vector: Mapping[str, float],
    dated: datetime | None,
    found: Mapping[int, float],
    others: Sequence[int] = (),
) -> list[Candidate]:
    """Every signal of each candidate: the copies' events (``found``, with their Jaccard) and
    ``others``, in that order, which is the order the decision breaks copy ties by. ``dated``
    is the story's time when it is its own (``None``: unknown, the stream's time only)."""
    events = window.events
    unknown = model.unknown_gap_days
    order = [*found, *others]
    scored = []
    for event_id in order:
        event = events[event_id]
        cosine = event.cosine(vector)
        gap = gap_days(event.dated, dated, unknown)
        probability = model.probability(features(cosine, gap))
        scored.append(
            Candidate(
                event_id,
                event.first,
                event.last,
                cosine,
                probability,
                gap,
                found.get(event_id, 0.0),
            )
        )
    if policy.merge_probability >= 1.0 or len(scored) < 2:
        return scored
    top = events[rank(scored)[0].event_id]
    out = []
    for candidate in scored:
        if candidate.event_id != top.id and candidate.probability >= policy.merge_probability:
            other = events[candidate.event_id]
            pair = top.centroid_cosine(other)
            if pair is not None:
                gap = span_gap_days(top.dated, other.dated, unknown)
                candidate = replace(
                    candidate, pair_probability=model.probability(features(pair, gap))
                )
        out.append(candidate)
    return out
