"""The ``ingestor`` command: thin commands over the library.

Owns: argument parsing (click), turning errors into exit codes (0 ok, 1 error, 2 usage), and
choosing human tables or ``--json``. The only module that does; everything below raises
``IngestorError`` or returns values.

Does not: hold logic of its own. Heavy modules (the pipeline, numpy through datasketch,
SQLAlchemy, trafilatura) are imported inside the commands that need them, so ``ingestor --help``
answers at once.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from ingestor import __version__
from ingestor.errors import IngestorError

if TYPE_CHECKING:
    from ingestor.config import Settings
    from ingestor.pipeline import Pipeline
    from ingestor.store import Store

__all__ = ["cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class _State:
    config: Path | None = None
    flags: dict[str, Any] = field(default_factory=dict)
    _settings: Settings | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            from ingestor import logs
            from ingestor.config import load_settings

            self._settings = load_settings(self.config, flags=self.flags)
            logs.configure(fmt=self._settings.log_format, level=self._settings.log_level)
        return self._settings


class _Group(click.Group):
    """Turns every expected failure into one line on stderr and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IngestorError as error:
            _fail(str(error))


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


pass_state = click.make_pass_decorator(_State)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
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
    ctx.obj = _State(config=config, flags={k: v for k, v in flags.items() if v is not None})


@contextmanager
def _pipeline(state: _State, **kwargs: Any) -> Iterator[Pipeline]:
    from ingestor.pipeline import Pipeline

    pipeline = Pipeline.open(state.settings(), **kwargs)
    try:
        yield pipeline
    finally:
        pipeline.close()


@contextmanager
def _store(state: _State) -> Iterator[Store]:
    """The store for reading commands: opened, and refused if its schema is not current."""
    from ingestor.errors import SchemaError
    from ingestor.store import open_store

    settings = state.settings()
    store = open_store(settings.effective_database_url)
    try:
        status = store.schema_status()
        if status.current is None:
            raise SchemaError("the database is empty: run `ingestor run` or `ingestor db migrate`")
        if not status.up_to_date:
            raise SchemaError(
                f"database schema is at {status.current}, this version needs {status.head}: "
                "run `ingestor db migrate`"
            )
        yield store
    finally:
        store.close()


def _json_out(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


# -- run ---------------------------------------------------------------------------------------
@cli.command()
@click.option("--once", is_flag=True, help="Run a single pass over the due feeds and exit.")
@click.option(
    "--migrate/--no-migrate",
    default=None,
    help="Migrate an out-of-date schema first (default: the store_auto_migrate setting).",
)
@pass_state
def run(state: _State, once: bool, migrate: bool | None) -> None:
    """Start the daemon: poll the configured feeds as they fall due."""
    from ingestor.daemon import TickTotals, run_daemon, run_tick
    from ingestor.pipeline import utcnow

    settings = state.settings()
    with _pipeline(state, migrate=migrate, budget_workers=2) as pipeline:
        added = pipeline.store.sync_feeds(settings.feed_urls(), now=utcnow())
        if added:
            click.echo(f"added {added} configured feed(s)", err=True)
        if not once:
            # The daemon ends with its own summary line (``daemon_stopped``).
            run_daemon(pipeline, tick_s=settings.daemon.tick_s)
            return
        totals = TickTotals()
        run_tick(pipeline, totals)
        events = pipeline.store.counts().get("events", 0)
    from ingestor import render

    click.echo(
        f"polled {totals.feeds} feed(s): {render.counts_text(totals.counts)}, "
        f"{totals.errors} errors. {events} events in {settings.effective_database_url}.\n"
        "See them with `ingestor events list`, and one of them with `ingestor events show ID`.",
        err=True,
    )


# -- replay and eval ---------------------------------------------------------------------------
@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_state
def replay(state: _State, paths: tuple[Path, ...], as_json: bool) -> None:
    """Ingest feed files, article files (text or HTML) and JSONL(.gz) record streams.

    Directories are read recursively; archives (.tar, .tar.gz, .zip) are read in place."""
    from ingestor import render
    from ingestor.replay import count_replay

    total = count_replay(list(paths))
    with _pipeline(state) as pipeline, _progress(total, "replaying") as step:
        summary = pipeline.replay(list(paths), progress=step)
    seconds = round(summary.seconds, 2)
    if as_json:
        _json_out(
            {"items": summary.items, "errors": summary.errors}
            | summary.counts.as_dict()
            | {"seconds": seconds, "error_messages": summary.error_messages}
        )
        return
    for message in summary.error_messages[:20]:
        click.echo(f"skipped: {message}", err=True)
    click.echo(
        f"replayed {summary.items} item(s) in {seconds} s: {render.counts_text(summary.counts)}, "
        f"{summary.errors} unreadable."
    )


@cli.command("eval")
@click.argument("dataset", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option(
    "--assignments",
    type=click.Path(path_type=Path, dir_okay=False, writable=True),
    help='Write one {"id": ..., "event_id": ...} line per document here.',
)
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@pass_state
def eval_(state: _State, dataset: Path, assignments: Path | None, as_json: bool) -> None:
    """Score clustering on a labelled JSONL(.gz) stream (B-cubed and pairwise P/R/F1)."""
    from ingestor.pipeline import evaluate_dataset
    from ingestor.replay import count_replay

    total = count_replay([dataset])
    with _progress(total, "evaluating") as step:
        report = evaluate_dataset(dataset, state.settings(), assignments=assignments, progress=step)
    if as_json:
        _json_out(report.to_json())
    else:
        click.echo(report.to_table())


@contextmanager
def _progress(total: int | None, label: str) -> Iterator[Callable[[int], None]]:
    if not sys.stderr.isatty():
        yield lambda _n: None
        return
    with click.progressbar(length=total or 0, label=label, file=sys.stderr) as bar:
        yield bar.update


# -- events --------------------------------------------------------------------------------
@cli.group()
def events() -> None:
    """List and show events."""


@events.command("list")
@click.option("--since", help="Only events seen since: a time (2024-06-18T12:00Z) or 24h, 7d.")
@click.option("--min-size", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_state
def events_list(state: _State, since: str | None, min_size: int, limit: int, as_json: bool) -> None:
    """Events, newest first: id, size, first seen, canonical title."""
    from ingestor import render

    when = render.parse_since(since) if since else None
    with _store(state) as store:
        rows = store.list_events(since=when, min_size=min_size, limit=limit)
    if as_json:
        _json_out([render.event_json(e) for e in rows])
    else:
        click.echo(render.events_table(rows))


@events.command("show")
@click.argument("event_id", type=int)
@click.option("--explain", is_flag=True, help="Signals, scores and shared passages per variant.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def events_show(state: _State, event_id: int, explain: bool, as_json: bool) -> None:
    """The canonical story of an event and every variant, with how it joined."""
    from ingestor import render

    with _store(state) as store:
        detail = store.get_event(event_id)
    if as_json:
        _json_out(render.detail_json(detail, explain=explain))
    else:
        click.echo(render.detail_text(detail, explain=explain))


# -- feeds ---------------------------------------------------------------------------------
@cli.group()
def feeds() -> None:
    """List, add and remove feeds; import and export OPML."""


@feeds.command("list")
@click.option("--all", "include_removed", is_flag=True, help="Include removed feeds.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def feeds_list(state: _State, include_removed: bool, as_json: bool) -> None:
    """Every feed with its health: status, last poll, errors, next poll, last error."""
    from ingestor import render

    with _store(state) as store:
        rows = store.list_feeds(include_removed=include_removed)
    if as_json:
        _json_out([render.feed_json(f) for f in rows])
    else:
        click.echo(render.feeds_table(rows))


@feeds.command("add")
@click.argument("url")
@pass_state
def feeds_add(state: _State, url: str) -> None:
    """Add a feed by URL (http or https) or by the path of a local feed file."""
    from ingestor import render
    from ingestor.pipeline import utcnow

    target = render.feed_target(url)
    with _pipeline(state) as pipeline:
        feed = pipeline.store.add_feed(target, now=utcnow())
    click.echo(f"added {feed.url} (due now)")


@feeds.command("remove")
@click.argument("url")
@pass_state
def feeds_remove(state: _State, url: str) -> None:
    """Stop polling a feed. Its stories and events stay."""
    from ingestor import render

    target = render.feed_target(url)
    with _store(state) as store:
        if not store.remove_feed(target):
            _fail(f"no such feed: {target}")
    if target in state.settings().feed_urls():
        click.echo("note: it is still in the configuration; it stays removed until `feeds add`.")
    click.echo(f"removed {target}")


# -- feeds import/export: OPML (self-contained; the parsing and writing live in ingestor.opml) --
@feeds.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print what was added and refused as JSON.")
@pass_state
def feeds_import(state: _State, file: Path, as_json: bool) -> None:
    """Add every feed an OPML file lists (FILE may be - for stdin).

    Folders are flattened. Only http and https feeds are taken: any other URL (file:, ...) is
    refused and reported. A feed the store already knows is left as it is, a removed one
    included (`feeds add URL` brings that back)."""
    from ingestor import opml
    from ingestor.pipeline import utcnow

    try:
        if str(file) == "-":
            data = sys.stdin.buffer.read(opml.MAX_BYTES + 1)
        else:
            with file.open("rb") as fh:
                data = fh.read(opml.MAX_BYTES + 1)
    except OSError as e:
        _fail(f"cannot read {file}: {e.strerror}")
    listed = opml.read_opml(data)
    added: list[str] = []
    present: list[str] = []
    removed = 0
    with _pipeline(state) as pipeline:
        for url, title in listed.feeds:
            known = pipeline.store.get_feed(url)
            if known is not None:
                present.append(url)
                removed += known.status == "removed"
                continue
            pipeline.store.add_feed(url, now=utcnow(), title=title)
            added.append(url)
    refused = [{"url": r.url, "reason": r.reason} for r in listed.refused]
    if as_json:
        _json_out(
            {
                "added": len(added),
                "present": len(present),
                "refused": len(refused),
                "added_urls": added,
                "present_urls": present,
                "refused_feeds": refused,
            }
        )
        return
    for item in refused:
        click.echo(f"refused: {item['url']} ({item['reason']})", err=True)
    click.echo(f"{len(added)} added, {len(present)} already present, {len(refused)} refused")
    if removed:
        click.echo(
            f"note: {removed} of those already present were removed earlier and stay removed; "
            "`ingestor feeds add URL` brings one back.",
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
def feeds_export(state: _State, output: Path | None) -> None:
    """Write the feeds (not the removed ones) as OPML 2.0, to stdout by default.

    Local feed files are left out: an OPML file is for other readers, and a path means nothing
    on another machine."""
    from datetime import UTC, datetime

    from ingestor import opml

    with _store(state) as store:
        rows = store.list_feeds()
    document = opml.write_opml(((f.url, f.title) for f in rows), created=datetime.now(UTC))
    local = sum(1 for f in rows if opml.feed_url_problem(f.url) is not None)
    if output is None:
        click.echo(document, nl=False)  # bytes go to the binary stream as they are
    else:
        try:
            output.write_bytes(document)
        except OSError as e:
            _fail(f"cannot write {output}: {e.strerror}")
        click.echo(f"exported {len(rows) - local} feed(s) to {output}", err=True)
    if local:
        click.echo(f"note: {local} local feed file(s) left out", err=True)


# -- index ---------------------------------------------------------------------------------
@cli.group()
def index() -> None:
    """The clustering index: check it against the store, rebuild it."""


@index.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def index_status(state: _State, as_json: bool) -> None:
    """Stories in the window, stale signatures, and the LSH index against the store."""
    with _pipeline(state, migrate=False) as pipeline:
        clusterer = pipeline.clusterer
        keys = clusterer.index.story_ids()
        out = {
            "fingerprint": pipeline.fp_policy.version,
            "backend": "redis" if clusterer.index.shared else "memory",
            "namespace": clusterer.index.namespace,
            "window_stories": clusterer.stories,
            "window_events": clusterer.events,
            "stale_signatures": pipeline.stale_signatures,
            "index_keys": len(keys),
        }
    if as_json:
        _json_out(out)
        return
    for key, value in out.items():
        click.echo(f"{key:>17}: {value}")


@index.command("rebuild")
@pass_state
def index_rebuild(state: _State) -> None:
    """Recompute stale signatures and rebuild the LSH index from the store."""
    from ingestor.pipeline import utcnow

    with _pipeline(state, migrate=False) as pipeline:
        report = pipeline.rebuild_index(now=utcnow())
    click.echo(
        f"recomputed {report['resigned']} signature(s); indexed {report['stories']} stories "
        f"in {report['events']} events ({report['indexed']} LSH keys)"
    )


# -- database ------------------------------------------------------------------------------
@cli.group()
def db() -> None:
    """Schema status and migrations."""


@db.command("status")
@pass_state
def db_status(state: _State) -> None:
    """Show the schema revision and the rows per table."""
    from ingestor.store import open_store

    store = open_store(state.settings().effective_database_url)
    try:
        status = store.schema_status()
        click.echo(f"database: {store.url}")
        click.echo(f"schema:   {status.current or 'empty'} (this version needs {status.head})")
        if status.up_to_date:
            for table, count in store.counts().items():
                click.echo(f"{table:>12}: {count}")
    finally:
        store.close()


@db.command("migrate")
@pass_state
def db_migrate(state: _State) -> None:
    """Bring the schema up to date (creates it on an empty database)."""
    from ingestor.store import open_store

    store = open_store(state.settings().effective_database_url)
    try:
        before = store.schema_status().current
        status = store.migrate()
        click.echo(f"schema {before or 'empty'} -> {status.current}")
    finally:
        store.close()


def main() -> None:
    cli(prog_name="ingestor")
