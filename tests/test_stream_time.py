"""Time from the stream, not the clock: a replayed record or entry without a time of its own
takes the stream's time (``pipeline.StreamClock``), a directory is replayed in time order, and
``ingestor eval --story-days`` scores against story-level labels."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingestor import evaluate, normalize
from ingestor.errors import ReplayError
from ingestor.pipeline import Pipeline, StreamClock, evaluate_dataset
from ingestor.pipeline._clock import MAX_HELD
from tests.local import local_settings

ARTICLES = Path(__file__).resolve().parents[1] / "samples" / "articles"
START = datetime(2026, 12, 3, 9, tzinfo=UTC)
"""The replay's start: what the wall clock says while these tests run."""


def story(published: datetime | None, text: str = "text") -> normalize.Story:
    return normalize.normalize_article(
        text, is_html=False, title="t", url=None, source="s", published=published, fetched=START
    )


def test_an_undated_story_takes_the_latest_time_read_before_it() -> None:
    """After a dated story, an undated one counts at that story's time (and keeps no published
    time); the clock never goes back for an older record."""
    clock: StreamClock[int] = StreamClock(START)
    day = datetime(2021, 4, 22, tzinfo=UTC)
    assert [s.when for s, _ in clock.place(story(day), 1)] == [day]
    [(placed, tag)] = clock.place(story(None), 2)
    assert (placed.when, placed.published, tag) == (day, None, 2)
    clock.place(story(day - timedelta(days=30)), 3)
    assert clock.place(story(None), 4)[0][0].when == day


def test_undated_stories_before_any_time_wait_for_the_first() -> None:
    """Stories read before the stream has shown a time are held, then released in reading
    order at the first time; a stream without any time gives them the replay's start."""
    clock: StreamClock[int] = StreamClock(START)
    assert clock.place(story(None), 1) == []
    assert clock.place(story(None), 2) == []
    day = datetime(2021, 4, 22, tzinfo=UTC)
    ready = clock.place(story(day), 3)
    assert [(s.when, tag) for s, tag in ready] == [(day, 1), (day, 2), (day, 3)]
    undated: StreamClock[int] = StreamClock(START)
    undated.place(story(None), 1)
    assert [s.when for s, _ in undated.flush()] == [START]


def test_a_stream_of_undated_stories_is_held_only_so_long() -> None:
    """Past ``MAX_HELD`` undated stories at its head, a stream gives them the replay's start
    instead of holding more (memory stays bounded)."""
    clock: StreamClock[int] = StreamClock(START)
    released = []
    for n in range(MAX_HELD + 1):
        released += clock.place(story(None), n)
    assert len(released) == MAX_HELD + 1
    assert {s.when for s, _ in released} == {START}


def seed_records() -> list[dict[str, object]]:
    sources = json.loads((ARTICLES / "sources.json").read_text(encoding="utf-8"))
    out = []
    for n, (name, meta) in enumerate(sorted(sources.items(), key=lambda kv: kv[1]["published"])):
        out.append(
            {
                "id": name, "event": "seed", "dataset": "seeds", "title": None,
                "text": (ARTICLES / name).read_text(encoding="utf-8"), "url": meta["url"],
                "source": meta["source"],
                # The second and the fourth record lost their time.
                "published": None if n in (1, 3) else meta["published"],
            }
        )  # fmt: skip
    return out


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    with Pipeline.open(local_settings(tmp_path), migrate=True) as opened:
        yield opened


def test_undated_records_of_a_stream_join_their_dated_siblings(
    tmp_path: Path, pipeline: Pipeline
) -> None:
    """The five seed outlets' versions in one stream, two of them without a time: all five
    form one event, and the undated two are stored at the stream's time (2024-06-18), not at
    the time of the replay (2026). Given the wall clock, they were years from their siblings."""
    stream = tmp_path / "seeds.jsonl"
    stream.write_text("\n".join(json.dumps(r) for r in seed_records()) + "\n", encoding="utf-8")
    summary = pipeline.replay([stream], now=START)
    assert summary.counts.new == 5
    [event] = pipeline.store.list_events(limit=10)
    assert event.size == 5
    detail = pipeline.store.get_event(event.id)
    undated = [v.story for v in detail.variants if v.story.published is None]
    assert len(undated) == 2
    assert all(s.when.date() == datetime(2024, 6, 18).date() for s in undated)


def test_a_directory_is_replayed_in_time_order(tmp_path: Path, pipeline: Pipeline) -> None:
    """Articles whose names sort against their times are stored oldest first, and an undated
    one takes the time of the article read before it in the walk."""
    folder = tmp_path / "articles"
    folder.mkdir()
    times = {"a.txt": "2021-04-24T10:00:00Z", "b.txt": "2021-04-22T10:00:00Z", "c.txt": None,
             "d.txt": "2021-04-23T10:00:00Z"}  # fmt: skip
    for name in times:
        (folder / name).write_text(f"Story {name}\n\nA story about {name[0]} and more.", "utf-8")
    (folder / "sources.json").write_text(
        json.dumps({name: {"published": t, "source": name} for name, t in times.items()}), "utf-8"
    )
    pipeline.replay([folder], now=START)
    stored = []
    for event in pipeline.store.list_events(limit=10):
        stored += [
            (v.story_id, v.story.source, v.story.when)
            for v in pipeline.store.get_event(event.id).variants
        ]
    by_id = [source for _, source, _ in sorted(stored)]
    assert by_id == ["b.txt", "d.txt", "a.txt", "c.txt"]
    assert {source: when for _, source, when in stored}["c.txt"] == datetime(
        2021, 4, 24, 10, tzinfo=UTC
    )


def test_story_labels_split_an_event_where_it_goes_quiet() -> None:
    """Consecutive documents of one gold event more than N days apart are two stories; a
    document without a time stays in its event's first story."""
    day = datetime(2015, 3, 1, tzinfo=UTC)
    gold = ["a", "a", "a", "b", "a"]
    times = [day, day + timedelta(days=2), day + timedelta(days=10), day, None]
    assert evaluate.story_labels(gold, times, 3) == ["a#1", "a#1", "a#2", "b#1", "a#1"]
    assert evaluate.story_labels(gold, times, 30) == ["a#1", "a#1", "a#1", "b#1", "a#1"]


def test_eval_reports_story_level_scores_when_asked(tmp_path: Path) -> None:
    """With ``story_days`` the report carries a second one against story-level labels (more gold
    events, the same prediction); without it, none."""
    rows = seed_records()
    late = dict(rows[0], id="late", published="2024-07-18T00:00:00Z")
    stream = tmp_path / "s.jsonl"
    stream.write_text("\n".join(json.dumps(r) for r in [*rows, late]) + "\n", encoding="utf-8")
    settings = local_settings(tmp_path)
    plain = evaluate_dataset(stream, settings)
    assert plain.stories is None
    report = evaluate_dataset(stream, settings, story_days=3)
    assert report.stories is not None
    assert report.stories.story_days == 3
    assert report.stories.overall.gold_events == 2
    assert report.overall.gold_events == 1
    assert "story-level labels" in report.to_table()
    assert report.to_json()["story_level"]["overall"]["gold_events"] == 2


def test_eval_of_a_file_without_labelled_records_is_an_error(tmp_path: Path) -> None:
    """A file that is no labelled stream (``/etc/passwd``, say) is an error naming it, never a
    perfect score for nothing."""
    junk = tmp_path / "passwd"
    junk.write_text("root:x:0:0:root:/root:/bin/bash\n", encoding="utf-8")
    with pytest.raises(ReplayError, match="no labelled records"):
        evaluate_dataset(junk, local_settings(tmp_path))
