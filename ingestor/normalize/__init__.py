"""Pure normalization: a parsed entry or a replayed article in, one ``Story`` out.

Owns: HTML to clean text (``clean_text``), site boilerplate removal, main-text extraction from
whole pages (trafilatura), HTML sanitizing for storage (``sanitize_html``, nh3), canonical URLs,
source names, content hashes, and the timestamp rules (``published`` is never after ``fetched``).

Does not: fetch, parse feeds (``parse``), read the clock or configuration, log, or fingerprint.
Inputs are ``ParsedEntry`` values from ``parse`` and raw article text or HTML from replayed files
and datasets; every field is hostile.

Decisions (numbers measured on the SpotSigs pages of ``../shared/datasets/dev``: 1,084 pages,
word 5-shingle Jaccard between pages carrying the same wire text, higher is better):

* Text is Unicode NFC, not NFKC: NFC never changes what a reader sees ("x²", "½", "™" stay), and
  the folding that matching needs (NFKC, casefold, punctuation) happens in ``content_hash`` and in
  the fingerprint, which are never displayed. Soft hyphens and zero-width spaces are removed.
* Paragraphs are lines: block elements (``p``, ``li``, headings, ``br`` ...) end a line; the text
  is lines of single-spaced words joined by ``"\\n"``.
* Whole pages (``<html>``/``<head>``/``<body>``) go through trafilatura: precision first, its
  balanced mode when precision keeps under 250 characters, then the lxml conversion without page
  chrome. Precision alone left 269 pages nearly empty (Jaccard 0.41); balanced alone 0.57; the
  cascade 0.58 with no empty page; lxml alone 0.44. Comments, tables, links and images are off;
  trafilatura's cross-document deduplication is off (it would make the output order-dependent).
* Feed entry bodies (fragments) go through lxml, not trafilatura: on article bodies both keep
  about 98 % of the words, but trafilatura dropped 56 of 390 summary-sized fragments entirely
  and is 2-5x slower.
* Boilerplate is removed line by line, by kind, never by exact string (``_boilerplate``):
  short lines made only of widget vocabulary (share, comment, subscribe, navigation, media
  labels), comment-form, newsletter, call-to-action, republication, disclaimer and syndication
  sentences, photo captions ending in a credit, date/time-only lines, bylines, and in HTML
  link-only short lines and elements whose class or id names a widget; plus the headline of a
  related-story card right after a credited caption.
* ``canonical_url`` keeps ``www.``: the URL must stay a working link and some hosts answer only
  under one of the two names; ``source_name`` drops it, so both spellings are one source.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import unicodedata
from datetime import datetime
from html.entities import html5
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import nh3
from lxml import etree  # type: ignore[import-untyped]  # no stubs; typed at our edges

from ingestor.errors import NormalizeError
from ingestor.models import ParsedEntry, Story

__all__ = [
    "canonical_url",
    "clean_text",
    "content_hash",
    "normalize_article",
    "normalize_entry",
    "sanitize_html",
    "source_name",
]

MAX_TITLE_CHARS = 1_000
MAX_URL_CHARS = 2_048
TITLE_FROM_TEXT_CHARS = 200

# -- characters --------------------------------------------------------------------------------

_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
_INVISIBLE = re.compile("[\u00ad\u200b\u2060\ufeff]")
_NEWLINES = re.compile("\r\n?|[\x0b\x0c\x85\u2028\u2029]")
_TAG_START = re.compile(r"<[A-Za-z!/?]")
_ENTITY = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


def _prepare(value: str) -> str:
    value = _NEWLINES.sub("\n", value)
    return unicodedata.normalize("NFC", _INVISIBLE.sub("", _CONTROL.sub("", value)))


def _looks_like_html(text: str) -> bool:
    if _TAG_START.search(text):
        return True
    return any(m[1][0] == "#" or m[1] + ";" in html5 for m in _ENTITY.finditer(text))


def _defang(text: str) -> str:
    """Markup still left after several unescaping rounds is shown, not interpreted."""
    text = _TAG_START.sub(lambda m: "‹" + m[0][1:], text)
    return _ENTITY.sub(lambda m: "＆" + m[0][1:], text)


# -- HTML to lines -----------------------------------------------------------------------------

_BLOCK = _set(
    "address article blockquote body br dd details div dl dt figure h1 h2 h3 h4 h5 h6 header hr "
    "html li main ol p pre section summary table tbody td tfoot th thead tr ul"
)
_DROP = _set(
    "applet aside audio button canvas embed figcaption footer head iframe input map math "
    "nav noscript object script select style svg template textarea title video"
)
_PAGE_CHROME = _set("header menu dialog")
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
_CONTAINERS = _set("html body main article")
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


def _html_lines(markup: str, *, page: bool = False) -> list[tuple[str, bool]]:
    """Lines of text, each with whether all of it was link text. Iterative: no recursion limit."""
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
        line = " ".join("".join(parts).split())
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


# -- boilerplate -------------------------------------------------------------------------------

_FUNCTION_WORDS = _set(
    "a an and are as at be by can for from here in is it its me my new now of on or our out the "
    "this that to up us via we with you your all also x"
)
_NETWORKS = (
    "facebook|twitter|linkedin|whatsapp|telegram|reddit|pinterest|tumblr|flipboard|messenger|vk"
    "|viber|instagram|youtube|tiktok|bluesky|mastodon|snapchat|weibo|wechat|xing|kakaotalk"
    "|kakaostory"
)
_WIDGET_WORDS = _set(
    _NETWORKS.replace("|", " ") + " "
    # share buttons
    "pocket threads email e-mail mail print share shares shared sharing caring tweet retweet pin "
    "copy link links url follow like likes social media "
    # comments
    "reply replies comment comments commented discussion conversation responses thoughts leave "
    "cancel closed join login log register sign "
    # subscriptions
    "subscribe subscribed subscription newsletter newsletters updates alerts inbox "
    "notifications curated get "
    # navigation
    "advertisement advertisements advert ad ads sponsored promoted categories category tags tag "
    "topics related trending popular latest top most read more continue reading next previous "
    "prev back home menu skip content search navigation sections section archive archives see page "
    "view show hide click recommended stories story articles article posts post news headlines "
    "watch listen play "
    # media labels
    "photo photos image images picture pictures video videos gallery galleries caption credit "
    "credits source audio podcast slideshow graphic"
)
_LEADING_PHRASES = re.compile(
    # newsletters
    r"(sign up|subscribe|register|join)\b.{0,80}\b(newsletter|updates|inbox|e-?mail|alerts)"
    r"|(get|receive) (the|our|my)\b.{0,60}\b(newsletter|updates|in your inbox)"
    # republication and disclaimers
    r"|the post .{1,300} appeared first on\b"
    r"|this (article|story|post|piece) (was |is |first |originally )*(re)?(published|appeared)\b"
    r"|the (views|opinions)( and (views|opinions))? expressed (in|here|herein|by)\b"
    r"|(disclaimer|copyright)\b|[©ⓒ]|\(c\) ?\d{4}",
    re.I,
)
"""Sentences that are boilerplate when a line (of at most 60 words) starts with them."""
_ANYWHERE_PHRASES = re.compile(
    # comment forms
    r"your e-?mail address will not be published|required fields are marked"
    r"|you must be logged in to (post|comment)|this site uses akismet"
    # calls to action
    r"|\bnewsletter (brings|delivers|sends) you\b"
    rf"|\b(follow|join|like|find|subscribe to) (us|@?[\w.]+( [\w.]+)?) on ({_NETWORKS})\b"
    rf"|\bis now on ({_NETWORKS})\b|\bjoin (our|the) (\w+ )?(channel|community|group)\b"
    # rights and syndication notes
    r"|\ball rights reserved\b"
    r"|syndicated (feed|content)|auto-generated from|(not been|have been) (edited|reworked) by",
    re.I,
)
"""Sentences that make a line (of at most 60 words) boilerplate wherever they appear."""
_SHORT_PHRASES = re.compile(
    r"^(originally |first )?(re)?(published|posted|syndicated) (by|in|on|at|from|via)\b"
    r"|^(click|tap) here\b|^(read|see|view|watch) (more|also|the full|full)\b"
    r"|^(related|also read|read also|recommended|more|tags?|topics?|categories|filed under"
    r"|keywords)\s*[:|–—]"
    r"|^(image|media|video|photo) (source|caption|credit)s?\b"
    r"|^share\b|^by [^.!?]+$|^[—–-] .{1,80}\(@\w{1,15}\)|pic\.twitter\.com/",
    re.I,
)
"""Phrases that are boilerplate only in a short line (at most 12 words)."""
_CREDIT = re.compile(
    r"[–—-]\s*[^–—]{2,80},\s*\d{4},\s*\d{1,2}\.\d{1,2}\.\d{2,4}$"  # "– Outlet, 1920, 17.06.2024"
    r"|[(\[]\s*(photo|image|picture|pic|photograph|illustration|graphic|file photo|credit)s?\b"
    r"[^()\[\]]{0,100}[)\]]\.?$"
    r"|(^|[.|–—-]\s*)(photo|image|picture|photograph|illustration|file photo|photo credit|credit)s?"
    r"\s*(:|by\b|©|/)\s*[^.]{1,100}\.?$"
    r"|\b(getty images|shutterstock|alamy|ap photo/[^.]{1,60}|reuters/[^.]{1,60}|afp/[^.]{1,60})"
    r"\s*[)\]]?\.?$"
    # a sentence, then a bare agency credit: "... in Santa Clara, California. AFP-Yonhap"
    r"|[.!?\"”]\s+(?-i:AFP|AP|Reuters|REUTERS|Yonhap|EPA|EFE|Xinhua|Bloomberg|Sputnik|TASS"
    r"|Anadolu|NurPhoto|ZUMA|dpa|ANSA|Kyodo|UPI|Getty)([-/ ][\w .-]{0,40})?$",
    re.I,
)
_DATE_WORDS = _set(
    "jan feb mar apr may jun jul aug sep sept oct nov dec january february march april june july "
    "august september october november december mon tue wed thu fri sat sun monday tuesday "
    "wednesday thursday friday saturday sunday am pm a.m. p.m. gmt utc est edt cst cdt pst pdt "
    "cet cest msk ist bst et pt updated published posted last on at st nd rd th"
)
_CLOCK = re.compile(r"[\d:.,/]+(st|nd|rd|th|am|pm|h)?")
_WORD_EDGES = "\"'“”‘’.,:;!?()[]{}|*•·–—-/#"


def _words(line: str) -> list[str]:
    return [w for w in (w.strip(_WORD_EDGES).casefold() for w in line.split()) if w]


def _boilerplate(line: str, words: list[str]) -> bool:
    n = len(words)
    known = (w in _WIDGET_WORDS or w in _FUNCTION_WORDS or w.isdigit() for w in words)
    if n <= 8 and all(known) and any(w in _WIDGET_WORDS for w in words):
        return True  # "Share on Facebook", "Leave a Reply", "Most Commented"
    dates = (w in _DATE_WORDS or _CLOCK.fullmatch(w) for w in words)
    if n <= 12 and any(c.isdigit() for c in line) and all(dates):
        return True  # "14 March, 01:32 GMT"
    if n <= 12 and (_SHORT_PHRASES.search(line) or len(_SHARE_BAR.findall(line)) >= 2):
        return True
    if n > 60 or len(line) > 600:
        return False
    return bool(_LEADING_PHRASES.match(line) or _ANYWHERE_PHRASES.search(line))


_SHARE_BAR = re.compile(rf"\b({_NETWORKS})\b", re.I)


def _filter(lines: list[str], links: list[bool]) -> list[str]:
    """Drop boilerplate lines. Every rule but one is context-free; the related-story rule only
    looks at a caption line that is itself always dropped, so filtering twice changes nothing."""
    kept: list[str] = []
    after_caption = False
    for i, line in enumerate(lines):
        words = _words(line)
        if not words:
            continue
        # Every credit pattern is anchored at the end and spans under 300 characters.
        caption = len(words) <= 60 and _CREDIT.search(line, max(0, len(line) - 300)) is not None
        headline = after_caption and len(words) <= 20 and line[-1] not in '.!?"”’…:;,'
        after_caption = caption
        if caption or headline or (links[i] and len(words) <= 20) or _boilerplate(line, words):
            continue
        kept.append(line)
    return kept


# -- text --------------------------------------------------------------------------------------


def _lines(value: str, *, page: bool = False) -> tuple[list[str], list[bool]]:
    """Lines of text, each with whether it was link text only (always False for plain text).
    Escaped markup (double-escaped feeds) is unescaped line by line for two more rounds; what
    still looks like markup after that is shown as text, so the output never looks like HTML."""
    text = _prepare(value)
    if _looks_like_html(text):
        pairs = [(_prepare(line), link) for line, link in _html_lines(text, page=page)]
    else:
        pairs = [(line, False) for line in text.split("\n")]
    for _ in range(2):
        if not any(_looks_like_html(line) for line, _ in pairs):
            break
        pairs = [
            (_prepare(sub), link and sub_link)
            for line, link in pairs
            for sub, sub_link in (_html_lines(line) if _looks_like_html(line) else [(line, True)])
        ]
    else:
        pairs = [(_defang(line) if _looks_like_html(line) else line, link) for line, link in pairs]
    return [" ".join(line.split()) for line, _ in pairs], [link for _, link in pairs]


def clean_text(html_or_text: str) -> str:
    """HTML or text to clean text: paragraphs as lines, boilerplate dropped, NFC, no controls.

    Idempotent: ``clean_text(clean_text(x)) == clean_text(x)``.
    """
    lines, links = _lines(html_or_text)
    return "\n".join(_filter(lines, links))


def _inline(value: str | None, limit: int = MAX_TITLE_CHARS) -> str:
    """A one-line text (titles, names): markup and entities resolved, no boilerplate filter."""
    if not value:
        return ""
    lines, _ = _lines(value[: limit * 8])
    return " ".join(line for line in lines if line)[:limit].strip()


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


# -- whole pages -------------------------------------------------------------------------------

_PAGE = re.compile(r"<(html|body|head)\b", re.I)
_PRECISION_FIRST = (True, False)
"""trafilatura's precision mode, then its balanced mode (see the module docstring)."""
_MIN_PAGE_TEXT = 250


def _page_text(raw: str, url: str | None) -> str:
    import trafilatura  # heavy: loaded on the first whole page only

    # It warns "discarding data" for every page it finds nothing in; we fall back and move on.
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    text = ""
    for precise in _PRECISION_FIRST:
        try:
            found = trafilatura.extract(
                raw, url=url, include_comments=False, include_tables=False,
                include_links=False, include_images=False, deduplicate=False,
                favor_precision=precise,
            )  # fmt: skip
        except Exception:  # hostile markup can break any extractor: fall back
            found = None
        text = clean_text(found or "")
        if len(text) >= _MIN_PAGE_TEXT:
            return text
    lines, links = _lines(raw, page=True)
    fallback = "\n".join(_filter(lines, links))
    return fallback if len(fallback) > len(text) else text


# -- URLs --------------------------------------------------------------------------------------

_TRACKING = _set(
    "fbclid gclid gclsrc dclid msclkid yclid twclid ttclid igshid mc_cid mc_eid ref ref_src "
    "ref_url cmpid cmp _ga _gl ocid ncid smid soc_src soc_trk sr_share spm xtor ito mkt_tok "
    "guccounter guce_referrer guce_referrer_sig fb_action_ids fb_action_types fb_ref fb_source "
    "rb_clickid s_cid vero_id wickedid oly_anon_id oly_enc_id li_fat_id at_medium at_campaign "
    "__twitter_impression share"
)
_TRACKING_PREFIXES = ("utm_", "hsa_", "pk_", "mtm_", "matomo_", "piwik_", "at_custom")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PATH_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}|[^A-Za-z0-9\-._~!$&'()*+,;=:@/]")
_QUERY_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}|[^A-Za-z0-9\-._~!$'()*+,;:@/?]")
_HOST = re.compile(r"[a-z0-9_.-]+")


def _escape(part: str, pattern: re.Pattern[str]) -> str:
    def fix(match: re.Match[str]) -> str:
        token = match[0]
        if len(token) == 3 and token[0] == "%":
            char = chr(int(token[1:], 16))
            return char if char in _UNRESERVED else token.upper()
        return quote(token, safe="")

    return pattern.sub(fix, part)


def _remove_dots(path: str) -> str:
    segments = path.split("/")
    out: list[str] = []
    for segment in segments:
        if segment == "..":
            if len(out) > 1:
                out.pop()
        elif segment != ".":
            out.append(segment)
    if segments[-1] in (".", ".."):
        out.append("")
    path = "/".join(out)
    return path if path.startswith("/") else "/" + path


def canonical_url(url: str | None) -> str | None:
    """The http(s) URL in one spelling, or ``None`` for anything else (``javascript:``, ``data:``,
    relative, malformed). Lowercase scheme and host, IDNA host, no default port, no userinfo, no
    fragment, no tracking parameters, dot segments resolved, query parameters sorted."""
    if not isinstance(url, str) or len(url) > 2 * MAX_URL_CHARS:
        return None
    try:
        parts = urlsplit(_CONTROL.sub("", url).strip())
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
        if scheme not in ("http", "https") or not host:
            return None
        if ":" in host:
            host = f"[{host}]"
        else:
            host = host.rstrip(".").encode("idna").decode("ascii").lower()
            if not _HOST.fullmatch(host):
                return None
    except (ValueError, UnicodeError):
        return None
    netloc = host if port in (None, {"http": 80, "https": 443}[scheme]) else f"{host}:{port}"
    path = re.sub(r";jsessionid=[^/]*", "", parts.path, flags=re.I)
    path = _remove_dots(_escape(path, _PATH_ESCAPE))
    pairs = []
    for pair in parts.query.split("&"):
        if not pair:
            continue
        key = unquote(pair.split("=", 1)[0]).casefold()
        if key in _TRACKING or key.startswith(_TRACKING_PREFIXES):
            continue
        pairs.append("=".join(_escape(p, _QUERY_ESCAPE) for p in pair.split("=", 1)))
    result = urlunsplit((scheme, netloc, path, "&".join(sorted(pairs)), ""))
    return result if len(result) <= MAX_URL_CHARS else None


def source_name(url: str | None, fallback: str | None) -> str:
    """The publisher's host without ``www.`` ("reuters.com"), else the fallback, else "unknown"."""
    return _host(url) or _inline(fallback, 200) or "unknown"


def _host(url: str | None) -> str | None:
    canonical = canonical_url(url)
    host = urlsplit(canonical).hostname if canonical else None
    return host.removeprefix("www.") if host else None


# -- HTML for storage --------------------------------------------------------------------------

_ALLOWED_TAGS = _set(
    "a abbr b blockquote br code dd del dl dt em h2 h3 h4 h5 h6 hr i ins li ol p pre q s small "
    "strong sub sup table tbody td tfoot th thead tr u ul"
)
_CONTENT_DROPPED = _set(
    "script style iframe object embed applet noscript template svg math textarea select button "
    "frameset frame"
)
_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "td": {"colspan", "rowspan"},
               "th": {"colspan", "rowspan"}, "ol": {"start"}}  # fmt: skip


def sanitize_html(html: str, *, base_url: str | None) -> str:
    """HTML safe to store and show: a small tag allow-list, no scripts, styles, frames or event
    handlers, links only to http(s) and mailto (relative ones resolved against ``base_url``), and
    every link ``rel="noopener noreferrer nofollow"``. Images are not kept (tracking pixels)."""
    base = canonical_url(base_url)
    return nh3.clean(
        _CONTROL.sub("", html),
        tags=set(_ALLOWED_TAGS),
        clean_content_tags=set(_CONTENT_DROPPED),
        attributes={tag: set(names) for tag, names in _ATTRIBUTES.items()},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
        url_relative=("rewrite_with_base", base) if base else "deny",
    ).strip()


# -- stories -----------------------------------------------------------------------------------


def _clean_id(value: str | None) -> str | None:
    text = " ".join(_CONTROL.sub("", value or "").split())[:MAX_URL_CHARS]
    return text or None


def _story(
    *, title: str, text: str, source: str, url: str | None, published: datetime | None,
    fetched: datetime, html: str | None, guid: str | None = None, feed_url: str | None = None,
    external_id: str | None = None,
) -> Story:  # fmt: skip
    if not text and not title:
        raise NormalizeError("nothing usable left: no title and no text after cleaning")
    text = text or title
    title = title or _first_sentence(text)
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
        title=_inline(entry.title),
        text=clean_text(body),
        source=source_name(entry.link, _inline(feed_title, 200) or _host(feed_url)),
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
    page = is_html and _PAGE.search(raw[:65536]) is not None
    if page:
        text, html = _page_text(raw, canonical_url(url)), None
    else:
        text = clean_text(raw)
        html = sanitize_html(raw, base_url=url) if is_html else None
    return _story(
        title=_inline(title),
        text=text,
        source=_inline(source, 200) or source_name(url, None),
        url=canonical_url(url),
        published=published,
        fetched=fetched,
        html=html,
        external_id=_clean_id(external_id),
    )
