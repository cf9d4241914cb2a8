"""Schema versions: where the database is, where the code is, and the upgrade between them.

Owns: running the Alembic chain under ``store/migrations`` in code (no ``alembic.ini`` needed at
run time), the head revision this code knows, and ``SchemaStatus``.

Does not: decide whether to migrate. Opening a store never migrates; the daemon (honouring
``store_auto_migrate``) and ``ingestor db migrate`` call ``Store.migrate`` explicitly.

An upgrade runs inside one write transaction (``engine.write_tx``), so two processes starting at
once take turns and the second finds the schema already at head. On PostgreSQL the DDL is
transactional: a failed upgrade leaves the old schema. On SQLite foreign-key enforcement is off
for the upgrade (as SQLite's documented procedure for schema changes asks, so batch
copy-and-move steps can rebuild tables) and ``PRAGMA foreign_key_check`` must come back empty
before the commit.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine

from ingestor.errors import SchemaError
from ingestor.store.base import SchemaStatus
from ingestor.store.engine import read_tx, write_tx

__all__ = ["MIGRATIONS_DIR", "alembic_config", "head_revision", "migrate", "schema_status"]

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the shipped migrations, optionally bound to a connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision the shipped migrations define (there is exactly one head)."""
    heads = _script().get_heads()
    if len(heads) != 1:
        raise SchemaError(f"the migrations have {len(heads)} heads, expected one: {heads}")
    return heads[0]


def _known(revision: str) -> bool:
    try:
        return _script().get_revision(revision) is not None
    except CommandError:
        return False


def _current(conn: Connection) -> str | None:
    try:
        return MigrationContext.configure(conn).get_current_revision()
    except CommandError as e:
        raise SchemaError(f"cannot read the schema version: {e}") from e


def schema_status(engine: Engine) -> SchemaStatus:
    with read_tx(engine) as conn:
        return SchemaStatus(current=_current(conn), head=head_revision())


def migrate(engine: Engine) -> SchemaStatus:
    """Upgrade to head; ``SchemaError`` if the database is newer than this code."""
    head = head_revision()
    with write_tx(engine, foreign_keys=False) as conn:
        current = _current(conn)
        if current is not None and not _known(current):
            raise SchemaError(
                f"the database schema is at revision {current!r}, which this version of "
                f"ingestor does not know (its newest is {head!r}); upgrade ingestor"
            )
        if current != head:
            try:
                command.upgrade(alembic_config(conn), "head")
            except CommandError as e:
                raise SchemaError(f"migration failed: {e}") from e
        if conn.dialect.name == "sqlite":
            broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise SchemaError(f"migration left {len(broken)} broken foreign keys")
        return SchemaStatus(current=_current(conn), head=head)
