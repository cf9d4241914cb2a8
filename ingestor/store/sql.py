"""``SQLStore``: the ``Store`` contract on SQLite and PostgreSQL, one code path for both.

Owns: the store's lifecycle (schema status, migrate, close), the write transaction
(``store.tx.SQLWriteTx``), the feed list and its schedule (including leases, so several daemons
can share one PostgreSQL database), the clusterer's index feed (``iter_index``,
``stories_since``) and the read queries the CLI shows.

Does not: migrate on open, read the clock (every ``now`` is an argument), decide policy (when a
feed is due next, which event a story joins) or, opened ``read_only``, write anything.

Every SQLAlchemy or driver exception leaves this module as a ``StoreError`` (``engine.translated``).
Dialect differences live in ``store.engine`` (how a write transaction starts) and in two spots
here: claiming feeds uses ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite's compiler drops it;
``BEGIN IMMEDIATE`` already excludes every other writer there).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select, update

from ingestor.errors import StoreError
from ingestor.models import (
    Event,
    EventDetail,
    EventMerge,
    FeedSource,
    IndexedStory,
    OutboxItem,
    Story,
    StoryKey,
    StoryMatch,
)
from ingestor.store import feeds as feed_writes
from ingestor.store import migrate as migrations
from ingestor.store import outbox, reads
from ingestor.store.base import SchemaStatus
from ingestor.store.engine import (
    driver_message,
    make_store_engine,
    masked,
    normalize_url,
    read_tx,
    sqlite_file,
    translated,
    write_tx,
)
from ingestor.store.reading import ReadOps
from ingestor.store.rows import (
    count_queries,
    due_condition,
    feed_from_row,
    index_query,
    indexed_from_row,
    merge_from_row,
    story_from_row,
)
from ingestor.store.schema import event_merges, feeds, memberships, stories
from ingestor.store.tx import SQLWriteTx, find_story

__all__ = ["SQLStore"]

_YIELD_PER = 1000


def _due_order() -> tuple[Any, ...]:
    return (feeds.c.next_poll_at.asc().nulls_first(), feeds.c.id)


class SQLStore(ReadOps):
    """The ``store.base.Store`` on one SQL database (operator reads: ``store.reading``)."""

    def __init__(
        self,
        url: str,
        *,
        max_revisions: int = 5,
        read_only: bool = False,
        webhooks: tuple[str, ...] = (),
    ) -> None:
        self.webhooks = webhooks
        if max_revisions < 0:
            raise ValueError("max_revisions must be >= 0")
        self._sa_url = normalize_url(url)
        self.url: str = masked(self._sa_url)
        self.max_revisions = max_revisions
        self.read_only = read_only
        file = sqlite_file(self._sa_url)  # read-only and absent: empty, and never created
        self._absent = read_only and file is not None and not file.exists()
        with translated(f"cannot open the database at {self.url}"):
            self._engine = make_store_engine(self._sa_url, read_only=read_only)
        self.dialect: str = self._engine.dialect.name

    def __repr__(self) -> str:
        return f"SQLStore({self.url!r})"

    def __enter__(self) -> SQLStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- lifecycle ---------------------------------------------------------------------------
    def ping(self) -> None:
        """Connect once; ``StoreError`` with a one-line reason when the database is unreachable."""
        if self._absent:
            return
        try:
            with read_tx(self._engine) as conn:
                conn.execute(select(1)).scalar_one()
        except Exception as e:
            if isinstance(e, StoreError):
                raise
            raise StoreError(f"cannot reach the database at {self.url}: {driver_message(e)}") from e

    def schema_status(self) -> SchemaStatus:
        if self._absent:
            return SchemaStatus(current=None, head=migrations.head_revision())
        with translated("schema_status"):
            return migrations.schema_status(self._engine)

    def migrate(self) -> SchemaStatus:
        self._writable("migrate")
        with translated("migrate"):
            return migrations.migrate(self._engine)

    def close(self) -> None:
        self._engine.dispose()

    # -- writes ------------------------------------------------------------------------------
    def _writable(self, what: str) -> None:
        if self.read_only:
            raise StoreError(f"{what}: the store was opened read-only")

    @contextmanager
    def _write(self, what: str) -> Iterator[Connection]:
        self._writable(what)
        with translated(what), write_tx(self._engine) as conn:
            yield conn

    def write(self) -> AbstractContextManager[SQLWriteTx]:
        return self._write_tx()

    @contextmanager
    def _write_tx(self) -> Iterator[SQLWriteTx]:
        with self._write("write") as conn:
            yield SQLWriteTx(conn, max_revisions=self.max_revisions, webhooks=self.webhooks)

    @contextmanager
    def _read(self, what: str) -> Iterator[Connection]:
        with translated(what), read_tx(self._engine) as conn:
            yield conn

    # -- feeds -------------------------------------------------------------------------------
    def add_feed(self, url: str, *, now: datetime, title: str | None = None) -> FeedSource:
        """Add a feed due at ``now``, or revive one (``store.feeds.add_feed``)."""
        with self._write("add_feed") as conn:
            return feed_writes.add_feed(conn, url, now=now, title=title)

    def remove_feed(self, url: str) -> bool:
        with self._write("remove_feed") as conn:
            return feed_writes.remove_feed(conn, url)

    def sync_feeds(self, urls: Iterable[str], *, now: datetime) -> int:
        with self._write("sync_feeds") as conn:
            return feed_writes.sync_feeds(conn, urls, now=now)

    def refresh_feeds(self, url: str | None, *, now: datetime) -> int:
        with self._write("refresh_feeds") as conn:
            return feed_writes.refresh_feeds(conn, url, now=now)

    def reset_feed(self, url: str, *, now: datetime) -> FeedSource | None:
        with self._write("reset_feed") as conn:
            return feed_writes.reset_feed(conn, url, now=now)

    def get_feed(self, url: str) -> FeedSource | None:
        with self._read("get_feed") as conn:
            row = conn.execute(select(feeds).where(feeds.c.url == url)).first()
            return None if row is None else feed_from_row(row)

    def list_feeds(self, *, include_removed: bool = False) -> list[FeedSource]:
        query = select(feeds).order_by(feeds.c.id)
        if not include_removed:
            query = query.where(feeds.c.status != "removed")
        with self._read("list_feeds") as conn:
            return [feed_from_row(row) for row in conn.execute(query)]

    def due_feeds(self, *, now: datetime, limit: int) -> list[FeedSource]:
        """Active feeds due at ``now``, never-scheduled ones first, then most overdue; a feed
        another process holds a live lease on (``claim_due_feeds``) is not due."""
        query = select(feeds).where(due_condition(now)).order_by(*_due_order()).limit(limit)
        with self._read("due_feeds") as conn:
            return [feed_from_row(row) for row in conn.execute(query)]

    @contextmanager
    def _row_locking(self, what: str) -> Iterator[Connection]:
        """A transaction for row-level work: PostgreSQL row locks suffice, SQLite writes
        exclusively anyway."""
        if self.dialect != "postgresql":
            with self._write(what) as conn:
                yield conn
            return
        with translated(what), self._engine.begin() as conn:
            yield conn

    def claim_due_feeds(
        self, *, now: datetime, limit: int, owner: str, lease_s: int
    ) -> list[FeedSource]:
        """Lease up to ``limit`` due feeds to ``owner`` until ``now + lease_s``, atomically: two
        claimers never get the same feed while its lease lives. ``WriteTx.update_feed`` or
        ``release_feed`` ends the lease; an expired lease is claimable again."""
        if lease_s <= 0:
            raise ValueError("lease_s must be positive")
        picked = (
            select(feeds.c.id)
            .where(due_condition(now))
            .order_by(*_due_order())
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("picked")
        )
        claim = (
            update(feeds)
            .where(feeds.c.id.in_(select(picked.c.id)))
            .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_s))
            .returning(*feeds.c)
        )
        with self._row_locking("claim_due_feeds") as conn:
            claimed = [feed_from_row(row) for row in conn.execute(claim)]
        return sorted(
            claimed,
            key=lambda f: (f.next_poll_at is not None, f.next_poll_at or now, f.id or 0),
        )

    def release_feed(self, feed_id: int, owner: str) -> bool:
        """Give up ``owner``'s lease on a feed without polling it; ``False`` if not held."""
        with self._row_locking("release_feed") as conn:
            result = conn.execute(
                update(feeds)
                .where(feeds.c.id == feed_id, feeds.c.lease_owner == owner)
                .values(lease_owner=None, lease_expires_at=None)
            )
            return result.rowcount > 0

    # -- clustering state ----------------------------------------------------------------------
    def find_story(self, key: StoryKey) -> StoryMatch | None:
        with self._read("find_story") as conn:
            return find_story(conn, key)

    def iter_index(self, *, since: datetime) -> Iterator[IndexedStory]:
        """Streamed in story-id order (the order stories were written, as writers are serialized),
        which for a news stream is oldest first; stories without a signature are skipped."""
        query = index_query().where(stories.c.when_at >= since)
        with self._read("iter_index") as conn:
            for row in conn.execution_options(yield_per=_YIELD_PER).execute(query):
                yield indexed_from_row(row)

    def stories_since(self, story_id: int) -> list[IndexedStory]:
        """Stories in an event with an id above ``story_id``: what other processes wrote since an
        in-memory index last caught up. Ids grow in commit order because writers are serialized.
        Not reported: an edit (``update_story``) of an older story, and a story that joined an
        event in a later transaction than the one that inserted it (the pipeline does both in
        one)."""
        query = index_query().where(stories.c.id > story_id)
        with self._read("stories_since") as conn:
            return [indexed_from_row(row) for row in conn.execute(query)]

    def iter_unsigned(
        self, version: str, *, since: datetime | None = None
    ) -> Iterator[tuple[int, Story]]:
        """Stories in an event whose signature is missing or of another version than
        ``version`` (and whose time is at or after ``since``), by id: what ``ingestor index
        rebuild`` recomputes."""
        query = (
            select(stories)
            .join(memberships, memberships.c.story_id == stories.c.id)
            .where(
                (stories.c.signature_version.is_(None)) | (stories.c.signature_version != version)
            )
            .order_by(stories.c.id)
        )
        if since is not None:
            query = query.where(stories.c.when_at >= since)
        with self._read("iter_unsigned") as conn:
            for row in conn.execution_options(yield_per=_YIELD_PER).execute(query):
                yield row._mapping["id"], story_from_row(row)

    def newest_story_time(self) -> datetime | None:
        """The latest ``when`` (published, else fetched) of any story, or ``None``."""
        with self._read("newest_story_time") as conn:
            value: datetime | None = conn.execute(select(func.max(stories.c.when_at))).scalar()
            return value

    def max_story_id(self) -> int:
        with self._read("max_story_id") as conn:
            return int(conn.execute(select(func.coalesce(func.max(stories.c.id), 0))).scalar_one())

    def merges_since(self, merge_id: int) -> list[EventMerge]:
        query = select(event_merges).where(event_merges.c.id > merge_id).order_by(event_merges.c.id)
        with self._read("merges_since") as conn:
            return [merge_from_row(row) for row in conn.execute(query)]

    def max_merge_id(self) -> int:
        with self._read("max_merge_id") as conn:
            query = select(func.coalesce(func.max(event_merges.c.id), 0))
            return int(conn.execute(query).scalar_one())

    # -- reading (the queries are in ``store.reads``) -------------------------------------
    def list_events(
        self,
        *,
        since: datetime | None = None,
        min_size: int = 1,
        limit: int = 50,
        offset: int = 0,
        q: str | None = None,
        source: str | None = None,
        before: tuple[datetime, int] | None = None,
    ) -> list[Event]:
        with self._read("list_events") as conn:
            return reads.list_events(
                conn, since=since, min_size=min_size, limit=limit, offset=offset, q=q,
                source=source, before=before,
            )  # fmt: skip

    def count_events(self, *, since: datetime | None = None, min_size: int = 1) -> int:
        with self._read("count_events") as conn:
            return reads.count_events(conn, since=since, min_size=min_size)

    def get_event(self, event_id: int) -> EventDetail:
        with self._read("get_event") as conn:
            return reads.get_event(conn, event_id)

    def merged_into(self, event_id: int) -> int | None:
        with self._read("merged_into") as conn:
            return reads.merged_into(conn, event_id)

    # -- the webhook outbox (``store.outbox``) ----------------------------------------------
    def claim_webhooks(self, *, now: datetime, limit: int, lease_s: float) -> list[OutboxItem]:
        with self._write("claim_webhooks") as conn:
            return outbox.claim_due(conn, now=now, limit=limit, lease_s=lease_s)

    def finish_webhook(
        self, item_id: int, *, now: datetime, delivered: bool, retry_at: datetime | None,
        error: str | None,
    ) -> None:  # fmt: skip
        with self._write("finish_webhook") as conn:
            outbox.finish(conn, item_id, now=now, delivered=delivered, retry_at=retry_at,
                          error=error)  # fmt: skip

    def webhook_backlog(self) -> int:
        with self._read("webhook_backlog") as conn:
            return outbox.backlog(conn)

    def counts(self) -> dict[str, int]:
        with self._read("counts") as conn:
            return {name: int(conn.execute(q).scalar_one()) for name, q in count_queries().items()}
