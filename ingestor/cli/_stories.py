"""``ingestor stories move|show|diff``: one story, its revisions, and two texts compared.

Every command is one call of the library (``ingestor.app.Ingestor``): ``show`` and ``diff``
open the store read-only, ``move`` opens it alone (the store logs the move for every daemon).
"""

from __future__ import annotations

import click

from ingestor.cli._common import ROW_ID, State, json_out, open_app, pass_state

__all__ = ["stories"]


@click.group()
def stories() -> None:
    """Show, compare and move stories."""


@stories.command("move")
@click.argument("story_id", type=ROW_ID)
@click.argument("event_id", type=ROW_ID)
@pass_state
def stories_move(state: State, story_id: int, event_id: int) -> None:
    """Move a story into another event, where it stays: the two events are kept apart."""
    with open_app(state) as app:
        left = app.move_story(story_id, event_id)
    click.echo(f"moved story {story_id} from event {left} to event {event_id}")


@stories.command("show")
@click.argument("story_id", type=ROW_ID)
@click.option("--json", "as_json", is_flag=True)
@pass_state
def stories_show(state: State, story_id: int, as_json: bool) -> None:
    """A story's full clean text, every earlier revision, its event, feed, URL and times."""
    from ingestor import render_ops

    with open_app(state) as app:
        detail = app.get_story(story_id)
    if as_json:
        json_out(render_ops.story_json(detail))
    else:
        click.echo(render_ops.story_text(detail))


@stories.command("diff")
@click.argument("a", type=ROW_ID)
@click.argument("b", type=ROW_ID)
@click.option(
    "--max-words",
    type=click.IntRange(min=1, max=100_000),
    default=5000,
    show_default=True,
    help="Words of each text compared; the diff says when it was cut.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_state
def stories_diff(state: State, a: int, b: int, max_words: int, as_json: bool) -> None:
    """A word diff of two stories' texts (two variants of one event, say): words only in A
    as [-...-], only in B as {+...+}."""
    from ingestor import render_ops

    with open_app(state) as app:
        old, new = app.get_story(a), app.get_story(b)
    if as_json:
        json_out(render_ops.diff_json(old, new, max_words=max_words))
    else:
        click.echo(render_ops.diff_text(old, new, max_words=max_words))
