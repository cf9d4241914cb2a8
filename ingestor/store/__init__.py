"""The store: feeds, stories, events and memberships behind one interface.

Owns: ``open_store``, which picks the backend from the URL scheme (``sqlite://``;
``postgresql://``, ``postgresql+psycopg://`` or ``postgres://``, all through psycopg 3), connects
once so a wrong or unreachable database fails here with a one-line ``StoreError``, and hands back
a ``Store``; and ``ensure_schema``, the one schema check every caller makes before using it.

Does not: migrate on open. A store whose schema is behind is still opened, so ``ingestor db
migrate`` can bring it up; ``ensure_schema`` migrates only when its caller allows it
(``store.auto_migrate``, or ``--migrate``). Inputs: ``Settings.effective_database_url`` and
``Settings.store.max_revisions``.

Submodules: ``base`` (the contract), ``schema`` (tables), ``migrations/`` (Alembic chain),
``migrate`` (running it), ``engine`` (connections, transactions, error translation), ``sql``
(``SQLStore``), ``tx`` (``SQLWriteTx``), ``rows`` (row and model mapping).
"""

from __future__ import annotations

import structlog

from ingestor.errors import SchemaError
from ingestor.store.base import SchemaStatus, Store, WriteTx

__all__ = ["SchemaStatus", "Store", "WriteTx", "ensure_schema", "open_store"]

log = structlog.get_logger()


def open_store(
    url: str, *, max_revisions: int = 5, read_only: bool = False, webhooks: tuple[str, ...] = ()
) -> Store:
    """Open (never migrate) the database at ``url``; ``StoreError`` if it cannot be reached.

    ``read_only``: for commands that only read. Nothing is written, not even a missing SQLite
    file or its directory: such a store reads as an empty database (``schema_status``), and
    every write is refused. ``webhooks``: the URLs every write transaction notifies through
    the outbox (``store.outbox``)."""
    from ingestor.store.sql import SQLStore  # SQLAlchemy stays out of imports of the contract.

    store = SQLStore(url, max_revisions=max_revisions, read_only=read_only, webhooks=webhooks)
    try:
        store.ping()
    except BaseException:
        store.close()
        raise
    return store


def ensure_schema(store: Store, *, migrate: bool) -> SchemaStatus:
    """The store's schema, brought to this code's head when ``migrate`` allows it (logged as
    ``schema_migrated``); ``SchemaError`` naming ``ingestor db migrate`` when it is behind and
    may not be migrated here."""
    status = store.schema_status()
    if status.up_to_date:
        return status
    if not migrate:
        if status.current is None:
            raise SchemaError(
                "the database is empty: run `ingestor db migrate` (or `ingestor run`, which "
                "creates it)"
            )
        raise SchemaError(
            f"database schema is at {status.current}, this version needs {status.head}: "
            "run `ingestor db migrate`"
        )
    migrated = store.migrate()
    log.info("schema_migrated", database=store.url, old=status.current, new=migrated.current)
    return migrated
