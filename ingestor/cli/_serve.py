"""``ingestor serve``, and the server half of ``ingestor run --serve``.

The web stack (``ingestor.web``: FastAPI, uvicorn, Jinja2, prometheus_client) is imported inside
these functions only, so no other command loads it.
"""

from __future__ import annotations

import click

from ingestor.cli._common import State, open_app, pass_state

__all__ = ["run_with_server", "serve"]


@click.command()
@click.option("--host", help="Address to listen on (default: the serve_host setting, 127.0.0.1).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help="Port to listen on (default: the serve_port setting, 8080).",
)
@pass_state
def serve(state: State, host: str | None, port: int | None) -> None:
    """Serve the events: the page at /, the JSON API under /api, /events.atom, /events.json,
    /metrics and /healthz, and the curation actions (serve.actions). Reads the store
    read-only; an action opens it for writing. Ctrl-C stops it."""
    from ingestor.web import close_actions, create_app
    from ingestor.web import serve as serve_app

    state.flags.update({"serve_host": host, "serve_port": port})
    settings = state.settings()
    with open_app(state) as app:
        app.counts()  # the store opens (read-only) and its schema is checked, before listening
        web = create_app(app, token=settings.serve.token, actions=settings.serve.actions,
                         hosts=(settings.serve.host,))  # fmt: skip
        click.echo(
            f"serving {settings.effective_database_url} on "
            f"http://{settings.serve.host}:{settings.serve.port}/ (Ctrl-C stops)",
            err=True,
        )
        try:
            serve_app(web, host=settings.serve.host, port=settings.serve.port)
        finally:
            close_actions(web)


def run_with_server(state: State, app: object) -> None:
    """The daemon over ``app`` with the server in a thread beside it, over a read-only
    ``Ingestor`` of its own; the server's metrics count the daemon's ticks."""
    from ingestor.app import Ingestor
    from ingestor.daemon import run_daemon
    from ingestor.web import Metrics, ServerThread, close_actions, create_app

    assert isinstance(app, Ingestor)
    settings = state.settings()
    with open_app(state) as reader:
        reader.counts()
        metrics = Metrics(reader, indexed=lambda: app.indexed_events, tick_s=settings.daemon.tick_s)
        web = create_app(reader, token=settings.serve.token, metrics=metrics,
                         actions=settings.serve.actions, hosts=(settings.serve.host,))  # fmt: skip
        server = ServerThread(web, host=settings.serve.host, port=settings.serve.port).start()
        click.echo(f"serving on http://{settings.serve.host}:{server.port}/", err=True)
        try:
            run_daemon(app, tick_s=settings.daemon.tick_s, on_results=metrics.observe_tick)
        finally:
            server.stop()
            close_actions(web)
