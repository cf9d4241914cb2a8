"""Scoring a predicted partition against gold events: the maths behind ``ingestor eval``.

Owns: B-cubed precision, recall and F1 (Bagga and Baldwin 1998, every document weighted
equally), pairwise precision, recall and F1, and the report for one run: overall, per dataset,
the number of predicted events that mix datasets, and throughput.

Does not: read streams (``replay`` does), run the pipeline, or read the clock (the caller times
the run and passes ``seconds``). Pure: sequences in, frozen values out.

Inputs: for every document in stream order, its gold event (the record's ``event``), the id of
the event the pipeline put it in (any hashable value), and its ``dataset``.

Both scores are computed from three ``Counter`` tables (cluster sizes, gold sizes and the sizes
of their intersections), so scoring is O(n) in time and O(n) in memory at worst.

* B-cubed, for document d in predicted cluster C(d) and gold event G(d):
  P = mean |C(d) ∩ G(d)| / |C(d)|, R = mean |C(d) ∩ G(d)| / |G(d)|.
  Summed per (cluster, event) cell of size k: P = Σ k²/|C| / n, R = Σ k²/|G| / n.
* Pairwise, over unordered pairs of documents: a pair is predicted when both documents share a
  predicted event, and gold when both share a gold event. P = |predicted ∩ gold| / |predicted|,
  R = |predicted ∩ gold| / |gold|.

When nothing can go wrong, a score is 1.0 (0/0). With no documents, every score is 1.0. With no
predicted pairs (all singletons), pairwise precision is 1.0: no false merge was made. With no
gold pairs (every gold event a singleton), pairwise recall is 1.0: there was nothing to find.
F1 is the harmonic mean, and 0.0 when precision and recall are both 0.

Per-dataset scores see only that dataset's documents, so a predicted event that mixes datasets
is split before scoring. That is why ``mixed_events`` is reported on its own, because each one
is a certain false merge. The overall scores see the whole partition.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = [
    "EvalReport",
    "GroupReport",
    "Scores",
    "bcubed",
    "pairwise",
    "score",
    "story_labels",
]


@dataclass(frozen=True, slots=True)
class Scores:
    precision: float
    recall: float
    f1: float

    def to_json(self) -> dict[str, float]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1}


@dataclass(frozen=True, slots=True)
class GroupReport:
    """Scores for one group of documents: all of them, or one dataset."""

    name: str
    documents: int
    gold_events: int
    predicted_events: int
    bcubed: Scores
    pairwise: Scores

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "documents": self.documents,
            "gold_events": self.gold_events,
            "predicted_events": self.predicted_events,
            "bcubed": self.bcubed.to_json(),
            "pairwise": self.pairwise.to_json(),
        }


@dataclass(frozen=True, slots=True)
class EvalReport:
    """One evaluation run: overall, per dataset (sorted by name), false merges across datasets."""

    overall: GroupReport
    by_dataset: tuple[GroupReport, ...]
    mixed_events: int
    """Predicted events holding documents of more than one dataset."""
    documents: int
    seconds: float
    docs_per_second: float
    """0.0 when ``seconds`` is not positive."""
    story_days: float | None = None
    """Set on a report scored against story-level labels (``story_labels``)."""
    stories: EvalReport | None = None
    """The same run scored against story-level labels, when asked for."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "overall": self.overall.to_json(),
            "by_dataset": [group.to_json() for group in self.by_dataset],
            "mixed_events": self.mixed_events,
            "documents": self.documents,
            "seconds": self.seconds,
            "docs_per_second": self.docs_per_second,
        }
        if self.story_days is not None:
            out["story_days"] = self.story_days
        if self.stories is not None:
            out["story_level"] = self.stories.to_json()
        return out

    def to_table(self) -> str:
        """A fixed-width table for the terminal, one row per group, overall last."""
        width = max([len("dataset"), *(len(_cell(g.name)) for g in self.by_dataset)])
        head = f"{'dataset':<{width}} {'docs':>7} {'gold':>6} {'pred':>6}"
        head += "   B3 P   B3 R  B3 F1 | pair P pair R pair F1"
        rule = "-" * len(head)
        rows = [head, rule, *(_row(g, width) for g in self.by_dataset), rule]
        rows.append(_row(self.overall, width))
        rows.append(
            f"mixed events: {self.mixed_events}   documents: {self.documents}   "
            f"time: {self.seconds:.1f} s ({self.docs_per_second:.1f} docs/s)"
        )
        if self.stories is not None and self.stories.story_days is not None:
            days = f"{self.stories.story_days:g}"
            rows.append("")
            rows.append(
                f"story-level labels (an event split where {days} days pass between two of its "
                "documents):"
            )
            rows.extend(self.stories.to_table().splitlines()[:-1])
        return "\n".join(rows)


def bcubed(gold: Sequence[str], pred: Sequence[Hashable]) -> Scores:
    """Item-weighted B-cubed precision, recall and F1 of ``pred`` against ``gold``."""
    cells, clusters, events = _tables(gold, pred)
    n = len(gold)
    if n == 0:
        return Scores(1.0, 1.0, 1.0)
    # fsum is correctly rounded, so the order of the terms (the order of documents) cannot matter
    precision = math.fsum(k * k / clusters[c] for (c, _), k in cells.items()) / n
    recall = math.fsum(k * k / events[g] for (_, g), k in cells.items()) / n
    return _scores(precision, recall)


def pairwise(gold: Sequence[str], pred: Sequence[Hashable]) -> Scores:
    """Precision, recall and F1 over document pairs; 0/0 counts as 1.0 (see the module doc)."""
    cells, clusters, events = _tables(gold, pred)
    together = sum(_pairs(k) for k in cells.values())
    predicted = sum(_pairs(k) for k in clusters.values())
    expected = sum(_pairs(k) for k in events.values())
    precision = together / predicted if predicted else 1.0
    recall = together / expected if expected else 1.0
    return _scores(precision, recall)


def score(
    gold: Sequence[str], pred: Sequence[Hashable], datasets: Sequence[str], *, seconds: float
) -> EvalReport:
    """The full report for one run; the three sequences are parallel, one entry a document."""
    if not len(gold) == len(pred) == len(datasets):
        raise ValueError(
            f"lengths differ: {len(gold)} gold, {len(pred)} pred, {len(datasets)} datasets"
        )
    members: dict[str, list[int]] = {}
    first_dataset: dict[Hashable, str] = {}
    mixed: set[Hashable] = set()
    for i, (p, d) in enumerate(zip(pred, datasets, strict=True)):
        members.setdefault(d, []).append(i)
        if first_dataset.setdefault(p, d) != d:
            mixed.add(p)
    by_dataset = tuple(
        _group(name, [gold[i] for i in idx], [pred[i] for i in idx])
        for name, idx in sorted(members.items())
    )
    n = len(gold)
    return EvalReport(
        overall=_group("overall", gold, pred),
        by_dataset=by_dataset,
        mixed_events=len(mixed),
        documents=n,
        seconds=seconds,
        docs_per_second=n / seconds if seconds > 0 else 0.0,
    )


def story_labels(gold: Sequence[str], times: Sequence[datetime | None], days: float) -> list[str]:
    """Story-level gold labels: each gold event's documents, taken in time order, split wherever
    two consecutive ones lie more than ``days`` apart (a trial months after a shooting is a new
    story about the same incident). A document without a time is never split off: it keeps the
    label of its event's first story. Labels are ``event#1``, ``event#2``, ... by time."""
    if len(gold) != len(times):
        raise ValueError(f"lengths differ: {len(gold)} gold labels, {len(times)} times")
    gap = timedelta(days=days)
    known = {i: t for i, t in enumerate(times) if t is not None}
    out = [f"{label}#1" for label in gold]
    last: dict[str, datetime] = {}
    part: dict[str, int] = {}
    for i in sorted(known, key=known.__getitem__):  # stable: equal times keep stream order
        label, when = gold[i], known[i]
        previous = last.get(label)
        if previous is None:
            part[label] = 1
        elif when - previous > gap:
            part[label] += 1
        last[label] = when
        out[i] = f"{label}#{part[label]}"
    return out


def _group(name: str, gold: Sequence[str], pred: Sequence[Hashable]) -> GroupReport:
    return GroupReport(
        name=name,
        documents=len(gold),
        gold_events=len(set(gold)),
        predicted_events=len(set(pred)),
        bcubed=bcubed(gold, pred),
        pairwise=pairwise(gold, pred),
    )


def _tables(
    gold: Sequence[str], pred: Sequence[Hashable]
) -> tuple[Counter[tuple[Hashable, str]], Counter[Hashable], Counter[str]]:
    """Intersection sizes per (cluster, event), cluster sizes, event sizes."""
    if len(gold) != len(pred):
        raise ValueError(f"lengths differ: {len(gold)} gold labels, {len(pred)} predictions")
    cells = Counter(zip(pred, gold, strict=True))
    return cells, Counter(pred), Counter(gold)


def _pairs(k: int) -> int:
    return k * (k - 1) // 2


def _scores(precision: float, recall: float) -> Scores:
    total = precision + recall
    return Scores(precision, recall, 2 * precision * recall / total if total else 0.0)


def _row(group: GroupReport, width: int) -> str:
    b, p = group.bcubed, group.pairwise
    return (
        f"{_cell(group.name):<{width}} {group.documents:>7} {group.gold_events:>6} "
        f"{group.predicted_events:>6} {b.precision:>6.3f} {b.recall:>6.3f} {b.f1:>6.3f} "
        f"| {p.precision:>6.3f} {p.recall:>6.3f} {p.f1:>7.3f}"
    )


def _cell(name: str, limit: int = 24) -> str:
    """A dataset name as a table cell: printable, at most ``limit`` characters."""
    name = "".join(c if c.isprintable() else "?" for c in name)
    return name if len(name) <= limit else name[: limit - 1] + "…"
