"""Story identity across polls: rotating GUIDs, missing GUIDs, duplicate GUIDs in one document,
and text edited in place are tracked on the same story, never stored as new stories."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path

import pytest

from ingestor.config import load_settings
from ingestor.pipeline import Pipeline

T0 = datetime(2024, 6, 18, 12, tzinfo=UTC)
BODY = (
    "The city council approved the new harbour bridge on {day} after a vote of {votes} to two, "
    "ending a decade of debate over the crossing. Construction starts next spring and is "
    "expected to take three years, the mayor said, adding that tolls would be kept low for "
    "residents. Opponents said they would take the decision to the regional court."
)


def _item(guid: str | None, link: str | None, title: str, body: str) -> str:
    parts = [f"<title>{escape(title)}</title>", f"<description>{escape(body)}</description>"]
    if guid is not None:
        parts.append(f'<guid isPermaLink="false">{escape(guid)}</guid>')
    if link is not None:
        parts.append(f"<link>{escape(link)}</link>")
    parts.append("<pubDate>Tue, 18 Jun 2024 09:00:00 GMT</pubDate>")
    return "<item>" + "".join(parts) + "</item>"


def _write(path: Path, items: list[str], poll: int) -> None:
    path.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour News</title>'
        "<link>https://harbour.example/</link>" + "".join(items) + "</channel></rss>",
        encoding="utf-8",
    )
    stamp = (T0 + timedelta(minutes=poll)).timestamp()
    os.utime(path, (stamp, stamp))  # a new modification time: the file is fetched again


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    settings = load_settings(
        None,
        flags={"database_url": f"sqlite:///{tmp_path / 'db.sqlite'}", "store_max_revisions": 3},
        environ={},
    )
    with Pipeline.open(settings, migrate=True, now=T0) as opened:
        yield opened


def _poll(pipeline: Pipeline, path: Path, poll: int) -> tuple[int, int, int]:
    feed = pipeline.store.get_feed(path.resolve().as_uri())
    if feed is None:
        feed = pipeline.store.add_feed(path.resolve().as_uri(), now=T0)
    result = pipeline.poll(feed, now=T0 + timedelta(minutes=poll))
    assert result.status == "ok", result.error
    return result.counts.new, result.counts.duplicates, result.counts.updated


def test_guids_that_rotate_on_every_poll_keep_one_story(pipeline: Pipeline, tmp_path: Path) -> None:
    """A feed that mints a new GUID for the same article on every poll still has one story:
    the canonical URL identifies it."""
    path = tmp_path / "rotating.xml"
    body = BODY.format(day="Monday", votes=7)
    for poll in range(4):
        _write(path, [_item(f"urn:uuid:{poll}-x", "https://harbour.example/bridge?utm_source=rss",
                             "Council approves harbour bridge", body)], poll)  # fmt: skip
        counts = _poll(pipeline, path, poll)
        assert counts == ((1, 0, 0) if poll == 0 else (0, 1, 0))
    assert pipeline.store.counts()["stories"] == 1


def test_entries_without_guid_or_link_are_known_by_their_text(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """An entry with neither GUID nor link is the same story when it comes back unchanged."""
    path = tmp_path / "bare.xml"
    body = BODY.format(day="Monday", votes=7)
    items = [_item(None, None, "Council approves harbour bridge", body)]
    for poll in range(3):
        _write(path, items, poll)
        _poll(pipeline, path, poll)
    assert pipeline.store.counts()["stories"] == 1


def test_a_guid_repeated_within_one_document_is_one_story(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """Two entries of one document that share a GUID are one story, however often they are
    polled: the second is an edit of the first, and the two texts taking turns are not new
    edits."""
    path = tmp_path / "duplicated.xml"
    first = _item(
        "g-1", None, "Council approves harbour bridge", BODY.format(day="Monday", votes=7)
    )
    second = _item("g-1", None, "Council approves bridge", BODY.format(day="Tuesday", votes=8))
    for poll in range(3):
        _write(path, [first, second], poll)
        _poll(pipeline, path, poll)
    assert pipeline.store.counts()["stories"] == 1


def test_text_edited_in_place_is_tracked_up_to_the_revision_cap(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """Each corrected version of an entry becomes a revision of the same story, at most
    ``store_max_revisions`` of them; later edits are not stored as new stories either."""
    path = tmp_path / "edited.xml"
    seen = []
    for poll in range(6):
        body = BODY.format(day="Monday", votes=7 + poll)  # a correction each time
        _write(path, [_item("g-edit", "https://harbour.example/bridge", "Bridge vote", body)], poll)
        seen.append(_poll(pipeline, path, poll))
    assert seen[0] == (1, 0, 0)
    assert [updated for _, _, updated in seen[1:]] == [1, 1, 1, 0, 0]  # cap of 3 revisions
    assert pipeline.store.counts()["stories"] == 1
