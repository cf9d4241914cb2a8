"""parse_feed: RSS, Atom and JSON Feed bytes in, bounded and UTC ParsedFeed values out."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestor.errors import ParseError
from ingestor.parse import MAX_CONTENT_CHARS, MAX_TITLE_CHARS, MAX_URL_CHARS, parse_feed

NOW = datetime(2024, 6, 20, 12, 0, tzinfo=UTC)
URL = "https://news.example.com/feeds/world.xml"

RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>Example News &#8211; World</title>
  <link>https://news.example.com/</link>
  <description>World news</description>
  <ttl>30</ttl>
  <item>
    <title>Putin vows trade, security with North Korea beyond reach of West</title>
    <link>/world/putin-north-korea-trade-security?utm_source=rss</link>
    <guid isPermaLink="false">news-example-67111</guid>
    <pubDate>Tue, 18 Jun 2024 04:35:12 +0900</pubDate>
    <dc:creator>Jane Reporter</dc:creator>
    <description>Putin promised to build trade and security systems with North Korea.</description>
    <content:encoded><![CDATA[<p>SEOUL (Reuters) &#8211; Vladimir Putin promised to build
      trade and security systems with North Korea free from Western control.</p>
      <p>Read the <a href="/world/letter">full letter</a>.</p>]]></content:encoded>
  </item>
  <item>
    <title>Magnitude 6.1 earthquake strikes off central Chile</title>
    <link>https://news.example.com/world/chile-quake</link>
    <description>&lt;p&gt;A magnitude 6.1 earthquake struck off the coast.&lt;/p&gt;</description>
    <pubDate>Tue, 18 Jun 2024 20:10:00 GMT</pubDate>
  </item>
</channel>
</rss>
"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://www.catchnews.com/">
  <title type="html">Catch News &amp;mdash; International</title>
  <link href="https://www.catchnews.com/international-news" rel="alternate"/>
  <id>tag:catchnews.com,2024:international</id>
  <updated>2024-06-19T08:50:00Z</updated>
  <entry>
    <title type="text">Russia, N Korea to work together: Putin &lt;update&gt;</title>
    <link rel="alternate" href="international-news/russia-n-korea-252107.html"/>
    <id>tag:catchnews.com,2024:252107</id>
    <updated>2024-06-18T07:00:00+02:00</updated>
    <author><name>ANI</name></author>
    <summary>Short summary.</summary>
    <content type="html">&lt;p&gt;Moscow: Ahead of his two-day visit to North Korea,
      Russian President Vladimir Putin has said Moscow will work with Pyongyang.&lt;/p&gt;</content>
  </entry>
  <entry>
    <title>Plain text body</title>
    <id>tag:catchnews.com,2024:252108</id>
    <published>2024-06-18T05:32:00Z</published>
    <content type="text">First paragraph &lt;not a tag&gt;.

Second paragraph.</content>
  </entry>
</feed>
"""

JSON_FEED = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "RT - Daily news",
    "home_page_url": "https://www.rt.com/",
    "feed_url": "https://www.rt.com/feeds/news.json",
    "items": [
        {
            "id": "599420",
            "url": "/news/599420-putin-north-korea-trip-goals/",
            "title": "Putin reveals goals of North Korea trip",
            "content_html": "<p>Moscow and Pyongyang will develop trade.</p><script>x()</script>",
            "summary": "short",
            "date_published": "2024-06-18T00:47:00+03:00",
            "date_modified": "2024-06-18T09:00:00Z",
            "authors": [{"name": "RT"}, {"name": "Staff"}],
        },
        {
            "id": 17,
            "external_url": "https://www.rt.com/sport/599501-portugal-czechia/",
            "content_text": "Substitute Francisco Conceicao struck <late>.\n\nPortugal won 2-1.",
            "date_published": "not a date",
            "author": {"name": "RT Sport"},
        },
        "not an object",
    ],
}


def _rss(items: str, channel: str = "<title>t</title>") -> bytes:
    return f'<rss version="2.0"><channel>{channel}{items}</channel></rss>'.encode()


def test_rss_channel_and_entries() -> None:
    """RSS 2.0: channel title, link and ttl; entry guid, resolved link, author and UTC date."""
    feed = parse_feed(RSS, url=URL, content_type="application/rss+xml", now=NOW)
    assert feed.title == "Example News – World"
    assert feed.link == "https://news.example.com/"
    assert feed.ttl_s == 1800
    assert feed.warning is None
    first, second = feed.entries
    assert first.guid == "news-example-67111"
    assert (
        first.link
        == "https://news.example.com/world/putin-north-korea-trade-security?utm_source=rss"
    )
    assert first.author == "Jane Reporter"
    assert first.published == datetime(2024, 6, 17, 19, 35, 12, tzinfo=UTC)
    assert first.title == "Putin vows trade, security with North Korea beyond reach of West"
    assert second.published == datetime(2024, 6, 18, 20, 10, tzinfo=UTC)


def test_richest_body_wins_and_keeps_its_html() -> None:
    """content:encoded beats a shorter description; relative links in it are resolved."""
    first = parse_feed(RSS, url=URL, now=NOW).entries[0]
    assert first.content_html is not None
    assert "free from Western control" in first.content_html
    assert 'href="https://news.example.com/world/letter"' in first.content_html
    assert "<p>" in first.content_html


def test_escaped_html_description_is_unescaped_once() -> None:
    """An entity-escaped RSS description comes out as HTML markup."""
    second = parse_feed(RSS, url=URL, now=NOW).entries[1]
    assert second.content_html == "<p>A magnitude 6.1 earthquake struck off the coast.</p>"


def test_atom_feed() -> None:
    """Atom: xml:base resolves links, updated is converted to UTC, HTML content beats summary."""
    feed = parse_feed(ATOM, url="https://www.catchnews.com/feed.atom", now=NOW)
    assert feed.title == "Catch News — International"
    first, _second = feed.entries
    assert first.link == "https://www.catchnews.com/international-news/russia-n-korea-252107.html"
    assert first.guid == "tag:catchnews.com,2024:252107"
    assert first.updated == datetime(2024, 6, 18, 5, 0, tzinfo=UTC)
    assert first.published is None
    assert first.author == "ANI"
    assert first.content_html is not None
    assert first.content_html.startswith("<p>Moscow:")


def test_plain_text_fields_come_out_as_escaped_html() -> None:
    """type="text" titles and bodies are escaped, so every title and body is HTML downstream."""
    first, second = parse_feed(ATOM, url="https://www.catchnews.com/feed.atom", now=NOW).entries
    assert first.title == "Russia, N Korea to work together: Putin &lt;update&gt;"
    assert second.content_html == (
        "<p>First paragraph &lt;not a tag&gt;.</p><p>Second paragraph.</p>"
    )
    assert second.published == datetime(2024, 6, 18, 5, 32, tzinfo=UTC)


def test_json_feed() -> None:
    """JSON Feed 1.1: items, authors, dates, relative URLs against feed_url, HTML kept raw."""
    body = json.dumps(JSON_FEED).encode()
    feed = parse_feed(body, url="https://www.rt.com/feeds/news.json", now=NOW)
    assert feed.title == "RT - Daily news"
    assert feed.link == "https://www.rt.com/"
    first, second = feed.entries
    assert first.guid == "599420"
    assert first.link == "https://www.rt.com/news/599420-putin-north-korea-trip-goals/"
    assert first.content_html is not None
    assert first.content_html.startswith("<p>Moscow")
    assert first.published == datetime(2024, 6, 17, 21, 47, tzinfo=UTC)
    assert first.updated == datetime(2024, 6, 18, 9, 0, tzinfo=UTC)
    assert first.author == "RT, Staff"
    assert second.guid == "17"
    assert second.link == "https://www.rt.com/sport/599501-portugal-czechia/"
    assert second.content_html == (
        "<p>Substitute Francisco Conceicao struck &lt;late&gt;.</p><p>Portugal won 2-1.</p>"
    )
    assert second.published is None
    assert second.author == "RT Sport"


def test_json_feed_recognised_by_content_type_or_shape() -> None:
    """A JSON Feed is read whether the server says application/feed+json or nothing, and an
    XML feed mislabelled as JSON is still read as XML."""
    body = json.dumps(JSON_FEED).encode()
    typed = parse_feed(body, url=URL, content_type="application/feed+json", now=NOW)
    untyped = parse_feed(b"\n  " + body, url=URL, now=NOW)
    assert typed.entries == untyped.entries
    mislabelled = parse_feed(RSS, url=URL, content_type="application/json", now=NOW)
    assert len(mislabelled.entries) == 2


@pytest.mark.parametrize(
    "body",
    [
        b'{"title": "no version", "items": []}',
        b'{"version": "https://jsonfeed.org/version/1.1", "items": [',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"version": "https://jsonfeed.org/version/1", "n": ' + b"9" * 10_000 + b"}",
        b'["https://jsonfeed.org/version/1.1"]',
    ],
    ids=["no-version", "truncated", "deeply-nested", "huge-number", "array"],
)
def test_bad_json_is_a_parse_error(body: bytes) -> None:
    """JSON that is not a JSON Feed (or not JSON at all) raises ParseError, never anything else."""
    with pytest.raises(ParseError):
        parse_feed(body, url=URL, content_type="application/json", now=NOW)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n",
        b"<!DOCTYPE html><html><head><title>Home</title><link rel=canonical href=/x></head>"
        b"<body><h1>Welcome</h1><p>Not a feed.</p></body></html>",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00",
        b"just some text",
    ],
    ids=["empty", "blank", "html-page", "binary", "text"],
)
def test_non_feeds_are_parse_errors(body: bytes) -> None:
    """Empty bodies, HTML pages, binary and plain text raise ParseError."""
    with pytest.raises(ParseError):
        parse_feed(body, url=URL, now=NOW)


def test_html_served_with_a_feedparser_crash_bug_is_a_parse_error() -> None:
    """A stray </width> end tag crashes feedparser's loose parser; that becomes ParseError."""
    with pytest.raises(ParseError, match="unreadable"):
        parse_feed(b"<html><body><p>x</p></width></body></html>", url=URL, now=NOW)


def test_ill_formed_feed_is_read_with_a_one_line_warning() -> None:
    """A recoverable document yields entries plus the parser's complaint on one line."""
    body = _rss("<item><title>A &amp; B</title><link>https://e.com/a</link></item><oops>")
    feed = parse_feed(body, url=URL, now=NOW)
    assert [e.title for e in feed.entries] == ["A &amp; B"]
    assert feed.warning is not None
    assert "\n" not in feed.warning
    assert len(feed.warning) <= 300


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("Tue, 18 Jun 2024 20:10:00 GMT", datetime(2024, 6, 18, 20, 10, tzinfo=UTC)),
        ("Thu, 20 Jun 2024 23:00:00 GMT", datetime(2024, 6, 20, 23, 0, tzinfo=UTC)),
        ("Sat, 22 Jun 2024 12:00:00 GMT", None),
        ("Fri, 31 Dec 9999 23:59:59 GMT", None),
        ("Thu, 01 Jan 1970 00:00:00 GMT", None),
        ("Mon, 01 Jan 0000 00:00:00 GMT", None),
        ("Wed, 31 Feb 2024 10:00:00 GMT", None),
        ("yesterday-ish", None),
    ],
)
def test_implausible_dates_are_dropped(date: str, expected: datetime | None) -> None:
    """Dates before 1990, after now + 1 day, or impossible become None; never an error."""
    feed = parse_feed(
        _rss(f"<item><title>x</title><pubDate>{date}</pubDate></item>"), url=URL, now=NOW
    )
    assert feed.entries[0].published == expected


def test_naive_now_is_refused() -> None:
    """now must be UTC: a naive datetime is a programming error."""
    with pytest.raises(ValueError, match="UTC"):
        parse_feed(RSS, url=URL, now=datetime(2024, 6, 20))


def test_control_characters_are_stripped_and_single_line_fields_flattened() -> None:
    """C0/C1 controls disappear from every field; titles and authors become one line."""
    body = _rss(
        "<item><title>Bad&#x1; title\nsecond line</title><link>https://e.com/\x7fa</link>"
        "<author>a\x1bb</author><description>one&#x8;\ntwo</description></item>"
    )
    entry = parse_feed(body, url=URL, now=NOW).entries[0]
    assert entry.title == "Bad title second line"
    assert entry.link == "https://e.com/a"
    assert entry.author == "ab"
    assert entry.content_html is not None
    assert "\x08" not in entry.content_html


def test_field_lengths_are_capped() -> None:
    """Titles stop at 1,000 chars, bodies at 2 MB; over-long links are dropped and over-long
    guids replaced by a digest, so a hostile document cannot blow up what comes after."""
    long_guid = "g" * (MAX_URL_CHARS + 10)
    body = _rss(
        f"<item><title>{'t' * 5000}</title><link>https://e.com/{'a' * 3000}</link>"
        f"<guid>{long_guid}</guid><description>{'b' * (MAX_CONTENT_CHARS + 1000)}</description>"
        "</item>"
    )
    entry = parse_feed(body, url=URL, now=NOW).entries[0]
    assert entry.title is not None
    assert len(entry.title) == MAX_TITLE_CHARS
    assert entry.link is None
    assert entry.guid is not None
    assert entry.guid.startswith("sha256:")
    assert entry.content_html is not None
    assert len(entry.content_html) <= MAX_CONTENT_CHARS


def test_max_entries_bounds_the_entry_count() -> None:
    """Only the first max_entries entries are returned."""
    items = "".join(f"<item><title>n{i}</title></item>" for i in range(50))
    feed = parse_feed(_rss(items), url=URL, max_entries=7, now=NOW)
    assert [e.title for e in feed.entries] == [f"n{i}" for i in range(7)]


def test_invalid_ttl_is_ignored() -> None:
    """A ttl that is not a positive number of minutes (or absurdly long) is None."""
    for ttl in ("abc", "-5", "0", "99999999"):
        feed = parse_feed(_rss("", f"<title>t</title><ttl>{ttl}</ttl>"), url=URL, now=NOW)
        assert feed.ttl_s is None


# -- hostile documents ---------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any socket opened while parsing fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("parse_feed tried to open a socket")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.usefixtures("no_network")
def test_bytes_that_look_like_a_path_or_url_are_not_opened() -> None:
    """feedparser opens paths and fetches URLs given as strings; parse_feed never lets it."""
    for body in (b"/etc/passwd", b"http://127.0.0.1:9/feed.xml", b"file:///etc/passwd"):
        with pytest.raises(ParseError):
            parse_feed(body, url=URL, now=NOW)


@pytest.mark.usefixtures("no_network")
def test_external_entities_are_not_resolved() -> None:
    """XXE: a SYSTEM entity naming a local file is never read into the document."""
    body = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<rss version="2.0"><channel><title>T</title><item><title>x&xxe;</title>'
        b"<description>&xxe;</description></item></channel></rss>"
    )
    feed = parse_feed(body, url=URL, now=NOW)
    text = f"{feed.title} {feed.entries[0].title} {feed.entries[0].content_html}"
    assert "root:" not in text


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize(
    "prolog",
    [
        b'<!DOCTYPE rss SYSTEM "http://127.0.0.1:9/evil.dtd">',
        b'<!DOCTYPE rss [<!ENTITY % pe SYSTEM "http://127.0.0.1:9/x.dtd"> %pe;]>',
        b'<!DOCTYPE rss [<!ENTITY web SYSTEM "http://127.0.0.1:9/x">]>',
    ],
    ids=["external-dtd", "parameter-entity", "external-general-entity"],
)
def test_nothing_is_fetched_for_dtds_or_entities(prolog: bytes) -> None:
    """External DTDs and entities are never fetched (the socket guard would fail the test)."""
    body = b'<?xml version="1.0"?>' + prolog + _rss("<item><title>x</title></item>")
    assert parse_feed(body, url=URL, now=NOW).entries[0].title == "x"


@pytest.mark.usefixtures("no_network")
def test_xinclude_is_not_processed() -> None:
    """An xi:include in an entry stays inert."""
    body = _rss(
        '<item xmlns:xi="http://www.w3.org/2001/XInclude"><title>x</title>'
        '<description><xi:include href="file:///etc/passwd" parse="text"/></description></item>'
    )
    entry = parse_feed(body, url=URL, now=NOW).entries[0]
    assert "root:" not in (entry.content_html or "")


_LOLS = [b'<!ENTITY lol "lol">'] + [
    b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
    for i in range(1, 10)
]
_LOL_BODY = (
    b'<rss version="2.0"><channel><title>t</title>'
    b"<item><title>&lol9;</title></item></channel></rss>"
)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n' + b"\n".join(_LOLS) + b"\n]>\n" + _LOL_BODY,
        b'<?xml version="1.0"?><!DOCTYPE rss [' + b"".join(_LOLS) + b"]>" + _LOL_BODY,
        (
            '<?xml version="1.0" encoding="utf-16"?>\n<!DOCTYPE rss [\n'
            + b"\n".join(_LOLS).decode()
            + "\n]>\n"
            + _LOL_BODY.decode()
        ).encode("utf-16"),
    ],
    ids=["billion-laughs", "billion-laughs-one-line", "billion-laughs-utf16"],
)
def test_billion_laughs_is_not_expanded(body: bytes) -> None:
    """Nested entity definitions never expand, whatever the layout or encoding."""
    feed = parse_feed(body, url=URL, now=NOW)
    assert all(len(e.title or "") < 100 for e in feed.entries)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_quadratic_entity_blowup_is_not_expanded(encoding: str) -> None:
    """One big entity referenced many times (10 GB if expanded) is dropped, not expanded."""
    doc = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        f'<!DOCTYPE rss [\n<!ENTITY a "{"x" * 4000}">\n]>\n'
        '<rss version="2.0"><channel><title>t</title><item><title>x</title><description>'
        + "&a;" * 200_000
        + "</description></item></channel></rss>"
    )
    feed = parse_feed(doc.encode(encoding), url=URL, now=NOW)
    assert "x" * 4000 not in (feed.entries[0].content_html or "")


def test_small_entity_declarations_still_work() -> None:
    """Feeds that declare a few simple entities keep them (the hardening is not a ban)."""
    body = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY copy2 "&#169;">\n'
        b'<!ENTITY co "Example Co">\n]>\n'
        b'<rss version="2.0"><channel><title>&co; &copy2;</title>'
        b"<item><title>x</title></item></channel></rss>"
    )
    assert parse_feed(body, url=URL, now=NOW).title == "Example Co ©"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=2000) | st.text(max_size=500).map(str.encode))
def test_arbitrary_bytes_raise_nothing_but_parse_error(body: bytes) -> None:
    """Whatever the bytes, parse_feed returns a ParsedFeed or raises ParseError."""
    try:
        feed = parse_feed(body, url=URL, now=NOW)
    except ParseError:
        return
    for entry in feed.entries:
        assert entry.published is None or entry.published <= NOW + timedelta(days=1)
