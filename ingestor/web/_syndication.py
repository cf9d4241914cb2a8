"""The deduplicated output feeds: one Atom entry or JSON Feed 1.1 item per event.

Owns: ``atom_feed`` and ``json_feed``, pure functions from events (``EventDetail``) to a
document. Each item is the canonical story's title, link and text, then the other variants as
"also reported by" with their links. Its id is built from the event's id and the time the store
created it (``item_id``), so a reader that polls twice sees the same ids, and a recreated
database that reuses an id does not pass its new events off as old ones. Its ``updated`` time
is the latest of the event's last-seen time and its variants' join times, so it moves when a
variant joins.

Does not: read the store or the request (``web._routes`` passes the events and the URLs).
Text is escaped by ElementTree (XML) and ``html.escape`` (the HTML content), after ``clean``
removed the characters XML cannot carry; only http(s) URLs become links.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ingestor.models import EventDetail, Variant
from ingestor.web._text import clean, safe_link

__all__ = ["atom_feed", "item_id", "json_feed", "updated"]

ATOM_NS = "http://www.w3.org/2005/Atom"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
TEXT_LIMIT = 20_000
"""Characters of the canonical text an item carries."""
TITLE_LIMIT = 500


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def item_id(detail: EventDetail) -> str:
    """A ``tag:`` URI (RFC 4151) naming the event in this store, stable across polls."""
    event = detail.event
    created = event.created_at or event.first_seen
    return f"tag:ingestor.invalid,2024:event/{event.id}/{created.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def updated(detail: EventDetail) -> datetime:
    """The latest of the event's last-seen time and its variants' join times."""
    joined = (v.joined_at for v in detail.variants)
    return max(detail.event.last_seen, *joined)


def _others(detail: EventDetail) -> list[Variant]:
    canonical = detail.event.canonical_story_id
    return [v for v in detail.variants if v.story_id != canonical]


def _content_html(detail: EventDetail, page: str) -> str:
    story = detail.canonical.story
    parts = [
        f"<p>{html.escape(paragraph)}</p>"
        for paragraph in clean(story.text, limit=TEXT_LIMIT).split("\n")
        if paragraph.strip()
    ]
    others = _others(detail)
    if others:
        parts.append("<p>Also reported by:</p><ul>")
        for variant in others:
            source = html.escape(clean(variant.story.source, limit=200))
            title = html.escape(clean(variant.story.title, limit=TITLE_LIMIT))
            link = safe_link(variant.story.url)
            name = f'<a href="{html.escape(link)}">{source}</a>' if link else source
            parts.append(f"<li>{name}: {title}</li>")
        parts.append("</ul>")
    parts.append(f'<p><a href="{html.escape(page)}">All {detail.event.size} variants</a></p>')
    return "".join(parts)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def atom_feed(
    details: Sequence[EventDetail], *, feed_id: str, self_url: str, home: str, event_url: Any
) -> bytes:
    """An Atom 1.0 document of ``details``; ``event_url(id)`` gives an event's page."""
    ET.register_namespace("", ATOM_NS)
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    _sub(feed, "id", feed_id)
    _sub(feed, "title", "ingestor: events, one entry per story")
    newest = max((updated(d) for d in details), default=datetime(1970, 1, 1, tzinfo=UTC))
    _sub(feed, "updated", _iso(newest))
    _sub(feed, "link", rel="self", href=self_url, type="application/atom+xml")
    _sub(feed, "link", rel="alternate", href=home, type="text/html")
    _sub(_sub(feed, "author"), "name", "ingestor")
    _sub(feed, "generator", "ingestor")
    for detail in details:
        story = detail.canonical.story
        page = event_url(detail.event.id)
        entry = _sub(feed, "entry")
        _sub(entry, "id", item_id(detail))
        _sub(entry, "title", clean(story.title, limit=TITLE_LIMIT) or "(untitled)", type="text")
        _sub(entry, "link", rel="alternate", href=safe_link(story.url) or page)
        _sub(entry, "link", rel="related", href=page, type="text/html")
        _sub(entry, "published", _iso(detail.event.first_seen))
        _sub(entry, "updated", _iso(updated(detail)))
        _sub(_sub(entry, "author"), "name", clean(story.source, limit=200) or "unknown")
        _sub(entry, "content", _content_html(detail, page), type="html")
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body


def json_feed(
    details: Sequence[EventDetail], *, self_url: str, home: str, event_url: Any
) -> dict[str, Any]:
    """A JSON Feed 1.1 document of ``details``; ``event_url(id)`` gives an event's page."""
    items = []
    for detail in details:
        story = detail.canonical.story
        page = event_url(detail.event.id)
        items.append(
            {
                "id": item_id(detail),
                "url": safe_link(story.url) or page,
                "external_url": page,
                "title": clean(story.title, limit=TITLE_LIMIT) or "(untitled)",
                "content_html": _content_html(detail, page),
                "content_text": clean(story.text, limit=TEXT_LIMIT),
                "date_published": _iso(detail.event.first_seen),
                "date_modified": _iso(updated(detail)),
                "authors": [{"name": clean(story.source, limit=200) or "unknown"}],
                "_ingestor": {
                    "event_id": detail.event.id,
                    "size": detail.event.size,
                    "sources": detail.event.sources,
                    "also_reported_by": [
                        {
                            "source": clean(v.story.source, limit=200),
                            "title": clean(v.story.title, limit=TITLE_LIMIT),
                            "url": safe_link(v.story.url),
                        }
                        for v in _others(detail)
                    ],
                },
            }
        )
    return {
        "version": JSON_FEED_VERSION,
        "title": "ingestor: events, one item per story",
        "home_page_url": home,
        "feed_url": self_url,
        "items": items,
    }
