"""Event merges: a log of events folded into another.

Revision ID: 0002
Revises: 0001

Shipped migrations are never edited: change the schema with a new revision on top of the head.
Spell the DDL out here (no imports from ``ingestor``), so this file keeps meaning what it meant.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "event_merges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("into_event_id", sa.Integer(), nullable=False),
        sa.Column("gone_event_id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["story_id"], ["stories.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_event_merges_gone_event_id", "event_merges", ["gone_event_id"])


def downgrade() -> None:
    op.drop_index("ix_event_merges_gone_event_id", table_name="event_merges")
    op.drop_table("event_merges")
