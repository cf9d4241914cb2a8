"""Alembic environment for the ``ingestor`` schema.

Owns: configuring Alembic's migration context, on the connection ``store.migrate`` hands over in
``config.attributes["connection"]`` (already inside the write transaction, so the whole upgrade
commits or rolls back as one, under the writers' lock). Developers writing a new revision run
``alembic -c ingestor/store/alembic.ini revision --autogenerate -m "..."`` with
``INGESTOR_DATABASE_URL`` pointing at a database at head; then this file opens its own engine.

Does not: decide when to migrate (the daemon and ``ingestor db migrate`` do, through
``Store.migrate``). SQLite runs with ``render_as_batch`` so future ``ALTER`` steps are emitted as
copy-and-move, which SQLite needs.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, create_engine

from ingestor.store.schema import metadata


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = os.environ.get("INGESTOR_DATABASE_URL") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("set INGESTOR_DATABASE_URL to the database to migrate")
    return url


def run() -> None:
    if context.is_offline_mode():
        context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    given = context.config.attributes.get("connection")
    if isinstance(given, Connection):
        _configure_and_run(given)
        return
    engine = create_engine(_url())
    try:
        with engine.begin() as connection:
            _configure_and_run(connection)
    finally:
        engine.dispose()


run()
