"""The JSON API under ``/api``: events (filtered, cursor-paged), one event with every variant
and why it joined, one story, the feeds. Described at ``/api/openapi.json``.

Owns: the routes and their parameters. The JSON of an event is the CLI's
(``render.detail_json``, as ``ingestor events show --json --explain`` prints it), so the two
never drift apart.

Does not: write (every call is a facade read), or cut pages by offset: the cursor is the
``(last_seen, id)`` of a page's last event, opaque to clients (``_text.encode_cursor``), so a
page is stable while new events arrive at the top.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from ingestor import render
from ingestor.app import Ingestor
from ingestor.errors import ConfigError
from ingestor.models import Event
from ingestor.web._app import require_token
from ingestor.web._guard import RowId
from ingestor.web._text import decode_cursor, encode_cursor

__all__ = ["Listing", "listing", "router"]

router = APIRouter(prefix="/api", tags=["api"], dependencies=[Depends(require_token)])

MAX_LIMIT = 200
MAX_VARIANTS = 10_000
"""Most variants one event's answer lists (``variants``): each is explained, which costs a
difflib comparison with the canonical text."""


def _app(request: Request) -> Ingestor:
    app: Ingestor = request.app.state.ingestor
    return app


def parse_since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return render.parse_since(value)
    except ConfigError as e:
        raise ConfigError(f"since: {value!r} is neither a time nor a span like 24h or 7d") from e


class Listing:
    """The listing parameters the API, the page and the output feeds share."""

    def __init__(
        self,
        since: Annotated[
            str | None,
            Query(description="Events a story joined since: a time (2024-06-18T12:00Z) or 24h, 7d"),
        ] = None,
        min_size: Annotated[int, Query(ge=1, le=100_000, description="Variants at least")] = 1,
        q: Annotated[
            str | None, Query(max_length=200, description="In the canonical title (case aside)")
        ] = None,
        source: Annotated[
            str | None, Query(max_length=200, description="A variant from this source")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
        cursor: Annotated[
            str | None, Query(max_length=200, description="next_cursor of the previous page")
        ] = None,
    ) -> None:
        self.since = since
        self.min_size = min_size
        self.q = q or None
        self.source = source or None
        self.limit = limit
        self.cursor = cursor or None


def listing(app: Ingestor, params: Listing) -> tuple[list[Event], str | None]:
    """One page of events and the cursor of the next one (``None`` on the last page)."""
    before = decode_cursor(params.cursor) if params.cursor else None
    rows = app.list_events(
        since=parse_since(params.since), min_size=params.min_size, limit=params.limit + 1,
        q=params.q, source=params.source, before=before,
    )  # fmt: skip
    page = rows[: params.limit]
    more = len(rows) > params.limit
    return page, encode_cursor(page[-1].last_seen, page[-1].id) if more and page else None


@router.get("/events")
def list_events(request: Request, params: Annotated[Listing, Depends()]) -> dict[str, Any]:
    """Events, newest first (by last seen), with a cursor to the next page."""
    page, cursor = listing(_app(request), params)
    return {
        "events": [render.event_json(e) | {"href": f"/api/events/{e.id}"} for e in page],
        "next_cursor": cursor,
    }


@router.get("/events/{event_id}", response_model=None)
def get_event(
    request: Request,
    event_id: RowId,
    variants: Annotated[
        int,
        Query(ge=1, le=MAX_VARIANTS, description="Variants shown, the canonical story among them"),
    ] = 50,
) -> dict[str, Any] | Response:
    """An event: its canonical story, its variants (the first ``variants`` in time order, the
    canonical one among them; ``variants_shown`` and ``size`` say how many) with their source,
    time, similarity, why they joined (signals and shared passages), and the events merged into
    it. A merged event's id redirects (301) to the event it is part of now."""
    app = _app(request)
    detail = app.get_event(event_id)  # a merged event's id gives the event it is part of now
    if detail.event.id != event_id:
        return RedirectResponse(f"/api/events/{detail.event.id}", status_code=301)
    return render.detail_json(detail, explain=True, score=app.score_description(), limit=variants)


@router.get("/stories/{story_id}")
def get_story(request: Request, story_id: RowId) -> dict[str, Any]:
    """A story, the event it is in and how it joined."""
    found = _app(request).get_story(story_id)
    variant = found.variant
    return {
        "id": found.story_id,
        "event_id": found.event_id,
        "href": f"/api/events/{found.event_id}" if found.event_id is not None else None,
        "similarity": variant.similarity if variant else None,
        "reason": variant.reason if variant else None,
        "joined_at": variant.joined_at.isoformat() if variant else None,
        "signals": dict(variant.signals) if variant else {},
        "story": render.story_json(found.story),
    }


@router.get("/feeds")
def list_feeds(request: Request) -> dict[str, Any]:
    """The feeds polled (removed ones left out)."""
    return {"feeds": [render.feed_json(f) for f in _app(request).list_feeds()]}
