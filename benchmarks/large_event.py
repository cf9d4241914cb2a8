"""Large events: does the canonical choice cost the same at 100 variants as at 10,000?

    python benchmarks/large_event.py                  # 100, 1,000, 10,000 variants
    python benchmarks/large_event.py --sizes 100 5000

The clusterer asks for an event's canonical story every time a variant joins. For each size an
event of that many variants is built (sources and agency credits drawn as in a wire story's
reprints, seeded), and the time of one more variant's canonical choice is printed two ways,
side by side: a scan over every member (``choose_canonical``, what each question cost before
the tally) and the event's kept tally (``Event.canonical``), with the ratio of each to its cost
at the smallest size. Both give the same story at every step (checked as it goes).

``--explain`` also times ``events show --explain``'s rendering of such an event (every variant a
wire-length text) with every variant shown against the default ``--variants 50``.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

from ingestor import render
from ingestor.cluster import Member, choose_canonical
from ingestor.cluster._state import Event
from ingestor.models import Event as StoredEvent
from ingestor.models import EventDetail, Story, Variant

START = datetime(2025, 1, 1, tzinfo=UTC)
SOURCES = ["reuters.com", "apnews.com", "tass.ru", "example.com", "news.example", "blog.example"]
CREDITS = [(), ("Reuters",), ("AP",), ("TASS", "Reuters"), ("Reuters", "AP")]


def members(count: int, rng: random.Random) -> list[Member]:
    return [
        Member(
            i,
            START + timedelta(minutes=rng.randrange(0, 4_000)),
            f"{rng.randrange(10_000)}.{rng.choice(SOURCES)}",
            rng.randrange(100, 2_000),
            rng.choice(CREDITS),
        )
        for i in range(1, count + 1)
    ]


def per_question(size: int, *, extra: int = 50) -> tuple[float, float]:
    """Seconds per canonical question when the event has ``size`` variants: (scan, tally)."""
    rng = random.Random(size)
    stream = members(size + extra, rng)
    event = Event(1, START, START)
    for member in stream[:size]:
        event.members.append(member)
    event.canonical("agency")  # the tally counts what the event already holds
    scan = tally = 0.0
    for member in stream[size:]:
        event.members.append(member)
        t0 = time.perf_counter()
        kept = event.canonical("agency")
        t1 = time.perf_counter()
        scanned = choose_canonical(event.members, "agency")
        t2 = time.perf_counter()
        if kept != scanned:
            raise SystemExit(f"the tally chose {kept}, the scan {scanned}, at {len(event.members)}")
        tally += t1 - t0
        scan += t2 - t1
    return scan / extra, tally / extra


def explain_seconds(size: int, limit: int | None) -> float:
    """Seconds to render ``--explain`` of an event of ``size`` variants, ``limit`` shown."""
    rng = random.Random(size)
    words = [f"w{i}" for i in range(3_000)]
    base = [rng.choice(words) for _ in range(600)]

    def text() -> str:
        return " ".join(w if rng.random() > 0.2 else rng.choice(words) for w in base)

    variants = tuple(
        Variant(
            i,
            Story(
                source=f"s{i}.example",
                title=f"Story {i}",
                text=text(),
                fetched=START,
                content_hash=str(i),
            ),
            0.5,
            "rewrite",
            START,
            {"cosine": 0.5},
        )
        for i in range(1, size + 1)
    )
    event = StoredEvent(1, 1, "Story 1", START, START, size, size)
    detail = EventDetail(event=event, variants=variants)
    t0 = time.perf_counter()
    render.detail_text(detail, explain=True, limit=limit)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1_000, 10_000])
    parser.add_argument("--explain", action="store_true", help="also time --explain's rendering")
    args = parser.parse_args(argv)
    print(f"{'variants':>9} {'scan ms':>9} {'x':>6} {'tally ms':>9} {'x':>6}")
    base: tuple[float, float] | None = None
    for size in args.sizes:
        scan, tally = per_question(size)
        base = base or (scan, tally)
        print(
            f"{size:>9,} {scan * 1e3:>9.3f} {scan / base[0]:>6.1f}"
            f" {tally * 1e3:>9.4f} {tally / base[1]:>6.1f}"
        )
    if args.explain:
        print(f"\n{'variants':>9} {'explain all s':>14} {'--variants 50 s':>16}")
        for size in args.sizes:
            every = explain_seconds(size, None) if size <= 2_000 else float("nan")
            print(f"{size:>9,} {every:>14.2f} {explain_seconds(size, 50):>16.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
