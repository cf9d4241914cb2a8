"""Two processes on one PostgreSQL database against one process: do they form the same events?

    python benchmarks/two_daemons.py                                   # ../shared dev stream
    python benchmarks/two_daemons.py STREAM --redis-url redis://127.0.0.1:6379/12 --json

The stream is split into two interleaved halves (even and odd lines, written to a temporary
directory), and two ``python -m ingestor replay HALF.jsonl`` processes ingest them at the same
time into a fresh PostgreSQL schema. A single ``replay`` of the whole stream into another fresh
schema is the reference. After each replay every record is mapped to its event by reading the
stories (``external_id``) and memberships back from the database, and the partitions are
compared with B-cubed precision, recall and F1, the reference taken as gold (target: F1 >=
0.98); each is also scored against the dataset's own labels.

Clustering is online, so order matters, and two processes interleave their halves in batches,
not line by line. To tell the order's share from concurrency's, the records are replayed once
more by a single process in the order the two processes committed them (story ids grow in
commit order, writers being serialized): that run differs from the two-process one only in
that one process did everything.

A *split* is an event of the partition taken as gold whose stories land in several events of
the other that each hold nothing else. Splits are counted, and counted again when the pieces
were started by different processes (their first committed stories come from different
halves): what copies arriving at once would do.

With ``--redis-url`` the two-process and same-order runs are made with each daemon's index in
memory and again with the shared Redis index (``INGESTOR_INDEX_URL``); that Redis database must
be empty, and is emptied after each run. The reference run keeps its index in memory.
``--repeat N`` makes N two-process runs (each with its same-order run) per index mode: how the
two processes' transactions interleave changes from run to run.
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
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ingestor.evaluate import bcubed

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STREAM = ROOT.parent / "shared" / "datasets" / "dev" / "stream.jsonl.gz"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TIMEOUT_S = 3600
TARGET_F1 = 0.98


@dataclass
class Run:
    events: dict[str, int]
    """Record id -> event id."""
    order: list[str]
    """Record ids in the order their stories were committed."""
    seconds: float


@dataclass
class Stream:
    lines: dict[str, str]
    halves: list[Path]
    half_of: dict[str, int]
    gold: dict[str, str]


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


def read_stream(path: Path, work: Path) -> Stream:
    """The records by id, the even and odd lines written as two JSONL files, the gold labels."""
    stream = Stream({}, [work / "half-even.jsonl", work / "half-odd.jsonl"], {}, {})
    src: IO[str]
    with (
        gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open() as src,
        stream.halves[0].open("w", encoding="utf-8") as even,
        stream.halves[1].open("w", encoding="utf-8") as odd,
    ):
        for number, line in enumerate(line for line in src if line.strip()):
            record = json.loads(line)
            rid = str(record["id"])
            line = line if line.endswith("\n") else line + "\n"
            stream.lines[rid] = line
            stream.half_of[rid] = number % 2
            stream.gold[rid] = str(record.get("event") or f"unlabelled:{rid}")
            (odd if number % 2 else even).write(line)
    return stream


def replay(postgres: str, groups: list[list[Path]], index_url: str, work: Path) -> Run:
    """One ``ingestor replay`` process per group of paths, all at once, on a fresh schema (and
    an emptied Redis database, if any); the partition they made and its commit order."""
    config = work / "empty.toml"
    config.write_text("# defaults only\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGESTOR_")}
    with fresh_schema(postgres) as url:
        env |= {"INGESTOR_CONFIG": str(config), "INGESTOR_DATABASE_URL": url,
                "INGESTOR_INDEX_URL": index_url, "INGESTOR_LOG_FORMAT": "json"}  # fmt: skip
        # Migrate first, so the replays race on stories, not on creating the schema.
        command = [sys.executable, "-m", "ingestor"]
        subprocess.run([*command, "db", "migrate"], env=env, check=True, capture_output=True)
        started = time.monotonic()
        procs = [
            subprocess.Popen(
                [*command, "replay", "--json", *map(str, group)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for group in groups
        ]
        for proc in procs:
            _out, err = proc.communicate(timeout=TIMEOUT_S)
            if proc.returncode != 0:
                raise RuntimeError(f"replay failed ({proc.returncode}): {err[-2000:]}")
        seconds = time.monotonic() - started
        engine = create_engine(url)
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT s.external_id, m.event_id FROM stories s JOIN memberships m"
                " ON m.story_id = s.id WHERE s.external_id IS NOT NULL ORDER BY s.id"
            )).all()  # fmt: skip
        engine.dispose()
    if index_url:
        _redis(index_url, "flushdb")
    return Run({str(r): int(e) for r, e in rows}, [str(r) for r, _ in rows], seconds)


def _redis(url: str, command: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return int(client.execute_command(command) or 0)  # type: ignore[no-untyped-call]
    finally:
        client.close()


def compare(gold_run: Run, other: Run, half_of: dict[str, int]) -> dict[str, Any]:
    """B-cubed agreement of ``other`` with ``gold_run`` as gold, and the splits."""
    gold, pred = gold_run.events, other.events
    common = sorted(set(gold) & set(pred))
    scores = bcubed([str(gold[r]) for r in common], [pred[r] for r in common])
    members: dict[int, set[str]] = defaultdict(set)
    for rid in common:
        members[pred[rid]].add(rid)
    pieces: dict[int, list[int]] = defaultdict(list)
    for event, rids in members.items():
        owners = {gold[r] for r in rids}
        if len(owners) == 1:
            pieces[owners.pop()].append(event)
    split = [events for events in pieces.values() if len(events) > 1]
    position = {rid: i for i, rid in enumerate(other.order)}

    def started_by(event: int) -> int:
        return half_of[min(members[event], key=position.__getitem__)]

    along = sum({started_by(e) for e in events} == {0, 1} for events in split)
    return {
        "compared": len(common), "precision": round(scores.precision, 4),
        "recall": round(scores.recall, 4), "f1": round(scores.f1, 4),
        "split_events": len(split), "split_pieces": sum(len(es) for es in split),
        "split_along_processes": along,
    }  # fmt: skip


def summary(run: Run, gold: dict[str, str]) -> dict[str, Any]:
    labels = [gold[r] for r in run.events]
    return {
        "stored": len(run.events), "events": len(set(run.events.values())),
        "seconds": round(run.seconds, 1),
        "f1_vs_labels": round(bcubed(labels, list(run.events.values())).f1, 4),
    }  # fmt: skip


def run(path: Path, postgres: str, redis_url: str, work: Path, repeat: int = 1) -> dict[str, Any]:
    stream = read_stream(path, work)
    if redis_url and _redis(redis_url, "dbsize"):
        raise SystemExit(f"{redis_url} is not empty: name a spare Redis database")
    reference = replay(postgres, [[path]], "", work)
    out: dict[str, Any] = {
        "records": len(stream.lines),
        "halves": [sum(1 for h in stream.half_of.values() if h == i) for i in (0, 1)],
        "single": summary(reference, stream.gold),
    }
    for mode, index_url in [("memory", "")] + ([("redis", redis_url)] if redis_url else []):
        out[mode] = []
        for _ in range(repeat):  # the processes' timing differs from run to run
            two = replay(postgres, [[p] for p in stream.halves], index_url, work)
            ordered = work / f"committed-order-{mode}.jsonl"
            ordered.write_text("".join(stream.lines[r] for r in two.order), encoding="utf-8")
            same_order = replay(postgres, [[ordered]], index_url, work)
            out[mode].append({
                "two": summary(two, stream.gold),
                "same_order": summary(same_order, stream.gold),
                "two_vs_single": compare(reference, two, stream.half_of),
                "two_vs_same_order": compare(same_order, two, stream.half_of),
                "same_order_vs_single": compare(reference, same_order, stream.half_of),
            })  # fmt: skip
    return out


def lines(result: dict[str, Any]) -> list[str]:
    def run_line(name: str, s: dict[str, Any]) -> str:
        return (f"{name:<34} {s['stored']} stored, {s['events']} events, {s['seconds']} s, "
                f"B-cubed F1 vs labels {s['f1_vs_labels']}")  # fmt: skip

    def agreement(name: str, c: dict[str, Any], target: bool = False) -> str:
        verdict = f" ({'ok' if c['f1'] >= TARGET_F1 else 'BELOW'} target {TARGET_F1})"
        splits = f"{c['split_events']} split into {c['split_pieces']}"
        return (f"  {name:<32} P {c['precision']:.4f} R {c['recall']:.4f} F1 {c['f1']:.4f}"
                f"{verdict if target else ''}; {splits}, {c['split_along_processes']} along"
                " the processes")  # fmt: skip

    h = result["halves"]
    out = [
        f"records                            {result['records']} ({h[0]} even + {h[1]} odd lines)",
        run_line("single process, file order", result["single"]),
    ]
    for mode in ("memory", "redis"):
        for r in result.get(mode, []):
            out += [
                run_line(f"two processes at once ({mode})", r["two"]),
                run_line(f"one process, their order ({mode})", r["same_order"]),
                agreement("two vs single (file order)", r["two_vs_single"], target=True),
                agreement("two vs one in their order", r["two_vs_same_order"]),
                agreement("one in their order vs single", r["same_order_vs_single"]),
            ]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stream", nargs="?", type=Path, default=DEFAULT_STREAM)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--redis-url", default="", help="also run with the shared Redis index")
    parser.add_argument("--repeat", type=int, default=1, help="two-process runs per index mode")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not args.stream.exists():
        print(f"no stream at {args.stream}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="ingestor-two-") as tmp:
        result = run(args.stream, args.postgres_url, args.redis_url, Path(tmp), args.repeat)
    print(json.dumps(result, indent=2) if args.json else "\n".join(lines(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
