"""Connections: URLs, engines, the two kinds of transaction, and error translation.

Owns: turning a database URL into a configured SQLAlchemy ``Engine`` (SQLite: WAL, a 30 s busy
timeout, foreign keys on, SQLAlchemy emitting ``BEGIN`` itself; PostgreSQL: psycopg 3, pre-ping,
a connect timeout), the read and write transactions every store method runs in, and the one
place where SQLAlchemy and driver exceptions become ``StoreError``.

Does not: know the schema or the ``Store`` contract (``store.sql`` does) or run migrations
(``store.migrate``). Inputs: the URL from settings (``database_url``) or a test.

Writes are serialized across processes: SQLite by ``BEGIN IMMEDIATE`` (the write lock is taken at
the start, so a transaction never fails half-way trying to upgrade a read lock), PostgreSQL by
``pg_advisory_xact_lock(WRITE_LOCK_KEY)`` as the transaction's first statement, released by
commit or rollback. Under PostgreSQL's READ COMMITTED every later statement sees what the
previous writer committed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from ingestor.errors import IngestorError, StoreError, one_line

__all__ = [
    "BUSY_TIMEOUT_S",
    "WRITE_LOCK_KEY",
    "driver_message",
    "make_store_engine",
    "masked",
    "normalize_url",
    "read_tx",
    "sqlite_file",
    "translated",
    "write_tx",
]

BUSY_TIMEOUT_S = 30
"""How long an SQLite writer waits for another writer's lock before giving up."""
WRITE_LOCK_KEY = 0x696E676573746F72 >> 1
"""The PostgreSQL advisory lock every write transaction holds (``"ingestor"`` in ASCII, halved to
fit a signed 64-bit key)."""
CONNECT_TIMEOUT_S = 10
_BEGIN_OPTION = "ingestor_begin"


def normalize_url(url: str) -> URL:
    """The SQLAlchemy URL to connect with; ``postgres://`` and ``postgresql://`` use psycopg 3."""
    try:
        parsed = make_url(url.strip())
    except exc.ArgumentError as e:
        raise StoreError(f"not a database URL: {masked_text(url)!r}") from e
    name = parsed.drivername
    if name in {"postgres", "postgresql", "postgresql+psycopg"}:
        return parsed.set(drivername="postgresql+psycopg")
    if name in {"sqlite", "sqlite+pysqlite"}:
        return parsed
    raise StoreError(
        f"unsupported database URL scheme {name!r}: use sqlite:///PATH or postgresql://..."
    )


def masked(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def masked_text(url: str) -> str:
    """Mask a password in a URL string that may not even parse."""
    head, sep, tail = url.partition("://")
    if not sep or "@" not in tail:
        return url
    userinfo, _, rest = tail.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return f"{head}://{user}{':***' if ':' in userinfo else ''}@{rest}"


def _is_memory(url: URL) -> bool:
    database = url.database or ""
    return database in {"", ":memory:"} or "mode=memory" in str(url.query.get("mode", ""))


def sqlite_file(url: URL) -> Path | None:
    """The file of an SQLite URL (``None`` for another database or an in-memory one)."""
    if url.get_backend_name() != "sqlite" or _is_memory(url):
        return None
    return Path(url.database or "")


def make_store_engine(url: URL, *, read_only: bool = False) -> Engine:
    """An engine configured for the store's transaction rules (see the module docstring).
    ``read_only``: every connection refuses to write (SQLite opens the file read-only and never
    creates it; PostgreSQL sessions are read-only)."""
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, read_only=read_only)
    query = dict(url.query)
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    try:
        engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    except ImportError as e:
        raise StoreError("PostgreSQL needs psycopg 3: pip install 'ingestor[postgres]'") from e
    if read_only:

        @event.listens_for(engine, "connect")
        def _read_only(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            dbapi_connection.commit()

    return engine


def _sqlite_engine(url: URL, *, read_only: bool) -> Engine:
    path = sqlite_file(url)
    if path is None:
        # One shared connection, so every caller sees the same database (single-threaded use).
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    elif read_only:
        # The file opened read-only, never created. In WAL mode SQLite may still create the
        # ``-wal`` and ``-shm`` files it coordinates readers with, beside an existing database.
        uri = f"{path.resolve().as_uri()}?mode=ro"

        def connect() -> Any:
            import sqlite3

            return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False)

        engine = create_engine(url, creator=connect)
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create {path.parent}: {e.strerror}") from e
        engine = create_engine(
            url, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
        )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy: pysqlite would otherwise BEGIN on its own.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if not read_only:  # a read-only connection leaves the file's journal mode alone
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_BEGIN_OPTION) == "immediate"
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def read_tx(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction (a consistent snapshot); always rolled back."""
    with engine.connect() as conn:
        yield conn


@contextmanager
def write_tx(engine: Engine, *, foreign_keys: bool = True) -> Iterator[Connection]:
    """A write transaction serialized with every other writer; commit on exit.

    ``foreign_keys=False`` switches SQLite's enforcement off for this transaction (it can only be
    changed outside one), as schema changes that rebuild tables need; PostgreSQL ignores it.
    """
    with engine.connect() as conn:
        sqlite = engine.dialect.name == "sqlite"
        raw: Any = conn.connection.driver_connection if sqlite and not foreign_keys else None
        if sqlite:
            conn.execution_options(**{_BEGIN_OPTION: "immediate"})
        if raw is not None:
            raw.execute("PRAGMA foreign_keys = OFF")
        try:
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    conn.execute(select(func.pg_advisory_xact_lock(WRITE_LOCK_KEY)))
                yield conn
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys = ON")


def driver_message(error: BaseException) -> str:
    """The first line of what the driver said: ``errors.one_line`` of the DBAPI exception that
    SQLAlchemy wraps (its wrapper appends the SQL and a link to its documentation)."""
    return one_line(error.orig if isinstance(error, exc.DBAPIError) and error.orig else error)


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Turn anything SQLAlchemy or the driver raises into a one-line ``StoreError``."""
    try:
        yield
    except IngestorError:
        raise
    except exc.IntegrityError as e:
        raise StoreError(f"{what}: constraint violated: {driver_message(e)}") from e
    except exc.SQLAlchemyError as e:
        raise StoreError(f"{what}: {driver_message(e)}") from e
