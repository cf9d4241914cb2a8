"""The decision: which event a story joins, from its scored candidates alone. Pure.

Owns: ``Candidate`` (one event a story might join, with every signal measured against it),
``Probe`` (what the decision needs of the story itself), ``decide`` (policy, probe and candidates
in; an ``Assignment`` with its ``Reason`` out) and the small rules it is made of: the time-raised
threshold, the identical/near-copy naming, and which copies stay out of the LSH index.

Does not: look anything up, compute a similarity or change state. ``_candidates`` finds and
scores the candidates over the window (``_state``); the clusterer applies the assignment. A new
signal is a field of ``Candidate``, measured in ``_candidates.score`` and read here.

The rules, in order (numbers and the sweeps behind them in ``docs/design.md`` §3):

1. **Redundant copy.** When a candidate holds a member whose shingles the story shares at
   ``redundant_copy`` (0.8) or more, the story is that member's text: it joins that event, as
   ``identical`` (Jaccard 1) or ``near-copy``. No other signal can say more.
2. **Rewrite.** Otherwise the candidate whose centroid the story's vector meets best joins it
   when the cosine reaches ``rewrite_threshold`` raised by ``time_penalty`` for a story outside
   the event's span (``threshold``): a ``rewrite``, or a copy when the shingles agree at
   ``copy_threshold`` too. Other candidates the story meets at ``merge_threshold`` whose
   centroids meet the chosen one's at ``rewrite_threshold`` without the story are the same
   story split early: ``merge_with`` (never for a summary, ``Probe.may_merge``).
3. **Copy.** Otherwise the event of the closest copy, when its Jaccard reaches
   ``copy_threshold`` (a copy whose page text is too noisy for the cosine).
4. **New.** Otherwise the story starts an event.

Ties: candidates rank by cosine, then the higher event id; among equally close copies the one
found first wins, so ``candidates`` must come in the order they were found (copies first).
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
    "redundant",
    "same_story",
    "threshold",
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
    copy_jaccard: float = 0.0
    """The best shingle Jaccard with one of the event's members (0: no copy of it found)."""
    pair_cosine: float | None = None
    """The event's centroid against the best-ranked candidate's, without the story: measured
    only for the other candidates the story meets at ``merge_threshold`` (where the merge rule
    reads it), ``None`` elsewhere or when a centroid is empty."""


@dataclass(frozen=True, slots=True)
class Probe:
    """What the decision needs of the story itself."""

    when: datetime
    terms: int
    """Terms in its vector."""
    may_merge: bool
    """Whether the story is long enough to merge events (not a summary or a teaser)."""


def threshold(policy: ClusterPolicy, first: datetime, last: datetime, when: datetime) -> float:
    """The cosine a story at ``when`` needs to join an event spanning ``first..last``:
    ``rewrite_threshold``, raised by up to ``time_penalty`` as the story lies further outside
    the event's span, in proportion to the window. Stories of the same day join at the base
    threshold; a look-alike two days later (the same president's next visit) needs clearly
    more in common."""
    inside = first <= when <= last
    gap = 0.0 if inside else min(abs(when - first), abs(when - last)) / policy.window
    return policy.rewrite_threshold + policy.time_penalty * min(1.0, gap)


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
            "cosine": round(copy.cosine, 4),
            "copy_jaccard": jaccard,
            "candidates": float(len(candidates)),
        }
        return Assignment(copy.event_id, copy_reason(copy.copy_jaccard), jaccard, signals)
    ranked = sorted(candidates, key=lambda c: (c.cosine, c.event_id), reverse=True)
    best = ranked[0] if ranked else None
    best_copy = copy.copy_jaccard if copy is not None else 0.0
    signals = {
        "cosine": round(best.cosine, 4) if best is not None else 0.0,
        "second_cosine": round(ranked[1].cosine, 4) if len(ranked) > 1 else 0.0,
        "copy_jaccard": round(best_copy, 4),
        "candidates": float(len(candidates)),
        "terms": float(probe.terms),
    }
    if best is not None:
        needed = threshold(policy, best.first, best.last, probe.when)
        if best.cosine >= needed:
            signals["copy_jaccard"] = round(best.copy_jaccard, 4)
            reason: Reason = "rewrite"
            if best.copy_jaccard >= policy.copy_threshold:
                reason = copy_reason(best.copy_jaccard)
            signals["threshold"] = round(needed, 4)
            also = same_story(policy, ranked[1:]) if probe.may_merge else ()
            if also:
                signals["merges"] = float(len(also))
            return Assignment(best.event_id, reason, round(best.cosine, 4), signals, also)
    if copy is not None and best_copy >= policy.copy_threshold:
        signals["cosine"] = round(copy.cosine, 4)
        return Assignment(copy.event_id, copy_reason(best_copy), round(best_copy, 4), signals)
    return Assignment(None, "new", 0.0, signals)


def same_story(policy: ClusterPolicy, others: Sequence[Candidate]) -> tuple[int, ...]:
    """The other candidates (ranked, best first) that are the same story as the one the story
    joins: the story meets them at ``merge_threshold`` (so the question is worth asking), and
    their centroids meet the joined event's at ``rewrite_threshold`` *without* this story, as
    a story must to join an event. Two events that split early (their first stories shared too
    little) pass once each has grown towards the whole story; a roundup that covers two
    unrelated stories meets both, but cannot make them meet each other."""
    if policy.merge_threshold <= 0.0:
        return ()
    same = []
    for candidate in others:
        if candidate.cosine < policy.merge_threshold:
            break  # ranked, best first
        pair = candidate.pair_cosine
        if pair is not None and pair >= policy.rewrite_threshold:
            same.append(candidate.event_id)
    return tuple(same)
