"""How far the clustering scores on a labelled stream can be trusted to carry over to another
stream of the same kinds.

    python benchmarks/robustness.py STREAM orders [--runs 10]
    python benchmarks/robustness.py STREAM halves [--values 0.25,0.3,0.35,0.4,0.45]
    python benchmarks/robustness.py STREAM summaries [--words 30,60,120]
    python benchmarks/robustness.py STREAM regold --join A,B [--join C,D]

* ``orders``: the stream in ``--runs`` random orders (seeded, so reruns agree). A held-out stream
  arrives in another order; the spread says how much of a score is the order's luck.
* ``halves``: the gold events split in two by a hash of their label (ECB+ by topic, so that each
  topic's two look-alike events stay together), and ``join_probability``
  (the setting that decides) swept on each half alone. If both halves peak at the same value,
  the default is not an artefact of one half's events.
* ``summaries``: every story cut to its first N words, as feeds that carry only a summary would
  deliver it.
* ``regold``: the file-order scores with some gold events counted as one (``--join`` takes
  labels), for questions of label granularity: how much of a score two gold events that report
  the same happening cost. It changes nothing in the clustering.

Everything runs the real ``fingerprint`` and ``Clusterer`` through ``sweep.run`` on the stories
``sweep.load`` normalized (and cached). Defaults are the shipped settings.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
from dataclasses import replace
from pathlib import Path

from sweep import changed, load, parse_setting, policies, run, summary

from ingestor.cluster import ClusterPolicy
from ingestor.fingerprint import FingerprintPolicy
from ingestor.models import Story
from ingestor.replay import Record


def orders(
    records: list[Record], stories: list[Story | None], runs: int, fp: FingerprintPolicy,
    cp: ClusterPolicy,
) -> None:  # fmt: skip
    per: dict[str, list[tuple[float, float, float]]] = {}
    for seed in range(runs):
        order = list(range(len(records)))
        random.Random(seed).shuffle(order)
        report, _ = run([records[i] for i in order], [stories[i] for i in order], fp, cp)
        print(f"order {seed}: {summary(report)}", flush=True)
        for g in report.by_dataset:
            b = g.bcubed
            per.setdefault(g.name, []).append((b.precision, b.recall, b.f1))
    print(f"\nover {runs} orders (mean, min-max):")
    for name, rows in per.items():
        cells = []
        for label, values in zip("PRF", zip(*rows, strict=True), strict=True):
            cells.append(
                f"{label} {statistics.fmean(values):.3f} ({min(values):.3f}-{max(values):.3f})"
            )
        print(f"  {name}: " + "  ".join(cells))


def halves(
    records: list[Record], stories: list[Story | None], values: list[float],
    fp: FingerprintPolicy, base: ClusterPolicy,
) -> None:  # fmt: skip
    def half(record: Record) -> int:
        label = record.event or record.id
        if record.dataset == "ecbplus":  # "ecbplus:1_ecb", "ecbplus:1_ecbplus": topic 1
            label = label.partition("_")[0]  # a topic's look-alike pair stays together
        return hashlib.sha256(label.encode()).digest()[0] & 1

    for h in (0, 1):
        keep = [i for i, r in enumerate(records) if half(r) == h]
        events = len({records[i].event for i in keep})
        print(f"half {h}: {len(keep)} documents, {events} gold events")
        for value in values:
            cp = changed(base, join_probability=value)
            report, _ = run([records[i] for i in keep], [stories[i] for i in keep], fp, cp)
            print(f"  join_probability={value}: {summary(report)}", flush=True)


def summaries(
    records: list[Record], stories: list[Story | None], words: list[int], fp: FingerprintPolicy,
    cp: ClusterPolicy,
) -> None:  # fmt: skip
    for n in words:
        cut = [
            None if s is None else replace(s, text=" ".join(s.text.split()[:n])) for s in stories
        ]
        report, _ = run(records, cut, fp, cp)
        print(f"first {n} words: {summary(report)}", flush=True)


def regold(
    records: list[Record], stories: list[Story | None], joins: list[str], fp: FingerprintPolicy,
    cp: ClusterPolicy,
) -> None:  # fmt: skip
    report, _ = run(records, stories, fp, cp)
    print(f"as labelled: {summary(report)}")
    alias: dict[str, str] = {}
    for spec in joins:
        first, *rest = spec.split(",")
        alias.update((label, first) for label in rest)
    joined = [replace(r, event=alias.get(r.event or "", r.event)) for r in records]
    report, _ = run(joined, stories, fp, cp)
    print(f"joined:      {summary(report)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stream", type=Path)
    parser.add_argument("mode", choices=["orders", "halves", "summaries", "regold"])
    parser.add_argument("--runs", type=int, default=10, help="orders: how many orders")
    parser.add_argument(
        "--values", default="0.2,0.3,0.4,0.5", help="halves: join_probability values"
    )
    parser.add_argument("--words", default="30,60,120", help="summaries: words kept per story")
    parser.add_argument(
        "--join", action="append", default=[], help="regold: gold labels to count as one, A,B"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE",
        help="run with a setting other than the shipped one (as sweep.py's --grid, one value)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if not args.stream.is_file():
        parser.error(f"no such stream file: {args.stream}")
    changed = []
    for spec in args.set:
        try:
            name, values = parse_setting(spec)
        except ValueError as error:
            parser.error(str(error))
        changed.append((name, values[0]))
    fp, cp = policies(changed)
    records, stories = load(args.stream)
    if args.mode == "orders":
        orders(records, stories, args.runs, fp, cp)
    elif args.mode == "halves":
        halves(records, stories, [float(v) for v in args.values.split(",")], fp, cp)
    elif args.mode == "summaries":
        summaries(records, stories, [int(v) for v in args.words.split(",")], fp, cp)
    else:
        if not args.join:
            parser.error("regold needs at least one --join A,B")
        regold(records, stories, args.join, fp, cp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
