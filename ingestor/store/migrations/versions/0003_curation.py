"""Curation and search: the operator's merges, splits, moves and deletions recorded so that
re-clustering and other daemons respect them; stories searchable by their words.

Revision ID: 0003
Revises: 0002

* ``stories.deleted_at``: a story whose event the operator deleted. Its row (and so its keys:
  feed GUID, URL, record id, content hash) stays, so the next poll of its feed finds it as a
  duplicate; it belongs to no event and is never searched or indexed.
* ``curations``: the log of curation (``merge``, ``split``, ``move``, ``delete``, ``prune``)
  other daemons replay (``Store.curations_since``), as they replay ``event_merges``.
* ``event_separations``: pairs of events the operator split apart, which no automatic merge
  may fold together again (a manual merge may).
* Search: on SQLite an FTS5 table over ``stories(title, text)`` with external content, kept in
  step by triggers and filled here from the stories already stored; on PostgreSQL a GIN
  expression index over ``to_tsvector('simple', title || ' ' || text)``.

Shipped migrations are never edited: change the schema with a new revision on top of the head.
Spell the DDL out here (no imports from ``ingestor``), so this file keeps meaning what it meant.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_SQLITE_FTS = [
    "CREATE VIRTUAL TABLE stories_fts USING fts5("
    "title, text, content='stories', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER stories_fts_insert AFTER INSERT ON stories BEGIN "
    "INSERT INTO stories_fts(rowid, title, text) VALUES (new.id, new.title, new.text); END",
    "CREATE TRIGGER stories_fts_delete AFTER DELETE ON stories BEGIN "
    "INSERT INTO stories_fts(stories_fts, rowid, title, text) "
    "VALUES ('delete', old.id, old.title, old.text); END",
    "CREATE TRIGGER stories_fts_update AFTER UPDATE OF title, text ON stories BEGIN "
    "INSERT INTO stories_fts(stories_fts, rowid, title, text) "
    "VALUES ('delete', old.id, old.title, old.text); "
    "INSERT INTO stories_fts(rowid, title, text) VALUES (new.id, new.title, new.text); END",
    "INSERT INTO stories_fts(stories_fts) VALUES ('rebuild')",
]
_PG_SEARCH = (
    "CREATE INDEX ix_stories_search ON stories USING gin "
    "(to_tsvector('simple'::regconfig, coalesce(title, '') || ' ' || coalesce(text, '')))"
)


def upgrade() -> None:
    op.add_column("stories", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "curations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("other_event_id", sa.Integer(), nullable=True),
        sa.Column("stories", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("cutoff", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "event_separations",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("apart_from", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "apart_from"),
    )
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in _SQLITE_FTS:
            op.execute(statement)
    elif bind.dialect.name == "postgresql":
        op.execute(_PG_SEARCH)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for name in ("stories_fts_insert", "stories_fts_delete", "stories_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS stories_fts")
    elif bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_stories_search")
    op.drop_table("event_separations")
    op.drop_table("curations")
    with op.batch_alter_table("stories") as batch:
        batch.drop_column("deleted_at")
