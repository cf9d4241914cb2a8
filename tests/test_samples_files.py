"""Pins the sample files in samples/: feeds, articles, expected events and the labelled stream.

These tests read the files only; how the pipeline clusters them is tested elsewhere. They keep the
samples honest: every feed is well-formed, every story expected.json names exists exactly once,
every seed text survives inside exactly one feed entry, and the stream is valid dataset input.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import feedparser
import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
FEEDS = SAMPLES / "feeds"
ARTICLES = SAMPLES / "articles"
SHARED_SEEDS = REPO.parent / "shared" / "seeds"

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"

FEED_FILES = sorted(FEEDS.glob("*.xml"))
ARTICLE_FILES = sorted(ARTICLES.glob("*.txt"))


@dataclass(frozen=True)
class Entry:
    feed: str
    guid: str
    title: str
    link: str
    when: datetime
    html: str


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        self.parts.append(" ")


def squash(text: str) -> str:
    return " ".join(text.split())


def html_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    return squash("".join(parser.parts))


def _text(el: ET.Element | None) -> str:
    return "" if el is None or el.text is None else el.text.strip()


def _rss_entries(name: str, channel: ET.Element) -> list[Entry]:
    entries = []
    for item in channel.findall("item"):
        body = item.find(CONTENT_ENCODED)
        if body is None:
            body = item.find("description")
        assert body is not None
        assert list(body) == [], "HTML must be escaped or CDATA"
        entries.append(
            Entry(
                feed=name,
                guid=_text(item.find("guid")),
                title=_text(item.find("title")),
                link=_text(item.find("link")),
                when=parsedate_to_datetime(_text(item.find("pubDate"))),
                html=_text(body),
            )
        )
    return entries


def _atom_entries(name: str, feed: ET.Element) -> list[Entry]:
    entries = []
    for item in feed.findall(f"{ATOM}entry"):
        content = item.find(f"{ATOM}content")
        assert content is not None
        assert content.get("type") == "html"
        assert list(content) == [], "HTML must be escaped or CDATA"
        link = item.find(f"{ATOM}link[@rel='alternate']")
        entries.append(
            Entry(
                feed=name,
                guid=_text(item.find(f"{ATOM}id")),
                title=_text(item.find(f"{ATOM}title")),
                link="" if link is None else link.get("href", ""),
                when=datetime.fromisoformat(_text(item.find(f"{ATOM}updated"))),
                html=_text(content),
            )
        )
    return entries


def load_feed(path: Path) -> tuple[str, list[Entry]]:
    """The feed's format ("rss" or "atom") and its entries, read with ElementTree."""
    root = ET.parse(path).getroot()
    if root.tag == "rss":
        channel = root.find("channel")
        assert channel is not None
        assert _text(channel.find("title"))
        assert _text(channel.find("link"))
        return "rss", _rss_entries(path.name, channel)
    assert root.tag == f"{ATOM}feed", root.tag
    assert _text(root.find(f"{ATOM}title"))
    assert root.find(f"{ATOM}link[@rel='alternate']") is not None
    return "atom", _atom_entries(path.name, root)


def all_entries() -> list[Entry]:
    return [entry for path in FEED_FILES for entry in load_feed(path)[1]]


def expected() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / "expected.json").read_text(encoding="utf-8"))
    return data


def expected_refs() -> list[dict[str, str]]:
    data = expected()
    refs = [m for event in data["events"] for m in event["members"]]
    return refs + list(data["singletons"])


def carries(entry: Entry, article: str) -> bool:
    """Whether the entry's title and stripped HTML hold the article's whole text, in order."""
    body = html_text(entry.html)
    if squash(article) in body:
        return True
    first, _, rest = article.partition("\n")
    return squash(first) == squash(entry.title) and squash(rest) in body


def test_samples_directory_has_the_promised_files() -> None:
    """samples/ holds five feeds, five articles with their sidecar, expected.json and a stream."""
    assert len(FEED_FILES) >= 5
    assert len(ARTICLE_FILES) == 5
    for name in ("README.md", "expected.json", "stream.jsonl", "articles/sources.json"):
        assert (SAMPLES / name).is_file(), name


@pytest.mark.parametrize("path", FEED_FILES, ids=lambda p: p.name)
def test_feed_is_well_formed_with_complete_entries(path: Path) -> None:
    """Each feed parses as XML and every entry has a title, link, id, dated time and HTML body."""
    _, entries = load_feed(path)
    assert 2 <= len(entries) <= 4
    for entry in entries:
        assert entry.title
        assert entry.guid
        assert entry.link.startswith("https://")
        assert entry.when.utcoffset() is not None
        assert "<p>" in entry.html


@pytest.mark.parametrize("path", FEED_FILES, ids=lambda p: p.name)
def test_feedparser_reads_every_feed_cleanly(path: Path) -> None:
    """feedparser reads each feed without a well-formedness warning and finds the same entries."""
    parsed = feedparser.parse(path.read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    _, entries = load_feed(path)
    assert [e.get("id") for e in parsed.entries] == [entry.guid for entry in entries]
    for item in parsed.entries:
        html = item["content"][0]["value"] if "content" in item else item["summary"]
        assert "<p>" in html


def test_feeds_mix_rss_and_atom() -> None:
    """At least two feeds are RSS 2.0 and at least two are Atom."""
    formats = [load_feed(path)[0] for path in FEED_FILES]
    assert formats.count("rss") >= 2
    assert formats.count("atom") >= 2


def test_entry_times_are_around_the_story_day() -> None:
    """Entry times (Atom: updated) fall on 2024-06-18 or within two days of it."""
    for entry in all_entries():
        day = entry.when.astimezone(UTC).date().isoformat()
        assert "2024-06-17" <= day <= "2024-06-20", (entry.guid, day)


def test_feed_ids_are_unique() -> None:
    """No guid/id is used twice across the sample feeds."""
    guids = [entry.guid for entry in all_entries()]
    assert len(guids) == len(set(guids))


def test_every_expected_member_exists_exactly_once() -> None:
    """Each feed entry and article named in expected.json exists exactly once."""
    entries = all_entries()
    for ref in expected_refs():
        if "article" in ref:
            assert set(ref) == {"article"}
            assert (ARTICLES / ref["article"]).is_file(), ref
        else:
            assert set(ref) == {"feed", "guid"}
            hits = [e for e in entries if e.feed == ref["feed"] and e.guid == ref["guid"]]
            assert len(hits) == 1, ref


def test_expected_partitions_every_entry_and_article() -> None:
    """Every feed entry and article belongs to exactly one expected event or singleton."""
    keys = [
        ("article", r["article"]) if "article" in r else (r["feed"], r["guid"])
        for r in expected_refs()
    ]
    assert len(keys) == len(set(keys))
    everything = {(e.feed, e.guid) for e in all_entries()}
    everything |= {("article", p.name) for p in ARTICLE_FILES}
    assert set(keys) == everything


def test_expected_has_a_note_for_every_event() -> None:
    """expected.json explains each event and singleton in one line of notes."""
    data = expected()
    notes = data["notes"]
    assert len(notes) == len(data["events"]) + len(data["singletons"])
    for event in data["events"]:
        assert any(note.startswith(event["name"] + ":") for note in notes), event["name"]
    assert all("\n" not in note for note in notes)


def test_seed_event_holds_all_five_seeds() -> None:
    """The seed event lists all five seed entries from the feeds and all five article files."""
    [seed_event] = [e for e in expected()["events"] if e["name"] == "putin-dprk-oped"]
    members = seed_event["members"]
    assert sorted(m["article"] for m in members if "article" in m) == sorted(
        p.name for p in ARTICLE_FILES
    )
    assert len({m["feed"] for m in members if "feed" in m}) == 5


@pytest.mark.parametrize("path", ARTICLE_FILES, ids=lambda p: p.name)
def test_article_text_appears_in_exactly_one_feed_entry(path: Path) -> None:
    """Each article's text survives, tags stripped and spaces squashed, in exactly one entry."""
    article = path.read_text(encoding="utf-8")
    hits = [entry for entry in all_entries() if carries(entry, article)]
    assert len(hits) == 1, [h.guid for h in hits]
    [seed_event] = [e for e in expected()["events"] if e["name"] == "putin-dprk-oped"]
    assert {"feed": hits[0].feed, "guid": hits[0].guid} in seed_event["members"]


def test_sources_sidecar_describes_every_article() -> None:
    """sources.json gives each article a source, an https URL and a UTC time on 2024-06-18."""
    sources = json.loads((ARTICLES / "sources.json").read_text(encoding="utf-8"))
    assert sorted(sources) == [p.name for p in ARTICLE_FILES]
    for meta in sources.values():
        assert set(meta) == {"source", "url", "published"}
        assert meta["source"]
        assert meta["url"].startswith("https://")
        when = datetime.fromisoformat(meta["published"])
        assert when.utcoffset() == timedelta(0)
        assert when.date().isoformat() == "2024-06-18"


@pytest.mark.shared
def test_articles_match_shared_seeds_byte_for_byte() -> None:
    """The five articles are the shared seed documents, byte for byte."""
    if not SHARED_SEEDS.is_dir():
        pytest.skip(f"{SHARED_SEEDS} is absent, so there is nothing to compare the articles with")
    seeds = sorted(p.read_bytes() for p in SHARED_SEEDS.glob("*.txt"))
    assert sorted(p.read_bytes() for p in ARTICLE_FILES) == seeds


def _stream() -> list[dict[str, Any]]:
    lines = (SAMPLES / "stream.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_stream_records_are_valid_dataset_records() -> None:
    """stream.jsonl holds 10-15 records in the dataset format, with unique ids."""
    records = _stream()
    assert 10 <= len(records) <= 15
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids))
    for r in records:
        assert {"id", "event", "dataset", "title", "url", "source", "published"} <= set(r)
        assert r["dataset"] == "samples"
        assert isinstance(r["event"], str)
        assert r["event"].startswith("samples:")
        assert ("text" in r) != ("html" in r), r["id"]
        body = r.get("text") or r.get("html")
        assert isinstance(body, str)
        assert len(body.split()) >= 100, r["id"]
        when = datetime.fromisoformat(r["published"])
        assert when.utcoffset() == timedelta(0)


def test_stream_seed_records_are_the_articles() -> None:
    """The stream's seed event is the five article texts, headline as title and the rest as text."""
    records = [r for r in _stream() if r["event"] == "samples:putin-dprk-oped"]
    assert len(records) == 5
    from_stream = sorted(squash(f"{r['title']} {r['text']}") for r in records)
    from_files = sorted(squash(p.read_text(encoding="utf-8")) for p in ARTICLE_FILES)
    assert from_stream == from_files


def test_stream_and_expected_agree_on_event_sizes() -> None:
    """The stream labels the same multi-story events, with the same feed sizes, as expected.json."""
    sizes: dict[str, int] = {}
    for r in _stream():
        sizes[r["event"]] = sizes.get(r["event"], 0) + 1
    data = expected()
    for event in data["events"]:
        feed_members = [m for m in event["members"] if "feed" in m]
        assert sizes["samples:" + event["name"]] == len(feed_members)
    assert sum(1 for n in sizes.values() if n == 1) == len(data["singletons"])


def test_feeds_carry_real_site_clutter() -> None:
    """Feed bodies keep share links, tracking parameters and sign-up prompts to be cleaned."""
    raw = {path.name: path.read_text(encoding="utf-8") for path in FEED_FILES}
    for name, text in raw.items():
        assert "utm_source" in text, name
        assert re.search(r"facebook\.com/shar", text), name
    joined = "\n".join(raw.values())
    for clutter in ("Sharing is caring!", "Leave a Reply", "read more", "Related:", "newsletter"):
        assert clutter in joined, clutter
