"""``replay --workers N`` and ``eval --workers N``: inputs are parsed, normalized and fingerprinted
in budget worker processes, and what is stored and scored is the same as in one process.

The write step stays in input order, so ids, events, canonical stories and assignments are
compared exactly, not only the partition.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ingestor.cli import cli
from ingestor.pipeline import Pipeline, evaluate_dataset
from tests.local import local_settings

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
STREAM = SAMPLES / "stream.jsonl"


def _stored(db: Path) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        stories = conn.execute(
            "SELECT s.id, s.title, s.content_hash, s.published, m.event_id"
            " FROM stories s JOIN memberships m ON m.story_id = s.id ORDER BY s.id"
        ).fetchall()
        events = conn.execute(
            "SELECT id, size, canonical_story_id FROM events ORDER BY id"
        ).fetchall()
    return {"stories": stories, "events": events}


def _replay(tmp_path: Path, workers: int, paths: list[Path]) -> tuple[dict[str, Any], Any]:
    settings = local_settings(tmp_path)
    with Pipeline.open(settings, migrate=True, budget_workers=workers) as pipeline:
        summary = pipeline.replay(paths)
    return _stored(tmp_path / "ingestor.db"), summary


def test_two_workers_store_exactly_what_one_process_stores(tmp_path: Path) -> None:
    """The sample feeds, articles and labelled stream, replayed in this process and with two
    workers: the same stories under the same ids, in the same events, with the same canonical
    stories and the same counts."""
    paths = [SAMPLES / "feeds", SAMPLES / "articles", STREAM]
    alone, one = _replay(tmp_path / "alone", 0, paths)
    spread, two = _replay(tmp_path / "spread", 2, paths)
    assert len(alone["stories"]) >= 13  # every sample story (articles and records repeat them)
    assert spread == alone
    assert (two.items, two.errors, two.counts) == (one.items, one.errors, one.counts)


def test_an_input_that_fails_in_a_worker_is_skipped_in_its_place(tmp_path: Path) -> None:
    """A record with nothing usable in it fails in its worker; it is counted and named, and the
    records around it are stored in order as without workers."""
    records = [json.loads(line) for line in STREAM.read_text(encoding="utf-8").splitlines()]
    empty = {"id": "empty", "event": "none", "title": None, "text": "<p> </p>"}
    stream = tmp_path / "stream.jsonl"
    lines = [*records[:3], empty, *records[3:6]]
    stream.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    alone, one = _replay(tmp_path / "alone", 0, [stream])
    spread, two = _replay(tmp_path / "spread", 2, [stream])
    assert two.errors == one.errors == 1
    assert two.error_messages == one.error_messages
    assert "nothing usable" in two.error_messages[0]
    assert spread == alone
    assert len(spread["stories"]) == 6


def test_eval_with_workers_scores_and_assigns_like_one_process(tmp_path: Path) -> None:
    """``evaluate_dataset`` with two workers writes the same assignment lines."""
    settings = local_settings(tmp_path)
    out0, out2 = tmp_path / "a0.jsonl", tmp_path / "a2.jsonl"
    r0 = evaluate_dataset(STREAM, settings, assignments=out0)
    r2 = evaluate_dataset(STREAM, settings, assignments=out2, workers=2)
    assert out2.read_text(encoding="utf-8") == out0.read_text(encoding="utf-8")
    assert r2.overall == r0.overall


@pytest.mark.parametrize("value", ["-1", "65", "many"])
def test_a_bad_worker_count_is_a_usage_error(tmp_path: Path, value: str) -> None:
    result = CliRunner().invoke(
        cli, ["--data-dir", str(tmp_path), "replay", str(STREAM), "--workers", value]
    )
    assert result.exit_code == 2
    assert "--workers" in result.output
    assert "Traceback" not in result.output
