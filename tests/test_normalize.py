"""normalize: clean text, boilerplate removal, canonical URLs, hashes, sanitizing, Stories."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ingestor.errors import NormalizeError
from ingestor.models import ParsedEntry
from ingestor.normalize import (
    canonical_url,
    clean_text,
    content_hash,
    normalize_article,
    normalize_entry,
    sanitize_html,
    source_name,
)

FETCHED = datetime(2024, 6, 20, 12, 0, tzinfo=UTC)
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")

# -- clean_text ----------------------------------------------------------------------------------


def test_paragraphs_become_lines() -> None:
    """Block elements and <br> end a line; inline markup joins; whitespace collapses."""
    html = (
        "<div><h2>Heading</h2><p>One <b>bold</b>\n  move.</p><p>Two<br>three</p>"
        "<ul><li>first item</li><li>second item</li></ul></div>"
    )
    assert clean_text(html) == "Heading\nOne bold move.\nTwo\nthree\nfirst item\nsecond item"


def test_entities_scripts_and_hidden_content() -> None:
    """Entities resolve; script, style, iframes, forms' controls and hidden elements vanish."""
    html = (
        "<p>Tom &amp; Jerry&nbsp;&#8212; &quot;friends&quot;</p><script>alert(1)</script>"
        "<style>p{}</style><iframe src=x>frame</iframe><p hidden>secret</p>"
        '<p style="display: none">also secret</p><button>Click</button><p>End.</p>'
    )
    assert clean_text(html) == 'Tom & Jerry — "friends"\nEnd.'


def test_plain_text_passes_through_with_its_lines() -> None:
    """Plain text keeps its paragraphs; blank lines and runs of spaces collapse."""
    text = "First  paragraph here.\r\n\r\n\tSecond\u00a0paragraph.\u2028Third."
    assert clean_text(text) == "First paragraph here.\nSecond paragraph.\nThird."


def test_double_escaped_markup_is_unescaped() -> None:
    """Feeds that escape their HTML twice still give clean text."""
    assert clean_text("&lt;p&gt;Hello &amp;amp; welcome&lt;/p&gt;") == "Hello & welcome"


def test_text_that_merely_contains_ampersands_is_left_alone() -> None:
    """An ampersand that starts no known entity is text, not markup."""
    assert clean_text("AT&T; Q&A at 5 < 6") == "AT&T; Q&A at 5 < 6"


def test_unicode_is_nfc_and_invisible_characters_go() -> None:
    """Decomposed accents are composed (NFC); soft hyphens, zero-width spaces and controls go,
    while compatibility characters a reader sees (², ½, ™) stay (NFC, not NFKC)."""
    text = "Cafe\u0301 co\u00adop\u200b x² ½ ™ bell\x07 \x00end"
    assert clean_text(text) == "Café coop x² ½ ™ bell end"
    assert unicodedata.is_normalized("NFC", clean_text(text))


def test_deep_nesting_does_not_recurse() -> None:
    """Ten thousand nested elements convert without a recursion error; the parser's depth limit
    (libxml2's 256, kept on purpose) cuts the pathological part, not the text before it."""
    html = "<p>Intro text.</p>" + "<div>" * 10_000 + "<p>deep text</p>" + "</div>" * 10_000
    assert clean_text(html).startswith("Intro text.")
    assert "deep" in clean_text("<div>" * 200 + "<p>deep text</p>" + "</div>" * 200)


# -- boilerplate ---------------------------------------------------------------------------------

SEED_BOILERPLATE = [
    "Facebook",
    "Twitter",
    "LinkedIn",
    "WhatsApp",
    "Sharing is caring!",
    "Leave a Reply",
    "Your email address will not be published. Required fields are marked *",
    "Comments are closed.",
    "Most Commented",
    "read more",
    "image source",
    "Categories",
    "Advertisement",
    "Photo Stories",
    "Get Curated Post Updates!",
    "Sign up for my newsletter to see new photos, tips, and blog posts.",
    "Published by Sputnik Globe",
    "Republished by The 21st Century",
    "The views expressed in this article are solely those of the author and do not necessarily "
    "reflect the opinions of 21cir.com",
    "Kim Jong Un guides tankmen’s training match. – Sputnik International, 1920, 14.03.2024",
    "14 March, 01:32 GMT",
]

OTHER_BOILERPLATE = [
    "Share this article",
    "Share on: Facebook | Twitter | Email",
    "SHARE Facebook X KakaoStory Band Copy URL",
    "Follow us on Instagram",
    "Follow RT on Telegram",
    "Catch News is now on WhatsApp. Join our channel for the latest updates.",
    "Subscribe to our newsletter for the day's top stories in your inbox.",
    "Tweet",
    "Print this page",
    "3 Comments",
    "Join the conversation",
    "You must be logged in to post a comment.",
    "Related Articles",
    "Continue reading",
    "READ MORE: Kremlin reveals details of the visit",
    "Also read: Putin arrives in Vietnam",
    "Tags: Earthquake, Chile, USGS",
    "Sponsored",
    "Top Stories",
    "The post Putin reveals goals appeared first on The Daily Example.",
    "This article was originally published on The Conversation.",
    "© 2024 Example Media Group. All rights reserved.",
    "ⓒ ViewUs Global. All rights reserved. 무단전재 및 재배포 금지",
    "(This story has not been edited by Catch News staff and is auto-generated from a syndicated "
    "feed.)",
    "Image caption, Rescue teams searched the rubble overnight",
    "Rescuers at the site on Tuesday. (Photo: Jane Doe/Reuters)",
    "Rescuers at the site on Tuesday. Photo by John Smith/Getty Images",
    "The Nvidia logo at the company’s headquarters in Santa Clara, California. AFP-Yonhap",
    "Updated: June 17, 2024 10:21 AM EDT",
    "Tuesday 18 June 2024 14:05",
    "By Jane Reporter and John Writer",
]

ARTICLE_LINES = [
    "SEOUL (Reuters) – Vladimir Putin promised to build trade and security systems with North "
    "Korea free from Western control.",
    "Facebook said on Tuesday it would share more data with regulators in Brussels.",
    "He said he would follow Twitter's rules while the review continues.",
    "Published by Penguin in 1999, the memoir became a bestseller in both countries.",
    "The photo by the investigators showed the damaged hull.",
    "(ANI)",
    "By Tuesday, the ceasefire had collapsed.",
    "The Strength of North Korea",
    "Putin North Korea",
]


@pytest.mark.parametrize("line", SEED_BOILERPLATE + OTHER_BOILERPLATE)
def test_boilerplate_lines_are_dropped(line: str) -> None:
    """Share, comment, newsletter, navigation, republication, caption-credit and date-only
    lines go, in the phrasings our sample articles use and in others."""
    text = f"{ARTICLE_LINES[0]}\n{line}\n{ARTICLE_LINES[1]}"
    assert clean_text(text) == f"{ARTICLE_LINES[0]}\n{ARTICLE_LINES[1]}"


@pytest.mark.parametrize("line", ARTICLE_LINES)
def test_article_lines_that_share_vocabulary_with_boilerplate_stay(line: str) -> None:
    """Real sentences mentioning networks, publishing or photos, byline tags like (ANI) and
    subheadings are kept."""
    assert (
        clean_text(f"Intro sentence of the story.\n{line}")
        == f"Intro sentence of the story.\n{line}"
    )


RELEASE = [
    "SPRINGFIELD, Ohio -- Acme Robotics today reported revenue of $412 million for the first "
    "quarter, up 18 percent from a year earlier, driven by demand from electric vehicle makers.",
    "Chief executive Martin Oduya said orders from battery plants in Tennessee and Poland doubled, "
    "and the company raised its full-year revenue forecast to $1.7 billion.",
]


@pytest.mark.parametrize(
    "tail",
    [
        ["About Acme Robotics. Acme Robotics (NASDAQ: ACMR) designs industrial robots."],
        ["About Acme Robotics", "Acme Robotics designs industrial automation systems."],
        ["About Acme Robotics: Acme Robotics designs industrial automation systems."],
        ["About the Company", "Founded in 1998, the company designs automation systems."],
        ["Forward-Looking Statements", "This release contains statements about the future."],
        ["Media contact: Jane Holloway, press@acme.example", "Investor Relations: ir@acme.example"],
        ["###"],
    ],
)
def test_a_press_releases_closing_sections_are_dropped(tail: list[str]) -> None:
    """The issuer's "About" paragraph, the legal notice, the contacts and the end mark, which
    every release of one issuer repeats, go with everything after them."""
    assert clean_text("\n".join(RELEASE + tail)) == "\n".join(RELEASE)


@pytest.mark.parametrize(
    "lines",
    [
        # a site menu before the article
        ["Home", "About CNN", "Investor Relations", *RELEASE, RELEASE[0]],
        # "About" that opens an ordinary sentence, or a heading not followed by its subject
        [*RELEASE, "About 200 people gathered outside the plant on Tuesday."],
        [*RELEASE, "About Face", "The play opens in London next month."],
        [*RELEASE, "About Putin, the Kremlin spokesman said nothing new."],
    ],
)
def test_lines_that_only_look_like_a_release_tail_stay(lines: list[str]) -> None:
    text = clean_text("\n".join(lines))
    assert RELEASE[1] in text
    assert text.endswith(lines[-1])


def test_related_story_card_after_a_credited_caption_is_dropped() -> None:
    """Caption with credit, the teaser headline after it and its timestamp all go; the real
    subheading that follows a card stays."""
    text = "\n".join(
        [
            "Putin further highlighted the results.",
            "Kim Jong Un guides tankmen’s training match. – Sputnik International, 1920, "
            "14.03.2024",
            "Kim Jong Un Test-Drives North Korea’s New-Type Main Battle Tank – State Media",
            "14 March, 01:32 GMT",
            "Further Development of Russia-North Korea Relations and Ties",
            "Putin took the opportunity to mention cooperation.",
        ]
    )
    assert clean_text(text) == (
        "Putin further highlighted the results.\n"
        "Further Development of Russia-North Korea Relations and Ties\n"
        "Putin took the opportunity to mention cooperation."
    )


def test_link_only_lines_and_widget_markup_are_dropped_from_html() -> None:
    """Headline lists made only of links, and elements whose class names a widget (share bar,
    caption, newsletter box, embedded tweet), are dropped; links inside sentences stay."""
    html = (
        '<p>Officials <a href="/x">said</a> the quake struck at dawn.</p>'
        '<ul class="list"><li><a href="/1">Magnitude 7.4 earthquake hits Taiwan, strongest in 25'
        ' years</a></li><li><a href="/2">Chile wildfires: death toll rises</a></li></ul>'
        '<div class="share-bar">Share <a>Facebook</a> <a>KakaoStory</a></div>'
        '<p class="caption">Rescue workers at the site on Tuesday. Yonhap</p>'
        '<div class="newsletter_box">Korea, every morning. Our newsletter brings you the news.'
        "</div>"
        '<blockquote class="twitter-tweet"><p>Fuerte sismo sacude Chile</p></blockquote>'
        "<p>Aftershocks continued through the night.</p>"
    )
    assert clean_text(html) == (
        "Officials said the quake struck at dawn.\nAftershocks continued through the night."
    )


def test_widget_class_on_a_long_article_wrapper_keeps_the_article() -> None:
    """A class that names a widget does not drop an element holding a whole article."""
    body = " ".join(["The council met again on Monday to discuss the budget."] * 20)
    assert clean_text(f'<div class="article social-ready"><p>{body}</p></div>') == body


def test_widget_class_words_match_whole_words_and_spare_containers() -> None:
    """class="address" is not an ad, and a <body class="comments-open"> is not a comment box."""
    html = (
        '<body class="single comments-open"><p class="address">1 Main Street.</p>'
        '<p>Short story.</p><div class="ad">Buy now</div><div class="nav-links">Prev</div></body>'
    )
    assert clean_text(html) == "1 Main Street.\nShort story."


def test_seed_article_keeps_its_story_and_loses_its_clutter() -> None:
    """A whole seed-shaped article: every sentence of the story stays, every clutter line goes."""
    story = [
        "Putin vows trade, security with North Korea beyond reach of West",
        "Putin pledged his unwavering support in a letter published by North Korean state media.",
        "North Korean state media praised Russia’s operations in Ukraine.",
    ]
    clutter = ["Facebook", "Twitter", "LinkedIn", "WhatsApp", "read more", "image source"]
    text = "\n\n".join([story[0], *clutter[:4], *story[1:], *clutter, *SEED_BOILERPLATE[9:16]])
    assert clean_text(text) == "\n".join(story)


# -- clean_text properties -------------------------------------------------------------------------

_FRAGMENTS = st.sampled_from(
    [
        "<p>", "</p>", "<br>", "<div class='share'>", "</div>", "<a href='/x'>", "</a>", "<b>",
        "</b>", "<script>", "</script>", "&amp;", "&lt;", "&gt;", "&amp;lt;p&amp;gt;", "&nbsp;",
        "&#8212;", "&#0;", "&#xD800;", "&bogus;", "\n", "\r\n", "\u2028", "\u00ad", "\u0301",
        "Facebook", "Leave a Reply", "14 March, 01:32 GMT", " – Sputnik International, 1920, "
        "17.06.2024", "Share on", "<!--", "-->", "<![CDATA[", "]]>", "<", ">", "&", ";", "#",
        "About Acme", "Acme", "About the Company", "###", "Media contact:", ". ",
    ]
)  # fmt: skip
_MARKUPISH = st.lists(st.one_of(_FRAGMENTS, st.text(max_size=12)), max_size=25).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.one_of(st.text(max_size=300), _MARKUPISH))
def test_clean_text_is_idempotent(value: str) -> None:
    """clean_text(clean_text(x)) == clean_text(x), and the output has no control characters."""
    once = clean_text(value)
    assert clean_text(once) == once
    assert not CONTROL.search(once)
    assert "\n\n" not in once


# -- canonical_url -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://WWW.Example.COM:80/a/./b/../c", "http://www.example.com/a/c"),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("https://example.com/story#comments", "https://example.com/story"),
        (
            "https://example.com/s?utm_source=rss&b=2&fbclid=XYZ&a=1&UTM_Medium=x&gclid=1&ref=tw",
            "https://example.com/s?a=1&b=2",
        ),
        ("https://example.com/s?mc_cid=1&mc_eid=2&igshid=3&cmpid=4", "https://example.com/s"),
        (
            "https://example.com/%7Euser/%2f%41?q=%e2%82%ac",
            "https://example.com/~user/%2FA?q=%E2%82%AC",
        ),
        ("https://user:secret@example.com/x", "https://example.com/x"),
        ("https://bücher.de/ä ö", "https://xn--bcher-kva.de/%C3%A4%20%C3%B6"),
        ("https://example.com./x", "https://example.com/x"),
        ("https://[2001:DB8::1]:443/x", "https://[2001:db8::1]/x"),
        ("  https://example.com/x\n", "https://example.com/x"),
        ("https://example.com/a;jsessionid=ABC123/b", "https://example.com/a/b"),
        ("https://www.reuters.com/world/", "https://www.reuters.com/world/"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    """One spelling per http(s) URL; www. is kept so the URL stays a working link."""
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "javascript:alert(1)",
        " JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox",
        "file:///etc/passwd",
        "mailto:a@example.com",
        "ftp://example.com/x",
        "/relative/path",
        "//example.com/protocol-relative",
        "https://",
        "https://example.com:99999/x",
        "https://exa mple.com/x",
        "https://" + "a" * 64 + ".com/",
        "https://example.com/" + "a" * 5000,
    ],
)
def test_canonical_url_rejects_everything_else(url: str | None) -> None:
    """Non-http(s) schemes, relative URLs and malformed hosts or ports give None."""
    assert canonical_url(url) is None


_URL_PARTS = st.lists(
    st.sampled_from([*"aZ09-._~%/?#&=;:@+!$'()*, \\", "%2F", "%7e", "ü", "..", "utm_x="]),
    max_size=40,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(
    scheme=st.sampled_from(["http", "https", "HTTPS", "javascript", "ftp", ""]),
    host=st.sampled_from(["example.com", "WWW.Example.com", "bücher.de", "[::1]", "a..b", "x.y."]),
    port=st.sampled_from(["", ":80", ":443", ":8080", ":x"]),
    rest=_URL_PARTS,
)
def test_canonical_url_is_idempotent(scheme: str, host: str, port: str, rest: str) -> None:
    """canonical_url(canonical_url(u)) == canonical_url(u) for every URL it accepts."""
    once = canonical_url(f"{scheme}://{host}{port}/{rest}")
    if once is not None:
        assert canonical_url(once) == once
        assert once.startswith(("http://", "https://"))


@settings(max_examples=200, deadline=None)
@given(url=st.text(max_size=120))
def test_canonical_url_never_fails_on_arbitrary_text(url: str) -> None:
    """Any string gives an idempotent http(s) URL or None, never an exception."""
    once = canonical_url(url)
    assert once is None or canonical_url(once) == once


# -- source_name -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "fallback", "expected"),
    [
        ("https://www.reuters.com/world/asia/x", None, "reuters.com"),
        ("https://reuters.com/world/", "Reuters", "reuters.com"),
        ("https://news.bbc.co.uk/2/hi/x.stm", None, "news.bbc.co.uk"),
        (None, "<b>Catch News &amp; Co</b>", "Catch News & Co"),
        ("javascript:alert(1)", "Feed Title", "Feed Title"),
        (None, None, "unknown"),
        (None, "   ", "unknown"),
    ],
)
def test_source_name(url: str | None, fallback: str | None, expected: str) -> None:
    """The publisher's host without www., else the cleaned fallback, else "unknown"."""
    assert source_name(url, fallback) == expected


# -- content_hash ------------------------------------------------------------------------------


def test_content_hash_ignores_case_spacing_and_punctuation() -> None:
    """Trivially reformatted copies hash equal; a different word does not."""
    base = content_hash("Putin vows trade, security", "He said: “We will develop trade.”")
    assert base == content_hash("PUTIN  vows trade security!", "he said we will\ndevelop trade")
    assert base == content_hash("Putin vows trade, security", 'He said: "We will develop trade."')
    assert base != content_hash("Putin vows trade, security", "He said: We will develop ties.")
    assert re.fullmatch("[0-9a-f]{64}", base)


def test_content_hash_keeps_title_and_text_apart() -> None:
    """Moving a word from the title to the text changes the hash."""
    assert content_hash("a b", "c") != content_hash("a", "b c")


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1), max_size=20),
    seps=st.lists(st.sampled_from([" ", "  ", "\n", "\t", ", ", " — ", "! "]), min_size=1),
)
def test_content_hash_equal_for_whitespace_and_case_variants(
    words: list[str], seps: list[str]
) -> None:
    """Re-spacing, re-punctuating or re-casing the same words gives the same hash."""
    plain = " ".join(words)
    varied = "".join(w.upper() + seps[i % len(seps)] for i, w in enumerate(words))
    assume(
        unicodedata.normalize("NFKC", plain.upper()).casefold()
        == unicodedata.normalize("NFKC", plain).casefold()
    )
    assert content_hash("T", plain) == content_hash("t", varied)


# -- sanitize_html -----------------------------------------------------------------------------


class _Markup(HTMLParser):
    """Collects every tag and attribute of a document, the way a browser would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend((name, value or "") for name, value in attrs)


def _unsafe(html: str) -> list[str]:
    """Every reason the sanitized HTML would be unsafe to show."""
    markup = _Markup()
    markup.feed(html)
    markup.close()
    problems = [f"<{t}>" for t in markup.tags if t in {"script", "style", "iframe", "object"}]
    problems += [name for name, _ in markup.attrs if name.startswith("on")]
    for name, value in markup.attrs:
        scheme = re.sub(r"[\x00-\x20]", "", value).lower()
        if name in {"href", "src", "action", "formaction", "cite"} and scheme.startswith(
            ("javascript:", "vbscript:", "data:")
        ):
            problems.append(f"{name}={value}")
    if "<script" in html.lower():
        problems.append("<script")
    return problems


def test_sanitize_html_keeps_content_and_removes_active_parts() -> None:
    """Scripts, styles, frames, images and handlers go; links are absolute, http(s)/mailto,
    and carry rel="noopener noreferrer nofollow"."""
    html = (
        '<p onclick="steal()">Hi <a href="/rel">relative</a> <a href="javascript:alert(1)">js</a>'
        ' <a href="mailto:desk@example.com">mail</a> <a href="data:text/html,x">data</a></p>'
        "<script>bad()</script><style>p{}</style><iframe src=//evil.example></iframe>"
        '<img src="https://t.example/pixel.gif" onerror="x()"><table><tr><td>cell</td></tr></table>'
    )
    out = sanitize_html(html, base_url="https://news.example.com/world/story")
    assert _unsafe(out) == []
    assert '<a href="https://news.example.com/rel" rel="noopener noreferrer nofollow">' in out
    assert 'href="mailto:desk@example.com"' in out
    assert "<img" not in out
    assert "bad()" not in out
    assert "<td>cell</td>" in out


def test_sanitize_html_without_a_base_drops_relative_links() -> None:
    """Without a usable base URL a relative href is removed rather than left dangling."""
    out = sanitize_html('<a href="/x">text</a>', base_url="javascript:alert(1)")
    assert "href" not in out
    assert "text" in out


_DANGEROUS = st.sampled_from(
    [
        "<script>alert(1)</script>", "<SCRIPT SRC=//x.js>", "<scr<script>ipt>",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">x</a>', '<a href=" &#106;avascript:alert(1)">x</a>',
        '<a href="jav&#x09;ascript:alert(1)">x</a>', '<a href="vbscript:x">x</a>',
        '<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>', "<svg onload=alert(1)>",
        '<iframe srcdoc="<script>x</script>">', "<style>*{}</style>", "<object data=x>",
        '<p onmouseover="x()">p</p>', "<body onload=x()>", "<!--<script>-->",
        "<![CDATA[<script>]]>",
        '<form action="javascript:x"><button formaction="javascript:x">b</button></form>',
        '<a href="/ok" title="t">ok</a>', "<blockquote cite='javascript:x'>q</blockquote>",
        "<math><mi xlink:href='javascript:x'>m</mi></math>", "<p>text</p>", "&lt;script&gt;",
    ]
)  # fmt: skip
_HOSTILE_HTML = st.lists(st.one_of(_DANGEROUS, st.text(max_size=10)), max_size=12).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(html=st.one_of(_HOSTILE_HTML, st.text(max_size=200)))
def test_sanitize_html_output_is_always_safe(html: str) -> None:
    """Whatever the input: no <script, no on* attribute, no javascript:/vbscript:/data: URL."""
    assert _unsafe(sanitize_html(html, base_url="https://example.com/a/")) == []


# -- normalize_entry ---------------------------------------------------------------------------


def _entry(**fields: object) -> ParsedEntry:
    base: dict[str, object] = {
        "guid": "tag:catchnews.com,2024:252107",
        "link": "https://www.catchnews.com/international-news/russia-n-korea-252107.html?utm_source=rss",
        "title": "Russia, N Korea to work together to counter Western sanctions: Putin",
        "content_html": (
            "<p>Moscow: Ahead of his two-day visit to North Korea, Russian President Vladimir Putin"
            " has said Moscow will work with Pyongyang.</p><p>Share on: Facebook | Twitter</p>"
            "<p>(ANI)</p>"
        ),
        "published": datetime(2024, 6, 18, 5, 32, tzinfo=UTC),
    }
    base.update(fields)
    return ParsedEntry(**base)  # type: ignore[arg-type]


def test_normalize_entry_builds_a_story() -> None:
    """Clean text, canonical URL, sanitized HTML, source from the link's host, UTC times."""
    story = normalize_entry(
        _entry(),
        feed_url="https://www.catchnews.com/feed",
        feed_title="Catch News",
        fetched=FETCHED,
    )
    assert story.source == "catchnews.com"
    assert story.url == "https://www.catchnews.com/international-news/russia-n-korea-252107.html"
    assert story.guid == "tag:catchnews.com,2024:252107"
    assert story.title == "Russia, N Korea to work together to counter Western sanctions: Putin"
    assert story.text.startswith("Moscow: Ahead of his two-day visit")
    assert story.text.endswith("\n(ANI)")
    assert "Share on" not in story.text
    assert story.html is not None
    assert story.html.startswith("<p>Moscow:")
    assert story.published == datetime(2024, 6, 18, 5, 32, tzinfo=UTC)
    assert story.fetched == FETCHED
    assert story.feed_url == "https://www.catchnews.com/feed"
    assert story.content_hash == content_hash(story.title, story.text)


def test_entry_titles_are_cleaned_of_markup_and_entities() -> None:
    """HTML titles lose their tags and entities, and stay on one line."""
    story = normalize_entry(
        _entry(title="<b>Putin&#8217;s</b> &amp;amp; Kim&nbsp;meet\n<br>in Pyongyang"),
        feed_url=None,
        feed_title=None,
        fetched=FETCHED,
    )
    assert story.title == "Putin’s & Kim meet in Pyongyang"


def test_missing_title_comes_from_the_first_sentence() -> None:
    """Without a title, the first sentence of the text (bounded) becomes the title."""
    story = normalize_entry(_entry(title=None), feed_url=None, feed_title=None, fetched=FETCHED)
    assert story.title == (
        "Moscow: Ahead of his two-day visit to North Korea, Russian President Vladimir Putin has "
        "said Moscow will work with Pyongyang."
    )
    long_line = "word " * 100
    titled = normalize_entry(
        _entry(title=None, content_html=f"<p>{long_line}</p>"), feed_url=None, feed_title=None,
        fetched=FETCHED,
    )  # fmt: skip
    assert len(titled.title) <= 201
    assert titled.title.endswith("…")


def test_future_published_is_clamped_to_fetched_and_updated_is_the_fallback() -> None:
    """published is never after fetched; without published, updated is used."""
    future = normalize_entry(
        _entry(published=FETCHED + timedelta(hours=5)), feed_url=None, feed_title=None,
        fetched=FETCHED,
    )  # fmt: skip
    assert future.published == FETCHED
    updated = datetime(2024, 6, 19, tzinfo=UTC)
    fallback = normalize_entry(
        _entry(published=None, updated=updated), feed_url=None, feed_title=None, fetched=FETCHED
    )
    assert fallback.published == updated
    assert fallback.when == updated


def test_source_falls_back_to_feed_title_then_feed_host() -> None:
    """Without a usable link the feed's title names the source, then the feed's host."""
    no_link = _entry(link="javascript:void(0)")
    titled = normalize_entry(no_link, feed_url=None, feed_title="Catch News", fetched=FETCHED)
    assert titled.source == "Catch News"
    assert titled.url is None
    hosted = normalize_entry(
        no_link, feed_url="https://www.rt.com/rss/", feed_title=None, fetched=FETCHED
    )
    assert hosted.source == "rt.com"


def test_entry_with_only_a_title_uses_it_as_text() -> None:
    """An entry whose body is empty (or all boilerplate) keeps its title as its text."""
    story = normalize_entry(
        _entry(content_html="<p>Share on Facebook</p>"), feed_url=None, feed_title=None,
        fetched=FETCHED,
    )  # fmt: skip
    assert story.text == story.title


@pytest.mark.parametrize(
    "entry",
    [
        ParsedEntry(guid="x", link="https://e.com/x", title=None, content_html=None),
        ParsedEntry(guid=None, link=None, title="  ", content_html="<script>x</script>"),
        ParsedEntry(guid=None, link=None, title="<br>", content_html="<p>Leave a Reply</p>"),
    ],
)
def test_entry_with_nothing_usable_raises_normalize_error(entry: ParsedEntry) -> None:
    """No title and no text after cleaning is a NormalizeError."""
    with pytest.raises(NormalizeError):
        normalize_entry(entry, feed_url=None, feed_title=None, fetched=FETCHED)


def test_normalize_entry_is_deterministic() -> None:
    """The same entry normalizes to the same Story every time (pure: no clock, no state)."""
    first = normalize_entry(_entry(), feed_url=None, feed_title=None, fetched=FETCHED)
    assert normalize_entry(_entry(), feed_url=None, feed_title=None, fetched=FETCHED) == first


# -- normalize_article -------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html lang="en"><head><title>The Rapid City Journal</title>
<script src="/js/nav.js"></script><style>body{font:12px}</style></head>
<body>
<div id="masthead"><a href="/">Home</a> | <a href="/news">News</a> | <a href="/sports">Sports</a>
 | <a href="/obits">Obituaries</a> | <a href="/classifieds">Classifieds</a></div>
<nav><ul><li><a href="/a">Local</a></li><li><a href="/b">Nation</a></li></ul></nav>
<div class="ad">Advertisement</div>
<div id="content"><h1>Saddam Hussein executed at dawn</h1>
<div class="byline">By Staff and Wire Reports</div>
<p>BAGHDAD (AP) - Saddam Hussein was hanged before dawn Saturday, his execution carried out
 by Iraqi authorities after a U.S. military team handed him over.</p>
<p>The former dictator went to the gallows in a former military intelligence headquarters,
 according to officials who witnessed the execution and described it to reporters.</p>
<p>Iraqi state television broadcast footage of his final moments, showing masked executioners
 placing a noose around his neck as he stood on the platform.</p>
<p>Reaction in the capital was mixed, with celebrations in some neighbourhoods and anger in
 others, while the government imposed a curfew to prevent violence.</p>
<div class="share">Email this story | Print | Facebook | Twitter</div>
</div>
<div id="sidebar"><h3>Most Read</h3><ul>
<li><a href="/1">City council approves budget for next year</a></li>
<li><a href="/2">High school team wins state title in overtime thriller</a></li>
</ul></div>
<div id="footer">Copyright 2006 The Rapid City Journal. All rights reserved.</div>
</body></html>"""


def test_whole_page_goes_through_main_text_extraction() -> None:
    """A whole HTML page keeps its article paragraphs and loses navigation, ads, headline lists,
    share lines and footer; no HTML is stored for a page."""
    story = normalize_article(
        PAGE, is_html=True, title="Saddam Hussein executed at dawn",
        url="http://www.rapidcityjournal.com/articles/2006/12/30/news/saddam.txt",
        source=None, published=None, fetched=FETCHED, external_id="spotsigs/story52",
    )  # fmt: skip
    assert "Saddam Hussein was hanged before dawn Saturday" in story.text
    assert "Reaction in the capital was mixed" in story.text
    for clutter in ("Obituaries", "Advertisement", "City council approves", "Copyright", "Print"):
        assert clutter not in story.text
    assert story.html is None
    assert story.source == "rapidcityjournal.com"
    assert story.external_id == "spotsigs/story52"
    assert story.published is None


def test_page_where_extraction_finds_little_falls_back_to_markup_conversion() -> None:
    """A page too short for trafilatura still yields its text through the simpler conversion."""
    page = "<html><body><nav><a href='/'>Home</a></nav><p>Quake hits Chile.</p></body></html>"
    story = normalize_article(
        page, is_html=True, title=None, url=None, source="Wire", published=None, fetched=FETCHED
    )
    assert story.text == "Quake hits Chile."
    assert story.title == "Quake hits Chile."
    assert story.source == "Wire"


def test_plain_text_article() -> None:
    """A replayed text file: first line can serve as title, boilerplate goes, times clamp."""
    raw = (
        "Putin reveals goals of North Korea trip\n"
        "Moscow and Pyongyang will develop trade and security arrangements, Putin said.\n"
        "Comments are closed.\n"
    )
    story = normalize_article(
        raw, is_html=False, title=None, url="https://www.rt.com/news/599420-putin/",
        source=None, published=FETCHED + timedelta(days=3), fetched=FETCHED,
    )  # fmt: skip
    assert story.title == "Putin reveals goals of North Korea trip"
    assert story.text.endswith("Putin said.")
    assert story.source == "rt.com"
    assert story.published == FETCHED
    assert story.html is None


def test_html_fragment_article_keeps_sanitized_html() -> None:
    """An HTML fragment (not a page) is converted by lxml and its HTML kept, sanitized."""
    story = normalize_article(
        "<p>Body text of the story.</p><script>x()</script>", is_html=True, title="T",
        url=None, source=None, published=None, fetched=FETCHED,
    )  # fmt: skip
    assert story.text == "Body text of the story."
    assert story.html == "<p>Body text of the story.</p>"
    assert story.source == "unknown"


def test_empty_article_raises_normalize_error() -> None:
    """An article with nothing left after cleaning raises NormalizeError."""
    with pytest.raises(NormalizeError):
        normalize_article(
            "<html><body><nav>Home</nav></body></html>", is_html=True, title=None, url=None,
            source=None, published=None, fetched=FETCHED,
        )  # fmt: skip
