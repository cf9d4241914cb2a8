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
    """List, show, add and remove feeds; refresh or reset them; import and export OPML."""


@feeds.command("list")
@click.option("--all", "include_removed", is_flag=True, help="Include removed feeds.")
@click.option("--failing", is_flag=True, help="Only feeds whose last poll failed.")
@click.option("--json", "as_json", is_flag=True, help="Every field, the last error whole.")
@pass_state
def feeds_list(state: State, include_removed: bool, failing: bool, as_json: bool) -> None:
    """Every feed with its health: status, last poll, errors, next poll, last error (cut; `feeds
    show URL` or --json gives it whole)."""
    from ingestor import render

    with open_app(state) as app:
        rows = app.list_feeds(include_removed=include_removed, failing=failing)
    if as_json:
        json_out([render.feed_json(f) for f in rows])
    else:
        click.echo(render.feeds_table(rows))


@feeds.command("show")
@click.argument("url")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def feeds_show(state: State, url: str, as_json: bool) -> None:
    """One feed's health, its last error whole."""
    from ingestor import render

    with open_app(state) as app:
        feed = app.get_feed(render.feed_target(url))
    if as_json:
        json_out(render.feed_json(feed))
    else:
        click.echo(render.feed_text(feed))


@feeds.command("add")
@click.argument("url")
@pass_state
def feeds_add(state: State, url: str) -> None:
    """Add a feed by URL (http or https) or by the path of a local feed file. Scheme and host
    case and a default port do not make another feed."""
    from ingestor import render

    target = render.feed_target(url)
    with open_app(state) as app:
        done = app.add_feed(target)
    said = {"added": "added", "revived": "revived", "present": "already present:"}
    click.echo(f"{said[done.outcome]} {done.feed.url} (due now)")


@feeds.command("refresh")
@click.argument("url", required=False)
@click.option("--all", "every", is_flag=True, help="Every active feed.")
@pass_state
def feeds_refresh(state: State, url: str | None, every: bool) -> None:
    """Make a feed (or --all active feeds) due now; its error count and backoff stay (`feeds
    reset URL` clears them)."""
    from ingestor import render

    if (url is None) == (not every):
        raise click.UsageError("give a feed URL or --all (not both)")
    with open_app(state) as app:
        count = app.refresh_feeds(render.feed_target(url) if url else None)
    if url is not None and count == 0:
        fail(f"{url} is not active (parked, gone or removed): `ingestor feeds reset URL`")
    click.echo(f"{count} feed(s) due now; `ingestor run --once` polls them")


@feeds.command("reset")
@click.argument("url")
@pass_state
def feeds_reset(state: State, url: str) -> None:
    """Clear a feed's errors and backoff and make it due now (a parked or gone feed becomes
    active again; a removed one stays removed: `feeds add URL` brings it back)."""
    from ingestor import render

    with open_app(state) as app:
        feed = app.reset_feed(render.feed_target(url))
    note = " (still removed: `ingestor feeds add URL` brings it back)"
    click.echo(f"reset {feed.url}: no errors, due now" + (note if feed.status == "removed" else ""))


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
    if any(render.same_feed(target, u) for u in state.settings().feed_urls()):
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
