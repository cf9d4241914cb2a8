"""The bundled samples through the whole product: replay, ``run --once`` and ``eval`` form exactly
the events ``samples/expected.json`` writes down.

Stored stories are mapped back to the sample they came from: a feed entry by its feed file and
GUID, an article file by the address ``sources.json`` gives it (an article and its feed entry
share that address, so the store may keep the two as one story; they land in one event either
way). Every expected event must be one stored event holding exactly its members' stories, and
every singleton must be alone.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from click.testing import CliRunner

from ingestor import normalize, parse
from ingestor.cli import cli
from ingestor.config import Settings, load_settings
from ingestor.pipeline import Pipeline, ReplaySummary, evaluate_dataset
from ingestor.store import Store, open_store

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
FEEDS = SAMPLES / "feeds"
ARTICLES = SAMPLES / "articles"
STREAM = SAMPLES / "stream.jsonl"
EXPECTED = json.loads((SAMPLES / "expected.json").read_text(encoding="utf-8"))
SOURCES = json.loads((ARTICLES / "sources.json").read_text(encoding="utf-8"))

Member = dict[str, str]


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """Whatever a test configures, the next one starts with the logging it found."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def make_settings(directory: Path) -> Settings:
    directory.mkdir(parents=True, exist_ok=True)
    return load_settings(
        None,
        flags={
            "database_url": f"sqlite:///{directory / 'ingestor.db'}",
            "data_dir": str(directory),
        },
        environ={},
    )


@dataclass(frozen=True)
class Stored:
    """Every stored story and the event it is in."""

    event_of: dict[int, int]
    feed_key: dict[tuple[str, str], int]
    """(feed file URI, guid) -> story id."""
    by_url: dict[str, set[int]]

    @classmethod
    def read(cls, store: Store) -> Stored:
        event_of: dict[int, int] = {}
        feed_key: dict[tuple[str, str], int] = {}
        by_url: dict[str, set[int]] = {}
        for event in store.list_events(limit=10_000):
            for variant in store.get_event(event.id).variants:
                story = variant.story
                assert variant.story_id not in event_of, "a story sits in two events"
                event_of[variant.story_id] = event.id
                if story.feed_url and story.guid:
                    feed_key[(story.feed_url, story.guid)] = variant.story_id
                if story.url:
                    by_url.setdefault(story.url, set()).add(variant.story_id)
        return cls(event_of, feed_key, by_url)

    def stories_of(self, member: Member) -> set[int]:
        """The stored stories that stand for one member of ``expected.json``."""
        if "feed" in member:
            key = ((FEEDS / member["feed"]).resolve().as_uri(), member["guid"])
            if key in self.feed_key:
                return {self.feed_key[key]}
            # Stored first from an article file with the same address, the entry is that story.
            url = entry_urls()[key]
            assert url in self.by_url, f"feed entry {key} was not stored"
            return self.by_url[url]
        url = SOURCES[member["article"]]["url"]
        assert url in self.by_url, f"article {member['article']} ({url}) was not stored"
        return self.by_url[url]

    def members_of(self, event_id: int) -> set[int]:
        return {story for story, event in self.event_of.items() if event == event_id}


@functools.cache
def entry_urls() -> dict[tuple[str, str], str]:
    """(feed file URI, guid) -> the entry's canonical address, as the pipeline derives it."""
    now = datetime.now(UTC)
    out = {}
    for path in FEEDS.glob("*.xml"):
        uri = path.resolve().as_uri()
        parsed = parse.parse_feed(path.read_bytes(), url=uri, now=now)
        for entry in parsed.entries:
            story = normalize.normalize_entry(
                entry, feed_url=uri, feed_title=parsed.title, fetched=now
            )
            assert story.guid is not None
            assert story.url is not None
            out[(uri, story.guid)] = story.url
    return out


def expected_groups(*, articles: bool) -> list[tuple[str, list[Member]]]:
    """``expected.json`` as named groups of members; singletons are groups of one."""
    groups = [
        (event["name"], [m for m in event["members"] if articles or "feed" in m])
        for event in EXPECTED["events"]
    ]
    groups += [(f"singleton {m['feed']} {m['guid']}", [m]) for m in EXPECTED["singletons"]]
    return groups


def assert_expected_events(stored: Stored, *, articles: bool) -> None:
    """Each expected group is one stored event holding exactly its members' stories, and
    every stored story belongs to some expected group."""
    accounted: set[int] = set()
    for name, members in expected_groups(articles=articles):
        stories = set().union(*(stored.stories_of(m) for m in members))
        events = {stored.event_of[s] for s in stories}
        assert len(events) == 1, f"{name} is split over events {sorted(events)}"
        (event,) = events
        assert stored.members_of(event) == stories, f"{name}: other stories joined its event"
        accounted |= stories
    assert accounted == set(stored.event_of), "stored stories no expected group names"


def replay(settings: Settings, paths: Sequence[Path], passes: int = 1) -> list[ReplaySummary]:
    with Pipeline.open(settings, migrate=True) as pipeline:
        return [pipeline.replay(list(paths)) for _ in range(passes)]


def read_store(settings: Settings) -> tuple[Stored, dict[str, int]]:
    store = open_store(settings.effective_database_url)
    try:
        return Stored.read(store), store.counts()
    finally:
        store.close()


# -- replay ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "paths",
    [
        pytest.param([FEEDS, ARTICLES], id="feeds-then-articles"),
        pytest.param([ARTICLES, FEEDS], id="articles-then-feeds"),
    ],
)
def test_replaying_the_samples_forms_the_expected_events(tmp_path: Path, paths: list[Path]) -> None:
    """Replaying the sample feeds and articles, in either order, gives the seed event (five
    feed entries and five articles), the Chile quake's three variants and five singletons."""
    settings = make_settings(tmp_path)
    (summary,) = replay(settings, paths)
    assert summary.errors == 0, summary.error_messages
    assert summary.items == 10
    stored, counts = read_store(settings)
    assert_expected_events(stored, articles=True)
    assert counts["events"] == len(EXPECTED["events"]) + len(EXPECTED["singletons"])


def test_replaying_the_feeds_alone_forms_the_expected_events(tmp_path: Path) -> None:
    """The feeds alone give the expected events without their article members."""
    settings = make_settings(tmp_path)
    (summary,) = replay(settings, [FEEDS])
    assert summary.counts.new == 13
    stored, _ = read_store(settings)
    assert_expected_events(stored, articles=False)


def test_the_five_seed_articles_form_one_event_on_their_own(tmp_path: Path) -> None:
    """The five article files, five outlets' own words, are one event of five stories."""
    settings = make_settings(tmp_path)
    (summary,) = replay(settings, [ARTICLES])
    assert (summary.counts.new, summary.counts.new_events) == (5, 1)
    stored, _ = read_store(settings)
    (seed,) = [e for e in EXPECTED["events"] if e["name"] == "putin-dprk-oped"]
    articles = [m for m in seed["members"] if "article" in m]
    stories = set().union(*(stored.stories_of(m) for m in articles))
    assert len(stories) == 5
    assert {stored.event_of[s] for s in stories} == set(stored.event_of.values())
    assert len(set(stored.event_of.values())) == 1


def test_replaying_the_feeds_twice_stores_each_story_once(tmp_path: Path) -> None:
    """A second replay of the same feed files is all duplicates: no story or event is added."""
    settings = make_settings(tmp_path)
    first, second = replay(settings, [FEEDS], passes=2)
    assert first.counts.new == 13
    assert (second.counts.new, second.counts.updated, second.counts.new_events) == (0, 0, 0)
    assert second.counts.duplicates == 13
    stored, counts = read_store(settings)
    assert counts["stories"] == 13
    assert_expected_events(stored, articles=False)


def test_replaying_feeds_and_articles_twice_is_all_duplicates(tmp_path: Path) -> None:
    """A second replay of the same feeds and articles changes nothing: every item is a
    duplicate, none an edit, and the stored texts stay as the first pass left them."""
    settings = make_settings(tmp_path)
    with Pipeline.open(settings, migrate=True) as pipeline:
        first = pipeline.replay([FEEDS, ARTICLES])
        texts = {
            v.story_id: v.story.content_hash
            for e in pipeline.store.list_events(limit=100)
            for v in pipeline.store.get_event(e.id).variants
        }
        second = pipeline.replay([FEEDS, ARTICLES])
        again = {
            v.story_id: v.story.content_hash
            for e in pipeline.store.list_events(limit=100)
            for v in pipeline.store.get_event(e.id).variants
        }
        counts = pipeline.store.counts()
    assert counts["stories"] == first.counts.new
    assert second.counts.new == 0
    assert second.counts.updated == 0
    assert second.counts.duplicates == 18  # 13 feed entries and 5 articles
    assert again == texts


# -- run --once ------------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An environment naming an empty configuration and a database under ``tmp_path``."""
    for key in list(os.environ):
        if key.startswith("INGESTOR_"):
            monkeypatch.delenv(key)
    config = tmp_path / "ingestor.toml"
    config.write_text('log_format = "json"\n', encoding="utf-8")
    return {
        "INGESTOR_CONFIG": str(config),
        "INGESTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
    }


def invoke(env: dict[str, str], *args: str) -> Any:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, (args, result.output, result.stderr)
    return result


def test_run_once_over_the_sample_feed_files_forms_the_expected_events(
    cli_env: dict[str, str],
) -> None:
    """``feeds add PATH`` for each sample feed file, then ``run --once``, gives the expected
    events; the feeds are stored as ``file:`` URIs."""
    names = sorted(p.name for p in FEEDS.glob("*.xml"))
    for name in names:
        added = invoke(cli_env, "feeds", "add", str(FEEDS / name))
        assert (FEEDS / name).resolve().as_uri() in added.output
    invoke(cli_env, "run", "--once")
    feeds = json.loads(invoke(cli_env, "feeds", "list", "--json").stdout)
    assert sorted(f["url"] for f in feeds) == sorted((FEEDS / n).resolve().as_uri() for n in names)
    assert {f["last_status"] for f in feeds} == {"ok"}
    store = open_store(cli_env["INGESTOR_DATABASE_URL"])
    try:
        stored = Stored.read(store)
    finally:
        store.close()
    assert_expected_events(stored, articles=False)


# -- eval ------------------------------------------------------------------------------------


def test_evaluating_the_sample_stream_scores_perfectly(tmp_path: Path) -> None:
    """``evaluate_dataset`` on ``samples/stream.jsonl`` scores B-cubed 1.0 with no mixed
    events, and writes one assignment line per record, in stream order."""
    out = tmp_path / "assignments.jsonl"
    report = evaluate_dataset(STREAM, make_settings(tmp_path), assignments=out)
    assert report.documents == 13
    assert report.mixed_events == 0
    scores = report.overall.to_json()["bcubed"]
    assert scores == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    records = [json.loads(line) for line in STREAM.read_text(encoding="utf-8").splitlines()]
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == [r["id"] for r in records]
    assert all(isinstance(line["event_id"], int) for line in lines)
    by_gold: dict[str, set[int]] = {}
    for record, line in zip(records, lines, strict=True):
        by_gold.setdefault(record["event"], set()).add(line["event_id"])
    assert all(len(events) == 1 for events in by_gold.values())
    assert len(set().union(*by_gold.values())) == len(by_gold)


def test_the_eval_command_reports_the_same_scores(cli_env: dict[str, str], tmp_path: Path) -> None:
    """``ingestor eval samples/stream.jsonl --json --assignments OUT`` prints B-cubed 1.0 and
    writes one line per record."""
    out = tmp_path / "out.jsonl"
    result = invoke(cli_env, "eval", str(STREAM), "--json", "--assignments", str(out))
    report = json.loads(result.stdout)
    assert report["overall"]["bcubed"]["f1"] == 1.0
    assert report["mixed_events"] == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 13
