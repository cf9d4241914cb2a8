"""The operator's curation inside one write transaction: merge, split, move, delete, prune.

Owns: ``CurationTx``, the part of ``SQLWriteTx`` that changes events on an operator's word
rather than the clusterer's: each step recounts the events it touched (size, first and last
seen from the members left), keeps a provisional canonical story that is a member, records
``event_separations`` where the operator split events apart, and logs itself in ``curations``
so that other daemons replay it (``Store.curations_since``). The pipeline then chooses each
touched event's canonical story under the canonical policy (``WriteTx.set_canonical``).

Does not: choose canonical stories by policy (the pipeline does, with ``cluster``), touch the
clustering window, or read the clock (every ``now`` is an argument).

Event rows emptied by a split, move or delete stay with size 0, listed nowhere (like a merged
event), so their ids are never reused. A prune deletes the rows of the events it empties: their
canonical story is gone, and the foreign key would refuse them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from ingestor.errors import NotFound, Refused, StoreError
from ingestor.models import IndexedStory, PruneReport
from ingestor.store.rows import index_query, indexed_from_row
from ingestor.store.schema import (
    curations,
    event_merges,
    event_separations,
    events,
    memberships,
    stories,
    story_revisions,
)

__all__ = ["CurationTx", "prune_plan"]

_CHUNK = 500


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


def prune_plan(conn: Connection, before: datetime) -> tuple[list[int], set[int], set[int]]:
    """What a prune at ``before`` removes: the stories, the events left with no member, and
    the events that lose some members but keep others."""
    gone = list(
        conn.scalars(select(stories.c.id).where(stories.c.when_at < before).order_by(stories.c.id))
    )
    touched: set[int] = set()
    for chunk in _chunks(gone):
        touched.update(
            conn.scalars(
                select(memberships.c.event_id).where(memberships.c.story_id.in_(chunk)).distinct()
            )
        )
    emptied: set[int] = set()
    for event_id in touched:
        left = conn.execute(
            select(func.count())
            .select_from(memberships.join(stories, stories.c.id == memberships.c.story_id))
            .where(memberships.c.event_id == event_id, stories.c.when_at >= before)
        ).scalar_one()
        if not left:
            emptied.add(event_id)
    return gone, emptied, touched - emptied


class CurationTx:
    """Curation steps on the transaction's connection (mixed into ``SQLWriteTx``)."""

    _conn: Connection

    if TYPE_CHECKING:

        def merge_events(self, into: int, gone: int, *, story_id: int, now: datetime) -> int: ...

        def create_event(self, canonical_story_id: int, *, now: datetime) -> int: ...

    # -- reading inside the transaction -------------------------------------------------------
    def members(self, event_ids: Iterable[int]) -> list[IndexedStory]:
        """The signed members of these events, by story id: what the canonical policy and a
        window's refresh read."""
        wanted = sorted(set(event_ids))
        found: list[IndexedStory] = []
        for chunk in _chunks(wanted):
            query = index_query().where(memberships.c.event_id.in_(chunk))
            found.extend(indexed_from_row(row) for row in self._conn.execute(query))
        return sorted(found, key=lambda item: item.story_id)

    def _live_event(self, event_id: int) -> None:
        size = self._conn.execute(
            select(events.c.size).where(events.c.id == event_id)
        ).scalar_one_or_none()
        if not size:
            raise NotFound(f"no event {event_id}")

    def _event_of(self, story_id: int) -> int:
        row = self._conn.execute(
            select(stories.c.id, memberships.c.event_id)
            .select_from(stories.outerjoin(memberships, memberships.c.story_id == stories.c.id))
            .where(stories.c.id == story_id)
        ).first()
        if row is None:
            raise NotFound(f"no story {story_id}")
        if row.event_id is None:
            raise Refused(f"story {story_id} belongs to no event (its event was deleted)")
        return int(row.event_id)

    # -- bookkeeping --------------------------------------------------------------------------
    def _recount(self, event_ids: Iterable[int]) -> None:
        """Size and span of each event from its members; a canonical story that left is
        replaced by the earliest member (the pipeline then applies the canonical policy)."""
        for event_id in set(event_ids):
            row = self._conn.execute(
                select(func.count(), func.min(stories.c.when_at), func.max(stories.c.when_at))
                .select_from(memberships.join(stories, stories.c.id == memberships.c.story_id))
                .where(memberships.c.event_id == event_id)
            ).one()
            size, first, last = int(row[0]), row[1], row[2]
            values: dict[str, object] = {"size": size}
            if size:
                values.update(first_seen=first, last_seen=last)
                canonical = self._conn.execute(
                    select(events.c.canonical_story_id).where(events.c.id == event_id)
                ).scalar_one()
                member = self._conn.execute(
                    select(memberships.c.event_id).where(memberships.c.story_id == canonical)
                ).scalar_one_or_none()
                if member != event_id:
                    values["canonical_story_id"] = self._conn.execute(
                        select(memberships.c.story_id)
                        .join(stories, stories.c.id == memberships.c.story_id)
                        .where(memberships.c.event_id == event_id)
                        .order_by(stories.c.when_at, stories.c.id)
                        .limit(1)
                    ).scalar_one()
            self._conn.execute(update(events).where(events.c.id == event_id).values(**values))

    def _log(
        self,
        action: str,
        event_id: int | None,
        other: int | None,
        *,
        now: datetime,
        count: int = 0,
        cutoff: datetime | None = None,
    ) -> int:
        result = self._conn.execute(
            insert(curations).values(
                action=action,
                event_id=event_id,
                other_event_id=other,
                stories=count,
                cutoff=cutoff,
                created_at=now,
            )
        )
        key = result.inserted_primary_key
        if key is None:
            raise StoreError("curation: the database returned no id")
        return int(key[0])

    def _separate(self, a: int, b: int, *, now: datetime) -> None:
        for one, other in ((a, b), (b, a)):
            known = self._conn.execute(
                select(event_separations.c.event_id).where(
                    event_separations.c.event_id == one, event_separations.c.apart_from == other
                )
            ).first()
            if known is None:
                self._conn.execute(
                    insert(event_separations).values(event_id=one, apart_from=other, created_at=now)
                )

    def _forget_separations(self, event_ids: Sequence[int]) -> None:
        self._conn.execute(
            delete(event_separations).where(
                or_(
                    event_separations.c.event_id.in_(event_ids),
                    event_separations.c.apart_from.in_(event_ids),
                )
            )
        )

    def carry_separations(self, into: int, gone: int) -> None:
        """A merge of ``gone`` into ``into``: ``into`` is kept apart from whatever ``gone`` was
        (called by every merge, automatic or manual)."""
        rows = self._conn.execute(
            select(event_separations).where(event_separations.c.event_id == gone)
        ).all()
        self._forget_separations([gone])
        for row in rows:
            if row.apart_from != into:
                self._separate(into, row.apart_from, now=row.created_at)

    # -- the steps ----------------------------------------------------------------------------
    def curate_merge(self, into: int, gone: int, *, now: datetime) -> int:
        """The operator folds event ``gone`` into ``into``: logged in ``event_merges`` (so it
        is replayed like an automatic merge, under ``gone``'s canonical story) and in
        ``curations``. A separation between the two is lifted. Returns the merge's id."""
        if into == gone:
            raise Refused(f"cannot merge event {into} into itself")
        self._live_event(into)
        self._live_event(gone)
        canonical = self._conn.execute(
            select(events.c.canonical_story_id).where(events.c.id == gone)
        ).scalar_one()
        self._conn.execute(
            delete(event_separations).where(
                or_(
                    (event_separations.c.event_id == into)
                    & (event_separations.c.apart_from == gone),
                    (event_separations.c.event_id == gone)
                    & (event_separations.c.apart_from == into),
                )
            )
        )
        merge_id = self.merge_events(into, gone, story_id=canonical, now=now)
        self._log("merge", into, gone, now=now)
        return merge_id

    def split_event(self, event_id: int, story_ids: Sequence[int], *, now: datetime) -> int:
        """The listed stories leave ``event_id`` and form a new event, kept apart from it.
        Returns the new event's id."""
        self._live_event(event_id)
        wanted = sorted(set(story_ids))
        if not wanted:
            raise Refused("name at least one story to split off")
        for story_id in wanted:
            if self._event_of(story_id) != event_id:
                raise Refused(f"story {story_id} is not in event {event_id}")
        size = self._conn.execute(select(events.c.size).where(events.c.id == event_id)).scalar_one()
        if len(wanted) >= size:
            raise Refused(f"a split must leave at least one story in event {event_id}")
        new = self.create_event(wanted[0], now=now)  # its spans are recounted below
        self._conn.execute(
            update(memberships)
            .where(memberships.c.story_id.in_(wanted))
            .values(event_id=new, reason="split", joined_at=now)
        )
        self._recount([event_id, new])
        self._separate(event_id, new, now=now)
        self._log("split", event_id, new, now=now, count=len(wanted))
        return new

    def move_story(self, story_id: int, event_id: int, *, now: datetime) -> int:
        """Move a story into another event; the two are kept apart from then on (when the one
        it left still has members). Returns the event it left."""
        self._live_event(event_id)
        left = self._event_of(story_id)
        if left == event_id:
            raise Refused(f"story {story_id} is already in event {event_id}")
        self._conn.execute(
            update(memberships)
            .where(memberships.c.story_id == story_id)
            .values(event_id=event_id, reason="moved", joined_at=now)
        )
        self._recount([left, event_id])
        remaining = self._conn.execute(
            select(events.c.size).where(events.c.id == left)
        ).scalar_one()
        if remaining:
            self._separate(left, event_id, now=now)
        else:
            self.carry_separations(event_id, left)
        self._log("move", left, event_id, now=now, count=1)
        return left

    def delete_event(self, event_id: int, *, now: datetime) -> int:
        """Delete an event: its memberships go, its stories stay as known duplicates marked
        ``deleted_at`` (so the next poll does not bring them back). Returns how many."""
        self._live_event(event_id)
        members = list(
            self._conn.scalars(
                select(memberships.c.story_id).where(memberships.c.event_id == event_id)
            )
        )
        for chunk in _chunks(members):
            self._conn.execute(
                update(stories).where(stories.c.id.in_(chunk)).values(deleted_at=now)
            )
        self._conn.execute(delete(memberships).where(memberships.c.event_id == event_id))
        self._conn.execute(update(events).where(events.c.id == event_id).values(size=0))
        self._forget_separations([event_id])
        self._log("delete", event_id, None, now=now, count=len(members))
        return len(members)

    def prune(self, before: datetime, *, now: datetime, limit: int | None = None) -> PruneReport:
        """Remove the stories whose time (published, else fetched) is before ``before`` (the
        ``limit`` oldest by id, when given: one batch), with their revisions, memberships and
        search entries; recount the events that keep members and remove those that keep none.
        Merge-log rows naming a removed story go too."""
        query = select(stories.c.id).where(stories.c.when_at < before).order_by(stories.c.id)
        gone = list(self._conn.scalars(query if limit is None else query.limit(limit)))
        touched: set[int] = set()
        for chunk in _chunks(gone):
            touched.update(
                self._conn.scalars(
                    select(memberships.c.event_id)
                    .where(memberships.c.story_id.in_(chunk))
                    .distinct()
                )
            )
            self._conn.execute(delete(memberships).where(memberships.c.story_id.in_(chunk)))
        emptied = {
            event_id
            for event_id in touched
            if not self._conn.execute(
                select(func.count())
                .select_from(memberships)
                .where(memberships.c.event_id == event_id)
            ).scalar_one()
        }
        changed = touched - emptied
        self._recount(changed)
        doomed: set[int] = set(emptied)
        for chunk in _chunks(gone):
            # Event rows whose canonical story goes and that have no member left: emptied
            # here, or emptied earlier (merged away, deleted).
            doomed.update(
                self._conn.scalars(
                    select(events.c.id).where(
                        events.c.canonical_story_id.in_(chunk), events.c.size == 0
                    )
                )
            )
        if doomed:
            ids = sorted(doomed)
            for chunk in _chunks(ids):
                self._conn.execute(delete(events).where(events.c.id.in_(chunk)))
            self._forget_separations(ids)
        for chunk in _chunks(gone):
            self._conn.execute(delete(event_merges).where(event_merges.c.story_id.in_(chunk)))
            self._conn.execute(delete(story_revisions).where(story_revisions.c.story_id.in_(chunk)))
            self._conn.execute(delete(stories).where(stories.c.id.in_(chunk)))
        if gone:
            self._log("prune", None, None, now=now, count=len(gone), cutoff=before)
        return PruneReport(
            before, len(gone), len(emptied), len(changed), story_ids=tuple(gone),
            changed_events=tuple(sorted(changed)), removed_events=tuple(sorted(emptied)),
        )  # fmt: skip
