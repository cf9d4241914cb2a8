"""``ingestor feeds``: the feed list and its health, curated one feed or one OPML file at a time.

Every command is one call of the library (``ingestor.app.Ingestor``), which opens the store
alone for these: no clustering window, no shared index.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ingestor.cli._common import State, fail, json_out, open_app, pass_state

__all__ = ["feeds"]


@click.group()
def feeds() -> None:
    """List, add and remove feeds; import and export OPML."""


@feeds.command("list")
@click.option("--all", "include_removed", is_flag=True, help="Include removed feeds.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def feeds_list(state: State, include_removed: bool, as_json: bool) -> None:
    """Every feed with its health: status, last poll, errors, next poll, last error."""
    from ingestor import render

    with open_app(state) as app:
        rows = app.list_feeds(include_removed=include_removed)
    if as_json:
        json_out([render.feed_json(f) for f in rows])
    else:
        click.echo(render.feeds_table(rows))


@feeds.command("add")
@click.argument("url")
@pass_state
def feeds_add(state: State, url: str) -> None:
    """Add a feed by URL (http or https) or by the path of a local feed file."""
    from ingestor import render

    target = render.feed_target(url)
    with open_app(state) as app:
        feed = app.add_feed(target)
    click.echo(f"added {feed.url} (due now)")


@feeds.command("remove")
@click.argument("url")
@pass_state
def feeds_remove(state: State, url: str) -> None:
    """Stop polling a feed. Its stories and events stay."""
    from ingestor import render

    target = render.feed_target(url)
    with open_app(state) as app:
        if not app.remove_feed(target):
            fail(f"no such feed: {target}")
    if target in state.settings().feed_urls():
        click.echo("note: it is still in the configuration; it stays removed until `feeds add`.")
    click.echo(f"removed {target}")


@feeds.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print what was added and refused as JSON.")
@pass_state
def feeds_import(state: State, file: Path, as_json: bool) -> None:
    """Add every feed an OPML file lists (FILE may be - for stdin).

    Folders are flattened. Only http and https feeds are taken: any other URL (file:, ...) is
    refused and reported. A feed the store already knows is left as it is, a removed one
    included (`feeds add URL` brings that back)."""
    from ingestor.app import OPML_MAX_BYTES

    try:
        if str(file) == "-":
            data = sys.stdin.buffer.read(OPML_MAX_BYTES + 1)
        else:
            with file.open("rb") as fh:
                data = fh.read(OPML_MAX_BYTES + 1)
    except OSError as e:
        fail(f"cannot read {file}: {e.strerror}")
    with open_app(state) as app:
        done = app.import_opml(data)
    if as_json:
        json_out(done.to_json())
        return
    for item in done.refused:
        click.echo(f"refused: {item.url} ({item.reason})", err=True)
    click.echo(
        f"{len(done.added)} added, {len(done.present)} already present, {len(done.refused)} refused"
    )
    if done.removed:
        click.echo(
            f"note: {done.removed} of those already present were removed earlier and stay "
            "removed; `ingestor feeds add URL` brings one back.",
            err=True,
        )


@feeds.command("export")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False, writable=True),
    help="Write the OPML here instead of to stdout.",
)
@pass_state
def feeds_export(state: State, output: Path | None) -> None:
    """Write the feeds (not the removed ones) as OPML 2.0, to stdout by default.

    Local feed files are left out: an OPML file is for other readers, and a path means nothing
    on another machine."""
    with open_app(state) as app:
        export = app.export_opml()
    if output is None:
        click.echo(export.document, nl=False)  # bytes go to the binary stream as they are
    else:
        try:
            output.write_bytes(export.document)
        except OSError as e:
            fail(f"cannot write {output}: {e.strerror}")
        click.echo(f"exported {export.exported} feed(s) to {output}", err=True)
    if export.local:
        click.echo(f"note: {export.local} local feed file(s) left out", err=True)
