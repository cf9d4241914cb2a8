"""Fit the verification score (``ingestor/cluster/_score.py``) on labelled streams.

    python benchmarks/train_score.py ../shared/datasets/dev/{stream,gva,allsides}.jsonl.gz
    python benchmarks/train_score.py STREAM... --write      # replace ingestor/cluster/score.json
    python benchmarks/train_score.py STREAM... --features cosine

How it fits (Miranda et al. 2018 fit their streaming news clusterer the same way):

1. **Candidate pairs from the gold state.** Each stream is read in file order through the real
   ``fingerprint`` and ``Clusterer``, but every story is put into its *gold* event: the state a
   perfect clusterer would be in. Before it is added, the story's candidates are found and
   measured exactly as ``Clusterer.assign`` would (``Clusterer.candidates``: the copy and
   key-term LSH indexes and the term postings, within the window); each candidate event is a
   row, positive when it is the story's gold event. Records take the stream's time as a
   replay gives it (``pipeline.StreamClock``), so an undated record's distance to any event is
   unknown, as in production.
2. **Logistic regression** on the rows' features (``_score.features``), standardized, with an L2
   penalty of 1 and Newton's method (iteratively reweighted least squares, a few lines of
   numpy). Each stream's rows weigh as much in all as every other stream's, so the larger
   stream does not decide alone. The fitted weights are printed in raw units.
3. **A held-out check.** Every stream's gold events are split in two halves by a hash of their
   label; weights fitted on one half's rows are scored (B-cubed, through ``sweep.run``, the
   online clusterer with merging) on the other half's stream, next to the weights fitted on
   all rows. If the two agree, the fit is not a fit to particular events.

``--write`` stores the weights with the fingerprint recipe they were fitted for and this run's
provenance in ``ingestor/cluster/score.json``. Nothing here reads the clock; the output is the
same for the same inputs.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import sys
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sweep import load, run, summary

from ingestor.cluster import Clusterer, ClusterPolicy, ScoreModel
from ingestor.cluster._score import FEATURES, MODEL_FILE, features
from ingestor.fingerprint import FingerprintPolicy, fingerprint
from ingestor.models import Story
from ingestor.replay import Record

Row = tuple[dict[str, float], int, str, str]
"""Features, label, dataset, gold event of the story."""


def gold_rows(
    records: Sequence[Record],
    stories: Sequence[Story | None],
    fp: FingerprintPolicy,
    cp: ClusterPolicy,
    keep: Callable[[Record], bool] = lambda r: True,
) -> list[Row]:
    """Candidate rows from the gold state of one stream (see the module docstring)."""
    # The model only weighs what the candidates carry; the one it scores with is irrelevant.
    clusterer = Clusterer(cp, recipe=fp)
    ids: dict[str, int] = {}
    rows: list[Row] = []
    for story_id, (record, story) in enumerate(zip(records, stories, strict=True)):
        if story is None or not keep(record):
            continue
        gold = record.event or record.id
        signature = fingerprint(story, fp)
        target = ids.get(gold)
        for candidate in clusterer.candidates(signature, story.when, dated=story.dated):
            values = features(candidate.cosine, candidate.gap_days)
            rows.append((values, int(candidate.event_id == target), record.dataset or "", gold))
        if target is None:
            target = ids[gold] = len(ids) + 1
        clusterer.add(
            story_id, target, signature, when=story.when, source=story.source,
            dated=story.dated,
        )  # fmt: skip
        clusterer.evict(story.when)
    return rows


def fit(rows: Sequence[Row], names: Sequence[str], l2: float = 1.0) -> tuple[float, list[float]]:
    """Logistic regression by Newton's method on standardized features, each dataset's rows
    weighing as much in all as every other's. Returns the bias and weights in raw units."""
    x = np.array([[values[n] for n in names] for values, *_ in rows], dtype=np.float64)
    y = np.array([label for _, label, *_ in rows], dtype=np.float64)
    per = collections.Counter(dataset for _, _, dataset, _ in rows)
    w = np.array([len(rows) / len(per) / per[dataset] for _, _, dataset, _ in rows])
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-12
    z = np.hstack([np.ones((len(rows), 1)), (x - mu) / sd])
    beta = np.zeros(z.shape[1])
    penalty = np.eye(z.shape[1]) * l2
    penalty[0, 0] = 0.0  # the intercept is not shrunk
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(z @ beta)))
        gradient = z.T @ (w * (y - p)) - penalty @ beta
        hessian = (z.T * (w * p * (1.0 - p))) @ z + penalty
        step = np.linalg.solve(hessian, gradient)
        beta += step
        if np.abs(step).max() < 1e-10:
            break
    weights = beta[1:] / sd
    bias = float(beta[0] - (mu / sd) @ beta[1:])
    return bias, [float(v) for v in weights]


def half(gold: str) -> int:
    """Which half a gold event falls in: a hash of its label."""
    return zlib.crc32(gold.encode()) % 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("streams", type=Path, nargs="+")
    parser.add_argument(
        "--features", default=",".join(FEATURES),
        help="comma-separated subset of " + ", ".join(FEATURES),
    )  # fmt: skip
    parser.add_argument("--l2", type=float, default=1.0)
    parser.add_argument("--no-halves", action="store_true", help="skip the held-out check")
    parser.add_argument("--write", action="store_true", help=f"write {MODEL_FILE.name}")
    args = parser.parse_args(argv)
    names = [n for n in args.features.split(",") if n]
    if unknown := set(names) - set(FEATURES):
        parser.error(f"unknown features: {', '.join(sorted(unknown))}")
    fp, cp = FingerprintPolicy(), ClusterPolicy()
    loaded = {path: load(path) for path in args.streams}
    rows: dict[Path, list[Row]] = {}
    for path, (records, stories) in loaded.items():
        rows[path] = gold_rows(records, stories, fp, cp)
        found = sum(label for _, label, *_ in rows[path])
        print(f"{path.name}: {len(rows[path])} candidate rows, {found} of them the gold event")
    everything = [row for part in rows.values() for row in part]
    bias, weights = fit(everything, names, args.l2)
    unknown = cp.window_hours / 24 / 2  # the expected gap of a pair inside the window
    model = ScoreModel(bias, dict(zip(names, weights, strict=True)), fp.version, unknown)
    print(
        "fitted:",
        json.dumps(
            {"bias": round(bias, 4)} | {n: round(v, 4) for n, v in zip(names, weights, strict=True)}
        ),
    )
    check: dict[str, Any] = {}
    if not args.no_halves:
        for held in (0, 1):
            train = [row for row in everything if half(row[3]) != held]
            b_half, w_half = fit(train, names, args.l2)
            half_model = ScoreModel(
                b_half, dict(zip(names, w_half, strict=True)), fp.version, unknown
            )
            fitted = ", ".join(f"{n} {v:.4f}" for n, v in zip(names, w_half, strict=True))
            print(f"\nhalf {held} held out; fitted on the other: bias {b_half:.4f}, {fitted}")
            for path, (records, stories) in loaded.items():
                picked = [i for i, r in enumerate(records) if half(r.event or r.id) == held]
                sub_r = [records[i] for i in picked]
                sub_s = [stories[i] for i in picked]
                for label, m in (("all-rows weights", model), ("other-half weights", half_model)):
                    report, _ = run(sub_r, sub_s, fp, cp, model=m)
                    line = summary(report)
                    print(f"  {path.name} half {held}, {label}: {line}")
                    check[f"{path.name}:half{held}:{label}"] = line
    if args.write:
        digest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in args.streams}
        trained = {
            "command": "python benchmarks/train_score.py " + " ".join(
                f"../shared/datasets/dev/{p.name}" for p in args.streams
            ) + " --write",
            "streams": digest,
            "rows": {p.name: len(r) for p, r in rows.items()},
            "positives": {p.name: sum(x[1] for x in r) for p, r in rows.items()},
            "l2": args.l2,
            "window_hours": cp.window_hours,
            "held_out": check,
        }  # fmt: skip
        out = ScoreModel(
            round(bias, 4),
            {n: round(v, 4) for n, v in zip(names, weights, strict=True)},
            fp.version,
            unknown,
            trained,
        )
        MODEL_FILE.write_text(json.dumps(out.to_json(), indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {MODEL_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
