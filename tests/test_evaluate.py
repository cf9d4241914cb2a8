"""evaluate: B-cubed and pairwise scores, the per-dataset report, and their invariants."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestor.evaluate import EvalReport, Scores, bcubed, pairwise, score

# Bagga and Baldwin (1998), figure 2: twelve mentions in three true chains,
# {1..5}, {6, 7} and {8..12}. Response A merges the small chain into a big one; response B merges
# the two big chains. MUC scores both the same; B-cubed prefers A.
GOLD_12 = ["a"] * 5 + ["b"] * 2 + ["c"] * 5
RESPONSE_A = ["x"] * 5 + ["y"] * 7
RESPONSE_B = ["x"] * 5 + ["y"] * 2 + ["x"] * 5


def close(scores: Scores, precision: float, recall: float) -> bool:
    """The scores equal the given precision and recall (and their F1) up to rounding."""
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return (scores.precision, scores.recall, scores.f1) == pytest.approx((precision, recall, f1))


def test_bcubed_classic_example_merging_the_small_chain() -> None:
    """Response A of Bagga and Baldwin scores precision 16/21 and recall 1."""
    # precision: five mentions at 5/5, two at 2/7, five at 5/7, averaged over twelve
    assert close(bcubed(GOLD_12, RESPONSE_A), 16 / 21, 1.0)


def test_bcubed_classic_example_merging_the_big_chains() -> None:
    """Response B of Bagga and Baldwin scores precision 7/12 and recall 1, below response A."""
    # precision: ten mentions at 5/10, two at 2/2, averaged over twelve
    assert close(bcubed(GOLD_12, RESPONSE_B), 7 / 12, 1.0)
    assert bcubed(GOLD_12, RESPONSE_B).f1 < bcubed(GOLD_12, RESPONSE_A).f1


def test_pairwise_classic_example() -> None:
    """Pairwise counts 21 gold pairs; response A predicts 31 pairs, response B 46."""
    assert close(pairwise(GOLD_12, RESPONSE_A), 21 / 31, 1.0)
    assert close(pairwise(GOLD_12, RESPONSE_B), 21 / 46, 1.0)


def test_split_event_hand_computed() -> None:
    """One gold event of four split 3 + 1, beside a correct pair, gives hand-computed scores."""
    gold = ["e", "e", "e", "e", "f", "f"]
    pred = [1, 1, 1, 2, 3, 3]
    # B-cubed recall: three docs at 3/4, one at 1/4, two at 2/2 -> (9/4 + 1/4 + 2) / 6 = 3/4
    assert close(bcubed(gold, pred), 1.0, 0.75)
    # pairs: gold C(4,2) + C(2,2) = 7; predicted C(3,2) + C(2,2) = 4, all correct
    assert close(pairwise(gold, pred), 1.0, 4 / 7)


def test_false_merge_hand_computed() -> None:
    """Two gold events of two merged into one predicted event halve precision."""
    gold = ["e", "e", "f", "f"]
    pred = ["p"] * 4
    assert close(bcubed(gold, pred), 0.5, 1.0)
    assert close(pairwise(gold, pred), 2 / 6, 1.0)


def test_empty_input_is_perfect() -> None:
    """With no documents nothing can go wrong: every score is 1.0."""
    assert bcubed([], []) == Scores(1.0, 1.0, 1.0)
    assert pairwise([], []) == Scores(1.0, 1.0, 1.0)


def test_pairwise_zero_over_zero() -> None:
    """No predicted pairs gives precision 1.0, no gold pairs recall 1.0; F1 of 0 and 0 is 0."""
    assert pairwise(["a", "a"], [1, 2]) == Scores(1.0, 0.0, 0.0)
    assert pairwise(["a", "b"], [1, 1]) == Scores(0.0, 1.0, 0.0)
    assert pairwise(["a", "b"], [1, 2]) == Scores(1.0, 1.0, 1.0)


def test_lengths_must_match() -> None:
    """Gold and predicted sequences of different lengths are a caller's bug: ValueError."""
    with pytest.raises(ValueError, match="lengths differ"):
        bcubed(["a"], [1, 2])
    with pytest.raises(ValueError, match="lengths differ"):
        score(["a"], [1], ["d1", "d2"], seconds=1.0)


def test_score_groups_by_dataset_and_counts_mixed_events() -> None:
    """Per-dataset groups are sorted and see only their documents; a cross-dataset event counts."""
    gold = ["s:1", "s:1", "s:2", "e:1", "e:1", "e:2"]
    pred = ["A", "A", "B", "B", "C", "D"]  # B holds a spotsigs and an ecbplus document
    datasets = ["spotsigs"] * 3 + ["ecbplus"] * 3
    report = score(gold, pred, datasets, seconds=2.0)
    assert [g.name for g in report.by_dataset] == ["ecbplus", "spotsigs"]
    ecb, spot = report.by_dataset
    assert (ecb.documents, ecb.gold_events, ecb.predicted_events) == (3, 2, 3)
    assert spot.bcubed == Scores(1.0, 1.0, 1.0)  # split from its ecbplus partner, spotsigs is right
    assert close(ecb.bcubed, 1.0, 2 / 3)
    assert report.mixed_events == 1
    assert report.overall.bcubed.precision < 1.0  # the overall scores see the false merge
    assert report.overall.documents == report.documents == 6
    assert report.docs_per_second == pytest.approx(3.0)


def test_zero_seconds_gives_zero_throughput() -> None:
    """A run timed at zero seconds reports 0.0 documents a second rather than dividing by zero."""
    assert score(["a"], [1], ["d"], seconds=0.0).docs_per_second == 0.0


def test_report_json_round_trips() -> None:
    """to_json is plain JSON holding every group and the run's totals."""
    report = score(GOLD_12, RESPONSE_A, ["x"] * 6 + ["y"] * 6, seconds=3.0)
    data = json.loads(json.dumps(report.to_json()))
    assert data["overall"]["bcubed"]["precision"] == pytest.approx(16 / 21)
    assert [g["name"] for g in data["by_dataset"]] == ["x", "y"]
    assert data["mixed_events"] == 1
    assert data["documents"] == 12
    assert data["docs_per_second"] == pytest.approx(4.0)


def test_table_is_fixed_width_and_lists_every_group() -> None:
    """to_table prints one aligned row per dataset, then overall, then the run's totals."""
    report = score(GOLD_12, RESPONSE_A, ["spotsigs"] * 7 + ["ecbplus"] * 5, seconds=4.0)
    table = report.to_table()
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["dataset", "docs", "gold", "pred"]
    rows = [line for line in lines if line.startswith(("ecbplus", "spotsigs", "overall"))]
    assert [row.split()[0] for row in rows] == ["ecbplus", "spotsigs", "overall"]
    assert len({len(row) for row in rows}) == 1
    assert "0.762" in rows[-1]  # overall B-cubed precision 16/21
    assert "mixed events: 1" in lines[-1]
    assert "3.0 docs/s" in lines[-1]


def test_table_escapes_hostile_dataset_names() -> None:
    """A dataset name with control characters or great length cannot break the table."""
    report = score(["a", "b"], [1, 2], ["\x1b[31mred\n", "x" * 500], seconds=1.0)
    table = report.to_table()
    assert "\x1b" not in table
    assert all(len(line) < 120 for line in table.splitlines())


# -- invariants ----------------------------------------------------------------------------------

labels = st.lists(st.sampled_from("abcdefg"), min_size=1, max_size=60)
partitions = labels.flatmap(
    lambda gold: st.tuples(
        st.just(gold), st.lists(st.integers(0, 8), min_size=len(gold), max_size=len(gold))
    )
)


@given(labels)
def test_perfect_prediction_scores_one(gold: list[str]) -> None:
    """Predicting the gold partition (under any names) scores exactly 1.0 everywhere."""
    pred = [f"event-{label}" for label in gold]
    assert bcubed(gold, pred) == Scores(1.0, 1.0, 1.0)
    assert pairwise(gold, pred) == Scores(1.0, 1.0, 1.0)


@given(labels)
def test_all_singletons_have_perfect_precision(gold: list[str]) -> None:
    """Putting every document alone never makes a false merge: precision is 1.0."""
    pred = list(range(len(gold)))
    assert bcubed(gold, pred).precision == 1.0
    assert pairwise(gold, pred).precision == 1.0


@given(labels)
def test_one_big_cluster_has_perfect_recall(gold: list[str]) -> None:
    """Putting every document together never misses a link: recall is 1.0."""
    pred = ["all"] * len(gold)
    assert bcubed(gold, pred).recall == 1.0
    assert pairwise(gold, pred).recall == 1.0


@given(partitions, st.randoms(use_true_random=False))
@settings(max_examples=200)
def test_permuting_documents_never_changes_scores(
    case: tuple[list[str], list[int]], rnd: random.Random
) -> None:
    """Scores depend on the partitions only, not on the order of the documents."""
    gold, pred = case
    order = list(range(len(gold)))
    rnd.shuffle(order)
    shuffled_gold, shuffled_pred = [gold[i] for i in order], [pred[i] for i in order]
    assert bcubed(shuffled_gold, shuffled_pred) == bcubed(gold, pred)
    assert pairwise(shuffled_gold, shuffled_pred) == pairwise(gold, pred)


@given(partitions, st.permutations(range(9)))
def test_renaming_predicted_events_never_changes_scores(
    case: tuple[list[str], list[int]], names: list[int]
) -> None:
    """Predicted event ids are names only: a one-to-one renaming gives identical scores."""
    gold, pred = case
    renamed = [f"ev{names[p]}" for p in pred]
    assert bcubed(gold, renamed) == bcubed(gold, pred)
    assert pairwise(gold, renamed) == pairwise(gold, pred)


@given(partitions)
def test_scores_stay_in_the_unit_interval(case: tuple[list[str], list[int]]) -> None:
    """Every precision, recall and F1 lies in [0, 1], and F1 lies between min and max of P and R."""
    gold, pred = case
    for s in (bcubed(gold, pred), pairwise(gold, pred)):
        assert 0.0 <= s.precision <= 1.0
        assert 0.0 <= s.recall <= 1.0
        assert min(s.precision, s.recall) - 1e-12 <= s.f1 <= max(s.precision, s.recall) + 1e-12


@given(partitions, st.lists(st.sampled_from(["d1", "d2", "d3"]), min_size=60, max_size=60))
def test_report_matches_the_functions(case: tuple[list[str], list[int]], ds: list[str]) -> None:
    """score() reports bcubed() and pairwise() overall, and per dataset on that dataset's subset."""
    gold, pred = case
    datasets = ds[: len(gold)]
    report = score(gold, pred, datasets, seconds=1.0)
    assert isinstance(report, EvalReport)
    assert report.overall.bcubed == bcubed(gold, pred)
    assert report.overall.pairwise == pairwise(gold, pred)
    assert sum(g.documents for g in report.by_dataset) == len(gold)
    for group in report.by_dataset:
        idx = [i for i, d in enumerate(datasets) if d == group.name]
        assert group.bcubed == bcubed([gold[i] for i in idx], [pred[i] for i in idx])
    owners: dict[int, set[str]] = {}
    for p, d in zip(pred, datasets, strict=True):
        owners.setdefault(p, set()).add(d)
    assert report.mixed_events == sum(len(v) > 1 for v in owners.values())
