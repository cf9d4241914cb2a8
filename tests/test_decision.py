"""The pure decision over scored candidates (``cluster._decision``): policy, probe and
candidates in, an ``Assignment`` with its ``Reason`` out, one rule at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingestor.cluster import Candidate, ClusterPolicy, Probe, decide

POLICY = ClusterPolicy()
T0 = datetime(2024, 6, 18, 12, tzinfo=UTC)
PROBE = Probe(when=T0, terms=120, may_merge=True)


def candidate(
    event_id: int,
    probability: float,
    *,
    cosine: float | None = None,
    copy_jaccard: float = 0.0,
    pair: float | None = None,
) -> Candidate:
    return Candidate(
        event_id, T0 - timedelta(hours=2), T0, probability if cosine is None else cosine,
        probability, 0.0, copy_jaccard, pair,
    )  # fmt: skip


def test_a_redundant_copy_decides_alone() -> None:
    """A member shared at ``redundant_copy`` or more is the story's own text: its event wins
    over any better score, as ``identical`` at Jaccard 1 and ``near-copy`` below."""
    rewrite = candidate(1, 0.9)
    same = decide(POLICY, PROBE, [candidate(2, 0.1, copy_jaccard=1.0), rewrite])
    assert (same.event_id, same.reason, same.similarity) == (2, "identical", 1.0)
    near = decide(POLICY, PROBE, [candidate(3, 0.2, copy_jaccard=0.85), rewrite])
    assert (near.event_id, near.reason) == (3, "near-copy")
    assert set(near.signals) == {"probability", "cosine", "gap_days", "copy_jaccard", "candidates"}


def test_the_best_score_joins_as_a_rewrite_or_a_copy() -> None:
    """The best-scored candidate joins at ``join_probability``; it is called a copy when its
    shingles agree at ``copy_threshold`` too. The score ranks, not the cosine."""
    joined = decide(POLICY, PROBE, [candidate(1, 0.31, cosine=0.5), candidate(2, 0.6, cosine=0.3)])
    assert (joined.event_id, joined.reason, joined.similarity) == (2, "rewrite", 0.6)
    assert joined.signals["second_probability"] == 0.31
    assert joined.signals["join_probability"] == POLICY.join_probability
    copied = decide(POLICY, PROBE, [candidate(2, 0.6, copy_jaccard=0.6)])
    assert copied.reason == "near-copy"


def test_below_the_join_probability_nothing_is_joined_on_content() -> None:
    """A best score under ``join_probability`` joins nothing (without a copy)."""
    below = POLICY.join_probability - 0.01
    assert decide(POLICY, PROBE, [candidate(1, below)]).reason == "new"
    assert decide(POLICY, PROBE, [candidate(1, POLICY.join_probability)]).event_id == 1


def test_a_noisy_copy_joins_below_the_score_and_nothing_starts_an_event() -> None:
    """Below the join probability, the event of a copy at ``copy_threshold`` is joined; without
    one the story starts an event."""
    copy = decide(POLICY, PROBE, [candidate(1, 0.1), candidate(2, 0.05, copy_jaccard=0.5)])
    assert (copy.event_id, copy.reason, copy.similarity) == (2, "near-copy", 0.5)
    new = decide(POLICY, PROBE, [candidate(1, 0.1, copy_jaccard=0.3)])
    assert (new.event_id, new.reason, new.similarity) == (None, "new", 0.0)
    assert decide(POLICY, PROBE, []).reason == "new"


def test_merges_need_the_story_and_the_centroids_to_agree() -> None:
    """Another candidate scored at ``merge_probability`` merges when its centroid scores
    ``join_probability`` against the joined one's; never for a summary or when switched off."""
    split = [candidate(1, 0.95), candidate(2, 0.9, pair=0.5), candidate(3, 0.9)]
    assert decide(POLICY, PROBE, split).merge_with == (2,)
    apart = [candidate(1, 0.95), candidate(2, 0.9, pair=0.2)]
    assert decide(POLICY, PROBE, apart).merge_with == ()
    weak = [candidate(1, 0.95), candidate(2, 0.8, pair=0.9)]
    assert decide(POLICY, PROBE, weak).merge_with == ()
    summary = Probe(when=T0, terms=20, may_merge=False)
    assert decide(POLICY, summary, split).merge_with == ()
    off = ClusterPolicy(merge_probability=1.0)
    assert decide(off, PROBE, split).merge_with == ()


def test_ties_go_to_the_cosine_then_the_higher_event_and_the_first_found_copy() -> None:
    """Equal scores rank the better cosine first, then the higher event id; equally close
    copies, the first found."""
    assert decide(POLICY, PROBE, [candidate(1, 0.5), candidate(2, 0.5)]).event_id == 2
    by_cosine = [candidate(1, 0.5, cosine=0.4), candidate(2, 0.5, cosine=0.3)]
    assert decide(POLICY, PROBE, by_cosine).event_id == 1
    copies = [candidate(5, 0.1, copy_jaccard=0.9), candidate(4, 0.1, copy_jaccard=0.9)]
    assert decide(POLICY, PROBE, copies).event_id == 5
