"""``ingestor search`` and ``ingestor prune``: finding stories by their words, and retention.

Every command is one call of the library (``ingestor.app.Ingestor``): ``search`` opens the
store read-only, ``prune`` opens it alone (``--dry-run`` read-only); the store logs a prune so
every running daemon drops the pruned stories from its window at its next write.
"""

from __future__ import annotations

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


COMMANDS = [search]
