"""OPML in and out: the feed lists other readers import and export, as plain values.

Owns: reading an OPML document into the feeds it lists (``read_opml``), writing feeds out as OPML
2.0 (``write_opml``), and the rule for which URLs may travel in an OPML file
(``feed_url_problem``: http and https only, no whitespace or control characters, a host, a sane
length).

Does not: touch the store, the network, the file system or the clock. ``ingestor feeds import``
reads the file and adds each feed with ``Store.add_feed``; ``ingestor feeds export`` hands the
store's feeds here and writes the bytes where it was told.

Inputs: the bytes of a file the operator names, which may come from anywhere and are hostile.
``defusedxml`` is not a dependency, so the defences are spelled out here:

* Size: at most ``MAX_BYTES`` (4 MiB; an OPML of 10,000 feeds is about 1.5 MB), and at most
  ``MAX_ELEMENTS`` elements, counted while parsing, so no tree larger than that is ever built.
* Entities: the document is decoded to text first (``charsets.decode_xml``: byte-order mark,
  else the XML declaration's encoding, else UTF-8; strictly), and any ``<!DOCTYPE`` or
  ``<!ENTITY`` in that text refuses the whole file before it reaches the parser. Without a DTD
  there is nothing to expand (billion laughs) and nothing external to load (XXE). The parser is
  then fed the very text that was checked, as ``str``, so a declared encoding cannot make it
  read other bytes than were scanned.
* URLs: an outline's ``xmlUrl`` is taken only when it is an http(s) URL with a host; a
  ``file:``, ``javascript:`` or any other one is refused and reported, never returned as a feed.
  Refused URLs are reported with their control characters escaped, safe to print on a terminal.

Folders (outlines nested in outlines) are flattened, in document order; a URL listed twice is
returned once, with the first title it had. A feed's title is its ``title``, else its ``text``;
a title that only repeats the URL (what ``write_opml`` puts in ``text`` for an untitled feed,
since OPML requires one) is no title.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlsplit

from ingestor.charsets import decode_xml
from ingestor.errors import OPMLError, one_line

__all__ = [
    "MAX_BYTES",
    "MAX_ELEMENTS",
    "OPMLError",
    "OPMLFeeds",
    "OPMLImport",
    "Refused",
    "feed_url_problem",
    "read_opml",
    "write_opml",
]

MAX_BYTES = 4 * 1024 * 1024
MAX_ELEMENTS = 20_000
MAX_URL_CHARS = 2048
MAX_TITLE_CHARS = 300
_CHUNK_CHARS = 64 * 1024

_DECLARATIONS = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True, slots=True)
class Refused:
    """An outline whose ``xmlUrl`` was not imported, and why."""

    url: str
    """The URL as written, control characters escaped and cut to 200 characters."""
    reason: str


@dataclass(frozen=True, slots=True)
class OPMLFeeds:
    """What an OPML document lists: the feeds to add and the outlines refused."""

    feeds: tuple[tuple[str, str | None], ...]
    """``(url, title)`` pairs in document order, each URL once."""
    refused: tuple[Refused, ...] = ()


@dataclass(frozen=True, slots=True)
class OPMLImport:
    """What importing an OPML document into the store did (``Ingestor.import_opml``)."""

    added: tuple[str, ...]
    present: tuple[str, ...]
    """Feeds the store knew already, left as they were."""
    removed: int
    """How many of ``present`` are removed feeds, which stay removed."""
    refused: tuple[Refused, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "added": len(self.added),
            "present": len(self.present),
            "refused": len(self.refused),
            "added_urls": list(self.added),
            "present_urls": list(self.present),
            "refused_feeds": [{"url": r.url, "reason": r.reason} for r in self.refused],
        }


# -- URLs and titles -----------------------------------------------------------------------------


def feed_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a feed in an OPML file, or ``None`` when it can: an http(s) URL
    with a host, no whitespace or control characters, at most 2,048 characters."""
    if not url:
        return "empty URL"
    if len(url) > MAX_URL_CHARS:
        return f"longer than {MAX_URL_CHARS} characters"
    if _CONTROL.search(url) or any(c.isspace() for c in url):
        return "contains whitespace or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return "not a valid URL"
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"{one_line(scheme, limit=20)}: URL" if scheme else "no scheme"
        return f"{shown} (only http and https feeds are taken)"
    if not parts.hostname:
        return "no host"
    return None


def _title(value: str | None) -> str | None:
    if value is None:
        return None
    text = " ".join(_NOT_XML.sub(" ", _CONTROL.sub(" ", value)).split())
    if len(text) > MAX_TITLE_CHARS:
        text = text[: MAX_TITLE_CHARS - 1] + "…"
    return text or None


# -- reading -------------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _attribute(attrib: dict[str, str], name: str) -> str | None:
    """An attribute by local name, any case (``xmlUrl``, ``xmlurl``, ``XMLURL``)."""
    for key, value in attrib.items():
        if _local(key).lower() == name:
            return value
    return None


def read_opml(data: bytes, *, max_bytes: int = MAX_BYTES) -> OPMLFeeds:
    """The feeds an OPML document lists, and the outlines refused. Raises ``OPMLError`` when the
    document as a whole is refused: over ``max_bytes``, not text, a DTD or an entity
    declaration, not well-formed, not ``<opml>``, or more than ``MAX_ELEMENTS`` elements."""
    if len(data) > max_bytes:
        raise OPMLError(f"the file is over the {max_bytes}-byte cap for OPML")
    try:
        text = decode_xml(data)
    except (LookupError, UnicodeError) as e:
        raise OPMLError(str(e)) from e
    if not text.strip():
        raise OPMLError("empty document")
    if _DECLARATIONS.search(text):
        raise OPMLError("DOCTYPE and ENTITY declarations are refused in OPML")
    parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start",))
    feeds: dict[str, str | None] = {}
    refused: list[Refused] = []
    elements = 0

    def take() -> None:
        nonlocal elements
        for event in parser.read_events():
            element = event[1] if isinstance(event, tuple) and len(event) == 2 else None
            if not isinstance(element, ET.Element):  # "start" events carry elements
                continue
            elements += 1
            if elements == 1 and _local(element.tag) != "opml":
                raise OPMLError(f"not an OPML document (root <{one_line(element.tag, limit=40)}>)")
            if elements > MAX_ELEMENTS:
                raise OPMLError(f"more than {MAX_ELEMENTS} elements")
            if _local(element.tag) != "outline":
                continue
            url = _attribute(element.attrib, "xmlurl")
            if url is None:
                continue  # a folder, or a link that is not a feed
            url = url.strip()
            if problem := feed_url_problem(url):
                refused.append(Refused(one_line(url, limit=200), problem))
                continue
            title = _title(_attribute(element.attrib, "title"))
            title = title or _title(_attribute(element.attrib, "text"))
            feeds.setdefault(url, None if title == url else title)

    try:
        # Fed in pieces and counted as it goes: an element flood stops at the cap, long before
        # the whole tree is built.
        for start in range(0, len(text), _CHUNK_CHARS):
            parser.feed(text[start : start + _CHUNK_CHARS])
            take()
        parser.close()
        take()
    except ET.ParseError as e:
        raise OPMLError(f"not well-formed XML ({one_line(str(e), limit=120)})") from e
    if elements == 0:
        raise OPMLError("empty document")
    return OPMLFeeds(tuple(feeds.items()), tuple(refused))


# -- writing -------------------------------------------------------------------------------------


def write_opml(
    feeds: Iterable[tuple[str, str | None]],
    *,
    title: str = "ingestor feeds",
    created: datetime | None = None,
) -> bytes:
    """An OPML 2.0 document (UTF-8) listing ``feeds`` as ``(url, title)`` pairs, one flat
    ``<outline type="rss">`` each. Feeds whose URL ``feed_url_problem`` refuses (local files)
    are left out, as are repeats. ``created`` becomes ``<dateCreated>`` when given."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = _title(title) or "feeds"
    if created is not None:
        stamp = format_datetime(created.astimezone(UTC), usegmt=True)
        ET.SubElement(head, "dateCreated").text = stamp
    body = ET.SubElement(root, "body")
    seen: set[str] = set()
    for url, name in feeds:
        if url in seen or feed_url_problem(url) is not None:
            continue
        seen.add(url)
        clean = _title(name)
        attrs = {"type": "rss", "text": clean or url}
        if clean:
            attrs["title"] = clean
        attrs["xmlUrl"] = url
        ET.SubElement(body, "outline", attrs)
    ET.indent(root, space="  ")
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"
