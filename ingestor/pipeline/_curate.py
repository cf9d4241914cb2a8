"""The operator's curation and retention, carried out over the store alone.

Owns: ``Curator``: merge, split, move and delete an event or story, and prune old stories, each
in one write transaction that also chooses every touched event's canonical story under the
canonical policy (``cluster.choose_canonical`` over the members left), so sizes and canonical
stories are never left inconsistent. Each step is logged by the store; a clustering window
(this process's, or another daemon's) replays the log before its next write
(``_window.Window.replay_curation``). Stories a deletion or a prune takes away are also taken
out of a shared LSH index, when one is configured, so it holds no story the store lost.

Does not: open a clustering window (none is needed: the log carries the change to every
window) or decide anything automatic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import structlog

from ingestor.cluster import Member, choose_canonical, make_index
from ingestor.config import Settings
from ingestor.models import PruneReport
from ingestor.pipeline._window import namespace
from ingestor.store import Store, WriteTx

__all__ = ["PRUNE_BATCH", "Curator"]

log = structlog.get_logger()

PRUNE_BATCH = 2000
"""Stories a prune removes per transaction."""


class Curator:
    """Curation steps over one store (see the module docstring)."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def _canonical(self, tx: WriteTx, event_ids: Iterable[int]) -> None:
        policy = self.settings.cluster
        groups: dict[int, list[Member]] = {}
        for item in tx.members(event_ids):
            groups.setdefault(item.event_id, []).append(
                Member(item.story_id, item.when, item.source, item.signature.length,
                       tuple(item.signature.credits))
            )  # fmt: skip
        for event_id, members in groups.items():
            tx.set_canonical(
                event_id, choose_canonical(members, policy.canonical, policy.source_priority)
            )

    def _unindex(self, story_ids: Sequence[int]) -> None:
        """Take removed stories out of a shared LSH index (an in-memory one is rebuilt by the
        window that holds it)."""
        if not self.settings.index_url or not story_ids:
            return
        index = make_index(
            self.settings.cluster, self.settings.fingerprint, url=self.settings.index_url,
            namespace=namespace(self.settings),
        )  # fmt: skip
        index.remove(story_ids)

    def merge(self, into: int, gone: int, *, now: datetime) -> int:
        """Fold event ``gone`` into ``into``; the merge's id."""
        with self.store.write() as tx:
            merge_id = tx.curate_merge(into, gone, now=now)
            self._canonical(tx, [into])
        log.info("events_merged", into=into, gone=gone, manual=True)
        return merge_id

    def split(self, event_id: int, story_ids: Sequence[int], *, now: datetime) -> int:
        """Split ``story_ids`` off ``event_id`` into a new event; its id."""
        with self.store.write() as tx:
            new = tx.split_event(event_id, story_ids, now=now)
            self._canonical(tx, [event_id, new])
        log.info("event_split", event_id=event_id, new_event_id=new, stories=len(story_ids))
        return new

    def move(self, story_id: int, event_id: int, *, now: datetime) -> int:
        """Move a story into another event; the event it left."""
        with self.store.write() as tx:
            left = tx.move_story(story_id, event_id, now=now)
            self._canonical(tx, [left, event_id])
        log.info("story_moved", story_id=story_id, from_event=left, to_event=event_id)
        return left

    def delete(self, event_id: int, *, now: datetime) -> int:
        """Delete an event (its stories kept as known duplicates); how many stories it had."""
        with self.store.write() as tx:
            signed = [item.story_id for item in tx.members([event_id])]
            count = tx.delete_event(event_id, now=now)
        self._unindex(signed)
        log.info("event_deleted", event_id=event_id, stories=count)
        return count

    def prune(self, before: datetime, *, now: datetime, dry_run: bool = False) -> PruneReport:
        """Remove the stories whose time is before ``before`` (``dry_run``: count them), in
        transactions of ``PRUNE_BATCH`` stories, so a first prune of a large store never holds
        the writers' lock for long; each batch leaves every event consistent."""
        if dry_run:
            return self.store.prune_preview(before)
        stories = 0
        removed: set[int] = set()
        changed: set[int] = set()
        while True:
            with self.store.write() as tx:
                batch = tx.prune(before, now=now, limit=PRUNE_BATCH)
                self._canonical(tx, batch.changed_events)
            self._unindex(batch.story_ids)
            stories += batch.stories
            removed.update(batch.removed_events)
            changed.update(batch.changed_events)
            if batch.stories < PRUNE_BATCH:
                break
        changed -= removed
        report = PruneReport(
            before, stories, len(removed), len(changed), changed_events=tuple(sorted(changed)),
            removed_events=tuple(sorted(removed)),
        )  # fmt: skip
        log.info(
            "stories_pruned", cutoff=before.isoformat(), stories=report.stories,
            events_removed=report.events_removed, events_changed=report.events_changed,
        )  # fmt: skip
        return report
