"""``ingestor search`` and ``ingestor prune``: finding stories by their words, and retention.

Every command is one call of the library (``ingestor.app.Ingestor``): ``search`` opens the
store read-only, ``prune`` opens it alone (``--dry-run`` read-only); the store logs a prune so
every running daemon drops the pruned stories from its window at its next write.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from ingestor.cli._common import State, json_out, open_app, pass_state

__all__ = ["COMMANDS"]


@click.command("search")
@click.argument("query")
@click.option("--limit", type=click.IntRange(min=1, max=1000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_state
def search(state: State, query: str, limit: int, as_json: bool) -> None:
    """Stories whose title or text holds every word of QUERY, best first: story, event,
    time, source, title. Punctuation and search syntax in QUERY are ignored."""
    from ingestor import render_ops

    with open_app(state) as app:
        hits = app.search(query, limit=limit)
    if as_json:
        json_out(render_ops.search_json(hits))
    else:
        click.echo(render_ops.search_table(hits))


def _duration(_ctx: click.Context, _param: click.Parameter, value: str) -> timedelta:
    from ingestor import render_ops
    from ingestor.errors import ConfigError

    try:
        return render_ops.parse_duration(value)
    except ConfigError as error:
        raise click.BadParameter(str(error)) from error


@click.command("prune")
@click.option(
    "--older-than",
    required=True,
    callback=_duration,
    metavar="DURATION",
    help="Remove stories older than this: 90d, 12h, 2w (by published, else fetched, time).",
)
@click.option("--dry-run", is_flag=True, help="Count what would go; change nothing.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def prune(state: State, older_than: timedelta, dry_run: bool, as_json: bool) -> None:
    """Remove old stories with their revisions and search entries: an event that loses some
    gets its size and canonical story again, one that loses all is removed, and every
    clustering index follows. A pruned story that a feed still lists comes back as new."""
    cutoff = datetime.now(UTC) - older_than
    with open_app(state) as app:
        report = app.prune(cutoff, dry_run=dry_run)
    if as_json:
        json_out({
            "cutoff": report.cutoff.isoformat(), "dry_run": report.dry_run,
            "stories": report.stories, "events_removed": report.events_removed,
            "events_changed": report.events_changed,
        })  # fmt: skip
        return
    verb = "would remove" if dry_run else "removed"
    click.echo(
        f"{verb} {report.stories} stories before {report.cutoff:%Y-%m-%d %H:%M} UTC: "
        f"{report.events_removed} events emptied, {report.events_changed} events shrunk"
    )


COMMANDS = [search, prune]
