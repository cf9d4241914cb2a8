"""The curation actions as HTML forms: ``POST /events/{id}/merge``, ``/events/{id}/split``,
``/events/{id}/delete`` and ``/stories/{id}/move``, each answered by a 303 to the page of the
result (Post/Redirect/Get), which says in one line what was done.

Owns: those routes, reading a form body (urlencoded, at most ``MAX_FORM`` bytes), what the
event page needs to draw the forms (``form_context``) and the line it shows after an action
(``notice``). The line is built here from a fixed sentence and the ids in the query string,
never from text a link could carry, so a link cannot make the page say anything else.

Does not: act (``_actions``) or decide whether a request may (``_guard``). Errors are the HTML
error page: 400 for a bad field or a change that makes no sense, 401, 403, 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse

from ingestor.web._actions import actions_of, delete, merge, move, split
from ingestor.web._guard import MAX_ID, Actions, RowId, check_source, parse_id

__all__ = ["form_context", "notice", "router"]

router = APIRouter(include_in_schema=False)
MAX_FORM = 64 * 1024
Fields = dict[str, list[str]]

_NOTICES = {
    "merged": ("gone", "Event {gone} was merged into this event."),
    "split": ("from", "These variants were split off event {from} into this new event."),
    "moved": ("from", "Story {story} was moved here from event {from}."),
    "deleted": ("event", "Event {event} was deleted; its stories stay known as duplicates."),
}


def notice(query: Mapping[str, str]) -> str | None:
    """The line saying what the last action did, from ``done`` and its ids; ``None`` when the
    query names no action (or carries anything but ids)."""
    known = _NOTICES.get(query.get("done", ""))
    if known is None:
        return None
    values: dict[str, int] = {}
    for name in ("gone", "from", "story", "event"):
        text = query.get(name, "")
        if text.isascii() and text.isdigit() and len(text) <= 19 and 1 <= int(text) <= MAX_ID:
            values[name] = int(text)
    try:
        return known[1].format_map(values)
    except KeyError:
        return None


def form_context(request: Request, event_id: int, story_ids: list[int]) -> dict[str, Any]:
    """The forms' actions and CSRF tokens for an event page (empty with actions off)."""
    actions = actions_of(request)
    if not actions.enabled:
        return {"actions": None}
    paths = {name: f"/events/{event_id}/{name}" for name in ("merge", "split", "delete")}
    moves = {story: f"/stories/{story}/move" for story in story_ids}
    return {
        "actions": {
            "paths": paths,
            "csrf": {name: actions.csrf(path) for name, path in paths.items()},
            "moves": {story: (path, actions.csrf(path)) for story, path in moves.items()},
            "token": bool(actions.token),
        },
    }


async def _fields(request: Request) -> Fields:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise HTTPException(415, "send the form as application/x-www-form-urlencoded")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise HTTPException(413, "the form is too large")
    try:
        return parse_qs(bytes(body).decode("utf-8"), keep_blank_values=True, max_num_fields=2000)
    except (UnicodeDecodeError, ValueError) as e:
        raise HTTPException(400, "the form could not be read") from e


def _allowed(request: Request, fields: Fields) -> Actions:
    """403 with actions off, from another site or without this form's CSRF token; 401
    without ``serve.token`` when it is set."""
    actions = actions_of(request)
    actions.check_enabled()
    check_source(request, actions)
    actions.check_csrf(request.url.path, _one(fields, "csrf"))
    actions.check_token(_one(fields, "token"))
    return actions


def _one(fields: Fields, name: str) -> str | None:
    values = fields.get(name)
    return values[0] if values else None


def _to(path: str, **query: Any) -> RedirectResponse:
    return RedirectResponse(f"{path}?{urlencode(query)}", status_code=303)


Form = Annotated[Fields, Depends(_fields)]


@router.post("/events/{event_id}/merge")
def merge_form(request: Request, event_id: RowId, fields: Form) -> RedirectResponse:
    actions = _allowed(request, fields)
    gone = parse_id(_one(fields, "gone"), "event to merge in")
    merge(actions, event_id, gone)
    return _to(f"/events/{event_id}", done="merged", gone=gone)


@router.post("/events/{event_id}/split")
def split_form(request: Request, event_id: RowId, fields: Form) -> RedirectResponse:
    actions = _allowed(request, fields)
    chosen = fields.get("stories", [])
    if not chosen:
        raise HTTPException(400, "tick at least one variant to split off")
    result = split(actions, event_id, [parse_id(s, "variant") for s in chosen])
    return _to(f"/events/{result['event']}", done="split", **{"from": event_id})


@router.post("/stories/{story_id}/move")
def move_form(request: Request, story_id: RowId, fields: Form) -> RedirectResponse:
    actions = _allowed(request, fields)
    target = parse_id(_one(fields, "event"), "event to move to")
    result = move(actions, story_id, target)
    return _to(f"/events/{target}", done="moved", story=story_id, **{"from": result["left"]})


@router.post("/events/{event_id}/delete")
def delete_form(request: Request, event_id: RowId, fields: Form) -> RedirectResponse:
    actions = _allowed(request, fields)
    if _one(fields, "confirm") != "yes":
        raise HTTPException(400, "tick the box to confirm the deletion")
    delete(actions, event_id)
    return _to("/", done="deleted", event=event_id)
