"""Text from HTML: feed bodies and titles through lxml, whole pages through trafilatura.

Owns: turning markup into lines of text (the lxml walk: block elements end a line, scripts,
hidden elements and small widget-named elements are dropped, link-only lines are marked), escaped
markup unescaped for two more rounds and then shown as text, ``clean_text`` (lines with the
boilerplate filter applied), one-line texts for titles and names (``inline``), and main-text
extraction from whole pages (``page_text``: the candidate extractions). lxml is imported only
here; trafilatura only here, and only when the first whole page arrives.

Does not: decide which lines are boilerplate (``_boilerplate``) or which candidate holds the
article (``_prose``), sanitize HTML for storage (``_sanitize``), or touch URLs beyond handing one
to trafilatura.

Inputs: entry bodies and titles from ``ParsedEntry`` values and raw article text or HTML from
replayed files and datasets, through the package's ``normalize_*`` functions; all hostile.

Decisions (numbers measured on the SpotSigs pages of ``../shared/datasets/dev``: 1,084 pages,
word 5-shingle Jaccard between pages carrying the same wire text, higher is better):

* Paragraphs are lines: block elements (``p``, ``li``, headings, ``br`` ...) end a line; the text
  is lines of single-spaced words joined by ``"\\n"``.
* Whole pages (``<html>``/``<head>``/``<body>``) give three candidate extractions, most precise
  first: trafilatura's precision mode, its balanced mode (one parse for both), and the lxml
  lines without page chrome; each goes through the boilerplate filter, and ``_prose`` picks the
  one that reads most like an article and cuts it to its densest run of prose. trafilatura's
  output is read as HTML through the lxml walk above (its text output keeps the page's own line
  wrapping); in the balanced mode a line break inside text also ends a line, because its
  whole-body fallback separates blocks with them (hard-wrapped sentences are joined again).
  Before (precision, else balanced when precision kept under 250 characters, else the longer of
  balanced and lxml): Jaccard 0.568, 8 pages under half prose (31 under 70 %), none nearly
  empty, p50 16-17 ms / p99 96-109 ms per page. Now: Jaccard 0.611, no page under 70 % prose, 2
  nearly empty (paywalled teasers), p50 35-37 ms / p99 107-129 ms (CPU time, two runs, old and
  new interleaved page by page). Adding
  trafilatura's recall mode or jusText as further candidates changed no number by more than
  0.003 and cost 11-17 ms a page; trafilatura's fast balanced mode saved 10 ms at p99 but
  chose a disclaimer or a market ticker over the article on pages where the full mode did not.
  Comments, tables, links and images are off; trafilatura's cross-document deduplication is
  off (it would make the output order-dependent).
* Feed entry bodies (fragments) go through lxml, not trafilatura: on article bodies both keep
  about 98 % of the words, but trafilatura dropped 56 of 390 summary-sized fragments entirely
  and is 2-5x slower.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from lxml import etree

from ingestor.normalize._boilerplate import filter_lines
from ingestor.normalize._chars import defang, looks_like_html, prepare
from ingestor.normalize._prose import pick_article, unwrap
from ingestor.words import word_set

__all__ = ["MAX_TITLE_CHARS", "clean_text", "inline", "is_page", "page_text"]

MAX_TITLE_CHARS = 1_000

# -- HTML to lines -----------------------------------------------------------------------------

_BLOCK = word_set(
    "address article blockquote body br dd details div dl dt figure h1 h2 h3 h4 h5 h6 header hr "
    "html li main ol p pre section summary table tbody td tfoot th thead tr ul"
)
_DROP = word_set(
    "applet aside audio button canvas embed figcaption footer head iframe input map math "
    "nav noscript object script select style svg template textarea title video"
)
_PAGE_CHROME = word_set("header menu dialog")
_CHROME_CLASS = re.compile(
    r"(^|[\s_-])(share|sharing|social|newsletter|subscri|related|promo|advert|sponsor|comment"
    r"|caption|credit|byline|breadcrumb|sidebar|widget|tweet|twitter|instagram|tiktok|outbrain"
    r"|taboola|cookie|consent|signup|popup|navbar|navigation"
    r"|(ads?|nav|menu|tags?|embed|modal)($|[\s_-]))",
    re.I,
)
"""Class and id words of widgets (after readability's "unlikely candidates"). An element so
named is dropped only while it holds under ``_CHROME_MAX_WORDS`` words, so an article wrapper
that happens to carry such a class keeps its text."""
_CHROME_MAX_WORDS = 80
_CONTAINERS = word_set("html body main article")
"""Never dropped for their class: WordPress puts ``comments-open`` on ``<body>``."""
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_local = threading.local()


def _parser() -> etree.HTMLParser:
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.HTMLParser(
            remove_comments=True, remove_pis=True, no_network=True, recover=True,
            encoding="utf-8", collect_ids=False, default_doctype=False,
        )  # fmt: skip
    return parser


def _skip(el: Any, tag: str, drop: frozenset[str]) -> bool:
    if tag in drop or el.get("hidden") is not None:
        return True
    if _HIDDEN_STYLE.search(el.get("style") or ""):
        return True
    names = f"{el.get('class') or ''} {el.get('id') or ''}"[:500]
    if tag in _CONTAINERS or not _CHROME_CLASS.search(names):
        return False
    words = 0
    for count, text in enumerate(el.itertext()):
        words += len(text.split())
        if words > _CHROME_MAX_WORDS or count > 4 * _CHROME_MAX_WORDS:
            return False  # big enough to be content (and bounded work on hostile markup)
    return True


def _html_lines(
    markup: str, *, page: bool = False, newlines: bool = False
) -> list[tuple[str, bool]]:
    """Lines of text, each with whether all of it was link text. Iterative: no recursion limit.
    With ``newlines``, a line break inside text ends a line too."""
    try:
        root = etree.fromstring(markup.encode("utf-8"), _parser())
    except (etree.LxmlError, ValueError):
        return []
    if root is None:
        return []
    drop = _DROP | _PAGE_CHROME if page else _DROP
    lines: list[tuple[str, bool]] = []
    parts: list[str] = []
    linked, in_link, skipped = True, 0, False

    def flush() -> None:
        nonlocal linked
        block = "".join(parts)
        for line in block.split("\n") if newlines else (block,):
            line = " ".join(line.split())
            if line:
                lines.append((line, linked))
        parts.clear()
        linked = True

    walker = etree.iterwalk(root, events=("start", "end"))
    for event, el in walker:
        tag = el.tag.lower() if isinstance(el.tag, str) else ""
        if event == "start":
            if _skip(el, tag, drop):
                walker.skip_subtree()  # the next event is this element's "end"
                skipped = True
                continue
            if tag in _BLOCK:
                flush()
            in_link += tag == "a"
            text = el.text
        else:
            if not skipped:
                in_link -= tag == "a"
                if tag in _BLOCK:
                    flush()
            skipped = False
            text = el.tail
        if text:
            parts.append(text)
            linked = linked and (in_link > 0 or text.isspace())
    flush()
    return lines


# -- text --------------------------------------------------------------------------------------


def _lines(
    value: str, *, page: bool = False, newlines: bool = False
) -> tuple[list[str], list[bool]]:
    """Lines of text, each with whether it was link text only (always False for plain text).
    Escaped markup (double-escaped feeds) is unescaped line by line for two more rounds; what
    still looks like markup after that is shown as text, so the output never looks like HTML."""
    text = prepare(value)
    if looks_like_html(text):
        found = _html_lines(text, page=page, newlines=newlines)
        pairs = [(prepare(line), link) for line, link in found]
    else:
        pairs = [(line, False) for line in text.split("\n")]
    for _ in range(2):
        if not any(looks_like_html(line) for line, _ in pairs):
            break
        pairs = [
            (prepare(sub), link and sub_link)
            for line, link in pairs
            for sub, sub_link in (_html_lines(line) if looks_like_html(line) else [(line, True)])
        ]
    else:
        pairs = [(defang(line) if looks_like_html(line) else line, link) for line, link in pairs]
    return [" ".join(line.split()) for line, _ in pairs], [link for _, link in pairs]


def clean_text(html_or_text: str) -> str:
    """HTML or text to clean text: paragraphs as lines, boilerplate dropped, NFC, no controls.

    Idempotent: ``clean_text(clean_text(x)) == clean_text(x)``.
    """
    lines, links = _lines(html_or_text)
    return "\n".join(filter_lines(lines, links))


def inline(value: str | None, limit: int = MAX_TITLE_CHARS) -> str:
    """A one-line text (titles, names): markup and entities resolved, no boilerplate filter."""
    if not value:
        return ""
    lines, _ = _lines(value[: limit * 8])
    return " ".join(line for line in lines if line)[:limit].strip()


# -- whole pages -------------------------------------------------------------------------------

_PAGE = re.compile(r"<(html|body|head)\b", re.I)
_PAGE_SNIFF_CHARS = 65536
_PRECISION_FIRST = (True, False)
"""trafilatura's precision mode, then its balanced mode (see the module docstring)."""


def is_page(raw: str) -> bool:
    """Whether HTML is a whole page (an ``<html>``, ``<head>`` or ``<body>`` early on) rather
    than a fragment."""
    return _PAGE.search(raw[:_PAGE_SNIFF_CHARS]) is not None


def _extracted_text(html: str, *, newlines: bool) -> str:
    """An extractor's HTML output as clean text. With ``newlines``, line breaks inside its text
    end lines (hard-wrapped sentences joined again first), as they separate the blocks of
    trafilatura's whole-body fallback."""
    lines, links = _lines(html, newlines=newlines)
    if newlines:
        lines, links = unwrap(lines, links)
    return "\n".join(filter_lines(lines, links))


MAX_EXTRACTED_PAGE_CHARS = 2_000_000
"""Pages larger than this (no news article is) skip trafilatura and keep only the lxml
candidate: three extractions of a 15 MB page would take the best part of a minute."""


def _candidates(raw: str, url: str | None) -> list[str]:
    """Extractions of one page, most precise first, each through the boilerplate filter:
    trafilatura's precision and balanced modes (one parse, its HTML output read by the lxml walk
    above), then the lxml lines without page chrome."""
    import trafilatura  # heavy: loaded on the first whole page only

    # It warns "discarding data" for every page it finds nothing in; we fall back and move on.
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    found: list[str] = []
    tree = None
    if len(raw) <= MAX_EXTRACTED_PAGE_CHARS:
        try:
            tree = trafilatura.load_html(raw)
        except Exception:  # hostile markup can break any parser: fall back
            tree = None
    for precise in _PRECISION_FIRST if tree is not None else ():
        try:
            html = trafilatura.extract(
                tree, url=url, output_format="html", include_comments=False,
                include_tables=False, include_links=False, include_images=False,
                deduplicate=False, favor_precision=precise,
            )  # fmt: skip
        except Exception:  # hostile markup can break any extractor: fall back
            html = None
        found.append(_extracted_text(html or "", newlines=not precise))
    lines, links = _lines(raw, page=True)
    found.append("\n".join(filter_lines(lines, links)))
    return found


def page_text(raw: str, url: str | None) -> str:
    """The main text of a whole page: of the candidate extractions, the one that reads most like
    an article, cut to its densest run of prose (``_prose.pick_article``; see the module
    docstring)."""
    return pick_article(_candidates(raw, url))
