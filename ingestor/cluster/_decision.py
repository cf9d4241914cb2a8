"""The decision: which event a story joins, from its scored candidates alone. Pure.

Owns: ``Candidate`` (one event a story might join, with every signal measured against it and the
verification score they give), ``Probe`` (what the decision needs of the story itself),
``decide`` (policy, probe and candidates in; an ``Assignment`` with its ``Reason`` out) and the
small rules it is made of: the ranking, the identical/near-copy naming, which copies stay out of
the LSH index, and which other candidates a story shows to be the same story.

Does not: look anything up, compute a similarity or a score, or change state. ``_candidates``
finds the candidates and measures them (``_score`` turns the measures into a probability); the
clusterer applies the assignment. A new signal is a feature of ``_score``, measured in
``_candidates.score`` and carried here in ``Candidate``.

The rules, in order (numbers and the runs behind them in ``docs/design.md`` §3):

1. **Redundant copy.** When a candidate holds a member whose shingles the story shares at
   ``redundant_copy`` (0.8) or more, the story is that member's text: it joins that event, as
   ``identical`` (Jaccard 1) or ``near-copy``. No other signal can say more.
2. **Rewrite.** Otherwise the candidate with the highest verification score (the probability
   that story and event are one story, from their cosine and time gap) joins it when the score
   reaches ``join_probability`` and the cosine ``min_cosine``: a ``rewrite``, or a copy when
   the shingles agree at ``copy_threshold`` too. Other candidates the story scores
   ``merge_probability`` against, whose centroids score ``join_probability`` against the chosen
   one's without the story, are the same story split early: ``merge_with`` (never for a
   summary, ``Probe.may_merge``).
3. **Copy.** Otherwise the event of the closest copy, when its Jaccard reaches
   ``copy_threshold`` (a copy whose page text is too noisy for the cosine).
4. **New.** Otherwise the story starts an event.

Ties: candidates rank by score, then cosine, then the higher event id; among equally close
copies the one found first wins, so ``candidates`` must come in the order they were found
(copies first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ingestor.models import Assignment, Reason
from ingestor.policies import ClusterPolicy

__all__ = [
    "Candidate",
    "Probe",
    "closest_copy",
    "conclusive",
    "copy_reason",
    "decide",
    "rank",
    "redundant",
    "same_story",
]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One event a story might join, and every signal measured between them."""

    event_id: int
    first: datetime
    last: datetime
    """The event's time span (its members' times)."""
    cosine: float
    """The story's TF-IDF vector against the event's centroid."""
    probability: float = 0.0
    """The verification score of story and event (``_score``)."""
    gap_days: float = 0.0
    """Days between the story's time and the event's dated span (half the window when either
    is unknown), as the score read it."""
    copy_jaccard: float = 0.0
    """The best shingle Jaccard with one of the event's members (0: no copy of it found)."""
    pair_probability: float | None = None
    """The score of the event's centroid against the best-ranked candidate's, without the story:
    measured only for the other candidates the story scores ``merge_probability`` against (where
    the merge rule reads it), ``None`` elsewhere or when a centroid is empty."""


@dataclass(frozen=True, slots=True)
class Probe:
    """What the decision needs of the story itself."""

    when: datetime
    terms: int
    """Terms in its vector."""
    may_merge: bool
    """Whether the story is long enough to merge events (not a summary or a teaser)."""


def rank(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Best first: by score, then cosine, then the higher event id."""
    return sorted(candidates, key=lambda c: (c.probability, c.cosine, c.event_id), reverse=True)


def copy_reason(jaccard: float) -> Reason:
    """What a copy is called: ``identical`` for the same shingles, else ``near-copy``."""
    return "identical" if jaccard >= 1.0 else "near-copy"


def redundant(policy: ClusterPolicy, reason: str, similarity: float) -> bool:
    """Whether a story that joined this way is left out of the LSH index: a copy at least
    ``redundant_copy`` alike with a member finds nothing that member would not find."""
    return reason in ("identical", "near-copy") and similarity >= policy.redundant_copy


def closest_copy(candidates: Sequence[Candidate]) -> Candidate | None:
    """The candidate holding the story's closest copy (the first found of equals), if any."""
    best: Candidate | None = None
    for candidate in candidates:
        if candidate.copy_jaccard > (best.copy_jaccard if best is not None else 0.0):
            best = candidate
    return best


def conclusive(policy: ClusterPolicy, candidates: Sequence[Candidate]) -> bool:
    """Whether these candidates decide by rule 1 (a redundant copy), whatever others a wider
    search would add: the clusterer then skips the key-term look-up."""
    return _redundant_copy(policy, closest_copy(candidates))


def _redundant_copy(policy: ClusterPolicy, copy: Candidate | None) -> bool:
    """Rule 1: the story joins ``copy``'s event as a copy so close it is not indexed."""
    if copy is None:
        return False
    return redundant(policy, copy_reason(copy.copy_jaccard), copy.copy_jaccard)


def decide(policy: ClusterPolicy, probe: Probe, candidates: Sequence[Candidate]) -> Assignment:
    """Where the story belongs, by the rules of the module docstring. ``candidates`` in the
    order they were found; the assignment's ``signals`` record every score that was read."""
    copy = closest_copy(candidates)
    if copy is not None and _redundant_copy(policy, copy):
        jaccard = round(copy.copy_jaccard, 4)
        signals = {
            "probability": round(copy.probability, 4),
            "cosine": round(copy.cosine, 4),
            "gap_days": round(copy.gap_days, 3),
            "copy_jaccard": jaccard,
            "candidates": float(len(candidates)),
        }
        return Assignment(copy.event_id, copy_reason(copy.copy_jaccard), jaccard, signals)
    ranked = rank(candidates)
    best = ranked[0] if ranked else None
    best_copy = copy.copy_jaccard if copy is not None else 0.0
    second = ranked[1] if len(ranked) > 1 else None
    signals = {
        "probability": round(best.probability, 4) if best is not None else 0.0,
        "cosine": round(best.cosine, 4) if best is not None else 0.0,
        "gap_days": round(best.gap_days, 3) if best is not None else 0.0,
        "second_probability": round(second.probability, 4) if second is not None else 0.0,
        "second_cosine": round(second.cosine, 4) if second is not None else 0.0,
        "copy_jaccard": round(best_copy, 4),
        "candidates": float(len(candidates)),
        "terms": float(probe.terms),
    }
    if (
        best is not None
        and best.probability >= policy.join_probability
        and best.cosine >= policy.min_cosine
    ):
        signals["copy_jaccard"] = round(best.copy_jaccard, 4)
        reason: Reason = "rewrite"
        if best.copy_jaccard >= policy.copy_threshold:
            reason = copy_reason(best.copy_jaccard)
        signals["join_probability"] = policy.join_probability
        also = same_story(policy, ranked[1:]) if probe.may_merge else ()
        if also:
            signals["merges"] = float(len(also))
        return Assignment(best.event_id, reason, round(best.probability, 4), signals, also)
    if copy is not None and best_copy >= policy.copy_threshold:
        signals["probability"] = round(copy.probability, 4)
        signals["cosine"] = round(copy.cosine, 4)
        return Assignment(copy.event_id, copy_reason(best_copy), round(best_copy, 4), signals)
    return Assignment(None, "new", 0.0, signals)


def same_story(policy: ClusterPolicy, others: Sequence[Candidate]) -> tuple[int, ...]:
    """The other candidates (ranked, best first) that are the same story as the one the story
    joins: the story scores ``merge_probability`` against them (so the question is worth
    asking), and their centroids score ``join_probability`` against the joined event's
    *without* this story, as a story must to join an event. Two events that split early (their
    first stories shared too little) pass once each has grown towards the whole story; a roundup
    that covers two unrelated stories scores high against both, but cannot make them meet each
    other."""
    if policy.merge_probability >= 1.0:
        return ()
    same = []
    for candidate in others:
        if candidate.probability < policy.merge_probability:
            break  # ranked, best first
        pair = candidate.pair_probability
        if pair is not None and pair >= policy.join_probability:
            same.append(candidate.event_id)
    return tuple(same)
