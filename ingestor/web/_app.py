"""The ASGI application: FastAPI routes over one ``Ingestor``, Jinja2 pages, static CSS.

Owns: ``create_app`` (routers, error handlers, the access log, security headers, the optional
bearer token), and the two operations endpoints, ``/metrics`` and ``/healthz``. The API is in
``_api``, the pages and the output feeds in ``_pages``.

Does not: open the store (the ``Ingestor`` it is given does, read-only for a server of its
own) or write through it: every GET reads through the facade; the curation actions
(``_actions``, ``_forms``, guarded by ``_guard``) write through a second ``Ingestor`` opened at
the first action. Errors: an ``IngestorError`` becomes a status (``NotFound`` 404,
``ConfigError`` and ``Refused`` 400, anything else 503)
with a one-line JSON ``error`` (HTML for the pages); bad parameters are FastAPI's 422.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingestor import __version__
from ingestor.app import Ingestor
from ingestor.errors import ConfigError, IngestorError, NotFound, Refused, one_line
from ingestor.web._guard import Actions
from ingestor.web._metrics import CONTENT_TYPE, Metrics, health
from ingestor.web._text import clean

__all__ = ["SECURITY_HEADERS", "close_actions", "create_app", "require_token"]

log = structlog.get_logger()
HERE = Path(__file__).resolve().parent
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}
"""On every response: no script runs at all (the pages need none), styles only from /static,
forms post only here. The referrer goes to this server only: with ``no-referrer`` a browser
sends ``Origin: null`` on a form's POST, which ``_guard`` refuses like any foreign origin."""

_bearer = HTTPBearer(auto_error=False, description="serve.token, when it is set")


class AccessLog:
    """Plain ASGI middleware: the security headers on every response, and one
    ``http_request`` log line per request (method, path, status, time)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = scope.get("client")
            log.info(
                "http_request",
                method=scope["method"],
                path=scope["path"],
                query=scope.get("query_string", b"").decode("latin-1"),
                status=status,
                client=client[0] if client else None,
                elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
            )


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """With ``serve.token`` set, the request must carry ``Authorization: Bearer <token>``
    (compared in constant time); 401 otherwise."""
    token: str = request.app.state.token
    if not token:
        return
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise HTTPException(401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path.endswith((".json", ".atom")) or path == "/healthz"


def _error(request: Request, status: int, message: str, **extra: Any) -> Response:
    headers = extra.pop("headers", None)
    if _wants_json(request):
        return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message}, status_code=status,
        headers=headers,
    )  # fmt: skip


def close_actions(web: FastAPI) -> None:
    """Close the writer the curation actions opened, if any."""
    web.state.actions.close()


def environment() -> Environment:
    """Jinja2 with autoescape on for every template, and ``clean`` as a filter."""
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
    env.filters["clean"] = lambda text, limit=0: clean(text, limit=limit)
    return env


def create_app(
    app: Ingestor,
    *,
    token: str = "",
    metrics: Metrics | None = None,
    clock: Any = None,
    actions: bool = True,
    hosts: Iterable[str] = (),
) -> FastAPI:
    """The server over ``app``; ``metrics`` when a daemon in this process feeds one.
    ``actions``: the curation forms and endpoints (``_guard``), which accept requests whose
    ``Host`` is an IP address, ``localhost`` or one of ``hosts``. ``close_actions`` closes
    what they opened (the lifespan does it when it runs)."""
    from ingestor.web._actions import router as curation
    from ingestor.web._api import router as api
    from ingestor.web._forms import router as forms
    from ingestor.web._pages import router as pages

    curator = Actions(app, enabled=actions, token=token, hosts=hosts)

    @asynccontextmanager
    async def lifespan(_web: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            curator.close()

    web = FastAPI(
        title="ingestor",
        version=__version__,
        summary="Deduplicated news events: one event per story, every variant linked.",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    web.state.ingestor = app
    web.state.actions = curator
    web.state.token = token
    web.state.metrics = metrics or Metrics(app)
    web.state.clock = clock or (lambda: datetime.now(UTC))
    web.state.templates = Jinja2Templates(env=environment())
    web.add_middleware(AccessLog)

    @web.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(request, exc.status_code, str(exc.detail), headers=exc.headers)

    @web.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = exc.errors()
        first = problems[0] if problems else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        message = one_line(f"{where}: {first.get('msg', 'invalid')}", limit=300)
        detail = [{"loc": list(p.get("loc", ())), "msg": str(p.get("msg"))} for p in problems]
        return _error(request, 422, message, detail=detail)

    @web.exception_handler(IngestorError)
    async def _failed(request: Request, exc: IngestorError) -> Response:
        status = (
            404 if isinstance(exc, NotFound)
            else 400 if isinstance(exc, ConfigError | Refused)
            else 503
        )  # fmt: skip
        return _error(request, status, one_line(exc, limit=300))

    web.include_router(api)
    web.include_router(curation)
    web.include_router(pages)
    web.include_router(forms)
    web.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @web.get("/metrics", include_in_schema=False)
    def metrics_endpoint(request: Request) -> Response:
        return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)

    @web.get("/healthz", tags=["operations"])
    @web.head("/healthz", include_in_schema=False)
    def healthz(request: Request) -> JSONResponse:
        """Whether the store answers; how long ago a feed was polled and the daemon ticked."""
        ok, body = health(request.app.state.ingestor, request.app.state.metrics,
                          now=request.app.state.clock())  # fmt: skip
        return JSONResponse(body, status_code=200 if ok else 503)

    @web.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    return web
