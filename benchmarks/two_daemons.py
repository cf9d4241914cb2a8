"""Two processes on one PostgreSQL database against one process: do they form the same events?

    python benchmarks/two_daemons.py                                   # ../shared dev stream
    python benchmarks/two_daemons.py STREAM --redis-url redis://127.0.0.1:6379/12 --json

The stream is split into two interleaved halves (even and odd lines, written to a temporary
directory), and two ``python -m ingestor replay HALF.jsonl`` processes ingest them at the same
time into a fresh PostgreSQL schema. A single ``replay`` of the whole stream into another fresh
schema is the reference. After the replays, every record is mapped to its event by reading the
stories (``external_id``) and memberships back from each database, and the two partitions are
compared: B-cubed precision, recall and F1 of the two-process partition with the single-process
one as gold (target: F1 >= 0.98), and B-cubed F1 of each against the dataset's own labels.

A *split* is a single-process event whose stories land in several two-process events that each
hold nothing else; it is counted, and counted again when the pieces divide along the two
processes (each piece from one half only), which is what copies arriving at once would do.

With ``--redis-url`` the two-process run is made twice, with each daemon's index in memory and
with the shared Redis index (``INGESTOR_INDEX_URL``); the Redis database must be empty (it is
emptied again afterwards). The reference run always keeps its index in memory.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ingestor.evaluate import bcubed

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STREAM = ROOT.parent / "shared" / "datasets" / "dev" / "stream.jsonl.gz"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TIMEOUT_S = 3600


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """A new, empty schema on ``url``'s database; yields a URL whose connections use it."""
    name = f"two_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    try:
        scoped = make_url(url).update_query_dict({"options": f"-csearch_path={name}"})
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        admin.dispose()


def split_stream(stream: Path, work: Path) -> tuple[list[Path], list[set[str]], dict[str, str]]:
    """The even and odd lines as two JSONL files; the record ids of each; gold labels."""
    paths = [work / "half-even.jsonl", work / "half-odd.jsonl"]
    ids: list[set[str]] = [set(), set()]
    gold: dict[str, str] = {}
    src: IO[str]
    with (
        gzip.open(stream, "rt", encoding="utf-8")
        if stream.suffix == ".gz"
        else stream.open(encoding="utf-8") as src
    ):
        outs = [p.open("w", encoding="utf-8") for p in paths]
        try:
            for number, line in enumerate(src):
                if not line.strip():
                    continue
                record = json.loads(line)
                ids[number % 2].add(str(record["id"]))
                gold[str(record["id"])] = str(record.get("event") or f"unlabelled:{record['id']}")
                outs[number % 2].write(line if line.endswith("\n") else line + "\n")
        finally:
            for out in outs:
                out.close()
    return paths, ids, gold


def replay(url: str, paths: list[list[Path]], index_url: str, work: Path) -> float:
    """Run one ``ingestor replay`` process per path list, all at once; their wall time."""
    config = work / "empty.toml"
    config.write_text("# defaults only\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGESTOR_")}
    env |= {"INGESTOR_CONFIG": str(config), "INGESTOR_DATABASE_URL": url,
            "INGESTOR_INDEX_URL": index_url, "INGESTOR_LOG_FORMAT": "json"}  # fmt: skip
    # One migration first, so the replays race on stories, not on creating the schema.
    subprocess.run([sys.executable, "-m", "ingestor", "db", "migrate"], env=env, check=True,
                   capture_output=True, timeout=TIMEOUT_S)  # fmt: skip
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ingestor", "replay", "--json", *map(str, group)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for group in paths
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=TIMEOUT_S)
        if proc.returncode != 0:
            raise RuntimeError(f"replay failed ({proc.returncode}): {err[-2000:]}")
    return time.monotonic() - started


def partition(url: str) -> dict[str, int]:
    """Record id -> event id, read back from the store."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT s.external_id, m.event_id FROM stories s"
                " JOIN memberships m ON m.story_id = s.id WHERE s.external_id IS NOT NULL"
            ))  # fmt: skip
            return {str(rid): int(event) for rid, event in rows}
    finally:
        engine.dispose()


def compare(
    single: dict[str, int], two: dict[str, int], halves: list[set[str]], gold: dict[str, str]
) -> dict[str, Any]:
    common = sorted(set(single) & set(two))
    agreement = bcubed([str(single[r]) for r in common], [two[r] for r in common])
    members: dict[int, set[str]] = defaultdict(set)
    for rid in common:
        members[two[rid]].add(rid)
    pieces: dict[int, list[int]] = defaultdict(list)
    for event, rids in members.items():
        owners = {single[r] for r in rids}
        if len(owners) == 1:
            pieces[owners.pop()].append(event)
    split = {s: es for s, es in pieces.items() if len(es) > 1}

    def half(event: int) -> set[int]:
        return {0 if r in halves[0] else 1 for r in members[event]}

    along = sum(
        1
        for events in split.values()
        if all(len(half(e)) == 1 for e in events) and len(set().union(*map(half, events))) == 2
    )
    return {
        "compared": len(common),
        "only_single": len(set(single) - set(two)),
        "only_two": len(set(two) - set(single)),
        "precision": round(agreement.precision, 4),
        "recall": round(agreement.recall, 4),
        "f1": round(agreement.f1, 4),
        "split_events": len(split),
        "split_pieces": sum(len(es) for es in split.values()),
        "split_along_processes": along,
        "events": len(set(two.values())),
        "f1_vs_gold": round(bcubed([gold[r] for r in two], list(two.values())).f1, 4),
    }


def redis_empty(url: str) -> bool:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return int(client.dbsize()) == 0
    finally:
        client.close()


def flush(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def run(stream: Path, postgres: str, redis_url: str, work: Path) -> dict[str, Any]:
    paths, halves, gold = split_stream(stream, work)
    out: dict[str, Any] = {"records": len(gold), "halves": [len(h) for h in halves]}
    with fresh_schema(postgres) as url:
        seconds = replay(url, [[stream]], "", work)
        single = partition(url)
    out["single"] = {
        "stored": len(single), "events": len(set(single.values())), "seconds": round(seconds, 1),
        "f1_vs_gold": round(bcubed([gold[r] for r in single], list(single.values())).f1, 4),
    }  # fmt: skip
    modes = [("memory", "")] + ([("redis", redis_url)] if redis_url else [])
    for mode, index_url in modes:
        if index_url and not redis_empty(index_url):
            raise SystemExit(f"{index_url} is not empty: name a spare Redis database")
        try:
            with fresh_schema(postgres) as url:
                seconds = replay(url, [[p] for p in paths], index_url, work)
                two = partition(url)
        finally:
            if index_url:
                flush(index_url)
        out[mode] = compare(single, two, halves, gold) | {
            "stored": len(two),
            "seconds": round(seconds, 1),
        }
    return out


def lines(result: dict[str, Any]) -> list[str]:
    single = result["single"]
    out = [
        f"records                 {result['records']} (halves {result['halves'][0]} + "
        f"{result['halves'][1]}, even and odd lines)",
        f"single process          {single['stored']} stored, {single['events']} events, "
        f"{single['seconds']} s, B-cubed F1 vs labels {single['f1_vs_gold']}",
    ]
    for mode in ("memory", "redis"):
        if mode not in result:
            continue
        r = result[mode]
        verdict = "ok" if r["f1"] >= 0.98 else "BELOW TARGET"
        out += [
            f"two processes ({mode:<6})  {r['stored']} stored, {r['events']} events, "
            f"{r['seconds']} s at once, B-cubed F1 vs labels {r['f1_vs_gold']}",
            f"  agreement with single B-cubed P {r['precision']} R {r['recall']} F1 {r['f1']} "
            f"on {r['compared']} records (target F1 >= 0.98: {verdict})",
            f"  split events          {r['split_events']} single-process events split into "
            f"{r['split_pieces']} two-process events, {r['split_along_processes']} of them "
            "along the two processes",
        ]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stream", nargs="?", type=Path, default=DEFAULT_STREAM)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--redis-url", default="", help="also run with the shared Redis index")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not args.stream.exists():
        print(f"no stream at {args.stream}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="ingestor-two-") as tmp:
        result = run(args.stream, args.postgres_url, args.redis_url, Path(tmp))
    print(json.dumps(result, indent=2) if args.json else "\n".join(lines(result)))
    counts = Counter(result[m]["f1"] >= 0.98 for m in ("memory", "redis") if m in result)
    return 0 if not counts[False] else 1


if __name__ == "__main__":
    sys.exit(main())
