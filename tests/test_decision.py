"""The pure decision over scored candidates (``cluster._decision``): policy, probe and
candidates in, an ``Assignment`` with its ``Reason`` out, one rule at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingestor.cluster import Candidate, ClusterPolicy, Probe, decide

POLICY = ClusterPolicy()
T0 = datetime(2024, 6, 18, 12, tzinfo=UTC)
PROBE = Probe(when=T0, terms=120, may_merge=True)


def candidate(
    event_id: int, cosine: float, copy_jaccard: float = 0.0, pair_cosine: float | None = None
) -> Candidate:
    return Candidate(event_id, T0 - timedelta(hours=2), T0, cosine, copy_jaccard, pair_cosine)


def test_a_redundant_copy_decides_alone() -> None:
    """A member shared at ``redundant_copy`` or more is the story's own text: its event wins
    over any better cosine, as ``identical`` at Jaccard 1 and ``near-copy`` below."""
    rewrite = candidate(1, 0.9)
    same = decide(POLICY, PROBE, [candidate(2, 0.1, copy_jaccard=1.0), rewrite])
    assert (same.event_id, same.reason, same.similarity) == (2, "identical", 1.0)
    near = decide(POLICY, PROBE, [candidate(3, 0.2, copy_jaccard=0.85), rewrite])
    assert (near.event_id, near.reason) == (3, "near-copy")
    assert set(near.signals) == {"cosine", "copy_jaccard", "candidates"}


def test_the_best_cosine_joins_as_a_rewrite_or_a_copy() -> None:
    """The best-ranked candidate joins at ``rewrite_threshold``; it is called a copy when its
    shingles agree at ``copy_threshold`` too."""
    joined = decide(POLICY, PROBE, [candidate(1, 0.3), candidate(2, 0.4)])
    assert (joined.event_id, joined.reason, joined.similarity) == (2, "rewrite", 0.4)
    assert joined.signals["second_cosine"] == 0.3
    assert joined.signals["threshold"] == POLICY.rewrite_threshold
    copied = decide(POLICY, PROBE, [candidate(2, 0.4, copy_jaccard=0.6)])
    assert copied.reason == "near-copy"


def test_time_outside_the_span_raises_the_threshold() -> None:
    """A story a whole window after an event needs ``rewrite_threshold + time_penalty``."""
    late = Probe(when=T0 + POLICY.window, terms=120, may_merge=True)
    assert decide(POLICY, late, [candidate(1, 0.4)]).reason == "new"
    assert decide(POLICY, late, [candidate(1, 0.46)]).event_id == 1


def test_a_noisy_copy_joins_below_the_cosine_and_nothing_starts_an_event() -> None:
    """Below the threshold, the event of a copy at ``copy_threshold`` is joined; without one
    the story starts an event."""
    copy = decide(POLICY, PROBE, [candidate(1, 0.1), candidate(2, 0.05, copy_jaccard=0.5)])
    assert (copy.event_id, copy.reason, copy.similarity) == (2, "near-copy", 0.5)
    new = decide(POLICY, PROBE, [candidate(1, 0.1, copy_jaccard=0.3)])
    assert (new.event_id, new.reason, new.similarity) == (None, "new", 0.0)
    assert decide(POLICY, PROBE, []).reason == "new"


def test_merges_need_the_story_and_the_centroids_to_agree() -> None:
    """Another candidate met at ``merge_threshold`` merges when its centroid meets the joined
    one's at ``rewrite_threshold``; never for a summary or when switched off."""
    split = [candidate(1, 0.7), candidate(2, 0.6, pair_cosine=0.4), candidate(3, 0.6)]
    assert decide(POLICY, PROBE, split).merge_with == (2,)
    apart = [candidate(1, 0.7), candidate(2, 0.6, pair_cosine=0.2)]
    assert decide(POLICY, PROBE, apart).merge_with == ()
    summary = Probe(when=T0, terms=20, may_merge=False)
    assert decide(POLICY, summary, split).merge_with == ()
    off = ClusterPolicy(merge_threshold=0.0)
    assert decide(off, PROBE, split).merge_with == ()


def test_ties_go_to_the_higher_event_and_the_first_found_copy() -> None:
    """Equal cosines rank the higher event id first; equally close copies, the first found."""
    assert decide(POLICY, PROBE, [candidate(1, 0.5), candidate(2, 0.5)]).event_id == 2
    copies = [candidate(5, 0.1, copy_jaccard=0.9), candidate(4, 0.1, copy_jaccard=0.9)]
    assert decide(POLICY, PROBE, copies).event_id == 5
