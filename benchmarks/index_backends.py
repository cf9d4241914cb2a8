"""Measure the LSH index backends: in memory versus Redis (datasketch's storage).

    python benchmarks/index_backends.py ../shared/datasets/dev/stream.jsonl.gz
    python benchmarks/index_backends.py STREAM --redis redis://127.0.0.1:6379/13 --json

Signatures of the stream's documents (fingerprinted once) are inserted into a fresh
``LSHIndex`` per backend, one by one and in one insertion session (``commit``), then every
document is queried against both of its indexes. Prints stories per second for each, and for
Redis the memory it holds per story (``INFO memory`` before and after, in a database this script
empties first: use a spare database number).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ingestor.cluster import LSHIndex
from ingestor.fingerprint import fingerprint
from ingestor.models import Signature

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep import load  # the sibling benchmark's cached loader


def _index(url: str, signatures: list[Signature]) -> LSHIndex:
    return LSHIndex(
        num_perm=len(signatures[0].terms) // 4,
        copy_perm=len(signatures[0].shingles) // 4,
        copy_threshold=0.5,
        candidate_threshold=0.1,
        url=url,
        namespace="ingestor-bench",
    )


def measure(url: str, signatures: list[Signature], *, one_by_one: int) -> dict[str, float]:
    out: dict[str, float] = {}
    index = _index(url, signatures)
    index.clear()
    redis_client = None
    if url:
        import redis

        redis_client = redis.Redis.from_url(url)
        redis_client.flushdb()
    used_before = redis_client.info("memory")["used_memory"] if redis_client else 0

    started = time.perf_counter()
    for story_id, sig in enumerate(signatures[:one_by_one]):
        index.insert(story_id, terms=sig.terms, shingles=sig.shingles)
        index.commit()  # one story per session: what a write of one story costs
    out["insert_one_per_s"] = one_by_one / (time.perf_counter() - started)

    started = time.perf_counter()
    rest = signatures[one_by_one:]
    for story_id, sig in enumerate(rest, start=one_by_one):
        index.insert(story_id, terms=sig.terms, shingles=sig.shingles)
    index.commit()
    out["insert_session_per_s"] = len(rest) / (time.perf_counter() - started)

    started = time.perf_counter()
    for sig in signatures:
        index.query_copies(sig.shingles)
        index.query_terms(sig.terms)
    out["query_pairs_per_s"] = len(signatures) / (time.perf_counter() - started)
    out["stories"] = float(len(index.story_ids()))
    if redis_client is not None:
        used = redis_client.info("memory")["used_memory"] - used_before
        out["redis_bytes_per_story"] = used / len(signatures)
        redis_client.flushdb()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stream", type=Path)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--one-by-one", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    _, stories = load(args.stream)
    signatures = [fingerprint(s) for s in stories if s is not None]
    results = {"memory": measure("", signatures, one_by_one=args.one_by_one)}
    try:
        results["redis"] = measure(args.redis, signatures, one_by_one=args.one_by_one)
    except Exception as e:  # no server: say so, keep the in-memory figures
        print(f"redis: not measured ({e})", file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for backend, figures in results.items():
        line = "  ".join(f"{k}={v:,.0f}" for k, v in figures.items())
        print(f"{backend:>6}: {line}")
    if "redis" in results:
        memory, redis_ = results["memory"], results["redis"]
        ratios = {k: memory[k] / redis_[k] for k in memory if k.endswith("_per_s")}
        print("memory/redis: " + "  ".join(f"{k}={v:.1f}x" for k, v in ratios.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
