"""``SQLWriteTx``: the operations allowed inside one ``Store.write()`` transaction.

Owns: finding an already stored copy of a story, inserting and editing stories (with a capped
revision history), creating events, memberships and their counters, the canonical story, a
feed's poll state, and the webhook notifications of new events, joins and merges
(``store.outbox``), so they commit or roll back with the change they tell of.

Does not: open, commit or roll back the transaction (``SQLStore.write`` does, serialized with every
other writer), or decide anything about clustering: the pipeline passes in the ``Assignment`` the
clusterer made. Every time it stores comes from its arguments; it never reads the clock.

Because the transaction holds the writers' lock from its first statement, read-then-write steps
here (look up, then insert or update) cannot race another process.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, Select, insert, select, update

from ingestor.errors import NotFound, StoreError
from ingestor.models import (
    Assignment,
    FeedState,
    Signature,
    Story,
    StoryKey,
    StoryMatch,
    WebhookKind,
)
from ingestor.store import outbox
from ingestor.store.curation import CurationTx
from ingestor.store.engine import translated
from ingestor.store.rows import signals_to_text, story_values
from ingestor.store.schema import (
    event_merges,
    events,
    feeds,
    memberships,
    stories,
    story_revisions,
)

__all__ = ["SQLWriteTx", "find_story"]


def find_story(conn: Connection, key: StoryKey) -> StoryMatch | None:
    """The first match by ``(feed_id, guid)``, the feed's own ``url``, ``external_id``,
    content, then ``url`` from any other feed, on ``conn`` (a write transaction's, or a read's
    when the answer only saves work).

    A match on ``external_id`` (a replayed record's own id) reports ``matched_on="guid"``: it
    plays the part of a GUID for records that come without a feed. A match on another feed's
    URL is last and reports ``foreign=True``: only a story's own feed may edit it, so the
    pipeline stores a different text under that link as a variant, never as an edit; that
    variant is found again by ``key.variant_source`` and the content hash.
    """
    base = (
        select(stories.c.id, stories.c.content_hash, stories.c.feed_id, memberships.c.event_id)
        .select_from(stories.outerjoin(memberships, memberships.c.story_id == stories.c.id))
        .limit(1)
    )
    feed_id = key.feed_id
    feed_match = stories.c.feed_id.is_(None) if feed_id is None else stories.c.feed_id == feed_id
    attempts: list[tuple[Literal["guid", "url", "content"], Select[Any]]] = []
    if key.guid:
        attempts.append(("guid", base.where(feed_match, stories.c.guid == key.guid)))
    if key.url:
        # A URL is stored once (a unique index): this finds the story of any feed.
        attempts.append(("url", base.where(stories.c.url == key.url)))
    if key.external_id:
        attempts.append(("guid", base.where(stories.c.external_id == key.external_id)))
    same_text = (stories.c.source == key.source, stories.c.content_hash == key.content_hash)
    attempts.append(("content", base.where(*same_text)))
    foreign: StoryMatch | None = None
    with translated("find_story"):
        for matched_on, query in attempts:
            row = conn.execute(query).first()
            if row is None:
                continue
            match = StoryMatch(
                story_id=row.id,
                event_id=row.event_id,
                matched_on=matched_on,
                content_hash=row.content_hash,
                foreign=matched_on == "url" and row.feed_id != feed_id,
            )
            if not match.foreign:
                return match
            foreign = match
        if foreign is not None and key.variant_source and key.variant_source != key.source:
            # This feed's own variant of the other story, stored under its own source.
            row = conn.execute(
                base.where(
                    stories.c.source == key.variant_source,
                    stories.c.content_hash == key.content_hash,
                )
            ).first()
            if row is not None:
                return StoryMatch(row.id, row.event_id, "content", row.content_hash)
    return foreign


class SQLWriteTx(CurationTx):
    """One write transaction on a SQL database (see ``ingestor.store.base.WriteTx``); the
    operator's curation steps are ``store.curation``'s."""

    def __init__(
        self, conn: Connection, *, max_revisions: int, webhooks: tuple[str, ...] = ()
    ) -> None:
        self._conn = conn
        self._max_revisions = max_revisions
        self._webhooks = webhooks
        """URLs told of new events, joins and merges (``store.outbox``), in this transaction."""
        self._created: set[int] = set()

    # -- stories -----------------------------------------------------------------------------
    def find_story(self, key: StoryKey) -> StoryMatch | None:
        return find_story(self._conn, key)

    def insert_story(
        self, story: Story, signature: Signature | None, *, feed_id: int | None
    ) -> int:
        with translated("insert_story"):
            result = self._conn.execute(
                insert(stories).values(**story_values(story, signature, feed_id))
            )
            key = result.inserted_primary_key
            if key is None:
                raise StoreError("insert_story: the database returned no id")
            return int(key[0])

    def update_story(self, story_id: int, story: Story, signature: Signature | None) -> bool:
        """Replace the text of a stored story, keeping the old one as a revision.

        The story keeps its identity and its place in time: ``source``, ``guid``, ``url``,
        ``published``, ``fetched`` and ``when_at`` stay, so event counters stay right;
        ``updated_at`` and the revision's ``replaced_at`` are the new version's ``fetched``.
        Returns ``False`` and changes nothing when the hash is unchanged or is one of the
        story's earlier revisions (two copies of one story taking turns, an article replayed
        beside its feed entry, are not edits), the cap of ``max_revisions`` is reached, or the
        new text is already stored as another story of the same source.
        """
        with translated("update_story"):
            row = self._conn.execute(
                select(
                    stories.c.source,
                    stories.c.title,
                    stories.c.text,
                    stories.c.content_hash,
                    stories.c.revisions,
                ).where(stories.c.id == story_id)
            ).first()
            if row is None:
                raise NotFound(f"no story {story_id}")
            if row.content_hash == story.content_hash or row.revisions >= self._max_revisions:
                return False
            earlier = self._conn.execute(
                select(story_revisions.c.story_id).where(
                    story_revisions.c.story_id == story_id,
                    story_revisions.c.content_hash == story.content_hash,
                )
            ).first()
            if earlier is not None:
                return False
            taken = self._conn.execute(
                select(stories.c.id).where(
                    stories.c.source == row.source,
                    stories.c.content_hash == story.content_hash,
                    stories.c.id != story_id,
                )
            ).first()
            if taken is not None:
                return False
            self._conn.execute(
                insert(story_revisions).values(
                    story_id=story_id,
                    title=row.title,
                    text=row.text,
                    content_hash=row.content_hash,
                    replaced_at=story.fetched,
                )
            )
            self._conn.execute(
                update(stories)
                .where(stories.c.id == story_id)
                .values(
                    title=story.title,
                    text=story.text,
                    html=story.html,
                    content_hash=story.content_hash,
                    signature_version=None if signature is None else signature.version,
                    signature=None if signature is None else signature.to_bytes(),
                    revisions=stories.c.revisions + 1,
                    updated_at=story.fetched,
                )
            )
            return True

    def _story_when(self, story_id: int) -> datetime:
        when: datetime | None = self._conn.execute(
            select(stories.c.when_at).where(stories.c.id == story_id)
        ).scalar_one_or_none()
        if when is None:
            raise NotFound(f"no story {story_id}")
        return when

    # -- events ------------------------------------------------------------------------------
    def create_event(self, canonical_story_id: int, *, now: datetime) -> int:
        with translated("create_event"):
            when = self._story_when(canonical_story_id)
            result = self._conn.execute(
                insert(events).values(
                    canonical_story_id=canonical_story_id,
                    first_seen=when,
                    last_seen=when,
                    size=0,
                    created_at=now,
                )
            )
            key = result.inserted_primary_key
            if key is None:
                raise StoreError("create_event: the database returned no id")
            self._created.add(int(key[0]))
            return int(key[0])

    def add_membership(
        self, story_id: int, event_id: int, assignment: Assignment, *, now: datetime
    ) -> None:
        """Join ``story_id`` to ``event_id``; joining the event it is already in changes nothing,
        joining a second event is a ``StoreError`` (one event per story)."""
        with translated("add_membership"):
            when = self._story_when(story_id)
            event = self._conn.execute(
                select(events.c.size, events.c.first_seen, events.c.last_seen).where(
                    events.c.id == event_id
                )
            ).first()
            if event is None:
                raise NotFound(f"no event {event_id}")
            current = self._conn.execute(
                select(memberships.c.event_id).where(memberships.c.story_id == story_id)
            ).scalar_one_or_none()
            if current == event_id:
                return
            if current is not None:
                raise StoreError(f"story {story_id} already belongs to event {current}")
            self._conn.execute(
                insert(memberships).values(
                    story_id=story_id,
                    event_id=event_id,
                    similarity=float(assignment.similarity),
                    reason=assignment.reason,
                    signals=signals_to_text(assignment.signals),
                    joined_at=now,
                )
            )
            empty = event.size == 0
            self._conn.execute(
                update(events)
                .where(events.c.id == event_id)
                .values(
                    size=events.c.size + 1,
                    first_seen=when if empty else min(event.first_seen, when),
                    last_seen=when if empty else max(event.last_seen, when),
                )
            )
            if self._webhooks:
                created = empty and event_id in self._created
                kind: WebhookKind = "event.created" if created else "event.variant_added"
                data = {"story_id": story_id, "reason": assignment.reason,
                        "similarity": float(assignment.similarity)}  # fmt: skip
                outbox.notify(self._conn, self._webhooks, kind, event_id, data, now=now)

    def merge_events(self, into: int, gone: int, *, story_id: int, now: datetime) -> int:
        """Fold event ``gone`` into ``into``: its memberships move, ``into``'s size and span
        grow, and the merge is logged (its id is returned). ``gone``'s row stays behind with
        size 0, listed nowhere, so its id is never given to another event (SQLite reuses the
        highest id of a deleted row). The caller sets ``into``'s canonical story afterwards, as
        after any join."""
        if into == gone:
            raise StoreError(f"cannot merge event {into} into itself")
        with translated("merge_events"):
            rows = {
                row.id: row
                for row in self._conn.execute(
                    select(
                        events.c.id, events.c.size, events.c.first_seen, events.c.last_seen
                    ).where(events.c.id.in_((into, gone)), events.c.size > 0)
                )
            }
            for event_id in (into, gone):
                if event_id not in rows:
                    raise NotFound(f"no event {event_id}")
            kept, folded = rows[into], rows[gone]
            self._conn.execute(
                update(memberships).where(memberships.c.event_id == gone).values(event_id=into)
            )
            self._conn.execute(
                update(events)
                .where(events.c.id == into)
                .values(
                    size=kept.size + folded.size,
                    first_seen=min(kept.first_seen, folded.first_seen),
                    last_seen=max(kept.last_seen, folded.last_seen),
                )
            )
            self._conn.execute(update(events).where(events.c.id == gone).values(size=0))
            self.carry_separations(into, gone)
            result = self._conn.execute(
                insert(event_merges).values(
                    into_event_id=into, gone_event_id=gone, story_id=story_id, merged_at=now
                )
            )
            key = result.inserted_primary_key
            if key is None:
                raise StoreError("merge_events: the database returned no id")
            if self._webhooks:
                data = {"merged_event_id": gone, "story_id": story_id}
                outbox.notify(self._conn, self._webhooks, "event.merged", into, data, now=now)
            return int(key[0])

    def set_canonical(self, event_id: int, story_id: int) -> None:
        """Make a member of the event its canonical story (``StoreError`` for a non-member)."""
        with translated("set_canonical"):
            member = self._conn.execute(
                select(memberships.c.event_id).where(memberships.c.story_id == story_id)
            ).scalar_one_or_none()
            if member != event_id:
                exists = self._conn.execute(
                    select(events.c.id).where(events.c.id == event_id)
                ).first()
                if exists is None:
                    raise NotFound(f"no event {event_id}")
                raise StoreError(f"story {story_id} is not a member of event {event_id}")
            self._conn.execute(
                update(events).where(events.c.id == event_id).values(canonical_story_id=story_id)
            )

    def set_signature(self, story_id: int, signature: Signature) -> None:
        """Replace a story's signature (recomputed under a new fingerprint version)."""
        with translated("set_signature"):
            done = self._conn.execute(
                update(stories)
                .where(stories.c.id == story_id)
                .values(signature_version=signature.version, signature=signature.to_bytes())
            )
            if done.rowcount == 0:
                raise NotFound(f"no story {story_id}")

    # -- feeds -------------------------------------------------------------------------------
    def update_feed(self, feed_id: int, state: FeedState) -> None:
        """Write a poll's outcome and release any lease on the feed.

        A feed the operator removed while it was being polled stays removed (only ``add_feed``
        revives). A new URL (permanent redirect) that another feed row already has is not taken:
        the two rows stay apart, and the operator can remove one.
        """
        with translated("update_feed"):
            row = self._conn.execute(
                select(feeds.c.url, feeds.c.status).where(feeds.c.id == feed_id)
            ).first()
            if row is None:
                raise NotFound(f"no feed {feed_id}")
            current = row.url
            values: dict[str, Any] = {
                "status": state.status,
                "next_poll_at": state.next_poll_at,
                "last_polled_at": state.last_polled_at,
                "last_status": state.last_status,
                "consecutive_errors": state.consecutive_errors,
                "etag": state.etag,
                "last_modified": state.last_modified,
                "last_error": state.last_error,
                "lease_owner": None,
                "lease_expires_at": None,
            }
            if row.status == "removed":
                del values["status"]
            if state.title is not None:
                values["title"] = state.title
            if state.url is not None and state.url != current:
                taken = self._conn.execute(
                    select(feeds.c.id).where(feeds.c.url == state.url)
                ).first()
                if taken is None:
                    values["url"] = state.url
            self._conn.execute(update(feeds).where(feeds.c.id == feed_id).values(**values))
