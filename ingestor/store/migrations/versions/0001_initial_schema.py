"""The initial schema: feeds, stories, story revisions, events, memberships.

Revision ID: 0001
Revises:

Shipped migrations are never edited: change the schema with a new revision on top of the head.
Spell the DDL out here (no imports from ``ingestor``), so this file keeps meaning what it meant.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), server_default="active", nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("next_poll_at", _utc(), nullable=True),
        sa.Column("last_polled_at", _utc(), nullable=True),
        sa.Column("last_status", sa.String(32), nullable=True),
        sa.Column("consecutive_errors", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.Text(), nullable=True),
        sa.Column("lease_expires_at", _utc(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feeds"),
        sa.UniqueConstraint("url", name="uq_feeds_url"),
    )
    op.create_index("ix_feeds_due", "feeds", ["status", "next_poll_at"])

    op.create_table(
        "stories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=True),
        sa.Column("feed_url", sa.Text(), nullable=True),
        sa.Column("guid", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("published", _utc(), nullable=True),
        sa.Column("fetched", _utc(), nullable=False),
        sa.Column("when_at", _utc(), nullable=False),
        sa.Column("content_hash", sa.String(128), nullable=False),
        sa.Column("signature_version", sa.String(64), nullable=True),
        sa.Column("signature", sa.LargeBinary(), nullable=True),
        sa.Column("revisions", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_at", _utc(), nullable=True),
        sa.ForeignKeyConstraint(["feed_id"], ["feeds.id"], name="fk_stories_feed_id_feeds"),
        sa.PrimaryKeyConstraint("id", name="pk_stories"),
    )
    op.create_index(
        "uq_stories_feed_guid",
        "stories",
        ["feed_id", "guid"],
        unique=True,
        sqlite_where=sa.text("guid IS NOT NULL"),
        postgresql_where=sa.text("guid IS NOT NULL"),
    )
    op.create_index(
        "uq_stories_url",
        "stories",
        ["url"],
        unique=True,
        sqlite_where=sa.text("url IS NOT NULL"),
        postgresql_where=sa.text("url IS NOT NULL"),
    )
    op.create_index(
        "uq_stories_external_id",
        "stories",
        ["external_id"],
        unique=True,
        sqlite_where=sa.text("external_id IS NOT NULL"),
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.create_index(
        "uq_stories_source_content_hash", "stories", ["source", "content_hash"], unique=True
    )
    op.create_index("ix_stories_when_at", "stories", ["when_at"])

    op.create_table(
        "story_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(128), nullable=False),
        sa.Column("replaced_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["story_id"], ["stories.id"], name="fk_story_revisions_story_id_stories"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_story_revisions"),
    )
    op.create_index("ix_story_revisions_story_id", "story_revisions", ["story_id"])

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("canonical_story_id", sa.Integer(), nullable=False),
        sa.Column("first_seen", _utc(), nullable=False),
        sa.Column("last_seen", _utc(), nullable=False),
        sa.Column("size", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["canonical_story_id"], ["stories.id"], name="fk_events_canonical_story_id_stories"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_last_seen", "events", ["last_seen"])

    op.create_table(
        "memberships",
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("signals", sa.Text(), server_default="{}", nullable=False),
        sa.Column("joined_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name="fk_memberships_event_id_events"),
        sa.ForeignKeyConstraint(
            ["story_id"], ["stories.id"], name="fk_memberships_story_id_stories"
        ),
        sa.PrimaryKeyConstraint("story_id", name="pk_memberships"),
    )
    op.create_index("ix_memberships_event_id", "memberships", ["event_id"])


def downgrade() -> None:
    op.drop_table("memberships")
    op.drop_table("events")
    op.drop_table("story_revisions")
    op.drop_table("stories")
    op.drop_table("feeds")
