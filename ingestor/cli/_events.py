"""``ingestor events merge|split|delete|export``: the operator's curation of events, and the
export of every event.

Every command is one call of the library (``ingestor.app.Ingestor``), which opens the store
alone for these; the store logs each curation step, and every running daemon takes it in
before its next write.
"""

from __future__ import annotations

import csv
import json
from typing import TextIO

import click

from ingestor.cli._common import ROW_ID, State, open_app, pass_state

__all__ = ["COMMANDS"]


@click.command("merge")
@click.argument("into", type=ROW_ID)
@click.argument("gone", type=ROW_ID)
@pass_state
def events_merge(state: State, into: int, gone: int) -> None:
    """Fold event GONE into event INTO, for good: every daemon replays it like an automatic
    merge, and `events show GONE` names INTO."""
    with open_app(state) as app:
        app.merge_events(into, gone)
        size = app.get_event(into).event.size
    click.echo(f"merged event {gone} into event {into} ({size} stories)")


@click.command("split")
@click.argument("event_id", type=ROW_ID)
@click.argument("story_ids", nargs=-1, required=True, type=ROW_ID)
@pass_state
def events_split(state: State, event_id: int, story_ids: tuple[int, ...]) -> None:
    """Move the listed stories out of EVENT_ID into a new event, which automatic clustering
    never merges back into EVENT_ID."""
    with open_app(state) as app:
        new = app.split_event(event_id, list(story_ids))
    click.echo(f"split {len(set(story_ids))} stories off event {event_id} into event {new}")


@click.command("delete")
@click.argument("event_id", type=ROW_ID)
@pass_state
def events_delete(state: State, event_id: int) -> None:
    """Delete an event. Its stories are kept, in no event, so that the next poll of their
    feeds finds them as duplicates instead of bringing the event back."""
    with open_app(state) as app:
        count = app.delete_event(event_id)
    click.echo(f"deleted event {event_id} ({count} stories kept as known duplicates)")


@click.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True
)
@click.option(
    "--output",
    type=click.File("w", encoding="utf-8", lazy=True),
    default="-",
    help="Write here instead of standard output.",
)
@click.option(
    "--since", help="Only events a story joined since: a time (2024-06-18T12:00Z) or 24h, 7d."
)
@click.option("--min-size", type=click.IntRange(min=1, max=2**31), default=1, show_default=True)
@click.option("--no-variants", is_flag=True, help="JSON Lines: leave out each event's variants.")
@pass_state
def events_export(
    state: State, fmt: str, output: TextIO, since: str | None, min_size: int, no_variants: bool
) -> None:
    """Every event, one JSON object (with its variants) or CSV row per line, by id: id, size,
    first and last seen, canonical story, title, URL, source, and every source. Streamed:
    events are read a page at a time. CSV cells that a spreadsheet would take for a formula
    are prefixed with a quote."""
    from ingestor import render, render_ops

    when = render.parse_since(since) if since else None
    count = 0
    with open_app(state) as app:
        rows = app.export_events(since=when, min_size=min_size)
        if fmt == "csv":
            writer = csv.writer(output, lineterminator="\n")
            writer.writerow(render_ops.CSV_FIELDS)
            for event in rows:
                writer.writerow(render_ops.csv_row(event))
                count += 1
        else:
            for event in rows:
                line = json.dumps(
                    render_ops.export_json(event, variants=not no_variants), ensure_ascii=False
                )
                output.write(line + "\n")
                count += 1
    output.flush()
    click.echo(f"exported {count} events", err=True)


COMMANDS = [events_merge, events_split, events_delete, events_export]
