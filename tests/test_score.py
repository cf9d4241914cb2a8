"""The verification score (``cluster._score``): a logistic regression over a pair's cosine and
time gap, shipped with the fingerprint recipe it was fitted for."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingestor.cluster import ScoreModel, load_model
from ingestor.cluster._score import FEATURES, MODEL_FILE, features, gap_days, span_gap_days
from ingestor.fingerprint import VERSION

T0 = datetime(2024, 6, 18, 12, tzinfo=UTC)
WINDOW = timedelta(hours=72)
MODEL = load_model()


def test_the_shipped_model_belongs_to_the_default_fingerprint_recipe() -> None:
    """A change to the fingerprint recipe must come with a refitted score
    (``benchmarks/train_score.py --write``): the shipped model names the recipe it was fitted
    for, and says how it was fitted."""
    assert MODEL.fingerprint == VERSION
    assert set(MODEL.weights) == set(FEATURES)
    assert "command" in MODEL.trained
    assert "train_score.py" in MODEL.trained["command"]
    assert json.loads(MODEL_FILE.read_text(encoding="utf-8"))["bias"] == MODEL.bias


def test_more_in_common_scores_higher_and_more_time_lower() -> None:
    """The fitted weights have the signs their reasons give: cosine for, distance against."""
    assert MODEL.weights["cosine"] > 0
    assert MODEL.weights["log_gap_days"] < 0


@given(
    cosine=st.floats(0.0, 1.0), other=st.floats(0.0, 1.0), gap=st.floats(0.0, 30.0),
    later=st.floats(0.0, 30.0),
)  # fmt: skip
def test_the_probability_is_monotone_and_its_contributions_add_up(
    cosine: float, other: float, gap: float, later: float
) -> None:
    """Higher cosine never lowers the score, a longer gap never raises it, and the printed
    contributions (bias and weight times value) add up to its logit."""
    p = MODEL.probability(features(cosine, gap))
    assert 0.0 <= p <= 1.0
    if other >= cosine:
        assert MODEL.probability(features(other, gap)) >= p
    if later >= gap:
        assert MODEL.probability(features(cosine, later)) <= p
    parts = MODEL.contributions(features(cosine, gap))
    assert sum(parts.values()) == pytest.approx(MODEL.logit(features(cosine, gap)))
    assert 1 / (1 + math.exp(-sum(parts.values()))) == pytest.approx(p)


def test_gaps_are_measured_to_the_dated_span_and_unknown_is_half_the_window() -> None:
    """Inside the span the gap is 0; outside, the days to its nearer end; without a time of
    the story's own, or an event without dated members, the model's unknown gap: half the
    window it was fitted with (1.5 days of 3)."""
    span = (T0, T0 + timedelta(days=1))
    unknown = MODEL.unknown_gap_days
    assert unknown == pytest.approx(WINDOW / timedelta(days=1) / 2)
    assert gap_days(span, T0 + timedelta(hours=5), unknown) == 0.0
    assert gap_days(span, T0 + timedelta(days=3), unknown) == pytest.approx(2.0)
    assert gap_days(span, T0 - timedelta(hours=12), unknown) == pytest.approx(0.5)
    assert gap_days(None, T0, unknown) == gap_days(span, None, unknown) == pytest.approx(1.5)
    assert span_gap_days(span, (T0 + timedelta(days=2), T0 + timedelta(days=4)), unknown) == 1.0
    assert span_gap_days(span, (T0, T0), unknown) == 0.0
    assert span_gap_days(None, span, unknown) == pytest.approx(1.5)


def test_a_story_of_unknown_time_needs_more_than_one_of_the_same_day() -> None:
    """The cosine at which the shipped score reaches the default join probability rises with
    the gap; an undated story sits between a same-day one and one two days off."""

    def needed(gap: float, target: float = 0.3) -> float:
        low, high = 0.0, 1.0
        for _ in range(50):
            mid = (low + high) / 2
            low, high = (
                (mid, high) if MODEL.probability(features(mid, gap)) < target else (low, mid)
            )
        return high

    same_day, unknown, two_days = needed(0.0), needed(1.5), needed(2.0)
    assert same_day < unknown < two_days
    assert 0.1 < same_day < 0.25
    assert 0.3 < unknown < 0.45


def test_a_model_with_an_unknown_feature_is_refused() -> None:
    """A score file naming a feature the code does not measure is an error, not a silent 0."""
    with pytest.raises(ValueError, match="headline"):
        ScoreModel(0.0, {"cosine": 1.0, "headline": 2.0})
    again = ScoreModel.from_json(MODEL.to_json())
    assert again == MODEL
