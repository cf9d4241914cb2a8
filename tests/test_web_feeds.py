"""The deduplicated output feeds, ``/events.atom`` and ``/events.json``: one item per event that
feedparser reads without complaint, the same ids at every poll, an ``updated`` time that moves
when a variant joins, the filters, and hostile text escaped."""

from __future__ import annotations

import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from fastapi.testclient import TestClient

from ingestor.models import Event, EventDetail, Story, Variant
from ingestor.web._syndication import atom_feed, json_feed
from tests.web import (
    HOSTILE_SOURCE,
    SEED_SOURCES,
    check_json_feed,
    client,
    fill,
    seed_event_id,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return fill(tmp_path_factory.mktemp("feeds"))


@pytest.fixture
def web(store: str) -> Iterator[TestClient]:
    with client(store) as test_client:
        yield test_client


def test_feedparser_reads_one_atom_entry_per_event_without_complaint(web: TestClient) -> None:
    """The Atom document parses with no bozo flag, one entry per event, each with an id, a
    title, a link and content."""
    response = web.get("/events.atom")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    events = web.get("/api/events").json()["events"]
    assert len(parsed.entries) == len(events)
    for entry in parsed.entries:
        assert entry.title
        assert entry.link.startswith("http")
        assert entry.content[0].value
        assert entry.id.startswith("tag:ingestor.invalid,2024:event/")


def test_the_json_feed_keeps_the_rules_of_json_feed_1_1(web: TestClient) -> None:
    """The JSON Feed document keeps the 1.1 specification's rules, one item per event, with the
    same ids as the Atom entries."""
    response = web.get("/events.json")
    assert response.headers["content-type"].startswith("application/feed+json")
    items = check_json_feed(response.json())
    atom = feedparser.parse(web.get("/events.atom").content)
    assert [i["id"] for i in items] == [e.id for e in atom.entries]


@pytest.mark.parametrize("path", ["/events.atom", "/events.json"])
def test_this_service_reads_its_own_output_feeds_as_a_subscriber_would(
    web: TestClient, path: str
) -> None:
    """Both documents, fetched as a subscribed ``ingestor`` would read them (its own parser and
    normalizer, which every polled feed goes through), parse with no warning, one entry per
    event, with the served ids as GUIDs, a link each, and each title the canonical story's as
    written. (The hostile title's ``<script>`` text is read as markup and dropped: what the
    normalizer does with markup in any title.)"""
    from ingestor.normalize import normalize_entry
    from ingestor.parse import parse_feed

    response = web.get(path)
    parsed = parse_feed(
        response.content, url=f"http://127.0.0.1{path}",
        content_type=response.headers["content-type"], now=datetime.now(UTC),
    )  # fmt: skip
    assert parsed.warning is None
    events = web.get("/api/events", params={"limit": 200}).json()["events"]
    assert len(parsed.entries) == len(events)
    assert [e.guid for e in parsed.entries] == _ids(web, path)
    titles = {e["title"] for e in events if "<" not in e["title"]}
    now = datetime.now(UTC)
    read = {
        normalize_entry(e, feed_url=None, feed_title=None, fetched=now).title
        for e in parsed.entries
    }
    assert titles < read
    assert len(read - titles) == 1  # the hostile one
    assert not any("<script" in title for title in read)
    assert all(entry.link and entry.content_html for entry in parsed.entries)


@pytest.mark.parametrize("path", ["/events.atom", "/events.json"])
def test_two_polls_give_the_same_ids(store: str, path: str) -> None:
    """A reader that polls twice (here through two servers over the store) sees the same ids."""
    with client(store) as first:
        before = _ids(first, path)
    with client(store) as second:
        after = _ids(second, path)
    assert before == after
    assert len(set(before)) == len(before)


def _ids(test_client: TestClient, path: str) -> list[str]:
    if path.endswith(".json"):
        return [i["id"] for i in check_json_feed(test_client.get(path).json())]
    return [e.id for e in feedparser.parse(test_client.get(path).content).entries]


def test_the_seed_entry_lists_the_other_variants_as_also_reported_by(web: TestClient) -> None:
    """The seed event's entry carries the canonical story's text and names the four other
    outlets, with links to their copies."""
    event_id = seed_event_id(web)
    parsed = feedparser.parse(web.get("/events.atom").content)
    [entry] = [e for e in parsed.entries if e.id.split("/")[1] == str(event_id)]
    content = entry.content[0].value
    assert "Also reported by:" in content
    others = [s for s in SEED_SOURCES if s != entry.author]
    assert len(others) == 4
    for source in others:
        assert source.replace("&", "&amp;") in content or source in content
    assert content.count("<li><a href=") == 4
    item = next(i for i in web.get("/events.json").json()["items"] if i["id"] == entry.id)
    assert sorted(v["source"] for v in item["_ingestor"]["also_reported_by"]) == sorted(others)
    assert item["content_text"].startswith(entry.summary[:40].split("<")[0][:20])


def test_updated_moves_when_a_variant_joins(store: str, tmp_path: Path) -> None:
    """An entry's ``updated`` is the latest of its event's last seen and its variants' join
    times: a later join moves it, and the id stays."""
    copy = tmp_path / "moved.db"
    copy.write_bytes(Path(store.removeprefix("sqlite:///")).read_bytes())
    with client(f"sqlite:///{copy}") as test_client:
        event_id = seed_event_id(test_client)
        before = _entry(test_client, event_id)
    later = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    with sqlite3.connect(copy) as db:
        [(story_id,)] = db.execute(
            "SELECT story_id FROM memberships WHERE event_id = ? ORDER BY story_id DESC LIMIT 1",
            (event_id,),
        ).fetchall()
        db.execute(
            "UPDATE memberships SET joined_at = ? WHERE story_id = ?",
            (later.strftime("%Y-%m-%d %H:%M:%S.000000"), story_id),
        )
    with client(f"sqlite:///{copy}") as test_client:
        after = _entry(test_client, event_id)
    assert after.id == before.id
    assert after.updated_parsed > before.updated_parsed
    assert after.updated.startswith("2031-01-02T03:04:05")


def _entry(test_client: TestClient, event_id: int) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(test_client.get("/events.atom").content)
    return next(e for e in parsed.entries if e.id.split("/")[1] == str(event_id))


def test_filters_narrow_the_feeds(web: TestClient) -> None:
    """``min_size``, ``source`` and ``q`` keep only the matching events in both feeds."""
    seed = seed_event_id(web)
    for path in ("/events.atom", "/events.json"):
        big = [i.split("/")[1] for i in _ids_with(web, path, min_size=5)]
        assert big == [str(seed)]
        assert str(seed) in [i.split("/")[1] for i in _ids_with(web, path, source="RT")]
        assert len(_ids_with(web, path, q="earthquake")) == 2
    assert web.get("/events.atom", params={"min_size": 0}).status_code == 422


def _ids_with(test_client: TestClient, path: str, **params: str | int) -> list[str]:
    response = test_client.get(path, params=params)
    if path.endswith(".json"):
        return [i["id"] for i in check_json_feed(response.json())]
    return [e.id for e in feedparser.parse(response.content).entries]


def test_hostile_text_is_escaped_in_both_feeds(web: TestClient) -> None:
    """A title with ``<script>`` and control characters, a source with markup and a
    ``javascript:`` link come out as text: the XML is well-formed, no element or link is
    injected, and the control characters are gone."""
    atom = web.get("/events.atom").content
    root = ET.fromstring(atom)  # well-formed XML despite the control characters
    assert b"<script" not in atom
    assert b"javascript:" not in atom
    assert not re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]", atom)
    titles = [t.text or "" for t in root.iter("{http://www.w3.org/2005/Atom}title")]
    [hostile] = [t for t in titles if "script" in t]
    assert hostile.startswith("<script>alert('x')</script>")
    document = web.get("/events.json").json()
    [item] = [i for i in document["items"] if "script" in i["title"]]
    assert "\x01" not in item["title"]
    assert "<b>" not in item["content_html"]
    assert item["url"].startswith("http://testserver/events/")
    assert item["authors"] == [{"name": HOSTILE_SOURCE}]
    assert "javascript:" not in json.dumps(document)


def _detail(title: str, source: str, url: str) -> EventDetail:
    when = datetime(2024, 6, 18, tzinfo=UTC)
    stories = [
        Story(source=source, title=title, text="One\x00 two\nthree", fetched=when,
              content_hash="a", url=url, published=when),
        Story(source="Other & Co", title='Second "take" <i>', text="One two", fetched=when,
              content_hash="b", url="https://example.org/2?a=1&b=2", published=when),
    ]  # fmt: skip
    variants = tuple(
        Variant(story_id=i + 1, story=s, similarity=0.9, reason="rewrite",
                joined_at=when + timedelta(hours=i))
        for i, s in enumerate(stories)
    )  # fmt: skip
    event = Event(id=7, canonical_story_id=1, title=title, first_seen=when, last_seen=when,
                  size=2, sources=2, created_at=when)  # fmt: skip
    return EventDetail(event=event, variants=variants)


@pytest.mark.parametrize(
    "title", ["<script>alert(1)</script>", "\x1b[2J\x07bell\ufffe", "]]><x>&amp;&#0;"]
)
def test_feed_documents_survive_any_title(title: str) -> None:
    """Whatever a title holds, both documents parse cleanly and carry it as text."""
    detail = _detail(title, "<b>src</b>", "javascript:alert(1)")
    atom = atom_feed([detail], feed_id="tag:x,2024:f", self_url="http://h/events.atom",
                     home="http://h/", event_url=lambda i: f"http://h/events/{i}")  # fmt: skip
    parsed = feedparser.parse(atom)
    assert not parsed.bozo, parsed.get("bozo_exception")
    [entry] = parsed.entries
    assert entry.link == "http://h/events/7"
    assert '<li><a href="https://example.org/2?a=1&amp;b=2">Other &amp; Co</a>' in (
        entry.content[0].value
    )
    document = json_feed([detail], self_url="http://h/events.json", home="http://h/",
                         event_url=lambda i: f"http://h/events/{i}")  # fmt: skip
    [item] = check_json_feed(json.loads(json.dumps(document)))
    assert item["title"] == title.replace("\x1b", "").replace("\x07", "").replace("\ufffe", "")
    assert document["items"][0]["date_modified"] == "2024-06-18T01:00:00Z"
