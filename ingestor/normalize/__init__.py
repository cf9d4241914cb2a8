"""Pure normalization: a parsed entry or a replayed article in, one ``Story`` out.

Owns: assembling the ``Story`` (``normalize_entry``, ``normalize_article``): the title (falling
back to the text's first sentence), the content hash (``content_hash``), cleaned ids, and the
timestamp rules (``published`` is never after ``fetched``). The pieces it is built from live
beside it, each recording the choices it makes and the measurements behind them:

* ``_chars``: characters dropped, line endings, NFC, telling markup from text;
* ``_boilerplate``: the boilerplate-line filter and its vocabularies;
* ``_text``: HTML to clean text (``clean_text``, lxml) and the candidate extractions of a
  whole page (trafilatura's precision and balanced modes, the lxml lines);
* ``_prose``: which candidate reads most like an article (sentence prose score, the densest
  run of prose, inline script text removed);
* ``_urls``: canonical URLs (``canonical_url``) and source names (``source_name``);
* ``_sanitize``: HTML for storage (``sanitize_html``, nh3).

Import these names from ``ingestor.normalize``, never from the modules beside it.

Does not: fetch, parse feeds (``parse``), read the clock or configuration, log, or fingerprint.

Inputs: ``ParsedEntry`` values from ``parse`` and raw article text or HTML from replayed files and
datasets; every field is hostile.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import replace
from datetime import datetime

from ingestor.errors import NormalizeError
from ingestor.models import ParsedEntry, Story
from ingestor.normalize._chars import CONTROL, one_line_title
from ingestor.normalize._sanitize import sanitize_html
from ingestor.normalize._text import MAX_TITLE_CHARS as MAX_TITLE_CHARS  # kept importable here
from ingestor.normalize._text import clean_text, inline, is_page, page_text
from ingestor.normalize._urls import MAX_URL_CHARS, canonical_url, publisher_host, source_name

__all__ = [
    "canonical_url",
    "clean_text",
    "content_hash",
    "normalize_article",
    "normalize_entry",
    "sanitize_html",
    "source_name",
    "with_article_page",
]

TITLE_FROM_TEXT_CHARS = 200

# -- titles and hashes -------------------------------------------------------------------------

_SENTENCE = re.compile(rf"(.{{20,{TITLE_FROM_TEXT_CHARS}}}?[.!?])(\s|$)")


def _first_sentence(text: str) -> str:
    line = text.split("\n", 1)[0]
    match = _SENTENCE.match(line)
    if match:
        return match[1]
    if len(line) <= TITLE_FROM_TEXT_CHARS:
        return line
    return line[:TITLE_FROM_TEXT_CHARS].rsplit(" ", 1)[0] + "…"


def content_hash(title: str, text: str) -> str:
    """sha256 over title and text folded (NFKC, casefold, punctuation and spacing ignored), so
    trivially reformatted copies hash equal."""

    def fold(value: str) -> str:
        folded = unicodedata.normalize("NFKC", value).casefold()
        return " ".join(re.sub(r"[\W_]+", " ", folded).split())

    return hashlib.sha256(f"{fold(title)}\n{fold(text)}".encode()).hexdigest()


# -- stories -----------------------------------------------------------------------------------


def _clean_id(value: str | None) -> str | None:
    text = " ".join(CONTROL.sub("", value or "").split())[:MAX_URL_CHARS]
    return text or None


def _story(
    *, title: str, text: str, source: str, url: str | None, published: datetime | None,
    fetched: datetime, html: str | None, guid: str | None = None, feed_url: str | None = None,
    external_id: str | None = None,
) -> Story:  # fmt: skip
    # Titles and source names are shown on one line: no bidi or other format characters.
    title, source = one_line_title(title), one_line_title(source) or "unknown"
    if not text and not title:
        raise NormalizeError("nothing usable left: no title and no text after cleaning")
    text = text or title
    title = title or one_line_title(_first_sentence(text))
    if published is not None and published > fetched:
        published = fetched
    return Story(
        source=source, title=title, text=text, fetched=fetched,
        content_hash=content_hash(title, text), url=url, guid=guid, html=html or None,
        published=published, feed_url=feed_url, external_id=external_id,
    )  # fmt: skip


def normalize_entry(
    entry: ParsedEntry, *, feed_url: str | None, feed_title: str | None, fetched: datetime
) -> Story:
    """One feed entry as a ``Story``. Raises ``NormalizeError`` when nothing usable is left."""
    body = entry.content_html or ""
    return _story(
        title=inline(entry.title),
        text=clean_text(body),
        source=source_name(entry.link, inline(feed_title, 200) or publisher_host(feed_url)),
        url=canonical_url(entry.link),
        published=entry.published or entry.updated,
        fetched=fetched,
        html=sanitize_html(body, base_url=entry.link or feed_url) if body.strip() else None,
        guid=_clean_id(entry.guid),
        feed_url=feed_url,
    )


def normalize_article(
    raw: str,
    *,
    is_html: bool,
    title: str | None,
    url: str | None,
    source: str | None,
    published: datetime | None,
    fetched: datetime,
    external_id: str | None = None,
) -> Story:
    """A replayed article file or dataset record as a ``Story``; whole HTML pages go through
    main-text extraction. ``source`` names the carrier; without one, the URL's host is used."""
    if is_html and is_page(raw):
        text, html = page_text(raw, canonical_url(url)), None
    else:
        text = clean_text(raw)
        html = sanitize_html(raw, base_url=url) if is_html else None
    return _story(
        title=inline(title),
        text=text,
        source=inline(source, 200) or source_name(url, None),
        url=canonical_url(url),
        published=published,
        fetched=fetched,
        html=html,
        external_id=_clean_id(external_id),
    )


_KEY_WORD = re.compile(r"[^\W\d_]{4,}")


def with_article_page(story: Story, page: str) -> Story | None:
    """``story`` (a feed entry carrying only a summary) with the main text of the page its link
    points to, or ``None`` when the page is not that article.

    The page is the article when its main text is longer than the entry's own and holds at least
    half of the headline's words of four letters or more (the headline's and the summary's
    opening, when the headline has fewer than three such words). A consent wall, a front page, a
    login or paywall notice, or an error page served with a 200 fails one or the other. The
    title, URL, GUID and times stay the entry's, and so does the content hash: it identifies the
    entry as its feed delivered it, so the unchanged entry is a duplicate at the next poll and an
    edited one a revision. The stored HTML is dropped (it was the summary's).
    """
    text = page_text(page, story.url) if is_page(page) else clean_text(page)
    if len(text.split()) <= len(story.text.split()):
        return None
    wanted = set(_KEY_WORD.findall(story.title.casefold()))
    if len(wanted) < 3:
        opening = " ".join(story.text.split()[:40])
        wanted |= set(_KEY_WORD.findall(opening.casefold()))
    if wanted:
        found = set(_KEY_WORD.findall(text.casefold()))
        if 2 * len(wanted & found) < len(wanted):
            return None
    return replace(story, text=text, html=None)
