"""Feed bytes in, ``ParsedFeed`` out: the only importer of feedparser.

Owns: turning one fetched document (RSS 0.9x/1.0/2.0, Atom, CDF through feedparser; JSON Feed
1.0/1.1 through ``json``, which feedparser 6 does not read) into plain values: UTC datetimes,
control-free text, bounded field lengths. ``title`` and ``content_html`` always come out as HTML
(plain-text bodies and titles are escaped), so ``normalize`` has one input form; ``author``, the
channel title and ``guid``/``link`` are text.

Does not: fetch, clean or sanitize (``normalize`` does that), read the clock (``now`` is given),
or enforce a time budget (run it through ``budget.BudgetRunner``: feedparser has super-linear
corners, e.g. its author e-mail regex is quadratic in the field's length).

Inputs come from ``fetch`` (the body as bytes, the Content-Type, the final URL) and are hostile.
Hardening, checked against the installed feedparser 6.0.x source and pinned by tests:

* feedparser gets a ``BytesIO``, never a string: given ``str`` or ``bytes`` it would treat a URL
  as something to download and a path as a file to read.
* Its XML parser is expat through ``xml.sax`` with external general entities off, so external
  entities, external DTDs and parameter entities are never fetched; XInclude is not processed.
  The libxml2 SAX driver, which feedparser prefers when present, is taken off its list so expat
  is always the parser.
* feedparser's DOCTYPE step keeps "safe" entity declarations for its fallback (loose) parser,
  which expands them without any amplification limit: one 50 kB entity referenced 200,000 times
  is 10 GB. ``_bounded_doctype`` replaces that step: every DOCTYPE is removed, and its simple
  entities are kept only while their total expansion in the document stays under 1 MiB.
  Nested (billion laughs) entities were never kept; expat's own amplification limit is a second
  line of defence.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import feedparser
import feedparser.api

from ingestor.errors import ParseError
from ingestor.models import ParsedEntry, ParsedFeed

__all__ = ["MAX_CONTENT_CHARS", "MAX_TITLE_CHARS", "MAX_URL_CHARS", "parse_feed"]

MAX_TITLE_CHARS = 1_000
MAX_URL_CHARS = 2_048
MAX_CONTENT_CHARS = 2 * 1024 * 1024
MAX_ENTITY_EXPANSION = 1024 * 1024
"""Bytes the DTD's entities may add to a document in total, summed over every reference."""
MAX_JSON_BYTES = 32 * 1024 * 1024
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
"""Dates before this are not news-feed dates but parse accidents (year 0, 1970 epoch zero)."""
FUTURE_SLACK = timedelta(days=1)
"""A date further than this past ``now`` is dropped: clocks drift, calendars do not."""

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_LINE_BREAKS = re.compile(r"[\t\r\n\u2028\u2029]+")
_ROOT = re.compile(rb"<\w")
_XML_DECL = re.compile(rb"\s*<\?xml[^<>]{0,256}\?>")
_ENTITY = re.compile(rb"<!ENTITY\s+(\w{1,64})\s+\"(&#\w{1,8};|[^&\"<>%]{0,4096})\"\s*>")
MAX_ENTITIES = 64
_TEXT_TYPES = frozenset({"text/plain", "text"})
_TAGS = re.compile(r"<[^<>]{0,2000}>")


def _bounded_doctype(data: bytes) -> tuple[str | None, bytes, dict[str, str]]:
    """A stricter stand-in for ``feedparser.sanitizer.replace_doctype`` (same contract).

    Runs after feedparser has transcoded the document to UTF-8, so every encoding is covered.
    The prolog keeps only its XML declaration; DOCTYPEs, comments and processing instructions
    before the root element are dropped, and the simple entity declarations come back in a
    fresh internal subset only while they are few and their expansion stays small.
    """
    match = _ROOT.search(data)
    start = match.start() if match else len(data)
    head, body = data[:start], data[start:]
    lowered = head.lower()
    version = "rss091n" if b"<!doctype" in lowered and b"netscape" in lowered else None
    entities: dict[bytes, bytes] = {}
    for name, value in _ENTITY.findall(head):
        entities.setdefault(name, value)
    decl = _XML_DECL.match(head)
    head = decl.group(0).lstrip() if decl else b""
    if not entities or len(entities) > MAX_ENTITIES:
        return version, head + body, {}
    expansion = sum(body.count(b"&" + name + b";") * len(value) for name, value in entities.items())
    if expansion > MAX_ENTITY_EXPANSION:
        return version, head + body, {}
    decls = b"".join(b'<!ENTITY %s "%s">\n' % (name, value) for name, value in entities.items())
    kept = {name.decode(): value.decode("utf-8", "replace") for name, value in entities.items()}
    return version, head + b"\n<!DOCTYPE feed [\n" + decls + b"]>\n" + body, kept


# feedparser.api looks both names up at call time; see the module docstring for why.
feedparser.api.replace_doctype = _bounded_doctype
feedparser.api.PREFERRED_XML_PARSERS = []


def parse_feed(
    body: bytes,
    *,
    url: str,
    content_type: str | None = None,
    max_entries: int = 500,
    now: datetime,
) -> ParsedFeed:
    """Parse one feed document. Raises ``ParseError`` when the bytes are not a feed at all."""
    if now.utcoffset() != timedelta(0):
        raise ValueError("now must be a timezone-aware UTC datetime")
    data = bytes(body)
    if not data.strip():
        raise ParseError("empty document")
    if _is_json(data, content_type):
        return _parse_json_feed(data, url=url, max_entries=max_entries, now=now)
    headers = {"content-location": url, "content-type": content_type or "application/xml"}
    try:
        result = feedparser.parse(
            io.BytesIO(data), response_headers=headers, resolve_relative_uris=True
        )
    except Exception as e:
        # feedparser has crash bugs on malformed input (``</width>`` without a start tag raises
        # TypeError): for us a document it cannot read is a bad document, not a bug of ours.
        raise ParseError(f"unreadable document ({type(e).__name__}: {str(e)[:120]})") from e
    feed = result.get("feed", {})
    # A page that is no feed still leaves feedparser with scraps (a summary, a canonical link);
    # a feed has a recognised format, an entry, or at least a channel title.
    if not (result.get("version") or result.get("entries") or _get(feed, "title")):
        reason = _warning(result.get("bozo_exception")) if result.get("bozo") else None
        raise ParseError("not a feed" + (f" ({reason})" if reason else ""))
    entries = tuple(_entry(item, now) for item in result.get("entries", [])[:max_entries])
    return ParsedFeed(
        title=_line(_channel_title(feed), MAX_TITLE_CHARS),
        link=_url(_get(feed, "link")),
        entries=entries,
        ttl_s=_ttl(_get(feed, "ttl")),
        warning=_warning(result.get("bozo_exception")) if result.get("bozo") else None,
    )


# -- feedparser results --------------------------------------------------------------------------


def _get(container: Any, key: str) -> Any:
    """A key as stored: ``FeedParserDict.get`` maps old names to new ones (``updated_parsed``
    silently falls back to ``published_parsed``, with a DeprecationWarning)."""
    return dict.get(container, key) if isinstance(container, dict) else None


def _entry(item: Mapping[str, Any], now: datetime) -> ParsedEntry:
    return ParsedEntry(
        guid=_guid(_get(item, "id")),
        link=_url(_get(item, "link")),
        title=_line(
            _as_html(_get(item, "title_detail"), _get(item, "title"), inline=True), MAX_TITLE_CHARS
        ),
        content_html=_richest(item),
        published=_date(_get(item, "published_parsed"), now),
        updated=_date(_get(item, "updated_parsed"), now),
        author=_line(_get(item, "author"), MAX_TITLE_CHARS),
    )


def _richest(item: Mapping[str, Any]) -> str | None:
    """The longest of the entry's bodies (``content[]`` and ``summary``), as HTML."""
    details: list[Any] = list(_get(item, "content") or [])
    if _get(item, "summary_detail"):
        details.append(_get(item, "summary_detail"))
    elif _get(item, "summary"):
        details.append({"type": "text/html", "value": _get(item, "summary")})
    bodies = [_as_html(d, d.get("value")) for d in details if isinstance(d, Mapping)]
    best = max((b for b in bodies if b and b.strip()), key=len, default=None)
    return _text(best, MAX_CONTENT_CHARS, keep_lines=True)


def _as_html(detail: Any, value: Any, *, inline: bool = False) -> str | None:
    if not isinstance(value, str):
        return None
    kind = detail.get("type") if isinstance(detail, Mapping) else None
    if kind not in _TEXT_TYPES:
        return value
    return html.escape(value, quote=False) if inline else _escape_text(value)


def _channel_title(feed: Any) -> str | None:
    """The channel title as text: feeds show it as a name, so markup is stripped here (crudely:
    a name needs no paragraph structure)."""
    title = _str(_get(feed, "title"))
    detail = _get(feed, "title_detail")
    if title is None or (isinstance(detail, Mapping) and detail.get("type") in _TEXT_TYPES):
        return title
    return html.unescape(_TAGS.sub(" ", title))


def _date(value: Any, now: datetime) -> datetime | None:
    """feedparser's UTC ``struct_time`` as an aware datetime; implausible dates become None."""
    if not isinstance(value, time.struct_time | tuple) or len(value) < 6:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in value[:6])
        when = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except (ValueError, OverflowError, TypeError):
        return None
    return _plausible(when, now)


def _plausible(when: datetime, now: datetime) -> datetime | None:
    if when < EARLIEST or when > now + FUTURE_SLACK:
        return None
    return when


def _ttl(value: Any) -> int | None:
    try:
        minutes = int(str(value).strip())
    except ValueError:
        return None
    return minutes * 60 if 0 < minutes <= 30 * 24 * 60 else None


def _warning(exc: Any) -> str | None:
    if exc is None:
        return None
    text = f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(exc)
    return _line(text, 300)


# -- JSON Feed -----------------------------------------------------------------------------------


def _is_json(data: bytes, content_type: str | None) -> bool:
    """The bytes decide; the Content-Type only breaks the tie (servers mislabel feeds)."""
    first = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    labelled = content_type is not None and "json" in content_type.lower()
    return first == b"{" or (labelled and first != b"<")


def _parse_json_feed(data: bytes, *, url: str, max_entries: int, now: datetime) -> ParsedFeed:
    if len(data) > MAX_JSON_BYTES:
        raise ParseError("JSON document too large")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError, UnicodeDecodeError) as e:
        raise ParseError(f"not a feed (invalid JSON: {str(e)[:120]})") from e
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, str) or not version.startswith("https://jsonfeed.org/version/"):
        raise ParseError("not a feed (JSON without a JSON Feed version)")
    base = _str(doc.get("feed_url")) or url
    base = urljoin(url, base) if _is_http(urljoin(url, base)) else url
    items = doc.get("items")
    entries: list[ParsedEntry] = []
    for item in items if isinstance(items, list) else []:
        if len(entries) >= max_entries:
            break
        if isinstance(item, dict):
            entries.append(_json_entry(item, base, now))
    return ParsedFeed(
        title=_line(_str(doc.get("title")), MAX_TITLE_CHARS),
        link=_url(_join(base, _str(doc.get("home_page_url")))),
        entries=tuple(entries),
    )


def _json_entry(item: dict[str, Any], base: str, now: datetime) -> ParsedEntry:
    raw_id = item.get("id")
    guid = str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None
    content = _str(item.get("content_html"))
    if content is None or not content.strip():
        text = _str(item.get("content_text")) or _str(item.get("summary"))
        content = _escape_text(text) if text else None
    title = _str(item.get("title"))
    authors = item.get("authors")
    if not isinstance(authors, list):
        authors = [item.get("author")]
    names = [_str(a.get("name")) for a in authors if isinstance(a, dict)]
    return ParsedEntry(
        guid=_guid(guid),
        link=_url(_join(base, _str(item.get("url")) or _str(item.get("external_url")))),
        title=_line(html.escape(title, quote=False) if title else None, MAX_TITLE_CHARS),
        content_html=_text(content, MAX_CONTENT_CHARS, keep_lines=True),
        published=_iso_date(item.get("date_published"), now),
        updated=_iso_date(item.get("date_modified"), now),
        author=_line(", ".join(n for n in names if n) or None, MAX_TITLE_CHARS),
    )


def _iso_date(value: Any, now: datetime) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return _plausible(when.astimezone(UTC), now)
    except (OverflowError, ValueError):
        return None


def _join(base: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return urljoin(base, value.strip())
    except ValueError:
        return None


def _is_http(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))


# -- bounded, control-free text ------------------------------------------------------------------


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _escape_text(value: str) -> str:
    """Plain text as HTML: escaped, blank-line-separated paragraphs as ``<p>``."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", value) if p.strip()]
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs)


def _text(value: Any, limit: int, *, keep_lines: bool = False) -> str | None:
    if not isinstance(value, str):
        return None
    value = _CONTROL.sub("", value[: limit * 2])
    if not keep_lines:
        value = _LINE_BREAKS.sub(" ", value)
    value = value.strip()[:limit]
    return value or None


def _line(value: Any, limit: int) -> str | None:
    return _text(value, limit)


def _url(value: Any) -> str | None:
    """A link as given (``normalize`` canonicalizes it); one too long to be real is dropped."""
    text = _text(value, MAX_URL_CHARS + 1)
    return text if text is not None and len(text) <= MAX_URL_CHARS else None


def _guid(value: Any) -> str | None:
    """An id as given; one too long to store is replaced by its digest (so it stays unique)."""
    text = _text(value, 4 * MAX_URL_CHARS)
    if text is None or len(text) <= MAX_URL_CHARS:
        return text
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()
