"""The pages, ``/`` and ``/events/{id}``, over a store filled from samples/: server-rendered,
usable without JavaScript, hostile text escaped, a Content-Security-Policy with no inline
script, and the word diff of each variant (bounded)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from ingestor.web._text import MAX_WORDS, Chunk, clean, decode_cursor, encode_cursor, word_diff
from tests.web import HOSTILE_SOURCE, SEED_SOURCES, client, fill, seed_event_id


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return fill(tmp_path_factory.mktemp("pages"))


@pytest.fixture
def web(store: str) -> Iterator[TestClient]:
    with client(store) as test_client:
        yield test_client


class _Page(HTMLParser):
    """The tags, scripts, inline styles and handlers of a page, and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.handlers: list[str] = []
        self.text: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.handlers += [name for name, _ in attrs if name.startswith("on") or name == "style"]
        self.links += [value or "" for name, value in attrs if name == "href"]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(body: str) -> _Page:
    page = _Page()
    page.feed(body)
    return page


def test_the_index_lists_events_newest_first_with_sizes_and_sources(web: TestClient) -> None:
    """``/`` shows every event with its size and its sources, newest first, each linked to its
    page, with a plain GET form for the filters."""
    response = web.get("/")
    assert response.status_code == 200
    page = _parse(response.text)
    text = " ".join(page.text)
    for source in SEED_SOURCES:
        assert source in text
    events = web.get("/api/events").json()["events"]
    linked = [link for link in page.links if re.fullmatch(r"/events/\d+", link)]
    assert linked == [f"/events/{e['id']}" for e in events]
    assert "form" in page.tags
    assert "script" not in page.tags


def test_the_index_pages_by_cursor_without_javascript(web: TestClient) -> None:
    """With ``limit`` 3 the page links to the next one, which starts where it stopped."""
    page = _parse(web.get("/", params={"limit": 3, "min_size": 1}).text)
    [older] = [link for link in page.links if "cursor=" in link]
    assert "limit=3" in older
    following = _parse(web.get(older).text)
    first = [link for link in page.links if re.fullmatch(r"/events/\d+", link)]
    then = [link for link in following.links if re.fullmatch(r"/events/\d+", link)]
    assert len(first) == 3
    assert then
    assert not set(first) & set(then)


def test_the_event_page_shows_the_canonical_text_variants_diff_and_scores(web: TestClient) -> None:
    """An event's page has the canonical text, one card per variant with its source and what
    it adds (``ins``) or drops (``del``), and the explain scores."""
    event_id = seed_event_id(web)
    response = web.get(f"/events/{event_id}")
    assert response.status_code == 200
    body = response.text
    page = _parse(body)
    text = " ".join(page.text)
    for source in SEED_SOURCES:
        assert source in text
    assert len(re.findall(r'class="variant[ "]', body)) == 5
    assert "ins" in page.tags
    assert "del" in page.tags
    assert "Verification score" in text
    assert "cosine" in text
    assert "details" in page.tags


def test_every_response_forbids_script_and_the_pages_use_none(web: TestClient) -> None:
    """Every response carries a CSP with ``default-src 'self'`` and ``script-src 'none'``; no
    page has a script, an inline style or an event handler; the stylesheet is a static file."""
    event_id = seed_event_id(web)
    for path in ("/", f"/events/{event_id}", "/events/999999", "/api/events", "/events.atom"):
        response = web.get(path)
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "script-src 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        if response.headers["content-type"].startswith("text/html"):
            page = _parse(response.text)
            assert "script" not in page.tags
            assert "style" not in page.tags
            assert page.handlers == []
    css = web.get("/static/style.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")


def test_hostile_text_is_escaped_on_the_pages(web: TestClient) -> None:
    """A ``<script>`` title, a source with markup and a ``javascript:`` link are shown as text:
    no element is injected, no such link is made, control characters are gone."""
    [event] = web.get("/api/events", params={"q": "<script>"}).json()["events"]
    for path in ("/", f"/events/{event['id']}"):
        body = web.get(path).text
        page = _parse(body)
        assert "script" not in page.tags
        assert "b" not in page.tags
        assert not any(link.startswith("javascript:") for link in page.links)
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in body
        assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", body)
        assert HOSTILE_SOURCE in " ".join(page.text)


def test_unknown_and_bad_event_pages_are_html_errors(web: TestClient) -> None:
    """An unknown event is a 404 page, a non-numeric id a 422 page, both in HTML."""
    missing = web.get("/events/999999")
    assert missing.status_code == 404
    assert "no event 999999" in missing.text
    assert missing.headers["content-type"].startswith("text/html")
    assert web.get("/events/x").status_code == 422


def test_the_word_diff_names_what_a_variant_adds_and_drops() -> None:
    """Words only the variant has are ``added``, words only the canonical story has are
    ``dropped``; case and edge punctuation aside, the rest is ``same``."""
    chunks = word_diff("The cat sat on a RED mat, quietly.", "the cat sat on the red mat")
    assert Chunk("dropped", "the") in chunks
    assert Chunk("added", "a") in chunks
    assert Chunk("added", "quietly.") in chunks
    assert [c.op for c in chunks].count("same") == 2


def test_the_word_diff_is_bounded() -> None:
    """Long texts are cut to ``MAX_WORDS`` words each, and long unchanged runs shortened."""
    long = " ".join(f"w{i}" for i in range(MAX_WORDS * 3))
    chunks = word_diff(long + " extra", long)
    assert sum(len(c.text.split()) for c in chunks) <= 17
    assert chunks == [Chunk("same", chunks[0].text)]


def test_a_cursor_round_trips_and_a_forged_one_is_refused() -> None:
    """``encode_cursor`` and ``decode_cursor`` agree; anything else is a ``ConfigError``."""
    from datetime import UTC, datetime

    from ingestor.errors import ConfigError

    when = datetime(2024, 6, 18, 1, 2, 3, tzinfo=UTC)
    assert decode_cursor(encode_cursor(when, 42)) == (when, 42)
    for forged in ("", "!!!", "WzEsMl0", encode_cursor(when, 1)[:-3]):
        with pytest.raises(ConfigError):
            decode_cursor(forged)
    assert clean("a\x00b\x1bc\u2028d") == "abc\u2028d"


def test_a_large_event_page_compares_only_the_first_variants(
    web: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``MAX_DIFFS`` variants, the rest are listed without a word diff, and the page says
    so."""
    from ingestor.web import _pages

    monkeypatch.setattr(_pages, "MAX_DIFFS", 2)
    event_id = seed_event_id(web)
    first = web.get(f"/api/events/{event_id}").json()["variants"][:2]
    body = web.get(f"/events/{event_id}").text
    assert len(re.findall(r'class="variant[ "]', body)) == 5
    assert body.count('<p class="diff">') == sum(not v["canonical"] for v in first)
    assert "The last 3 variants are listed without a comparison." in body
