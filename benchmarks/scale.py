"""Scale: does a replay of many stories keep flat memory and a flat cost per story?

    python benchmarks/scale.py                       # 10,000 and 100,000 stories
    python benchmarks/scale.py --sizes 10000 --million
    python benchmarks/scale.py --minhash-only        # the MinHash peers alone

For each size a synthetic stream is built from the dev texts and replayed with the real
pipeline (``Pipeline.replay``: normalize, fingerprint, cluster, the SQLite store) into a fresh
database; printed per size, side by side: wall time, stories per second, the cost per story of
the last tenth against the first tenth, peak RSS, and the clusterer's window at the end.

The synthetic stream: distinct stories spread over weeks, ``--per-day`` (2,000) a day, so the
72-hour window holds about 6,000. Each story is a dev document with a third of its words
replaced by words of other documents (its own vocabulary, never a copy of another story), and
one in four is a variant of a recent story (the same text with a few words changed, another
source), so copies and rewrites are clustered as in a feed stream. Seeded: the same stream for
the same size.

``--minhash`` also times MinHash over the same shingle arrays: datasketch's per-token
``update``, its ``update_batch``, and the fingerprint's numpy pass, which gives the same values.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ingestor.config import load_settings
from ingestor.pipeline import Pipeline

DEV = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "dev"
START = datetime(2025, 1, 1, tzinfo=UTC)


def dev_texts(limit: int = 4000) -> list[tuple[str, str]]:
    """(title, text) of dev documents with plain text (GVA and AllSides records)."""
    out: list[tuple[str, str]] = []
    for name in ("gva.jsonl.gz", "allsides.jsonl.gz"):
        path = DEV / name
        if not path.exists():
            sys.exit(f"scale.py needs {path} (the labelled dev streams)")
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                if row.get("text"):
                    out.append((row.get("title") or "", row["text"]))
    return out[:limit]


def synthetic(path: Path, size: int, per_day: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    texts = dev_texts()
    vocabulary = sorted({w for _, t in texts[:500] for w in t.split() if w.isalpha()})
    recent: list[tuple[str, str]] = []
    step = timedelta(days=1) / per_day
    with path.open("w", encoding="utf-8") as out:
        for i in range(size):
            if recent and rng.random() < 0.25:
                title, words = rng.choice(recent)
                body = words.split()
                for _ in range(max(1, len(body) // 20)):
                    body[rng.randrange(len(body))] = rng.choice(vocabulary)
                text = " ".join(body)
            else:
                title, base = texts[rng.randrange(len(texts))]
                body = base.split()
                for k in range(len(body)):
                    if rng.random() < 0.33:
                        body[k] = rng.choice(vocabulary)
                text = " ".join(body)
                title = " ".join(
                    rng.choice(vocabulary) if rng.random() < 0.5 else w for w in title.split()
                )
                recent.append((title, text))
                recent = recent[-200:]
            when = START + step * i
            out.write(json.dumps({
                "id": f"s{i}", "title": title, "text": text,
                "url": f"https://site{i % 97}.example/{i}",
                "source": f"site{i % 97}.example", "published": when.isoformat(),
            }) + "\n")  # fmt: skip


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def replay(size: int, per_day: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="ingestor-scale-") as tmp:
        stream = Path(tmp) / "stream.jsonl"
        synthetic(stream, size, per_day)
        settings = load_settings(
            None, flags={"database_url": f"sqlite:///{Path(tmp) / 's.db'}", "data_dir": tmp},
            environ={},
        )  # fmt: skip
        marks: list[tuple[int, float, float]] = []
        done = 0
        tenth = max(1, size // 10)

        def step(n: int) -> None:
            nonlocal done
            done += n
            if done % tenth == 0:
                marks.append((done, time.process_time(), rss_mb()))

        with Pipeline.open(settings, migrate=True) as pipeline:
            started, cpu = time.monotonic(), time.process_time()
            marks.append((0, cpu, rss_mb()))
            pipeline.replay([stream], progress=step)
            wall = time.monotonic() - started
            window = pipeline.window.clusterer
            stories, events = window.stories, window.events
        per = [(b[1] - a[1]) / max(1, b[0] - a[0]) for a, b in itertools.pairwise(marks)]
        return {
            "stories": size,
            "wall_s": wall,
            "stories_per_s": size / wall,
            "cpu_ms_first_tenth": 1000 * per[0] if per else 0.0,
            "cpu_ms_last_tenth": 1000 * per[-1] if per else 0.0,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_mb_end": marks[-1][2],
            "window_stories": stories,
            "window_events": events,
        }


def minhash_peers(rounds: int = 3) -> None:
    import numpy as np
    from datasketch import MinHash

    from ingestor.fingerprint import _minhash_bytes

    rng = np.random.default_rng(5)
    arrays = [rng.integers(0, 2**32, size=int(n), dtype=np.uint64).astype(np.uint32)
              for n in rng.integers(50, 1500, size=300)]  # fmt: skip
    items = sum(len(a) for a in arrays)
    template = MinHash(num_perm=64, seed=1, hashfunc=int, scheme="affine32")

    def per_token() -> None:
        for a in arrays:
            m = template.copy()
            for v in a.tolist():
                m.update(v)

    def batch() -> None:
        for a in arrays:
            m = template.copy()
            m.update_batch(a.tolist())

    def ours() -> None:
        for a in arrays:
            _minhash_bytes(a, 64)

    for name, run in (("datasketch update", per_token), ("datasketch update_batch", batch),
                      ("fingerprint numpy pass", ours)):  # fmt: skip
        best = min(_cpu(run) for _ in range(rounds))
        print(f"  {name:<24} {len(arrays) / best:>9,.0f} texts/cpu-s  "
              f"{items / best:>12,.0f} shingles/cpu-s")  # fmt: skip


def _cpu(run: object) -> float:
    started = time.process_time()
    run()  # type: ignore[operator]
    return time.process_time() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--million", action="store_true", help="add a 1,000,000-story run")
    parser.add_argument("--per-day", type=int, default=2000)
    parser.add_argument("--minhash", action="store_true", help="also time the MinHash peers")
    parser.add_argument("--minhash-only", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a size, in this process
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(replay(args.one, args.per_day)))
        return 0
    if args.minhash or args.minhash_only:
        print("MinHash, 64 permutations, the same 300 shingle arrays:")
        minhash_peers()
        if args.minhash_only:
            return 0
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.million:
        sizes.append(1_000_000)
    print(f"{'stories':>9} {'wall s':>8} {'stories/s':>10} {'ms/story first':>15} "
          f"{'last tenth':>11} {'ratio':>6} {'peak RSS MB':>12} {'window':>8}")  # fmt: skip
    for size in sizes:
        # Each size in a process of its own, so its peak memory is its own.
        done = subprocess.run(
            [sys.executable, __file__, "--one", str(size), "--per-day", str(args.per_day)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        r = json.loads(done.stdout.strip().splitlines()[-1])
        if args.json:
            print(json.dumps(r))
            continue
        ratio = r["cpu_ms_last_tenth"] / r["cpu_ms_first_tenth"] if r["cpu_ms_first_tenth"] else 0
        print(f"{size:>9,} {r['wall_s']:>8.0f} {r['stories_per_s']:>10.0f} "
              f"{r['cpu_ms_first_tenth']:>15.2f} {r['cpu_ms_last_tenth']:>11.2f} {ratio:>6.2f} "
              f"{r['peak_rss_mb']:>12.0f} {r['window_stories']:>8,}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
