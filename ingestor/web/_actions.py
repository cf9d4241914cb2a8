"""The curation actions: the four operations the forms and the API share, and the API's
``POST /api/events/{id}/merge``, ``POST /api/events/{id}/split``,
``POST /api/stories/{id}/move`` and ``DELETE /api/events/{id}``.

Owns: ``merge``, ``split``, ``move``, ``delete`` (one facade call each, on the writer, one at a
time, returning the JSON result the API answers) and the API routes with their bodies.

Does not: decide whether a request may act (``_guard``), or render (the forms are ``_forms``).
Errors: the facade's ``NotFound`` is 404, ``Refused`` (merging an event into itself, splitting
every story off) 400, both one-line JSON like every API error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Depends, HTTPException, Request

from ingestor.app import Ingestor
from ingestor.web._app import require_token
from ingestor.web._guard import MAX_ID, Actions, RowId, check_source

__all__ = ["actions_of", "delete", "merge", "move", "router", "split"]

T = TypeVar("T")
MAX_SPLIT = 1000


def actions_of(request: Request) -> Actions:
    actions: Actions = request.app.state.actions
    return actions


def _run(actions: Actions, work: Callable[[Ingestor], T]) -> T:
    with actions.lock:
        return work(actions.writer())


def merge(actions: Actions, into: int, gone: int) -> dict[str, Any]:
    def work(app: Ingestor) -> dict[str, Any]:
        merge_id = app.merge_events(into, gone)
        return {"event": into, "merged": gone, "merge_id": merge_id,
                "size": app.get_event(into).event.size}  # fmt: skip

    return _run(actions, work) | {"href": f"/api/events/{into}"}


def split(actions: Actions, event_id: int, story_ids: list[int]) -> dict[str, Any]:
    stories = sorted(set(story_ids))
    new = _run(actions, lambda app: app.split_event(event_id, stories))
    return {"event": new, "split_from": event_id, "stories": stories,
            "href": f"/api/events/{new}"}  # fmt: skip


def move(actions: Actions, story_id: int, event_id: int) -> dict[str, Any]:
    left = _run(actions, lambda app: app.move_story(story_id, event_id))
    return {"story": story_id, "event": event_id, "left": left, "href": f"/api/events/{event_id}"}


def delete(actions: Actions, event_id: int) -> dict[str, Any]:
    kept = _run(actions, lambda app: app.delete_event(event_id))
    return {"deleted": event_id, "stories_kept": kept}


def _may_act(request: Request) -> Actions:
    """Actions on, the request from no foreign page, and a JSON body for a POST."""
    actions = actions_of(request)
    actions.check_enabled()
    check_source(request, actions)
    if request.method == "POST":
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise HTTPException(415, "send the body as application/json")
    return actions


router = APIRouter(
    prefix="/api", tags=["curation"], dependencies=[Depends(require_token)],
    responses={400: {"description": "A change that makes no sense"},
               401: {"description": "serve.token is set and was not given"},
               403: {"description": "Actions are off, or the request came from another site"},
               404: {"description": "No such event or story"}},
)  # fmt: skip
Acting = Annotated[Actions, Depends(_may_act)]
Gone = Annotated[int, Body(embed=True, ge=1, le=MAX_ID, description="The event folded in")]
Stories = Annotated[
    list[int],
    Body(embed=True, min_length=1, max_length=MAX_SPLIT, description="The stories that leave"),
]
Target = Annotated[int, Body(embed=True, ge=1, le=MAX_ID, description="The event moved into")]


@router.post("/events/{event_id}/merge")
def merge_endpoint(actions: Acting, event_id: RowId, gone: Gone) -> dict[str, Any]:
    """Fold event ``gone`` into this one, for good (as ``ingestor events merge``)."""
    return merge(actions, event_id, gone)


@router.post("/events/{event_id}/split")
def split_endpoint(actions: Acting, event_id: RowId, stories: Stories) -> dict[str, Any]:
    """Move the listed stories into a new event that automatic clustering never merges back
    (as ``ingestor events split``); the new event's id is ``event``."""
    if not all(1 <= story <= MAX_ID for story in stories):
        raise HTTPException(400, "stories: each is an id, a whole number from 1")
    return split(actions, event_id, stories)


@router.post("/stories/{story_id}/move")
def move_endpoint(actions: Acting, story_id: RowId, event: Target) -> dict[str, Any]:
    """Move a story into another event, the two kept apart from then on (as ``ingestor
    stories move``); ``left`` is the event it left."""
    return move(actions, story_id, event)


@router.delete("/events/{event_id}")
def delete_endpoint(actions: Acting, event_id: RowId) -> dict[str, Any]:
    """Delete an event; its stories stay known, so a later poll finds them as duplicates (as
    ``ingestor events delete``)."""
    return delete(actions, event_id)
