"""The ``ingestor`` command: thin commands over the library.

Owns: argument parsing (click), turning errors into exit codes (0 ok, 1 error, 2 usage), and
choosing human tables or ``--json``. The only package that does; everything below raises
``IngestorError`` or returns values. The ``feeds`` commands are in ``_feeds``, the curation
and export of events in ``_events``, ``stories`` in ``_stories``, ``search`` and ``prune`` in
``_ops``, ``serve`` in ``_serve``, what every command shares in ``_common``.

Does not: hold logic of its own: every command is one call of ``ingestor.app.Ingestor`` (the
library facade, which opens only what that operation needs) and the rendering of its answer.
Heavy modules (the pipeline, numpy through datasketch, SQLAlchemy, trafilatura) are imported
inside the commands that need them, so ``ingestor --help`` answers at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ingestor import __version__
from ingestor.cli._common import (
    COUNT,
    OFFSET,
    ROW_ID,
    Group,
    State,
    command_name,
    fail,
    json_out,
    open_app,
    pass_state,
    progress,
)
from ingestor.cli._events import COMMANDS as EVENT_COMMANDS
from ingestor.cli._feeds import feeds
from ingestor.cli._ops import COMMANDS as OPERATOR_COMMANDS
from ingestor.cli._serve import run_with_server, serve
from ingestor.cli._stories import stories

__all__ = ["cli", "main"]


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ingestor")
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Settings file (default: $INGESTOR_CONFIG, else ./config/ingestor.toml if present).",
)
@click.option("--database-url", help="SQLAlchemy URL; overrides INGESTOR_DATABASE_URL.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where the SQLite file lives.")
@click.option("--log-format", type=click.Choice(["auto", "json", "console"]))
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]))
@click.pass_context
def cli(ctx: click.Context, /, config: Path | None, **flags: Any) -> None:
    """ingestor: poll news feeds and fold every copy and rewrite of a story into one event."""
    ctx.obj = State(config=config, flags={k: v for k, v in flags.items() if v is not None})


# -- run ---------------------------------------------------------------------------------------
@cli.command()
@click.option("--once", is_flag=True, help="Run a single pass over the due feeds and exit.")
@click.option(
    "--migrate/--no-migrate",
    default=None,
    help="Migrate an out-of-date schema first (default: the store_auto_migrate setting).",
)
@click.option(
    "--serve",
    "with_server",
    is_flag=True,
    help="Also serve the page and the API (the serve_* settings), in a thread beside the daemon.",
)
@pass_state
def run(state: State, once: bool, migrate: bool | None, with_server: bool) -> None:
    """Start the daemon: poll the configured feeds as they fall due."""
    from ingestor import render
    from ingestor.daemon import TickTotals, run_daemon, run_tick

    if once and with_server:
        raise click.UsageError("--serve runs beside the daemon; it cannot go with --once")
    settings = state.settings()
    with open_app(state, migrate=migrate, budget_workers=2) as app:
        added = app.sync_feeds()
        if added:
            click.echo(f"added {added} configured feed(s)", err=True)
        if not once:
            app.start()  # the window is loaded (and a shared index checked) before it starts
            # The daemon ends with its own summary line (``daemon_stopped``).
            if with_server:
                run_with_server(state, app)
            else:
                run_daemon(app, tick_s=settings.daemon.tick_s)
            return
        totals = TickTotals()
        run_tick(app, totals)
        events = app.counts().get("events", 0)

    me = command_name()
    click.echo(
        f"polled {totals.feeds} feed(s): {render.counts_text(totals.counts)}, "
        f"{totals.errors} errors. {events} events in {settings.effective_database_url}.\n"
        f"See them with `{me} events list`, and one of them with `{me} events show ID`.",
        err=True,
    )
    if totals.feeds and totals.errors == totals.feeds:
        fail(f"every polled feed failed ({totals.errors}); `{me} feeds list --failing` says why")


_WORKERS = click.option(
    "--workers",
    type=click.IntRange(min=0, max=64),
    default=0,
    show_default=True,
    metavar="N",
    help="Parse, normalize and fingerprint in N worker processes (each input under the parse "
    "time budget); 0 runs them in this process. Results are the same for every N.",
)


# -- replay and eval ---------------------------------------------------------------------------
@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@_WORKERS
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_state
def replay(state: State, paths: tuple[Path, ...], workers: int, as_json: bool) -> None:
    """Ingest feed files, article files (text or HTML) and JSONL(.gz) record streams.

    Directories are read recursively; archives (.tar, .tar.gz, .zip) are read in place."""
    from ingestor import render

    with (
        open_app(state, budget_workers=workers) as app,
        progress(app.count_inputs(paths), "replaying") as step,
    ):
        summary = app.replay(list(paths), progress=step)
    seconds = round(summary.seconds, 2)
    if as_json:
        json_out(
            {"items": summary.items, "errors": summary.errors}
            | summary.counts.as_dict()
            | {"seconds": seconds, "error_messages": summary.error_messages}
        )
    else:
        for message in summary.error_messages[:20]:
            click.echo(f"skipped: {message}", err=True)
        if len(summary.error_messages) > 20:
            click.echo(f"skipped: ... and {len(summary.error_messages) - 20} more", err=True)
        click.echo(
            f"replayed {summary.items} item(s) in {seconds} s: "
            f"{render.counts_text(summary.counts)}, {summary.errors} unreadable."
        )
    if summary.items == summary.errors:
        fail(
            f"nothing replayed: all {summary.errors} input(s) were skipped"
            if summary.errors
            else "nothing replayed: no feed, article or stream found"
        )


@cli.command("eval")
@click.argument("dataset", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option(
    "--assignments",
    type=click.Path(path_type=Path, dir_okay=False, writable=True),
    help='Write one {"id": ..., "event_id": ...} line per document here.',
)
@click.option(
    "--story-days",
    type=click.FloatRange(min=0.0, min_open=True, max=3650.0),
    metavar="N",
    help="Also score against story-level labels: a gold event split wherever two consecutive "
    "documents lie more than N days apart (the datasets README's rule; 3 for gva).",
)
@_WORKERS
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@pass_state
def eval_(
    state: State,
    dataset: Path,
    assignments: Path | None,
    story_days: float | None,
    workers: int,
    as_json: bool,
) -> None:
    """Score clustering on a labelled JSONL(.gz) stream (B-cubed and pairwise P/R/F1)."""
    with open_app(state) as app, progress(app.count_inputs([dataset]), "evaluating") as step:
        report = app.evaluate(
            dataset, assignments=assignments, progress=step, story_days=story_days,
            workers=workers,
        )  # fmt: skip
    if as_json:
        json_out(report.to_json())
    else:
        click.echo(report.to_table())


# -- events --------------------------------------------------------------------------------
@cli.group()
def events() -> None:
    """List, show, curate and export events."""


for _command in EVENT_COMMANDS:  # merge, split, delete, export (``_events``)
    events.add_command(_command)


@events.command("list")
@click.option(
    "--since",
    help="Only events a story joined since (ingestion time): a time (2024-06-18T12:00Z) or 24h, "
    "7d.",
)
@click.option("--min-size", type=COUNT, default=1, show_default=True)
@click.option("--limit", type=COUNT, default=50, show_default=True)
@click.option("--offset", type=OFFSET, default=0, show_default=True, help="Rows to skip first.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def events_list(
    state: State, since: str | None, min_size: int, limit: int, offset: int, as_json: bool
) -> None:
    """Events, newest first by last seen: id, size, sources, last and first seen, canonical
    title; says which rows of how many it shows when there are more."""
    from ingestor import render

    when = render.parse_since(since) if since else None
    with open_app(state) as app:
        rows = app.list_events(since=when, min_size=min_size, limit=limit, offset=offset)
        total = app.count_events(since=when, min_size=min_size) if not as_json else None
    if as_json:
        json_out([render.event_json(e) for e in rows])
    else:
        click.echo(render.events_table(rows, total=total, offset=offset))


@events.command("show")
@click.argument("event_id", type=ROW_ID)
@click.option("--explain", is_flag=True, help="Signals, scores and shared passages per variant.")
@click.option(
    "--variants",
    "limit",
    type=COUNT,
    default=50,
    show_default=True,
    metavar="N",
    help="Show (and explain) at most N variants, the canonical story among them.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_state
def events_show(state: State, event_id: int, explain: bool, limit: int, as_json: bool) -> None:
    """The canonical story of an event and its variants, with how each joined. An event merged
    into another shows that one."""
    from ingestor import render

    with open_app(state) as app:
        detail = app.get_event(event_id)
        score = app.score_description() if explain else None
    merged = detail.event.id != event_id
    if as_json:
        out = render.detail_json(detail, explain=explain, score=score, limit=limit)
        json_out(out | {"merged_from": event_id} if merged else out)
        return
    if merged:
        click.echo(f"Event {event_id} was merged into event {detail.event.id}; showing that.\n")
    click.echo(render.detail_text(detail, explain=explain, score=score, limit=limit))


# -- index ---------------------------------------------------------------------------------
@cli.group()
def index() -> None:
    """The clustering index: check it against the store, rebuild it."""


@index.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def index_status(state: State, as_json: bool) -> None:
    """Stories in the window, stale signatures, and the LSH index against the store."""
    from dataclasses import asdict

    with open_app(state) as app:
        out = asdict(app.index_status())
    if as_json:
        json_out(out)
        return
    for key, value in out.items():
        click.echo(f"{key:>17}: {value}")


@index.command("rebuild")
@pass_state
def index_rebuild(state: State) -> None:
    """Recompute stale signatures and rebuild the LSH index from the store."""
    with open_app(state, migrate=False) as app:
        report = app.rebuild_index()
    click.echo(
        f"recomputed {report['resigned']} signature(s); indexed {report['stories']} stories "
        f"in {report['events']} events ({report['indexed']} LSH keys)"
    )


# -- database ------------------------------------------------------------------------------
@cli.group()
def db() -> None:
    """Schema status and migrations."""


@db.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def db_status(state: State, as_json: bool) -> None:
    """Show the schema revision and the rows per table."""
    with open_app(state) as app:
        status = app.db_status()
    if as_json:
        schema = status.schema
        json_out(
            {"database": status.url, "current": schema.current, "head": schema.head}
            | {"up_to_date": schema.up_to_date, "counts": status.counts}
        )
        return
    click.echo(f"database: {status.url}")
    schema = status.schema
    click.echo(f"schema:   {schema.current or 'empty'} (this version needs {schema.head})")
    for table, count in (status.counts or {}).items():
        click.echo(f"{table:>12}: {count}")


@db.command("migrate")
@pass_state
def db_migrate(state: State) -> None:
    """Bring the schema up to date (creates it on an empty database)."""
    with open_app(state) as app:
        before, status = app.migrate_db()
    click.echo(f"schema {before or 'empty'} -> {status.current}")


cli.add_command(feeds)
cli.add_command(serve)
cli.add_command(stories)
for _command in OPERATOR_COMMANDS:  # search, prune (``_ops``)
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="ingestor")
