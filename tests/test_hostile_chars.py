"""Control, bidi and other format characters from hostile feeds: none reaches stored HTML or
text, titles or source names, stored validators, or the terminal."""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from ipaddress import ip_network

import pytest

from ingestor import render
from ingestor.cli._common import json_out
from ingestor.fetch import Fetcher, FetchPolicy
from ingestor.models import Event, FeedSource, ParsedEntry
from ingestor.normalize import normalize_entry, sanitize_html
from ingestor.normalize._chars import _FORMAT, one_line_title
from tests.faultserver import FaultServer, feed

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
C0_C1 = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
TERMINAL = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029{BIDI}]")


def test_stored_html_keeps_no_control_character_nh3_decoded() -> None:
    """Character references to C0 and C1 controls (``&#27;[2J``, ``&#x9b;``, ``&#13;``) come out
    of the sanitizer as nothing; tabs and newlines stay."""
    html = sanitize_html(
        "<p>a &#27;[2J b &#x9b;c &#13; d &#x7f; e &#1;</p>\n<pre>x\ty</pre>", base_url=None
    )
    assert C0_C1.search(html) is None, repr(html)
    assert "[2J" in html
    assert "\t" in html
    assert "\n" in html


def test_entry_text_and_html_keep_no_control_character() -> None:
    """An entry whose body smuggles an escape sequence stores neither it nor any other control."""
    entry = ParsedEntry(
        guid="g1",
        link="https://news.example/a",
        title="Clear &#27;[2J title",
        content_html="<p>Body &#27;[2J with &#x1b;]0;owned&#7; controls.</p>",
    )
    story = normalize_entry(entry, feed_url=None, feed_title=None, fetched=NOW)
    for field in (story.title, story.text, story.html or ""):
        assert C0_C1.search(field) is None, repr(field)


def test_titles_and_sources_lose_bidi_and_format_characters() -> None:
    """U+202E and the other bidi and format characters leave titles and source names; zero-width
    (non-)joiners stay inside words (Persian, Indic scripts), nowhere else."""
    entry = ParsedEntry(
        guid="g1",
        link=None,
        title="\u200fBank \u202egnimoc\u202c rates \u2066cut\u2069\u200e \u2060x\U000e0041",
        content_html="<p>The central bank cut its rates.</p>",
    )
    story = normalize_entry(entry, feed_url=None, feed_title="Wire\u202e \u200d", fetched=NOW)
    assert story.title == "Bank gnimoc rates cut x"
    assert story.source == "Wire"
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # ZWNJ inside a word
    assert one_line_title(persian) == persian
    sinhala = "\u0dc1\u0dca\u200d\u0dbb\u0dd3"  # ZWJ in a conjunct
    assert one_line_title(sinhala) == sinhala
    assert one_line_title("\u200cword \u200d") == "word"


def test_the_format_character_class_covers_unicode_category_cf() -> None:
    """Every character Unicode puts in category Cf is a format character to strip."""
    missing = [
        hex(c)
        for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)) == "Cf" and not _FORMAT.match(chr(c))
    ]
    assert missing == []


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


@pytest.mark.parametrize(
    ("etag", "last_modified"),
    [
        ('"\x9b[2J"', "Tue, 30 Apr 2024 10:00:00 GMT\x9b"),
        ('"' + "v" * 300 + '"', "Tue, 30 Apr 2024 10:00:00 GMT" + "x" * 80),
        ('"caf\xe9"', "Tue, 30\xa0Apr 2024"),
    ],
)
def test_validators_that_are_not_printable_ascii_or_too_long_are_dropped(
    server: FaultServer, etag: str, last_modified: str
) -> None:
    """An ETag or Last-Modified with a control or non-ASCII character, or past its length cap,
    is not kept (the next fetch is then unconditional); a sound one is."""
    url = server.route("/feed", feed(RSS, etag=etag, last_modified=last_modified))
    sound = server.route("/sound", feed(RSS, etag='"v1"', last_modified="Tue, 30 Apr 2024"))
    policy = FetchPolicy(timeout_s=5, allow_networks=(ip_network("127.0.0.1/32"),))
    fetcher = Fetcher(policy)
    try:
        result = fetcher.fetch(FeedSource(url=url), now=NOW)
        kept = fetcher.fetch(FeedSource(url=sound), now=NOW)
    finally:
        fetcher.close()
    assert result.status == "ok", result.error
    assert (result.etag, result.last_modified) == (None, None)
    assert (kept.etag, kept.last_modified) == ('"v1"', "Tue, 30 Apr 2024")


def test_the_terminal_never_gets_a_control_or_bidi_character(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Tables and JSON show stored hostile titles with every control and bidi character escaped
    (and the JSON still reads back as the same value)."""
    title = f"Rates \x1b[2J \x9b1m \u202egnimoc\u2028{BIDI} cut\n"
    event = Event(
        id=1, size=1, sources=1, first_seen=NOW, last_seen=NOW, canonical_story_id=1, title=title
    )
    table = render.events_table([event])
    assert TERMINAL.search(table) is None, repr(table)
    json_out([render.event_json(event)])
    out = capsys.readouterr().out
    assert TERMINAL.search(out) is None, repr(out)
    assert json.loads(out)[0]["title"] == title
