"""The verification score: how likely a story and an event (or two events) are one story.

Owns: ``ScoreModel`` (a logistic regression over named features, with its weights, the
fingerprint recipe it was fitted for and how it was fitted), ``features`` (the feature values of
one pair), ``gap_days`` (how far a time lies from an event's dated span), and ``load_model`` (the
model shipped beside this module in ``score.json``). Pure: values in, values out.

The score is ``p = 1 / (1 + exp(-(bias + sum(weight[f] * feature[f]))))`` over

* ``cosine``: the story's TF-IDF vector against the event's centroid (``_state.Event.cosine``),
  or one event's centroid against another's;
* ``log_gap_days``: ``ln(1 + d)``, ``d`` the days between the story's time and the event's dated
  span (0 inside it). A story of the same day needs less in common than one of two days later;
  the look-alike of a later week (the same president's next visit) needs much more.

When either time is unknown (a record or an entry without a published time, whose place in the
stream is only the stream's time), ``d`` is the model's ``unknown_gap_days``: half the window it
was fitted with (72 hours), the expected distance of a pair inside that window. Undated stories
then join on content alone, as strictly as a pair a day and a half apart, never as leniently as
a pair of the same day; it is the model's constant, so a wider ``window_hours`` setting does not
make undated stories stricter.

The weights are fitted by ``benchmarks/train_score.py`` on the labelled dev streams
(``docs/design.md`` §3.3 gives the run and its numbers). The features read the fingerprint's
weights and the stream statistics, so a model belongs to one fingerprint recipe: ``fingerprint``
names it, and ``tests/test_score.py`` checks the shipped model against the default recipe.

Does not: choose candidates or decide (``_decision`` compares the probability with the
``join_probability`` and ``merge_probability`` settings).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["FEATURES", "MODEL_FILE", "ScoreModel", "features", "gap_days", "load_model"]

MODEL_FILE = Path(__file__).with_name("score.json")
FEATURES = ("cosine", "log_gap_days")
"""The features a model may weigh, in the order ``explain`` prints them."""
_DAY = timedelta(days=1)


def gap_days(
    span: tuple[datetime, datetime] | None, when: datetime | None, unknown: float
) -> float:
    """Days between ``when`` and the dated ``span`` (0 inside it); ``unknown`` when either is
    unknown (``None``)."""
    if span is None or when is None:
        return unknown
    first, last = span
    if when < first:
        return (first - when) / _DAY
    if when > last:
        return (when - last) / _DAY
    return 0.0


def span_gap_days(
    a: tuple[datetime, datetime] | None, b: tuple[datetime, datetime] | None, unknown: float
) -> float:
    """Days between two dated spans (0 when they overlap); ``unknown`` when either is."""
    if a is None or b is None:
        return unknown
    if a[1] < b[0]:
        return (b[0] - a[1]) / _DAY
    if b[1] < a[0]:
        return (a[0] - b[1]) / _DAY
    return 0.0


def features(cosine: float, gap: float) -> dict[str, float]:
    """The feature values of one pair: its cosine and its time gap in days."""
    return {"cosine": cosine, "log_gap_days": math.log1p(max(0.0, gap))}


@dataclass(frozen=True, slots=True)
class ScoreModel:
    """A logistic regression over ``FEATURES``; see the module docstring."""

    bias: float
    weights: Mapping[str, float]
    fingerprint: str = ""
    """The fingerprint recipe (``FingerprintPolicy.version``) it was fitted for."""
    unknown_gap_days: float = 1.5
    """The gap read when a time is unknown: half the window the model was fitted with."""
    trained: Mapping[str, Any] = field(default_factory=dict)
    """How it was fitted: the command, the data, the rows, the held-out check."""

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown score features: {', '.join(sorted(unknown))}")

    def logit(self, values: Mapping[str, float]) -> float:
        return self.bias + sum(w * values.get(name, 0.0) for name, w in self.weights.items())

    def probability(self, values: Mapping[str, float]) -> float:
        z = self.logit(values)
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)

    def contributions(self, values: Mapping[str, float]) -> dict[str, float]:
        """Each feature's weight times its value, and the bias: what ``explain`` prints."""
        out = {"bias": self.bias}
        out.update({name: w * values.get(name, 0.0) for name, w in self.weights.items()})
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "unknown_gap_days": self.unknown_gap_days,
            "bias": self.bias,
            "weights": dict(self.weights),
            "trained": dict(self.trained),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScoreModel:
        return cls(
            bias=float(data["bias"]),
            weights={str(k): float(v) for k, v in data["weights"].items()},
            fingerprint=str(data.get("fingerprint", "")),
            unknown_gap_days=float(data.get("unknown_gap_days", 1.5)),
            trained=dict(data.get("trained", {})),
        )


@lru_cache(maxsize=4)
def load_model(path: Path = MODEL_FILE) -> ScoreModel:
    """The model in ``path`` (default: the one shipped with this version)."""
    return ScoreModel.from_json(json.loads(path.read_text(encoding="utf-8")))
