"""What the CLI shows and the small values it reads: ``--since`` spans and times, feed targets,
tables that keep one line per row whatever a feed put into a title, and the shared passages
``events show --explain`` quotes."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestor import render
from ingestor.errors import ConfigError
from ingestor.explain import shared_passages
from ingestor.models import Event, EventDetail, FeedSource, Story, Variant

NOW = datetime(2024, 6, 20, 12, 0, tzinfo=UTC)
ARTICLES = Path(__file__).resolve().parents[1] / "samples" / "articles"
# Everything that can end or garble a terminal line: C0, DEL, C1, and the Unicode separators.
LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
HOSTILE = (
    "Quake\nstrikes\r\noff Chile\x1b[2J\x1b[31mRED\x00\x07\x08\x0b\x0c\x1c\x1d\x1e\x85"
    "\u2028\u2029\x7f\x9b31m\tend"
)


# -- parse_since -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("24h", NOW - timedelta(hours=24)),
        ("7d", NOW - timedelta(days=7)),
        ("30m", NOW - timedelta(minutes=30)),
        ("2w", NOW - timedelta(weeks=2)),
        (" 36H ", NOW - timedelta(hours=36)),
        ("0h", NOW),
        ("2024-06-18T12:00", datetime(2024, 6, 18, 12, tzinfo=UTC)),
        ("2024-06-18T12:00Z", datetime(2024, 6, 18, 12, tzinfo=UTC)),
        ("2024-06-18T12:00:00+05:30", datetime(2024, 6, 18, 6, 30, tzinfo=UTC)),
        ("2024-06-18T02:00-04:00", datetime(2024, 6, 18, 6, 0, tzinfo=UTC)),
        ("2024-06-18", datetime(2024, 6, 18, tzinfo=UTC)),
    ],
)
def test_parse_since_reads_spans_and_iso_times(value: str, expected: datetime) -> None:
    """``--since`` takes a span back from now (m, h, d, w) or an ISO time, UTC when it names no
    zone, and always answers in UTC."""
    when = render.parse_since(value, now=NOW)
    assert when == expected
    assert when.utcoffset() == timedelta(0)


@given(amount=st.integers(0, 10_000), unit=st.sampled_from("mhdw"))
@settings(max_examples=50, deadline=None)
def test_parse_since_spans_count_back_from_now(amount: int, unit: str) -> None:
    """Any ``<n><unit>`` span is exactly that long before ``now``."""
    names = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    expected = NOW - timedelta(**{names[unit]: amount})
    assert render.parse_since(f"{amount}{unit}", now=NOW) == expected


@given(when=st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1)))
@settings(max_examples=50, deadline=None)
def test_parse_since_reads_back_any_iso_time(when: datetime) -> None:
    """An ISO time with an offset reads back as the same instant in UTC."""
    zoned = when.replace(tzinfo=timezone(timedelta(hours=5, minutes=45)))
    assert render.parse_since(zoned.isoformat(), now=NOW) == zoned.astimezone(UTC)


@pytest.mark.parametrize(
    "value", ["yesterday", "24", "h", "-3d", "24 hours", "7y", "", "2024-13-01"]
)
def test_parse_since_refuses_garbage_with_a_config_error(value: str) -> None:
    """Anything that is neither a span nor an ISO time is a ``ConfigError`` naming
    ``--since``."""
    with pytest.raises(ConfigError, match=r"^--since: "):
        render.parse_since(value, now=NOW)


@pytest.mark.parametrize(
    "value",
    ["1000000d", "99999999999999999999h", "0001-01-01T00:00+01:00", "9999-12-31T23:00-05:00"],
)
def test_parse_since_refuses_times_out_of_range_with_a_config_error(value: str) -> None:
    """A span reaching before year 1, or a time that is out of range once in UTC, is a
    ``ConfigError``, like any other value ``--since`` cannot use."""
    with pytest.raises(ConfigError, match=r"^--since: "):
        render.parse_since(value, now=NOW)


# -- feed_target -------------------------------------------------------------------------------


def test_feed_target_keeps_urls_and_turns_local_files_into_file_uris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """http(s) URLs pass by their identity (scheme and host in lower case, no default port),
    ``file:`` URLs as given; an existing local file, relative or absolute, becomes its absolute
    ``file:`` URI."""
    feed = tmp_path / "feeds" / "local feed.xml"
    feed.parent.mkdir()
    feed.write_bytes(b"<rss/>")
    monkeypatch.chdir(tmp_path)
    assert render.feed_target("https://news.example/rss?x=1") == "https://news.example/rss?x=1"
    assert render.feed_target("HTTP://News.Example:80/Rss") == "http://news.example/Rss"
    assert render.feed_target("file:///srv/feed.xml") == "file:///srv/feed.xml"
    assert render.feed_target("feeds/local feed.xml") == feed.as_uri()
    assert render.feed_target(str(feed)) == feed.as_uri()
    assert render.feed_target("./feeds/../feeds/local feed.xml") == feed.as_uri()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("http://", "has no host"),
        ("https:///path-only", "has no host"),
        ("ftp://news.example/feed.xml", "only http, https and local files"),
        ("javascript:alert(1)", "only http, https and local files"),
        ("gopher://news.example/1", "only http, https and local files"),
        ("does/not/exist.xml", "neither an http(s) URL nor an existing file"),
        (".", "neither an http(s) URL nor an existing file"),
    ],
)
def test_feed_target_refuses_what_cannot_be_a_feed(
    value: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A URL without a host, another scheme, a missing file or a directory is a
    ``ConfigError``."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=re.escape(message)):
        render.feed_target(value)


# -- tables ------------------------------------------------------------------------------------


def event(i: int, title: str) -> Event:
    return Event(
        id=i,
        canonical_story_id=i * 10,
        title=title,
        first_seen=NOW - timedelta(hours=i),
        last_seen=NOW,
        size=i,
        sources=1,
    )


def assert_clean_lines(text: str, rows: int) -> None:
    """``text`` has exactly ``rows`` lines and nothing in it can break or repaint a line."""
    lines = text.split("\n")
    assert len(lines) == rows
    assert text.splitlines() == lines
    for line in lines:
        assert not LINE_BREAKING.search(line), repr(line)


def test_the_events_table_keeps_one_line_per_event_whatever_the_titles_hold() -> None:
    """Newlines, terminal escapes, NULs and Unicode line separators in titles are escaped: the
    table has a header and exactly one line per event, and the row still names the event."""
    table = render.events_table([event(1, HOSTILE), event(2, "Plain title"), event(3, "\n\n")])
    assert_clean_lines(table, 4)
    assert table.split("\n")[1].startswith("1 ")
    assert "\\x1b[2J" in table
    assert "Plain title" in table.split("\n")[2]


@given(titles=st.lists(st.text(max_size=120), min_size=1, max_size=6))
@settings(max_examples=100, deadline=None)
def test_any_titles_give_one_table_line_per_event(titles: list[str]) -> None:
    """Whatever text the titles hold, the events table is one header and one line per event."""
    table = render.events_table([event(i, t) for i, t in enumerate(titles, start=1)])
    assert_clean_lines(table, 1 + len(titles))


def test_the_feeds_table_keeps_one_line_per_feed_whatever_the_urls_and_errors_hold() -> None:
    """Control characters in a feed's address or last error stay escaped in the feeds table."""
    feeds = [
        FeedSource(url="https://a.example/\r\nfeed", id=1, last_error=HOSTILE, last_status="error"),
        FeedSource(url="file:///srv/x\x1b].xml", id=2, next_poll_at=NOW),
    ]
    # A header, a line per feed, and the line saying where the whole errors are.
    assert_clean_lines(render.feeds_table(feeds), 4)
    assert render.feeds_table([]) == "no feeds"
    assert render.events_table([]) == "no events"


def _story(title: str, text: str, source: str = "news.example") -> Story:
    return Story(source=source, title=title, text=text, fetched=NOW, content_hash="h")


def _detail(canonical: Story, variant: Story) -> EventDetail:
    return EventDetail(
        event=event(1, canonical.title),
        variants=(
            Variant(10, canonical, 1.0, "new", NOW),
            Variant(11, variant, 0.5, "rewrite", NOW, {"cosine": 0.5}),
        ),
    )


def assert_detail_lines_clean(detail: EventDetail) -> None:
    for explain in (False, True):
        text = render.detail_text(detail, explain=explain)
        for line in text.split("\n"):
            assert not LINE_BREAKING.search(line), repr(line)
        table = text.split("STORY  ", 1)[1].split("(* canonical)", 1)[0].strip().split("\n")
        assert len(table) == 3  # the header, then one line per variant


def test_the_event_detail_keeps_hostile_titles_and_texts_on_their_lines() -> None:
    """``events show`` escapes control characters in titles and texts, so every line stays a
    line and its variant table keeps one line per variant."""
    canonical = _story(HOSTILE, "Body text\x1b[31m with\nlines " * 20)
    variant = _story("Second\r\ntitle", "Other text\u2028here " * 20)
    detail = _detail(canonical, variant)
    assert_detail_lines_clean(detail)
    shown = json.loads(json.dumps(render.detail_json(detail, explain=True)))
    assert shown["variants"][1]["signals"] == {"cosine": 0.5}
    assert shown["variants"][1]["story"]["title"] == "Second\r\ntitle"  # JSON keeps the text


def test_the_event_detail_escapes_hostile_sources_and_urls() -> None:
    """A story's source and address are shown escaped too, wherever ``events show`` prints
    them, so a stored value with a terminal escape or newline cannot forge lines."""
    canonical = dataclasses.replace(
        _story("Title", "Text " * 30, source="a\x1b]0;owned\x07.example"),
        url="https://a.example/x\r\nInjected line",
    )
    variant = _story("Other", "Text " * 30, source="b\n.example")
    assert_detail_lines_clean(_detail(canonical, variant))


# -- shared passages ---------------------------------------------------------------------------


def test_shared_passages_quote_the_longest_common_runs_first() -> None:
    """Runs of at least five words the two texts share are quoted as they read in the first
    text, longest first, ignoring case and punctuation around words."""
    canonical = (
        "Putin said Russia would develop trade and settlement mechanisms not controlled by the "
        "West, and jointly resist illegitimate unilateral restrictions."
    )
    text = (
        "In the op-ed, he wrote that Russia would develop Trade and settlement mechanisms "
        "“not controlled by the West” — a short phrase here."
    )
    assert shared_passages(text, canonical) == [
        "Russia would develop Trade and settlement mechanisms “not controlled by the West”"
    ]
    assert shared_passages("one two three four", "one two three four") == []
    assert shared_passages("a b c d e", "a b c d e", min_words=5) == ["a b c d e"]
    assert shared_passages("nothing in common at all here", canonical) == []


def test_shared_passages_are_capped_and_ordered() -> None:
    """At most ``limit`` passages come back, longest first, ties in the order they appear."""
    canonical = " ".join(f"w{i}" for i in range(100))
    pieces = [" ".join(f"w{i}" for i in range(s, s + n)) for s, n in [(0, 5), (20, 9), (40, 7)]]
    text = " | x y | ".join(pieces)
    assert shared_passages(text, canonical) == [pieces[1], pieces[2], pieces[0]]
    assert shared_passages(text, canonical, limit=2) == [pieces[1], pieces[2]]
    assert shared_passages(text, canonical, min_words=8) == [pieces[1]]


def _keys(text: str) -> list[str]:
    words = unicodedata.normalize("NFKC", text).split()
    return [re.sub(r"^[^\w]+|[^\w]+$", "", w).casefold().replace("’", "'") for w in words]


WORDS = st.lists(st.sampled_from(["putin", "kim", "visit", "trade", "moscow", "said"]), max_size=40)


@given(words=WORDS, other=WORDS)
@settings(max_examples=100, deadline=None)
def test_every_shared_passage_is_in_both_texts(words: list[str], other: list[str]) -> None:
    """Each passage is at least five words of the first text that appear, in order and
    contiguously, in the second."""
    text, canonical = " ".join(words), " ".join(other).upper()
    passages = shared_passages(text, canonical)
    assert len(passages) <= 5
    target = " " + " ".join(_keys(canonical)) + " "
    for passage in passages:
        assert len(passage.split()) >= 5
        assert passage in text
        assert " " + " ".join(_keys(passage)) + " " in target


def test_the_seed_articles_share_quoted_passages() -> None:
    """Two outlets' versions of the seed story share the op-ed's quoted phrases."""
    reuters = (ARTICLES / "globalheadlines-reuters-putin-trade-security.txt").read_text("utf-8")
    ani = (ARTICLES / "catchnews-ani-putin-western-sanctions.txt").read_text("utf-8")
    passages = shared_passages(ani, reuters)
    assert passages
    assert any("not controlled by the West" in p for p in passages)


def test_explain_prints_every_weight_of_the_score_and_each_variants_sum() -> None:
    """``events show --explain`` gives the score's formula with every weight and threshold, and
    for each variant that was scored, how its probability came about (bias plus each weight
    times its value), which adds up to the probability it joined with."""
    from ingestor.app import Ingestor
    from ingestor.config import Settings

    score = Ingestor(Settings()).score_description()
    canonical = _story("Quake hits", "A quake hit the coast.")
    variant = _story("Strong quake", "A strong quake hit the coast today.", source="other.example")
    cosine, gap = 0.45, 0.2
    z = score["bias"] + score["weights"]["cosine"] * cosine
    z += score["weights"]["log_gap_days"] * math.log1p(gap)
    p = 1 / (1 + math.exp(-z))
    signals = {"cosine": cosine, "gap_days": gap, "candidates": 2.0, "probability": round(p, 4)}
    detail = EventDetail(
        event=event(1, canonical.title),
        variants=(
            Variant(10, canonical, 1.0, "new", NOW),
            Variant(11, variant, round(p, 4), "rewrite", NOW, signals),
        ),
    )
    text = render.detail_text(detail, explain=True, score=score)
    for weight in (score["bias"], *score["weights"].values()):
        assert f"{abs(weight):.3f}" in text
    assert f"joins at p >= {score['join_probability']:g}" in text
    assert f"score: p = {p:.3f}" in text
    shown = render.detail_json(detail, explain=True, score=score)
    assert shown["score"]["weights"] == score["weights"]


def test_a_large_event_shows_and_explains_only_the_variants_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``events show --variants N`` shows and explains N variants of a 300-variant event, the
    canonical story (the last one here) among them, and says how many it left out; the JSON
    says how many it shows. Only the shown variants are compared with the canonical text."""
    from dataclasses import replace

    stories = [_story(f"Title {i}", f"Body of story {i} " * 30) for i in range(300)]
    variants = tuple(Variant(i, s, 0.5, "rewrite", NOW) for i, s in enumerate(stories, 1))
    detail = EventDetail(
        event=replace(event(1, "Title 299"), canonical_story_id=300), variants=variants
    )
    compared: list[str] = []
    real = render.shared_passages

    def counting(text: str, canonical: str) -> list[str]:
        compared.append(text)
        return real(text, canonical)

    monkeypatch.setattr(render, "shared_passages", counting)
    text = render.detail_text(detail, explain=True, limit=20)
    assert "Showing 20 of 300 variants (--variants 300 shows them all)." in text
    table = text.split("STORY  ", 1)[1].split("(* canonical)", 1)[0].strip().split("\n")
    assert len(table) == 21  # the header and 20 variants
    assert "300*" in table[-1]
    assert len(compared) == 19  # the canonical story is not compared with itself
    shown = render.detail_json(detail, explain=True, limit=20)
    assert shown["variants_shown"] == 20
    assert [v["story_id"] for v in shown["variants"]] == [*range(1, 20), 300]
    assert render.detail_json(detail)["variants_shown"] == 300


def test_shared_passages_compare_a_bounded_number_of_words() -> None:
    """A passage past the first ``MAX_DIFF_WORDS`` words of either text is not looked for."""
    from ingestor.explain import MAX_DIFF_WORDS, shared_passages

    filler = " ".join(f"w{i}" for i in range(MAX_DIFF_WORDS))
    tail = "the five words shared here"
    assert shared_passages(f"{tail} x", f"{tail} y") == [tail]
    assert shared_passages(f"{filler} {tail}", f"{filler} {tail}") == [filler]
