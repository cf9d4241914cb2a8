"""``ingestor events merge|split|delete|export``: the operator's curation of events, and the
export of every event.

Every command is one call of the library (``ingestor.app.Ingestor``), which opens the store
alone for these; the store logs each curation step, and every running daemon takes it in
before its next write.
"""

from __future__ import annotations

import click

from ingestor.cli._common import ID, State, open_app, pass_state

__all__ = ["COMMANDS"]


@click.command("merge")
@click.argument("into", type=ID)
@click.argument("gone", type=ID)
@pass_state
def events_merge(state: State, into: int, gone: int) -> None:
    """Fold event GONE into event INTO, for good: every daemon replays it like an automatic
    merge, and `events show GONE` names INTO."""
    with open_app(state) as app:
        app.merge_events(into, gone)
        size = app.get_event(into).event.size
    click.echo(f"merged event {gone} into event {into} ({size} stories)")


@click.command("split")
@click.argument("event_id", type=ID)
@click.argument("story_ids", nargs=-1, required=True, type=ID)
@pass_state
def events_split(state: State, event_id: int, story_ids: tuple[int, ...]) -> None:
    """Move the listed stories out of EVENT_ID into a new event, which automatic clustering
    never merges back into EVENT_ID."""
    with open_app(state) as app:
        new = app.split_event(event_id, list(story_ids))
    click.echo(f"split {len(set(story_ids))} stories off event {event_id} into event {new}")


@click.command("delete")
@click.argument("event_id", type=ID)
@pass_state
def events_delete(state: State, event_id: int) -> None:
    """Delete an event. Its stories are kept, in no event, so that the next poll of their
    feeds finds them as duplicates instead of bringing the event back."""
    with open_app(state) as app:
        count = app.delete_event(event_id)
    click.echo(f"deleted event {event_id} ({count} stories kept as known duplicates)")


COMMANDS = [events_merge, events_split, events_delete]
