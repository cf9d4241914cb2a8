"""``ingestor events merge|split|delete`` and ``stories move`` as an operator meets them, over
a database filled by ``run --once`` from the sample feeds: one line of output, the change
visible to ``events show``, a bad id a one-line error (exit 1) or a usage error (exit 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.test_cli import FEEDS, Cli, error_line


@pytest.fixture
def run(tmp_path: Path) -> Cli:
    """A fresh database filled from the sample feeds (curation changes it)."""
    cli = Cli.make(tmp_path / "curation", sorted(FEEDS.glob("*.xml")))
    cli("run", "--once")
    return cli


def largest(cli: Cli) -> dict[str, Any]:
    rows = cli.json("events", "list")
    event = max(rows, key=lambda e: (e["size"], -e["id"]))
    assert event["size"] >= 2
    shown: dict[str, Any] = cli.json("events", "show", str(event["id"]))
    return shown


def story_ids(shown: dict[str, Any]) -> list[int]:
    return sorted(v["story_id"] for v in shown["variants"])


def test_split_then_merge_back(run: Cli) -> None:
    shown = largest(run)
    event_id, ids = shown["id"], story_ids(shown)
    out = run("events", "split", str(event_id), str(ids[-1])).stdout
    new = int(out.split()[-1])
    assert out.strip() == f"split 1 stories off event {event_id} into event {new}"
    assert story_ids(run.json("events", "show", str(new))) == [ids[-1]]
    assert story_ids(run.json("events", "show", str(event_id))) == ids[:-1]
    out = run("events", "merge", str(event_id), str(new)).stdout
    assert out.strip() == f"merged event {new} into event {event_id} ({len(ids)} stories)"
    assert story_ids(run.json("events", "show", str(event_id))) == ids
    shown_merged = run("events", "show", str(new)).stdout
    assert shown_merged.startswith(f"Event {new} was merged into event {event_id}; showing that.")


def test_move_and_delete(run: Cli) -> None:
    shown = largest(run)
    event_id, ids = shown["id"], story_ids(shown)
    other = next(e["id"] for e in run.json("events", "list") if e["id"] != event_id)
    out = run("stories", "move", str(ids[0]), str(other)).stdout
    assert out.strip() == f"moved story {ids[0]} from event {event_id} to event {other}"
    assert ids[0] in story_ids(run.json("events", "show", str(other)))
    before = len(run.json("events", "list"))
    out = run("events", "delete", str(other)).stdout
    assert out.startswith(f"deleted event {other} (")
    assert len(run.json("events", "list")) == before - 1
    gone = run("events", "show", str(other), code=1)
    assert error_line(gone) == f"error: event {other} was deleted"
    assert run.json("stories", "show", str(ids[0]))["event_id"] is None
    # The next poll of the same feeds brings nothing back.
    again = run("run", "--once")
    assert "0 new stories" in again.stderr
    assert len(run.json("events", "list")) == before - 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("events", "split", "424242", "1"), "error: no event 424242"),
        (("events", "merge", "424242", "1"), "error: no event 424242"),
        (("events", "delete", "424242"), "error: no event 424242"),
        (("stories", "move", "424242", "1"), "error: no story 424242"),
    ],
)
def test_unknown_ids_are_one_line_errors(run: Cli, args: tuple[str, ...], message: str) -> None:
    assert error_line(run(*args, code=1)) == message


@pytest.mark.parametrize(
    "args",
    [
        ("events", "delete", "99999999999999999999"),
        ("events", "split", "1"),
        ("stories", "move", "0", "1"),
    ],
)
def test_out_of_range_ids_are_usage_errors(run: Cli, args: tuple[str, ...]) -> None:
    assert "Traceback" not in run(*args, code=2).stderr
