"""The pages and the output feeds: ``/`` (events, newest first), ``/events/{id}`` (one event,
its variants side by side with a word diff against the canonical story, and the explain
scores), ``/events.atom`` and ``/events.json``.

Owns: those routes and the values their templates show. Pages are rendered on the server
(Jinja2, autoescape on) and work without JavaScript: the filters are a plain GET form, the
next page a link.

Does not: write (the curation forms on an event page post to ``_forms``), or build the feed
documents (``_syndication``) or the diff (``_text``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from ingestor import render
from ingestor.app import Ingestor
from ingestor.errors import NotFound
from ingestor.explain import shared_passages
from ingestor.models import Event, EventDetail
from ingestor.web._api import Listing, listing
from ingestor.web._forms import form_context, notice
from ingestor.web._guard import RowId
from ingestor.web._syndication import atom_feed, json_feed, updated
from ingestor.web._text import safe_link, word_diff

__all__ = ["router"]

router = APIRouter(include_in_schema=True, tags=["pages and feeds"])
FEED_LIMIT = 100
_LISTING = ("since", "min_size", "q", "source", "limit")
"""The query parameters an "older events" link carries on (not the cursor, not a notice)."""
MAX_DIFFS = 30
"""Variants of one event that get a word diff on its page; the rest are listed without one, so
a page of a very large event stays bounded."""


def _app(request: Request) -> Ingestor:
    app: Ingestor = request.app.state.ingestor
    return app


def _templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


def _details(app: Ingestor, events: list[Event]) -> list[EventDetail]:
    """Each event with its variants; one merged away since it was listed is left out."""
    out = []
    for event in events:
        try:
            out.append(app.get_event(event.id))
        except NotFound:
            continue
    return out


def _sources(detail: EventDetail) -> list[str]:
    return sorted({v.story.source for v in detail.variants}, key=str.casefold)


@router.get("/", response_class=HTMLResponse)
@router.head("/", response_class=HTMLResponse, include_in_schema=False)
def index(request: Request, params: Annotated[Listing, Depends()]) -> Response:
    """The events, newest first, with their sizes and sources."""
    app = _app(request)
    page, cursor = listing(app, params)
    rows = [{"detail": d, "sources": _sources(d)} for d in _details(app, page)]
    query = {k: v for k, v in request.query_params.items() if k in _LISTING}
    return _templates(request).TemplateResponse(
        request, "index.html",
        {"rows": rows, "params": params, "cursor": cursor, "query": query,
         "notice": notice(request.query_params)},
    )  # fmt: skip


def _variant_view(
    variant: Any, canonical: Any, score: dict[str, Any], *, diff: bool = True
) -> dict[str, Any]:
    is_canonical = variant.story_id == canonical.story_id
    diff = diff and not is_canonical
    return {
        "variant": variant,
        "canonical": is_canonical,
        "link": safe_link(variant.story.url),
        "signals": sorted(variant.signals.items()),
        "score": (render.variant_score(variant.signals, score) or "").strip(),
        "passages": shared_passages(variant.story.text, canonical.story.text) if diff else [],
        "diff": word_diff(variant.story.text, canonical.story.text) if diff else [],
        "diffed": diff,
    }  # fmt: skip


@router.get("/events/{event_id}", response_class=HTMLResponse)
@router.head("/events/{event_id}", response_class=HTMLResponse, include_in_schema=False)
def event_page(request: Request, event_id: RowId) -> Response:
    """One event: the canonical text, every variant beside it with what it adds or drops, and
    the explain scores. A merged event's page redirects to the event it is part of now."""
    app = _app(request)
    detail = app.get_event(event_id)  # a merged event's id gives the event it is part of now
    if detail.event.id != event_id:
        return RedirectResponse(f"/events/{detail.event.id}", status_code=301)
    score = app.score_description()
    canonical = detail.canonical
    return _templates(request).TemplateResponse(
        request, "event.html",
        {
            "detail": detail,
            "story": canonical.story,
            "link": safe_link(canonical.story.url),
            "sources": _sources(detail),
            "variants": [
                _variant_view(v, canonical, score, diff=i < MAX_DIFFS)
                for i, v in enumerate(detail.variants)
            ],
            "undiffed": max(0, len(detail.variants) - MAX_DIFFS),
            "formula": render.score_text(score),
            "updated": updated(detail),
            "notice": notice(request.query_params),
            **form_context(request, event_id, [v.story_id for v in detail.variants]),
        },
    )  # fmt: skip


class FeedFilters:
    """The output feeds' filters: ``min_size``, ``source``, ``q``, and how many events."""

    def __init__(
        self,
        min_size: Annotated[int, Query(ge=1, le=100_000)] = 1,
        source: Annotated[str | None, Query(max_length=200)] = None,
        q: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=FEED_LIMIT)] = 50,
    ) -> None:
        self.listing = Listing(min_size=min_size, source=source, q=q, limit=limit)


def _feed_events(request: Request, filters: FeedFilters) -> list[EventDetail]:
    app = _app(request)
    page, _ = listing(app, filters.listing)
    return _details(app, page)


def _urls(request: Request) -> tuple[str, str, Any]:
    base = str(request.base_url).rstrip("/")
    return str(request.url), base + "/", lambda event_id: f"{base}/events/{event_id}"


@router.get("/events.atom")
@router.head("/events.atom", include_in_schema=False)
def events_atom(request: Request, filters: Annotated[FeedFilters, Depends()]) -> Response:
    """The events as an Atom feed: one entry per event, the other variants listed in it."""
    self_url, home, event_url = _urls(request)
    base = str(request.base_url).rstrip("/")
    body = atom_feed(
        _feed_events(request, filters), feed_id=f"{base}/events.atom", self_url=self_url,
        home=home, event_url=event_url,
    )  # fmt: skip
    return Response(body, media_type="application/atom+xml; charset=utf-8")


@router.get("/events.json")
@router.head("/events.json", include_in_schema=False)
def events_json(request: Request, filters: Annotated[FeedFilters, Depends()]) -> Response:
    """The events as a JSON Feed 1.1: one item per event, the other variants listed in it."""
    self_url, home, event_url = _urls(request)
    document = json_feed(
        _feed_events(request, filters), self_url=self_url, home=home, event_url=event_url
    )
    body = json.dumps(document, ensure_ascii=False).encode()
    return Response(body, media_type="application/feed+json; charset=utf-8")
