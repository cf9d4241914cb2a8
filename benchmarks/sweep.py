"""Sweep the clustering settings on a labelled stream and print the scores of each setting.

    python benchmarks/sweep.py ../shared/datasets/dev/stream.jsonl.gz
    python benchmarks/sweep.py STREAM --grid join_probability=0.2,0.3,0.4 --grid name_boost=2,3

The stream is normalized once (the slow part, cached next to this script under .cache/), then
every combination of the grid runs the real ``fingerprint`` and ``Clusterer`` over it in file
order, exactly as ``ingestor eval`` does but without the store. One line per combination:
B-cubed precision/recall/F1 per dataset, mixed events, and whether the seed stories form one
event of their own. This is how the defaults in ``config/ingestor.toml`` were chosen; the table
in ``docs/design.md`` is its output.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import pickle
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ingestor import evaluate, normalize
from ingestor.cluster import Clusterer, ClusterPolicy, ScoreModel
from ingestor.fingerprint import FingerprintPolicy, fingerprint
from ingestor.models import Story
from ingestor.pipeline import StreamClock
from ingestor.replay import Record, iter_replay

CACHE = Path(__file__).resolve().parent / ".cache"
NOW = "2026-01-01T00:00:00+00:00"


def load(path: Path) -> tuple[list[Record], list[Story | None]]:
    from datetime import datetime

    # The cache is only good for this stream and this normalization and stream-clock code.
    code = b"".join(p.read_bytes() for p in sorted(Path(normalize.__file__).parent.glob("*.py")))
    code += Path(sys.modules[StreamClock.__module__].__file__ or "").read_bytes()
    stamp = f"{path.resolve()}:{path.stat().st_mtime}:".encode()
    key = hashlib.sha256(stamp + code).hexdigest()[:16]
    cached = CACHE / f"stories-{key}.pickle"
    if cached.exists():
        with cached.open("rb") as fh:
            data: tuple[list[Record], list[Story | None]] = pickle.load(fh)
            return data
    now = datetime.fromisoformat(NOW)
    records: list[Record] = []
    stories: list[Story | None] = []
    for item in iter_replay([path]):
        if not isinstance(item, Record):
            continue
        records.append(item)
        try:
            stories.append(
                normalize.normalize_article(
                    item.text, is_html=item.is_html, title=item.title, url=item.url,
                    source=item.source, published=item.published, fetched=now,
                    external_id=item.id,
                )
            )  # fmt: skip
        except Exception:  # an unreadable document is an event of its own
            stories.append(None)
    # As the replay does: an undated record takes the stream's time, never the wall clock's.
    clock: StreamClock[int] = StreamClock(now)
    placed: dict[int, Story] = {}
    for position, story in enumerate(stories):
        if story is not None:
            placed.update((i, s) for s, i in clock.place(story, position))
    placed.update((i, s) for s, i in clock.flush())
    stories = [placed.get(i) for i in range(len(stories))]
    CACHE.mkdir(exist_ok=True)
    with cached.open("wb") as fh:
        pickle.dump((records, stories), fh)
    return records, stories


def run(
    records: list[Record],
    stories: list[Story | None],
    fp: FingerprintPolicy,
    cp: ClusterPolicy,
    model: ScoreModel | None = None,
) -> tuple[evaluate.EvalReport, float]:
    started = time.perf_counter()
    clusterer = Clusterer(cp, recipe=fp, model=model)
    predicted: list[int | str] = []
    into: dict[int, int] = {}  # merged event -> the event it went into
    next_event = 1
    for story_id, story in enumerate(stories):
        if story is None:
            predicted.append(f"unread:{story_id}")
            continue
        signature = fingerprint(story, fp)
        assignment = clusterer.assign(signature, story.when, dated=story.dated)
        event_id = assignment.event_id
        if event_id is None:
            event_id, next_event = next_event, next_event + 1
        clusterer.add(
            story_id, event_id, signature, when=story.when, source=story.source,
            assignment=assignment, dated=story.dated,
        )  # fmt: skip
        if assignment.merge_with:  # as the pipeline does; the store's log is ``into`` here
            event_id, merges = clusterer.fold(event_id, assignment.merge_with)
            into.update((merge.gone.id, merge.into) for merge in merges)
        predicted.append(event_id)
    seconds = time.perf_counter() - started
    labels = []
    for event_id in predicted:
        if isinstance(event_id, int):
            while event_id in into:
                event_id = into[event_id]
            event_id = f"e{event_id}"
        labels.append(event_id)
    gold = [r.event or r.id for r in records]
    datasets = [r.dataset or "" for r in records]
    return evaluate.score(gold, labels, datasets, seconds=seconds), seconds


def summary(report: evaluate.EvalReport) -> str:
    """One line: B-cubed P/R/F1 and predicted/gold events per dataset, and mixed events."""
    parts = [
        f"{g.name} P{g.bcubed.precision:.3f} R{g.bcubed.recall:.3f} F{g.bcubed.f1:.3f} "
        f"({g.predicted_events}/{g.gold_events})"
        for g in report.by_dataset
    ]
    return " | ".join([*parts, f"mixed={report.mixed_events}"])


def policies(settings: Iterable[tuple[str, Any]]) -> tuple[FingerprintPolicy, ClusterPolicy]:
    """The shipped policies with ``settings`` (``FingerprintPolicy`` or ``ClusterPolicy``
    field names) changed, validated as the settings file would be."""
    fp_changes: dict[str, Any] = {}
    cp_changes: dict[str, Any] = {}
    for name, value in settings:
        (fp_changes if name in FingerprintPolicy.model_fields else cp_changes)[name] = value
    return FingerprintPolicy(**fp_changes), ClusterPolicy(**cp_changes)


def changed(policy: ClusterPolicy, **values: Any) -> ClusterPolicy:
    """``policy`` with ``values`` changed, validated."""
    return ClusterPolicy(**policy.model_dump() | values)


def parse_setting(spec: str) -> tuple[str, list[Any]]:
    """``name=v1,v2,...`` as a setting name and its values; ``ValueError`` for an unknown
    name."""
    name, _, values = spec.partition("=")
    if name not in FingerprintPolicy.model_fields and name not in ClusterPolicy.model_fields:
        raise ValueError(f"unknown setting {name!r}")
    return name, [_value(v) for v in values.split(",")]


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stream", type=Path)
    parser.add_argument(
        "--grid", action="append", default=[], help="name=v1,v2,... (a FingerprintPolicy or "
        "ClusterPolicy field); repeat for a product of grids",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="one JSON object per combination")
    args = parser.parse_args(argv)
    records, stories = load(args.stream)
    axes: list[tuple[str, list[Any]]] = []
    for spec in args.grid:
        try:
            axes.append(parse_setting(spec))
        except ValueError as error:
            parser.error(str(error))
    for combo in itertools.product(*(values for _, values in axes)) if axes else [()]:
        fp, cp = policies(zip((name for name, _ in axes), combo, strict=True))
        report, seconds = run(records, stories, fp, cp)
        label = " ".join(f"{n}={v}" for (n, _), v in zip(axes, combo, strict=True)) or "defaults"
        if args.json:
            print(json.dumps({"setting": label, "seconds": round(seconds, 2)} | report.to_json()))
            continue
        print(f"{label} | {summary(report)} {len(stories) / seconds:.0f} docs/s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
