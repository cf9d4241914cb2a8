"""Test access to external services (PostgreSQL, Redis), skipping cleanly when they are absent.

A test that needs a server asks for it here. When the server does not answer, the test is skipped
with the reason, unless ``TEST_INGESTOR_REQUIRE_SERVICES=1`` (as in CI with services), where the
same condition fails the test instead. Servers are reached on the URLs the environment gives
(``TEST_INGESTOR_POSTGRES_URL``), loopback by default.

PostgreSQL tests get a fresh schema each (``postgres_schema``): created on the given database,
put first on the connection's ``search_path`` through the URL, dropped afterwards. Alembic and the
store then see an empty database without the cost of ``CREATE DATABASE``.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import pytest
from sqlalchemy.engine import URL, make_url

__all__ = [
    "DEFAULT_POSTGRES_URL",
    "DEFAULT_REDIS_URL",
    "postgres_schema",
    "postgres_url",
    "require_postgres",
    "require_redis",
    "services_required",
    "unavailable",
]

POSTGRES_ENV = "TEST_INGESTOR_POSTGRES_URL"
REQUIRE_ENV = "TEST_INGESTOR_REQUIRE_SERVICES"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PROBE_TIMEOUT_S = 3


def services_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in {"1", "true", "yes"}


def unavailable(service: str, reason: str) -> NoReturn:
    """Skip (or, when services are required, fail) the current test."""
    message = f"{service} unavailable: {reason}"
    if services_required():
        pytest.fail(f"{message} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(f"{message} (set {POSTGRES_ENV} / TEST_INGESTOR_REDIS_URL to a reachable server)")


def postgres_url() -> str:
    return os.environ.get(POSTGRES_ENV, "").strip() or DEFAULT_POSTGRES_URL


def _libpq(url: str | URL) -> str:
    """The URL as libpq/psycopg spells it (no SQLAlchemy driver suffix)."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


@functools.cache
def _postgres_problem(url: str) -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(_libpq(url), connect_timeout=PROBE_TIMEOUT_S) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as e:
        first = str(e).strip().splitlines()
        return first[0] if first else type(e).__name__
    return None


def require_postgres() -> str:
    """The PostgreSQL URL to test against, or skip/fail when the server does not answer."""
    url = postgres_url()
    problem = _postgres_problem(url)
    if problem is not None:
        unavailable("PostgreSQL", f"{make_url(url).render_as_string()}: {problem}")
    return url


def _with_options(url: str, *options: str) -> str:
    parsed = make_url(url)
    existing = parsed.query.get("options", "")
    joined = " ".join([*([existing] if isinstance(existing, str) and existing else []), *options])
    return parsed.update_query_dict({"options": joined}).render_as_string(hide_password=False)


@contextmanager
def postgres_schema(url: str, *, timezone: str | None = None) -> Iterator[str]:
    """A fresh, empty schema on the server at ``url``; yields a URL whose connections use it
    (and the session ``timezone``, when given), then drops it with everything in it."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    options = [f"-csearch_path={name}"]
    if timezone:
        options.append(f"-cTimeZone={timezone}")
    with psycopg.connect(_libpq(url), autocommit=True, connect_timeout=PROBE_TIMEOUT_S) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield _with_options(url, *options)
    finally:
        with psycopg.connect(_libpq(url), autocommit=True, connect_timeout=PROBE_TIMEOUT_S) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


REDIS_ENV = "TEST_INGESTOR_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


@functools.cache
def _redis_problem(url: str) -> str | None:
    try:
        import redis
    except ImportError:
        return "redis-py is not installed"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=PROBE_TIMEOUT_S).ping()
    except redis.RedisError as e:
        return str(e) or type(e).__name__
    return None


def require_redis() -> str:
    """A Redis URL (a database tests may empty), or skip/fail when the server does not answer."""
    url = os.environ.get(REDIS_ENV, "").strip() or DEFAULT_REDIS_URL
    problem = _redis_problem(url)
    if problem is not None:
        unavailable("Redis", f"{url}: {problem}")
    return url
