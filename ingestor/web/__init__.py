"""The HTTP server: a web page, a JSON API, deduplicated Atom and JSON Feed, metrics and health.

Owns: ``create_app`` (a FastAPI application over one ``ingestor.app.Ingestor``), ``serve`` and
``ServerThread`` (uvicorn), and ``Metrics`` (prometheus_client). FastAPI, Starlette, uvicorn,
Jinja2 and prometheus_client are imported here and nowhere else, and only by ``ingestor
serve`` and ``ingestor run --serve``: no other command loads them.

Modules: ``_app`` (the application, error handling, access log, security headers, the bearer
token, ``/metrics`` and ``/healthz``), ``_api`` (``/api/...``), ``_pages`` (``/``,
``/events/{id}``, ``/events.atom``, ``/events.json``), ``_syndication`` (the feed documents,
pure), ``_text`` (cleaning, safe links, the cursor and the word diff, pure), ``_metrics`` and
``_server``, ``_guard``, ``_actions`` and ``_forms``; ``templates/`` and ``static/`` hold the
pages' Jinja2 templates and stylesheet.

Writes only through the curation actions (``_actions``: the API's POST/DELETE, ``_forms``: the
event page's forms), each guarded by ``_guard`` (``serve.actions``, Host and Origin, a CSRF token,
``serve.token``) and run on a second, writable ``Ingestor`` opened at the first action. Every
GET reads through the server's own ``Ingestor``, which opens the store read-only.
"""

from __future__ import annotations

from ingestor.web._app import close_actions, create_app
from ingestor.web._metrics import Metrics
from ingestor.web._server import ServerThread, serve

__all__ = ["Metrics", "ServerThread", "close_actions", "create_app", "serve"]
