"""The database schema, as SQLAlchemy Core tables: what the newest migration must produce.

Owns: the ``MetaData`` and its five tables (``feeds``, ``stories``, ``story_revisions``,
``events``, ``memberships``), their indexes, and ``UTCDateTime``, the column type that makes every
stored time come back timezone-aware UTC on both backends.

Does not: create or alter tables. Alembic migrations under ``store/migrations/versions`` do that,
and they spell out their own DDL rather than importing this module, so a shipped migration never
changes when this file does. ``tests/test_migrations.py`` checks that upgrading to head yields
exactly these tables.

Times: PostgreSQL stores ``timestamptz`` and hands back the session's zone; SQLite stores text
without a zone. ``UTCDateTime`` refuses naive values on the way in, stores UTC, and converts to
``timezone.utc`` on the way out, so the session's ``TimeZone`` never shifts a value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)

__all__ = [
    "UTCDateTime",
    "curations",
    "event_merges",
    "event_separations",
    "events",
    "feeds",
    "memberships",
    "metadata",
    "stories",
    "story_revisions",
]


class UTCDateTime(TypeDecorator[datetime]):
    """A ``DateTime(timezone=True)`` that accepts only aware values and returns UTC ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; use UTC")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite keeps text; one fixed zone keeps the text ordered like the instants.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

feeds = Table(
    "feeds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("url", Text, nullable=False, unique=True),
    Column("title", Text),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("next_poll_at", UTCDateTime),
    Column("last_polled_at", UTCDateTime),
    Column("last_status", String(32)),
    Column("consecutive_errors", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("lease_owner", Text),
    Column("lease_expires_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_feeds_due", "status", "next_poll_at"),
)

stories = Table(
    "stories",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("feed_id", Integer, ForeignKey("feeds.id")),
    Column("feed_url", Text),
    Column("guid", Text),
    Column("url", Text),
    Column("external_id", Text),
    Column("source", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("html", Text),
    Column("published", UTCDateTime),
    Column("fetched", UTCDateTime, nullable=False),
    Column("when_at", UTCDateTime, nullable=False),
    Column("content_hash", String(128), nullable=False),
    Column("signature_version", String(64)),
    Column("signature", LargeBinary),
    Column("revisions", Integer, nullable=False, server_default="0"),
    Column("updated_at", UTCDateTime),
    Column("deleted_at", UTCDateTime),
    Index(
        "uq_stories_feed_guid",
        "feed_id",
        "guid",
        unique=True,
        sqlite_where=text("guid IS NOT NULL"),
        postgresql_where=text("guid IS NOT NULL"),
    ),
    Index(
        "uq_stories_url",
        "url",
        unique=True,
        sqlite_where=text("url IS NOT NULL"),
        postgresql_where=text("url IS NOT NULL"),
    ),
    Index(
        "uq_stories_external_id",
        "external_id",
        unique=True,
        sqlite_where=text("external_id IS NOT NULL"),
        postgresql_where=text("external_id IS NOT NULL"),
    ),
    Index("uq_stories_source_content_hash", "source", "content_hash", unique=True),
    Index("ix_stories_when_at", "when_at"),
)
"""``when_at`` is ``coalesce(published, fetched)``, written with the row so it can be indexed.
``deleted_at``: the operator deleted the story's event; the row stays so its keys still find it
as a duplicate. Search is not a table here: an FTS5 table on SQLite, an expression index on
PostgreSQL, both made by migration ``0003`` (``store.search`` queries them)."""

story_revisions = Table(
    "story_revisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("story_id", Integer, ForeignKey("stories.id"), nullable=False),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("content_hash", String(128), nullable=False),
    Column("replaced_at", UTCDateTime, nullable=False),
    Index("ix_story_revisions_story_id", "story_id"),
)
"""Previous versions of an edited story, at most ``max_revisions`` per story."""

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("canonical_story_id", Integer, ForeignKey("stories.id"), nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("size", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_events_last_seen", "last_seen"),
)

memberships = Table(
    "memberships",
    metadata,
    Column("story_id", Integer, ForeignKey("stories.id"), primary_key=True),
    Column("event_id", Integer, ForeignKey("events.id"), nullable=False),
    Column("similarity", Float, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("signals", Text, nullable=False, server_default="{}"),
    Column("joined_at", UTCDateTime, nullable=False),
    Index("ix_memberships_event_id", "event_id"),
)
"""One row per story (the primary key): a story belongs to exactly one event."""

event_merges = Table(
    "event_merges",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("into_event_id", Integer, nullable=False),
    Column("gone_event_id", Integer, nullable=False),
    Column("story_id", Integer, ForeignKey("stories.id"), nullable=False),
    Column("merged_at", UTCDateTime, nullable=False),
    Index("ix_event_merges_gone_event_id", "gone_event_id"),
)
"""Events folded into another (``WriteTx.merge_events``): the gone event's row is deleted and
its memberships moved; this log lets other daemons replay the merge (``merges_since``) and
``events show GONE`` name the event it went into. No foreign keys on the event ids: an event
merged into may itself be merged later."""

webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("url", Text, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("event_id", Integer, nullable=False),
    Column("idempotency_key", String(64), nullable=False, unique=True),
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    Column("last_error", Text),
    Index("ix_webhook_outbox_due", "status", "next_attempt_at"),
)
"""One webhook notification for one URL (``event.created``, ``event.variant_added``,
``event.merged``), written in the transaction that made it happen and delivered after commit
(``store.outbox``); ``status`` is pending, delivered, or failed after the last attempt. No
foreign key on ``event_id``: a merged event's row stays behind with size 0, and the log keeps
what was said about it."""

curations = Table(
    "curations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("action", String(16), nullable=False),
    Column("event_id", Integer),
    Column("other_event_id", Integer),
    Column("stories", Integer, nullable=False, server_default="0"),
    Column("cutoff", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
)
"""The operator's curation, in order: ``merge`` (``other_event_id`` folded into ``event_id``,
also in ``event_merges``), ``split`` (stories of ``event_id`` formed ``other_event_id``),
``move`` (a story went from ``event_id`` to ``other_event_id``), ``delete`` (``event_id``), and
``prune`` (stories before ``cutoff``). Other daemons replay it (``Store.curations_since``)."""

event_separations = Table(
    "event_separations",
    metadata,
    Column("event_id", Integer, primary_key=True),
    Column("apart_from", Integer, primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
)
"""Events the operator split apart (one row each way): no automatic merge folds them together.
A merge of either event into a third carries its separations over to the event kept."""
