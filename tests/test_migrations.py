"""The Alembic chain: it builds exactly ``store.schema`` on both backends and stays append-only."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from contextlib import closing
from itertools import pairwise

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from ingestor.errors import SchemaError
from ingestor.store import open_store
from ingestor.store.engine import normalize_url
from ingestor.store.migrate import MIGRATIONS_DIR, alembic_config, head_revision
from ingestor.store.schema import metadata


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    created = sa.create_engine(normalize_url(database_url))
    yield created
    created.dispose()


def _search_object(name: str | None) -> bool:
    """The full-text search objects of migration 0003 (SQLite's FTS5 table and its shadow
    tables, PostgreSQL's expression index): made by the migration alone, not in store.schema."""
    return bool(name) and (str(name).startswith("stories_fts") or name == "ix_stories_search")


def _diff(engine: sa.Engine) -> list[object]:
    def include(
        _obj: object, name: str | None, _kind: str, _reflected: bool, _other: object
    ) -> bool:
        return not _search_object(name)

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include}
        )
        return list(compare_metadata(context, metadata))


def _predicate(clause: object) -> str:
    text = str(getattr(clause, "text", clause))
    return " ".join(text.replace("(", " ").replace(")", " ").lower().split())


def _partial_indexes(engine: sa.Engine) -> tuple[dict[str, str], dict[str, str]]:
    """Index predicates (``WHERE ...``) wanted and found; compare_metadata does not look."""
    key = f"{engine.dialect.name}_where"
    wanted = {
        index.name or "": _predicate(index.dialect_options[engine.dialect.name]["where"])
        for table in metadata.tables.values()
        for index in table.indexes
        if index.dialect_options[engine.dialect.name]["where"] is not None
    }
    inspector = sa.inspect(engine)
    found = {
        index["name"] or "": _predicate(index.get("dialect_options", {})[key])
        for table in metadata.tables
        for index in inspector.get_indexes(table)
        if key in index.get("dialect_options", {})
    }
    return wanted, found


def test_upgrade_to_head_builds_exactly_the_schema(database_url: str, engine: sa.Engine) -> None:
    """Migrating an empty database leaves no difference from the tables in store.schema."""
    with closing(open_store(database_url)) as store:
        assert store.migrate().current == head_revision()
    assert _diff(engine) == []
    wanted, found = _partial_indexes(engine)
    assert wanted == found
    assert len(wanted) == 3
    names = set(sa.inspect(engine).get_table_names())
    assert {n for n in names if not _search_object(n)} == {*metadata.tables, "alembic_version"}
    if engine.dialect.name == "sqlite":
        assert "stories_fts" in names
    else:
        indexes = {i["name"] for i in sa.inspect(engine).get_indexes("stories")}
        assert "ix_stories_search" in indexes


def test_downgrade_to_base_and_back(database_url: str, engine: sa.Engine) -> None:
    """Every revision's downgrade undoes its upgrade, so the chain replays cleanly."""
    with closing(open_store(database_url)) as store:
        store.migrate()
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}  # search objects too
    with closing(open_store(database_url)) as store:
        assert store.schema_status().current is None
        assert store.migrate().up_to_date
    assert _diff(engine) == []


def test_a_newer_database_is_refused(database_url: str, engine: sa.Engine) -> None:
    """A schema stamped by a later version is reported as not up to date and never migrated."""
    with closing(open_store(database_url)) as store:
        store.migrate()
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff_from_the_future'"))
    with closing(open_store(database_url)) as store:
        status = store.schema_status()
        assert status.current == "ffff_from_the_future"
        assert not status.up_to_date
        with pytest.raises(SchemaError, match="does not know"):
            store.migrate()


def test_revisions_form_one_linear_chain() -> None:
    """Every revision but the first revises exactly one earlier one, and there is one head."""
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [head_revision()]
    revisions = list(script.walk_revisions())
    assert [r.down_revision is None for r in revisions] == [False] * (len(revisions) - 1) + [True]
    for newer, older in pairwise(revisions):
        assert newer.down_revision == older.revision
        assert not newer.branch_labels
        assert not newer.dependencies
    files = sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py"))
    assert len(files) == len(revisions)
    # Each file is named by its revision id, alone or followed by a slug ("0003_curation").
    stems = [f.removesuffix(".py") for f in files]
    for revision in revisions:
        named = [
            s for s in stems if s == revision.revision or s.startswith(f"{revision.revision}_")
        ]
        assert len(named) == 1, (revision.revision, stems)


def test_revisions_do_not_import_the_application() -> None:
    """Shipped migrations spell out their DDL, so editing store.schema never changes them."""
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not any(name.startswith("ingestor") for name in imported), path.name
