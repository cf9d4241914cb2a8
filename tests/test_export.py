"""``ingestor events export``: every event with its canonical story and sources, as JSON Lines
or CSV, read a page at a time, filtered by time and size, with CSV cells that a spreadsheet
would run as formulas defused."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from ingestor import normalize, render_ops
from ingestor.app import Ingestor
from ingestor.models import Story
from ingestor.store import reading
from tests.local import local_settings
from tests.test_cli import FEEDS, Cli, error_line
from tests.test_merges import NOW, items, open_pipeline, split_story, words

HOSTILE_TITLES = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+cmd|' /C calc'!A0", "-2+3",
                  "@SUM(A1:A9)", "\tTabbed", "Plain title"]  # fmt: skip


def titled(n: int, title: str) -> Story:
    return normalize.normalize_article(
        " ".join(words(f"t{n}", 30)), is_html=False, title=title, url=f"https://s{n}.example/{n}",
        source=f"s{n}.example", published=NOW, fetched=NOW,
    )  # fmt: skip


def test_export_streams_every_event_a_page_at_a_time(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a page of two events, all seven come back once each, by id, each with its
    variants, canonical story and sources; ``min_size`` and ``since`` filter."""
    monkeypatch.setattr(reading, "_PAGE", 2)
    with open_pipeline(database_url, tmp_path) as pipeline:
        pipeline.ingest(items(split_story()[:2]), now=NOW)  # one event of two
        pipeline.ingest(items([titled(n, t) for n, t in enumerate(HOSTILE_TITLES)]), now=NOW)
    with Ingestor(local_settings(tmp_path, database_url=database_url)) as app:
        exported = list(app.export_events())
        assert [e.id for e in exported] == sorted(e.id for e in app.list_events(limit=100))
        assert len(exported) == 7
        first = exported[0]
        assert first.size == 2
        assert len(first.variants) == 2
        assert first.canonical.story_id in {v.story_id for v in first.variants}
        assert first.sources == ["outlet1", "outlet2"]
        assert [e.id for e in app.export_events(min_size=2)] == [first.id]
        assert list(app.export_events(since=NOW.replace(year=2030))) == []
    buffer = io.StringIO()
    csv.writer(buffer).writerows(render_ops.csv_row(e) for e in exported)
    rows = list(csv.reader(io.StringIO(buffer.getvalue())))
    titles = [row[render_ops.CSV_FIELDS.index("title")] for row in rows[1:]]
    stored = [e.canonical.story.title for e in exported[1:]]
    assert titles == ["'" + t if t[0] in "=+-@\t\r" else t for t in stored]
    assert sum(t.startswith("'") for t in titles) >= 4
    line = render_ops.export_json(first)
    assert line["variants"][0]["story_id"] == first.variants[0].story_id
    json.dumps(line)


def test_export_on_the_command_line(tmp_path: Path) -> None:
    cli = Cli.make(tmp_path / "export", sorted(FEEDS.glob("*.xml")))
    cli("run", "--once")
    listed = cli.json("events", "list")
    result = cli("events", "export")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(e["id"] for e in lines) == sorted(e["id"] for e in listed)
    assert f"exported {len(listed)} events" in result.stderr
    assert {"id", "size", "first_seen", "last_seen", "title", "url", "source", "sources",
            "variants"} <= lines[0].keys()  # fmt: skip
    out = tmp_path / "events.csv"
    cli("events", "export", "--format", "csv", "--output", str(out), "--min-size", "2")
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["id"]) for r in rows] == sorted(e["id"] for e in listed if e["size"] >= 2)
    assert all(int(r["size"]) >= 2 for r in rows)
    bare = cli("events", "export", "--no-variants", "--since", "3650d").stdout.splitlines()
    assert "variants" not in json.loads(bare[0])
    cli("events", "export", "--format", "xml", code=2)
    failed = cli("events", "export", "--output", str(tmp_path / "missing" / "x.csv"), code=1)
    assert "No such file or directory" in error_line(failed)
