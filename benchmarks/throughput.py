"""Throughput of fingerprinting plus clustering on one core, and of the whole evaluation.

    python benchmarks/throughput.py ../shared/datasets/dev/stream.jsonl.gz [--runs 5] [--json]

Three figures, one line each:

* ``fingerprint+cluster``: documents per CPU-second of one thread running ``fingerprint`` and
  ``Clusterer.assign``/``add``/``fold`` over the normalized stream, in file order, best of
  ``--runs`` (CPU time, so other processes on the machine do not count against it). Target:
  1,000.
* ``normalize``: documents per CPU-second of ``normalize_article`` (main-text extraction of the
  HTML pages included), measured once.
* ``eval``: documents per wall-second of the whole ``ingestor eval`` path (normalize,
  fingerprint, cluster and the SQLite store), as ``ingestor eval`` reports it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from ingestor import normalize
from ingestor.cluster import Clusterer, ClusterPolicy
from ingestor.config import load_settings
from ingestor.fingerprint import FingerprintPolicy, fingerprint
from ingestor.pipeline import evaluate_dataset
from ingestor.replay import Record, iter_replay

TARGET = 1000.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stream", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-eval", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    records = [r for r in iter_replay([args.stream]) if isinstance(r, Record)]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    started = time.process_time()
    stories = []
    for r in records:
        try:
            stories.append(
                normalize.normalize_article(
                    r.text, is_html=r.is_html, title=r.title, url=r.url, source=r.source,
                    published=r.published, fetched=now, external_id=r.id,
                )
            )  # fmt: skip
        except Exception:  # unreadable documents are not part of this figure
            continue
    normalize_rate = len(records) / (time.process_time() - started)

    fp_policy, cluster_policy = FingerprintPolicy(), ClusterPolicy()
    for story in stories[:50]:  # warm the memo tables and lazy imports
        fingerprint(story, fp_policy)
    best = float("inf")
    split = (0.0, 0.0)
    for _ in range(args.runs):
        clusterer = Clusterer(cluster_policy)
        t0 = time.process_time()
        signatures = [fingerprint(story, fp_policy) for story in stories]
        t1 = time.process_time()
        for story_id, (story, signature) in enumerate(zip(stories, signatures, strict=True)):
            assignment = clusterer.assign(signature, story.when)
            event_id = assignment.event_id or -story_id - 1
            clusterer.add(
                story_id, event_id, signature, when=story.when, source=story.source,
                assignment=assignment,
            )  # fmt: skip
            if assignment.merge_with:  # as the pipeline does
                clusterer.fold(event_id, assignment.merge_with)
        t2 = time.process_time()
        if t2 - t0 < best:
            best, split = t2 - t0, (t1 - t0, t2 - t1)
    rate = len(stories) / best
    out = {
        "documents": len(stories),
        "fingerprint_cluster_docs_per_cpu_s": round(rate, 1),
        "fingerprint_docs_per_cpu_s": round(len(stories) / split[0], 1),
        "cluster_docs_per_cpu_s": round(len(stories) / split[1], 1),
        "target_docs_per_s": TARGET,
        "ratio_to_target": round(rate / TARGET, 2),
        "normalize_docs_per_cpu_s": round(normalize_rate, 1),
    }
    if not args.skip_eval:
        report = evaluate_dataset(args.stream, load_settings(None, environ={}))
        out["eval_docs_per_s"] = round(report.docs_per_second, 1)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    fp_rate, cluster_rate = out["fingerprint_docs_per_cpu_s"], out["cluster_docs_per_cpu_s"]
    print(
        f"fingerprint+cluster: {rate:,.0f} docs/cpu-s (fingerprint {fp_rate:,.0f}, "
        f"cluster {cluster_rate:,.0f}); target {TARGET:,.0f}: {out['ratio_to_target']:.2f}x"
    )
    print(f"normalize: {normalize_rate:,.0f} docs/cpu-s")
    if "eval_docs_per_s" in out:
        print(f"eval (whole path, SQLite store): {out['eval_docs_per_s']:,.0f} docs/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
