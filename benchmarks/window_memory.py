"""The clustering window's memory per story, by what holds it.

    python benchmarks/window_memory.py            # the GVA and AllSides dev texts

Every plain-text dev document (3,581) is fingerprinted and clustered at one instant, so nothing
is evicted and the window ends up holding all of them; ``tracemalloc`` counts what was
allocated and is still alive, per story, grouped by the module that allocated it:

* ``cluster/_bands``: the two LSH indexes;
* ``cluster/_state``: event centroids, the term postings, the shingle MinHash kept per story;
* ``cluster`` (rest): statistics, members, the canonical tallies;
* ``fingerprint``: MinHash bytes the window keeps alive;
* ``lexicon``/``wordfreq``: the vocabulary, its strings and memoized frequencies (shared by
  every story with the word; bounded by the lexicon's table limit).
"""

from __future__ import annotations

import gc
import gzip
import json
import sys
import tracemalloc
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from ingestor import normalize
from ingestor.cluster import Clusterer, ClusterPolicy
from ingestor.fingerprint import FingerprintPolicy, fingerprint

DEV = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "dev"
GROUPS = ("cluster/_bands", "cluster/_state", "cluster/", "fingerprint", "lexicon", "wordfreq")


def main() -> int:
    texts = []
    for name in ("gva.jsonl.gz", "allsides.jsonl.gz"):
        path = DEV / name
        if not path.exists():
            sys.exit(f"window_memory.py needs {path} (the labelled dev streams)")
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            texts += [json.loads(line) for line in fh]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    stories = [
        normalize.normalize_article(
            r["text"],
            is_html=False,
            title=r.get("title"),
            url=r.get("url"),
            source=r.get("source"),
            published=None,
            fetched=now,
        )
        for r in texts
        if r.get("text")
    ]
    fp_policy = FingerprintPolicy()
    for story in stories[:50]:  # lazy imports and memo tables of the first stories
        fingerprint(story, fp_policy)
    clusterer = Clusterer(ClusterPolicy())
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.take_snapshot()
    for story_id, story in enumerate(stories):
        signature = fingerprint(story, fp_policy)
        assignment = clusterer.assign(signature, now)
        event_id = assignment.event_id or -story_id - 1
        clusterer.add(
            story_id, event_id, signature, when=now, source=story.source, assignment=assignment
        )
        if assignment.merge_with:
            clusterer.fold(event_id, assignment.merge_with)
        del signature, assignment
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    by: Counter[str] = Counter()
    for diff in after.compare_to(base, "filename"):
        name = diff.traceback[0].filename.replace("\\", "/")
        group = next((g for g in GROUPS if g in name), "other")
        by[group] += diff.size_diff
    count = len(stories)
    total = sum(by.values())
    print(f"{count:,} stories in the window, {clusterer.events:,} events")
    for group in (*GROUPS, "other"):
        print(f"  {group:<16} {by[group] / count / 1024:6.2f} KB per story")
    print(f"  {'total':<16} {total / count / 1024:6.2f} KB per story")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
