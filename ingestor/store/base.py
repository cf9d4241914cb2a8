"""The storage interface every backend implements.

Owns: the ``Store`` and ``WriteTx`` protocols, the contract the pipeline and the CLI program
against. ``store.sql`` implements it for SQLite and PostgreSQL with one SQLAlchemy Core schema and
one chain of Alembic migrations.

The rules every implementation keeps:

* Writes happen only inside ``Store.write()``: one transaction, serialized with every other
  writer (SQLite ``BEGIN IMMEDIATE``; PostgreSQL a transaction-level advisory lock), so event
  assignment is never raced by another process. Leaving the block commits; an exception rolls
  back everything, including the feed's poll state.
* A story has one row however often it arrives: exact copies are found by ``WriteTx.find_story``
  before insert, and unique indexes back that up.
* A feed's ETag/Last-Modified and schedule are written by ``WriteTx.update_feed`` in the same
  transaction as the stories of that poll, never before them.
* Event counters (size, first/last seen) change only through ``add_membership``, so an event
  never exists without members once its transaction commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ingestor.models import (
    Assignment,
    Curation,
    Event,
    EventDetail,
    EventMerge,
    ExportedEvent,
    FeedSource,
    FeedState,
    IndexedStory,
    OutboxItem,
    PruneReport,
    SearchHit,
    Signature,
    Story,
    StoryDetail,
    StoryKey,
    StoryMatch,
)

__all__ = ["SchemaStatus", "Store", "WriteTx"]


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    current: str | None
    """The revision the database is at (``None``: empty database)."""
    head: str
    """The newest revision this code knows."""

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


class WriteTx(Protocol):
    """One write transaction (see ``Store.write``)."""

    def find_story(self, key: StoryKey) -> StoryMatch | None:
        """An already stored story this one is the same as: same ``(feed_id, guid)``, else same
        canonical ``url``, else same ``external_id``, else same ``(source, content_hash)``."""
        ...

    def insert_story(
        self, story: Story, signature: Signature | None, *, feed_id: int | None
    ) -> int:
        """Insert a new story row and return its id."""
        ...

    def update_story(self, story_id: int, story: Story, signature: Signature | None) -> bool:
        """Record an in-place edit of a stored story (new text, same identity). Keeps the previous
        text as a revision, at most ``max_revisions`` of them; returns ``False`` (and changes
        nothing) when the cap is reached or the content hash is unchanged."""
        ...

    def create_event(self, canonical_story_id: int, *, now: datetime) -> int:
        """A new, still empty event; ``add_membership`` must follow in the same transaction."""
        ...

    def add_membership(
        self, story_id: int, event_id: int, assignment: Assignment, *, now: datetime
    ) -> None:
        """Put a story in an event, with the similarity and reason it joined; updates the event's
        size and first/last seen (from the story's ``when``)."""
        ...

    def merge_events(self, into: int, gone: int, *, story_id: int, now: datetime) -> int:
        """Fold event ``gone`` into ``into`` (``story_id`` showed they are one); returns the
        merge's id in the log other processes replay (``Store.merges_since``)."""
        ...

    def set_canonical(self, event_id: int, story_id: int) -> None: ...

    def set_signature(self, story_id: int, signature: Signature) -> None:
        """Replace a story's signature (recomputed under a new fingerprint version)."""
        ...

    def update_feed(self, feed_id: int, state: FeedState) -> None: ...

    # -- the operator's curation (``store.curation``); each is logged for other daemons ----
    def members(self, event_ids: Iterable[int]) -> list[IndexedStory]:
        """The signed members of these events, by story id."""
        ...

    def curate_merge(self, into: int, gone: int, *, now: datetime) -> int:
        """Fold ``gone`` into ``into`` on the operator's word; the merge's id."""
        ...

    def split_event(self, event_id: int, story_ids: Sequence[int], *, now: datetime) -> int:
        """The stories leave ``event_id`` and form a new event kept apart from it; its id."""
        ...

    def move_story(self, story_id: int, event_id: int, *, now: datetime) -> int:
        """Move a story into another event; the event it left."""
        ...

    def delete_event(self, event_id: int, *, now: datetime) -> int:
        """Delete an event, keeping its stories as known duplicates; how many."""
        ...

    def prune(self, before: datetime, *, now: datetime, limit: int | None = None) -> PruneReport:
        """Remove the stories whose time is before ``before`` (the ``limit`` oldest, when
        given), keeping events consistent."""
        ...


class Store(Protocol):
    """Feeds, stories, events and memberships, behind one interface."""

    url: str
    """The database URL, password masked."""

    # -- lifecycle ---------------------------------------------------------------------------
    def schema_status(self) -> SchemaStatus: ...

    def migrate(self) -> SchemaStatus:
        """Bring the schema to head (creating it on an empty database)."""
        ...

    def close(self) -> None: ...

    # -- writes ------------------------------------------------------------------------------
    def write(self) -> AbstractContextManager[WriteTx]:
        """One serialized write transaction; commit on exit, roll back on exception."""
        ...

    # -- feeds -------------------------------------------------------------------------------
    def add_feed(self, url: str, *, now: datetime, title: str | None = None) -> FeedSource:
        """Add a feed (or revive a removed, parked or gone one); due at once."""
        ...

    def remove_feed(self, url: str) -> bool:
        """Mark a feed removed (a tombstone: its stories stay). ``False`` if unknown."""
        ...

    def sync_feeds(self, urls: Iterable[str], *, now: datetime) -> int:
        """Add the configured feeds the store does not know yet; never revive a removed one.
        Returns how many were added."""
        ...

    def get_feed(self, url: str) -> FeedSource | None: ...

    def list_feeds(self, *, include_removed: bool = False) -> list[FeedSource]: ...

    def due_feeds(self, *, now: datetime, limit: int) -> list[FeedSource]:
        """Active feeds whose ``next_poll_at`` is unset or not after ``now``, most overdue first."""
        ...

    def claim_due_feeds(
        self, *, now: datetime, limit: int, owner: str, lease_s: int
    ) -> list[FeedSource]:
        """Like ``due_feeds``, but atomically leases the feeds to ``owner`` for ``lease_s``
        seconds, so several daemons on one database never poll a feed twice. ``update_feed``
        (or ``release_feed``) ends the lease."""
        ...

    def release_feed(self, feed_id: int, owner: str) -> bool: ...

    def refresh_feeds(self, url: str | None, *, now: datetime) -> int:
        """Make an active feed (every active one when ``url`` is ``None``) due at ``now``;
        returns how many were."""
        ...

    def reset_feed(self, url: str, *, now: datetime) -> FeedSource | None:
        """Clear a feed's errors, backoff and lease and make it due at ``now`` (a parked or gone
        one active again); ``None`` when unknown."""
        ...

    # -- stories -----------------------------------------------------------------------------
    def find_story(self, key: StoryKey) -> StoryMatch | None:
        """``WriteTx.find_story`` outside a write transaction: for a question whose answer only
        saves work (is this entry already stored as it is?), never for deciding a write."""
        ...

    # -- clustering state ----------------------------------------------------------------------
    def stories_since(self, story_id: int) -> list[IndexedStory]:
        """Stories with a membership whose id is above ``story_id``, oldest first: what another
        process wrote since this one last looked."""
        ...

    def max_story_id(self) -> int: ...

    def merges_since(self, merge_id: int) -> list[EventMerge]:
        """Event merges with an id above ``merge_id``, oldest first: what another process
        folded since an in-memory index last caught up."""
        ...

    def max_merge_id(self) -> int: ...

    def newest_story_time(self) -> datetime | None:
        """The latest ``when`` (published, else fetched) of any story, or ``None``."""
        ...

    def iter_unsigned(
        self, version: str, *, since: datetime | None = None
    ) -> Iterator[tuple[int, Story]]:
        """Stories in an event whose signature is missing or of another version, by id."""
        ...

    def iter_index(self, *, since: datetime) -> Iterator[IndexedStory]:
        """Every story in an event whose ``when`` is at or after ``since``, oldest first: what the
        clusterer needs to rebuild its in-memory index."""
        ...

    # -- reading -----------------------------------------------------------------------------
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
        """Events, newest first (by last seen, then id); ``since`` is ingestion time (events a
        story joined at or after it), ``q`` filters on the canonical title, ``source`` on a
        variant's source (both case aside); ``offset`` rows are skipped, or ``before``
        continues a listing after the ``(last_seen, id)`` of its last event."""
        ...

    def count_events(self, *, since: datetime | None = None, min_size: int = 1) -> int:
        """How many events ``list_events`` pages through with the same filters."""
        ...

    def merged_into(self, event_id: int) -> int | None:
        """The event ``event_id`` was merged into, followed to the last merge; ``None`` when it
        was never merged."""
        ...

    def get_event(self, event_id: int) -> EventDetail:
        """An event with all its variants; raises ``NotFound``."""
        ...

    # -- the webhook outbox ----------------------------------------------------------------
    def claim_webhooks(self, *, now: datetime, limit: int, lease_s: float) -> list[OutboxItem]:
        """Due pending notifications, oldest first, leased for ``lease_s`` seconds."""
        ...

    def finish_webhook(
        self, item_id: int, *, now: datetime, delivered: bool, retry_at: datetime | None,
        error: str | None,
    ) -> None:  # fmt: skip
        """Record one delivery attempt (``retry_at`` ``None`` and not delivered: give up)."""
        ...

    def webhook_backlog(self) -> int:
        """Notifications not delivered yet."""
        ...

    def counts(self) -> dict[str, int]:
        """Rows per table: feeds, stories, events, memberships."""
        ...

    # -- the operator's reading (``store.reading``) ------------------------------------------
    def get_story(self, story_id: int) -> StoryDetail:
        """A story with its earlier texts, its event and how it joined; raises ``NotFound``."""
        ...

    def search(self, query: str, *, limit: int = 20) -> list[SearchHit]:
        """Stories matching every word of ``query``, best first; ``StoreError`` for a query
        without words."""
        ...

    def iter_export(
        self, *, since: datetime | None = None, min_size: int = 1
    ) -> Iterator[ExportedEvent]:
        """Every event with its variants, by id, a page at a time."""
        ...

    def curations_since(self, curation_id: int) -> list[Curation]:
        """The curation log above ``curation_id``, oldest first (replayed like merges)."""
        ...

    def max_curation_id(self) -> int: ...

    def separations(self) -> list[tuple[int, int]]:
        """Pairs of events no automatic merge may fold together."""
        ...

    def members_of(self, event_ids: list[int]) -> list[IndexedStory]: ...

    def prune_preview(self, before: datetime) -> PruneReport:
        """What ``WriteTx.prune`` would remove now."""
        ...
