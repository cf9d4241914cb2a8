"""What the clusterer may be told: ``ClusterPolicy``, its thresholds and limits.

Owns: the policy value; every field's meaning is documented here and every default's reason
(with the sweep behind it) in ``docs/design.md`` §3.3.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from ingestor.cluster._canonical import CanonicalRule

__all__ = ["ClusterPolicy"]


@dataclass(frozen=True, slots=True)
class ClusterPolicy:
    rewrite_threshold: float = 0.35
    copy_threshold: float = 0.5
    candidate_threshold: float = 0.1
    """LSH threshold on key-term Jaccard: low, because verification decides."""
    window: timedelta = timedelta(hours=72)
    prior_docs: int = 2000
    """``N0``: how many documents' worth of weight the background frequencies carry."""
    num_perm: int = 128
    shingle_perm: int = 64
    max_candidates: int = 12
    """Events verified per story: those with the most LSH hits (plus every copy's event)."""
    time_penalty: float = 0.1
    """Added to ``rewrite_threshold`` for a story a whole window away from an event's span
    (proportionally less for less): see ``_decision.threshold``."""
    redundant_copy: float = 0.8
    """A copy at least this alike (shingle Jaccard) with a member is not indexed on its own."""
    canonical: CanonicalRule = "agency"
    source_priority: tuple[str, ...] = ()
    merge_threshold: float = 0.55
    """A story that joins one event and meets another candidate event's centroid at least this
    well asks whether the two are one story that split early: they merge if their centroids
    meet at ``rewrite_threshold`` (``_decision.same_story``). 0: never."""
    merge_min_words: int = 50
    """Stories shorter than this (a summary or a teaser: the fingerprint's ``short_text``) join
    events but never merge them: a merge moves whole events on one story's word."""
