"""``ingestor stories move|show|diff``: one story, its revisions, and two texts compared.

Every command is one call of the library (``ingestor.app.Ingestor``): ``show`` and ``diff``
open the store read-only, ``move`` opens it alone (the store logs the move for every daemon).
"""

from __future__ import annotations

import click

from ingestor.cli._common import ID, State, open_app, pass_state

__all__ = ["stories"]


@click.group()
def stories() -> None:
    """Show, compare and move stories."""


@stories.command("move")
@click.argument("story_id", type=ID)
@click.argument("event_id", type=ID)
@pass_state
def stories_move(state: State, story_id: int, event_id: int) -> None:
    """Move a story into another event, where it stays: the two events are kept apart."""
    with open_app(state) as app:
        left = app.move_story(story_id, event_id)
    click.echo(f"moved story {story_id} from event {left} to event {event_id}")
