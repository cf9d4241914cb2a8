"""``stories show`` and ``stories diff``: a story with every revision, read back from either
database, and a bounded word diff of two texts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ingestor import normalize, render_ops
from ingestor.app import Ingestor
from ingestor.errors import NotFound
from ingestor.explain import word_diff
from ingestor.models import Story
from tests.local import local_settings
from tests.test_cli import FEEDS, Cli, error_line
from tests.test_merges import NOW, items, open_pipeline


def article(text: str) -> Story:
    return normalize.normalize_article(
        text, is_html=False, title="Rates held", url="https://news.example/economy/rates",
        source="news.example", published=NOW, fetched=NOW,
    )  # fmt: skip


FIRST = "The central bank held rates at four percent on Tuesday, citing slowing inflation."
SECOND = "The central bank held rates at four percent on Tuesday, citing stubborn inflation."


def test_a_story_comes_back_with_every_revision(database_url: str, tmp_path: Path) -> None:
    """An edited story (same URL, new text) shows its current text, the earlier one as a
    revision, its event and times, on both databases."""
    with open_pipeline(database_url, tmp_path) as pipeline:
        first = pipeline.ingest(items([article(FIRST)]), now=NOW)
        edited = replace(article(SECOND), fetched=NOW.replace(hour=13))
        assert pipeline.ingest(items([edited]), now=NOW).counts.updated == 1
    with Ingestor(local_settings(tmp_path, database_url=database_url)) as app:
        event_id = first.events[0]
        story_id = app.get_event(event_id).variants[0].story_id
        detail = app.get_story(story_id)
        with pytest.raises(NotFound, match="no story 4242"):
            app.get_story(4242)
    assert detail.event_id == event_id
    assert detail.story.text == SECOND
    assert [r.text for r in detail.revisions] == [FIRST]
    assert detail.updated_at == NOW.replace(hour=13)
    shown = render_ops.story_json(detail)
    assert shown["revisions"][0]["text"] == FIRST
    assert shown["url"] == "https://news.example/economy/rates"
    text = render_ops.story_text(detail)
    assert "revision 1" in text
    assert SECOND in text


def test_word_diff_marks_changed_words_and_is_bounded() -> None:
    runs, truncated = word_diff(FIRST, SECOND)
    assert ("-", "slowing") in runs
    assert ("+", "stubborn") in runs
    assert not truncated
    runs, truncated = word_diff("a b c d e", "a b x d e", max_words=2)
    assert truncated
    assert runs == [("=", "a b")]


def test_word_diff_sets_case_and_edge_punctuation_aside() -> None:
    """A word that differs only in case or in the punctuation around it is the same word (as
    the shared passages see it); the run reads as the newer text writes it."""
    runs, _ = word_diff("Rates held, the bank said.", "rates held the Bank said")
    assert runs == [("=", "rates held the Bank said")]


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    cli = Cli.make(tmp_path_factory.mktemp("stories"), sorted(FEEDS.glob("*.xml")))
    cli("run", "--once")
    return cli


def test_stories_show_and_diff_on_the_command_line(filled: Cli) -> None:
    event = max(filled.json("events", "list"), key=lambda e: e["size"])
    shown = filled.json("events", "show", str(event["id"]))
    a, b = (str(v["story_id"]) for v in shown["variants"][:2])
    story = filled.json("stories", "show", a)
    assert story["event_id"] == event["id"]
    assert story["text"]
    assert {"url", "feed_url", "published", "fetched", "revisions"} <= story.keys()
    assert f"Story {a}: " in filled("stories", "show", a).stdout
    diff = filled.json("stories", "diff", a, b)
    assert diff["a"]["id"] == int(a)
    assert {r["op"] for r in diff["runs"]} <= {"=", "-", "+"}
    cut = filled("stories", "diff", a, b, "--max-words", "3").stdout
    assert "(truncated: only the first 3 words of each text compared)" in cut
    assert error_line(filled("stories", "show", "4242", code=1)) == "error: no story 4242"
    filled("stories", "diff", a, "99999999999999999999", code=2)
