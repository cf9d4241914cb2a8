"""One daemon tick over 500 slow feeds, 5 % of them hostile: wall time, stored stories, memory.

    python benchmarks/load_feeds.py                 # 500 feeds, 16 workers, the 30 s deadline
    python benchmarks/load_feeds.py --deadline 10   # a smaller fetch deadline
    python benchmarks/load_feeds.py --json

A local HTTP server (a child process, so its memory is not counted) serves ``--feeds`` RSS feeds
of a few entries each on 127.0.0.1, every feed under a host name of its own (``f17.bench.test``,
resolved to 127.0.0.1 by a stub resolver, as distinct publishers would be), each answering after a
latency drawn uniformly from 0.5-5 s with a seeded generator. One feed in twenty misbehaves, in
turn: silent until after the deadline, a byte every 250 ms, a 100 MB body without a length, a
1 MB gzip stream that inflates to 1 GiB. The ingesting process builds the pipeline as
``ingestor run`` does (two parse workers under the time budget, ``fetch_workers`` threads), adds
every feed to a fresh SQLite store and runs one ``Pipeline.tick()``.

One line per number: feeds, ok, errors by kind; the wall time against its bound, one tick's
planned work spread over the workers (every latency, and a whole deadline for each silent or
dripping feed) plus one fetch deadline, the longest a feed can hold a worker (list scheduling
never needs more); the wall time against the ideal (the plan scheduled on the workers in the
tick's order, without any overhead); whether every healthy feed had all its entries stored; and
the peak RSS of the ingesting process (target: under 512 MB). Speed targets live here, never in
tests.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HOST_SUFFIX = ".bench.test"
KINDS = ("silent", "drip", "huge", "bomb")
MiB = 1024 * 1024
RSS_TARGET = 512 * MiB
_WORDS = (
    "council budget river bridge harbour rail station school hospital election minister court "
    "storm flood drought harvest market shares bank rates housing rent wages strike union port "
    "airport runway ferry museum archive festival library theatre orchestra stadium league cup "
    "match coach season record police inquiry report audit contract tender grid solar wind turbine "
    "pipeline reservoir water supply tariff export import factory plant jobs training apprentices "
    "university research study vaccine clinic ambulance waiting list surgery nurses doctors "
    "treaty summit border talks ceasefire aid convoy refugees shelter volunteers charity appeal "
    "mayor governor senate parliament vote motion bill amendment committee hearing witness judge"
)
WORDS = tuple(_WORDS.split())


# -- the plan: which feed does what, the same in both processes ------------------------------------


@dataclass(frozen=True, slots=True)
class FeedPlan:
    index: int
    latency_s: float
    kind: str
    """``ok`` or one of ``KINDS``."""
    entries: int

    @property
    def host(self) -> str:
        return f"f{self.index}{HOST_SUFFIX}"


def make_plan(feeds: int, seed: int, hostile_every: int = 20) -> list[FeedPlan]:
    rng = random.Random(seed)
    plan = []
    for i in range(feeds):
        hostile = hostile_every > 0 and i % hostile_every == hostile_every // 2
        kind = KINDS[(i // hostile_every) % len(KINDS)] if hostile else "ok"
        plan.append(FeedPlan(i, rng.uniform(0.5, 5.0), kind, rng.randint(3, 6)))
    return plan


def feed_document(feed: FeedPlan, seed: int) -> bytes:
    """A few entries of seeded word salad, distinct per feed, so every entry is a new story."""
    rng = random.Random(seed * 100_003 + feed.index)
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    items = []
    for n in range(feed.entries):
        title = " ".join(rng.choice(WORDS) for _ in range(7)).capitalize()
        body = " ".join(
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 24))).capitalize() + "."
            for _ in range(rng.randint(4, 8))
        )
        link = f"https://{feed.host}/story/{n}"
        when = format_datetime(now - timedelta(minutes=17 * n + feed.index), usegmt=True)
        items.append(
            f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid>"
            f"<pubDate>{when}</pubDate><description>&lt;p&gt;{body}&lt;/p&gt;</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Feed {feed.index}</title><link>https://{feed.host}/</link>{''.join(items)}"
        "</channel></rss>"
    ).encode()


# -- the server (run in a child process with --serve) ----------------------------------------------


def _bomb_pieces(inflated: int) -> Iterator[bytes]:
    """A gzip stream of ``inflated`` zero bytes, made piece by piece (about 1 MB per GiB)."""
    block = MiB
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(block)
    first = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    yield b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + first
    crc = zlib.crc32(zeros)
    for _ in range(inflated // block - 1):
        crc = zlib.crc32(zeros, crc)
        yield again
    yield b"\x03\x00" + crc.to_bytes(4, "little") + (inflated % 2**32).to_bytes(4, "little")


def serve(feeds: int, seed: int, deadline_s: float, hostile_every: int) -> None:
    plan = make_plan(feeds, seed, hostile_every)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            try:
                index = int(self.path.rsplit("/", 1)[-1])
                feed = plan[index]
            except (ValueError, IndexError):
                self.send_error(404)
                return
            self.close_connection = True
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._answer(feed)

        def _answer(self, feed: FeedPlan) -> None:
            if feed.kind == "silent":
                time.sleep(deadline_s + 5)
                return
            time.sleep(feed.latency_s)
            if feed.kind == "ok":
                body = feed_document(feed, seed)
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            if feed.kind == "bomb":
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Connection", "close")
            self.end_headers()
            if feed.kind == "drip":
                for _ in range(int(deadline_s * 4) + 20):
                    self.wfile.write(b"<")
                    self.wfile.flush()
                    time.sleep(0.25)
            elif feed.kind == "huge":
                zeros = bytes(64 * 1024)
                for _ in range(100 * 10**6 // len(zeros)):
                    self.wfile.write(zeros)
            else:
                for piece in _bomb_pieces(1024**3):
                    self.wfile.write(piece)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024

    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever(poll_interval=0.1)


# -- the tick --------------------------------------------------------------------------------------


def _resolver(host: str, port: int) -> list[str]:
    if host.endswith(HOST_SUFFIX):
        return ["127.0.0.1"]
    raise OSError(f"{host} is not a benchmark host")


def planned_s(feed: FeedPlan, deadline_s: float) -> float:
    """How long a feed holds a worker if nothing but the server takes time."""
    return deadline_s if feed.kind in ("silent", "drip") else feed.latency_s


def makespan(durations: list[float], workers: int) -> float:
    """The tick's length with no overhead: jobs taken in order by the first free worker."""
    free = [0.0] * min(workers, len(durations))
    for duration in durations:
        heapq.heapreplace(free, free[0] + duration)
    return max(free, default=0.0)


def _rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def run(args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import func, select

    from ingestor.config import load_settings
    from ingestor.fetch import Fetcher
    from ingestor.pipeline import Pipeline, utcnow
    from ingestor.store.schema import stories

    plan = make_plan(args.feeds, args.seed, args.hostile_every)
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--feeds", str(args.feeds), "--seed",
         str(args.seed), "--deadline", str(args.deadline), "--hostile-every",
         str(args.hostile_every)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        with tempfile.TemporaryDirectory(prefix="ingestor-load-") as tmp:
            settings = load_settings(
                None,
                flags={
                    "database_url": f"sqlite:///{Path(tmp) / 'load.db'}",
                    "fetch_timeout_s": args.deadline,
                    "fetch_workers": args.workers,
                    "fetch_allow_networks": ("127.0.0.1/32",),
                    "daemon_batch": args.feeds,
                },
                environ={},
            )
            fetcher = Fetcher(settings.fetch, resolver=_resolver)
            with Pipeline.open(
                settings, migrate=True, budget_workers=args.parse_workers, fetcher=fetcher
            ) as pipeline:
                now = utcnow()
                urls = {f"http://{f.host}:{port}/feed/{f.index}": f for f in plan}
                pipeline.store.sync_feeds(urls, now=now)
                rss_before = _rss_bytes()
                started = time.monotonic()
                results = pipeline.tick(now=now)
                wall = time.monotonic() - started
                rss_peak = _rss_bytes()
                feed_ids = {f.url: f.id for f in pipeline.store.list_feeds()}
                engine = pipeline.store._engine  # type: ignore[attr-defined]
                with engine.connect() as conn:
                    query = select(stories.c.feed_id, func.count()).group_by(stories.c.feed_id)
                    per_feed = {row[0]: row[1] for row in conn.execute(query)}
    finally:
        server.kill()
        server.wait(timeout=10)

    by_url = {r.feed_url: r for r in results}
    healthy = [f for f in plan if f.kind == "ok"]
    stored_ok = [
        f for url, f in urls.items()
        if f.kind == "ok" and by_url.get(url) is not None and by_url[url].status == "ok"
        and per_feed.get(feed_ids[url], 0) == f.entries
    ]  # fmt: skip
    errors = Counter(getattr(r.error, "kind", "error") for r in results if r.status == "error")
    hostile_right = sum(
        1
        for url, f in urls.items()
        if f.kind != "ok"
        and by_url[url].status == "error"
        and getattr(by_url[url].error, "kind", "")
        == {"silent": "timeout", "drip": "timeout", "huge": "too_large", "bomb": "too_large"}[
            f.kind
        ]
    )
    durations = [planned_s(f, args.deadline) for f in plan]
    bound = sum(durations) / args.workers + args.deadline
    ideal = makespan(durations, args.workers)
    return {
        "feeds": len(plan),
        "polled": len(results),
        "ok": sum(r.status == "ok" for r in results),
        "errors": sum(errors.values()),
        "error_kinds": dict(sorted(errors.items())),
        "hostile": len(plan) - len(healthy),
        "hostile_as_expected": hostile_right,
        "healthy": len(healthy),
        "healthy_stored": len(stored_ok),
        "all_healthy_stored": len(stored_ok) == len(healthy),
        "stories": sum(per_feed.values()),
        "workers": args.workers,
        "deadline_s": args.deadline,
        "wall_s": round(wall, 2),
        "bound_s": round(bound, 2),
        "wall_over_bound": round(wall / bound, 3),
        "ideal_s": round(ideal, 2),
        "wall_over_ideal": round(wall / ideal, 3),
        "max_feed_ms": max(r.elapsed_ms for r in results),
        "rss_before_mb": round(rss_before / MiB, 1),
        "rss_peak_mb": round(rss_peak / MiB, 1),
        "rss_target_mb": RSS_TARGET // MiB,
        "rss_under_target": rss_peak < RSS_TARGET,
    }


def report(out: dict[str, Any]) -> str:
    kinds = ", ".join(f"{k} {v}" for k, v in out["error_kinds"].items())
    return "\n".join(
        [
            f"feeds:        {out['feeds']} ({out['healthy']} healthy, {out['hostile']} hostile), "
            f"{out['polled']} polled in one tick, {out['workers']} workers, "
            f"{out['deadline_s']:g} s deadline",
            f"ok:           {out['ok']}",
            f"errors:       {out['errors']} ({kinds}); hostile feeds failed as expected: "
            f"{out['hostile_as_expected']}/{out['hostile']}",
            f"wall time:    {out['wall_s']:.1f} s vs bound {out['bound_s']:.1f} s (planned work "
            f"/ workers + deadline): ratio {out['wall_over_bound']:.2f}",
            f"vs ideal:     {out['ideal_s']:.1f} s (the plan on {out['workers']} workers, no "
            f"overhead): ratio {out['wall_over_ideal']:.2f}; slowest feed "
            f"{out['max_feed_ms'] / 1000:.1f} s",
            f"stored:       {out['healthy_stored']}/{out['healthy']} healthy feeds with every "
            f"entry ({'yes' if out['all_healthy_stored'] else 'NO'}), {out['stories']} stories",
            f"peak RSS:     {out['rss_peak_mb']:.0f} MB (before the tick {out['rss_before_mb']:.0f}"
            f" MB) vs target {out['rss_target_mb']} MB: ratio "
            f"{out['rss_peak_mb'] / out['rss_target_mb']:.2f}",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--workers", type=int, default=16, help="fetch_workers (default 16)")
    parser.add_argument(
        "--deadline", type=float, default=30.0, help="fetch deadline in seconds (default 30)"
    )
    parser.add_argument("--parse-workers", type=int, default=2, help="as `ingestor run`: 2")
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument(
        "--hostile-every",
        type=int,
        default=20,
        help="one feed in N is hostile (default 20: 5 %%; 0: none)",
    )
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.feeds, args.seed, args.deadline, args.hostile_every)
        return
    from ingestor import logs

    logs.configure(fmt="json", level="warning")  # one line per feed would drown the report
    out = run(args)
    print(json.dumps(out, indent=2) if args.json else report(out))


if __name__ == "__main__":
    main()
