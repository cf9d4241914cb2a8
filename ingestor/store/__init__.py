"""The store: feeds, stories, events and memberships behind one interface.

Owns: ``open_store``, which picks the backend from the URL scheme (``sqlite://``;
``postgresql://``, ``postgresql+psycopg://`` or ``postgres://``, all through psycopg 3), connects
once so a wrong or unreachable database fails here with a one-line ``StoreError``, and hands back
a ``Store``.

Does not: migrate. Callers check ``schema_status()`` and call ``migrate()`` when they are allowed to
(``store.auto_migrate``); a store whose schema is behind is still opened, so ``ingestor db
migrate`` can bring it up. Inputs: ``Settings.effective_database_url`` and
``Settings.store.max_revisions``.

Submodules: ``base`` (the contract), ``schema`` (tables), ``migrations/`` (Alembic chain),
``migrate`` (running it), ``engine`` (connections, transactions, error translation), ``sql``
(``SQLStore``), ``tx`` (``SQLWriteTx``), ``rows`` (row and model mapping).
"""

from __future__ import annotations

from ingestor.store.base import SchemaStatus, Store, WriteTx

__all__ = ["SchemaStatus", "Store", "WriteTx", "open_store"]


def open_store(url: str, *, max_revisions: int = 5) -> Store:
    """Open (never migrate) the database at ``url``; ``StoreError`` if it cannot be reached."""
    from ingestor.store.sql import SQLStore  # SQLAlchemy stays out of imports of the contract.

    store = SQLStore(url, max_revisions=max_revisions)
    try:
        store.ping()
    except BaseException:
        store.close()
        raise
    return store
