"""The HTTP server: a web page, a JSON API, deduplicated Atom and JSON Feed, metrics and health.

Owns: ``create_app`` (a FastAPI application over one ``ingestor.app.Ingestor``), ``serve`` and
``ServerThread`` (uvicorn), and ``Metrics`` (prometheus_client). FastAPI, Starlette, uvicorn,
Jinja2 and prometheus_client are imported here and nowhere else, and only by ``ingestor
serve`` and ``ingestor run --serve``: no other command loads them.

Modules: ``_app`` (the application, error handling, access log, security headers, the bearer
token, ``/metrics`` and ``/healthz``), ``_api`` (``/api/...``), ``_pages`` (``/``,
``/events/{id}``, ``/events.atom``, ``/events.json``), ``_syndication`` (the feed documents,
pure), ``_text`` (cleaning, safe links, the cursor and the word diff, pure), ``_metrics`` and
``_server``; ``templates/`` and ``static/`` hold the pages' Jinja2 templates and stylesheet.

Does not: write. Every endpoint reads through the facade; a server started by ``ingestor
serve`` opens the store read-only, so it cannot write even by mistake.
"""

from __future__ import annotations

from ingestor.web._app import create_app
from ingestor.web._metrics import Metrics
from ingestor.web._server import ServerThread, serve

__all__ = ["Metrics", "ServerThread", "create_app", "serve"]
