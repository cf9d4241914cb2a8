"""The clustering window: the clusterer over the store's recent stories, kept in step with it.

Owns: ``Window``, this process's clusterer and what it has seen of the store: loading the last
``cluster.window_hours`` of stories at start-up (and checking a shared LSH index against them),
catching up before each write with the merges and stories other processes committed, and
``ingestor index rebuild``; and ``survey``, the same window counted without changing anything
(``ingestor index status``).

Does not: write stories (``_write``) or poll. ``lock`` serializes every change to the window
and every write transaction of this process, as the store serializes them across processes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

import structlog

from ingestor.cluster import Clusterer, make_index
from ingestor.config import Settings
from ingestor.fingerprint import fingerprint
from ingestor.models import Signature
from ingestor.store import Store

__all__ = ["IndexStatus", "Window", "survey"]

log = structlog.get_logger()


def namespace(settings: Settings) -> str:
    """Where a shared index keeps the signatures of this fingerprint recipe (``LSHIndex`` adds
    the thresholds and permutation counts)."""
    return f"ingestor:{settings.fingerprint.version}"


class Window:
    """The clusterer of one process over its store; see the module docstring."""

    def __init__(self, store: Store, settings: Settings, *, shared: bool = True) -> None:
        self.store = store
        self.recipe = settings.fingerprint
        url = settings.index_url if shared else ""
        self.clusterer = Clusterer(
            settings.cluster,
            recipe=self.recipe,
            index=make_index(settings.cluster, self.recipe, url=url, namespace=namespace(settings)),
        )
        self.lock = threading.Lock()
        self.seen_story_id = 0
        """The newest story this window holds or has passed over (stale, or its own)."""
        self.seen_merge_id = 0
        self.seen_curation_id = 0
        self.stale_signatures = 0

    def load(self, *, now: datetime) -> int:
        """Rebuild the clusterer from the stories of the last window, and check a shared LSH
        index against them (count and fingerprint version), repairing what differs."""
        since = self.start(now)
        version = self.recipe.version
        # Read before the stories: a merge committed while they load is replayed at catch-up.
        self.seen_merge_id = self.store.max_merge_id()
        self.seen_curation_id = self.store.max_curation_id()
        self.clusterer.set_separations(self.store.separations())
        fresh = []
        for item in self.store.iter_index(since=since):
            self.seen_story_id = max(self.seen_story_id, item.story_id)
            if item.signature.version != version:
                self.stale_signatures += 1
                continue
            fresh.append(item)
        shared = self.clusterer.index.shared
        loaded = self.clusterer.load(fresh, index=not shared)
        log.info(
            "index_loaded",
            stories=loaded,
            events=self.clusterer.events,
            stale_signatures=self.stale_signatures,
            fingerprint=version,
            index="redis" if shared else "memory",
        )
        if shared:
            check = self.clusterer.reconcile(fresh, newest_id=self.seen_story_id)
            log.info(
                "index_checked",
                namespace=self.clusterer.index.namespace,
                expected=check.expected,
                present=check.present,
                inserted=check.missing,
                removed=check.removed,
                agrees=check.missing == 0 and check.removed == 0,
            )
        if self.stale_signatures:
            log.warning(
                "stale_signatures",
                count=self.stale_signatures,
                hint="run `ingestor index rebuild` to recompute them",
            )
        return loaded

    def start(self, now: datetime) -> datetime:
        """Where the window starts: one window before the newest story, or before ``now`` if
        that is earlier (a backfill of old news keeps its window across restarts)."""
        newest = self.store.newest_story_time()
        end = now if newest is None else min(now, newest)
        return end - self.clusterer.policy.window

    def catch_up(self) -> None:
        """Index what other processes committed since we last looked (several daemons), inside
        a write transaction (under ``lock``). A shared index should hold those stories already
        (their writer put them there before committing); ``ensure`` checks, and queues any it
        lacks for this transaction's index write."""
        # Merges first: a story committed after a merge is reported in the event it went into.
        # This process's own merges come back too, and change nothing (their event is gone).
        clusterer = self.clusterer
        for merge in self.store.merges_since(self.seen_merge_id):
            self.seen_merge_id = merge.id
            clusterer.merge(merge.into, merge.gone)
        self.replay_curation()
        caught = []
        for item in self.store.stories_since(self.seen_story_id):
            self.seen_story_id = max(self.seen_story_id, item.story_id)
            if item.signature.version == self.recipe.version and (
                clusterer.event_of(item.story_id) is None
            ):
                shared = clusterer.index.shared
                clusterer.add(
                    item.story_id,
                    item.event_id,
                    item.signature,
                    when=item.when,
                    source=item.source,
                    reason=item.reason,
                    similarity=item.similarity,
                    index=not shared,
                    dated=item.dated,
                )
                if shared and not clusterer.redundant(item.reason, item.similarity):
                    caught.append((item.story_id, item.signature.terms, item.signature.shingles))
        if caught:
            missing = clusterer.index.ensure(caught)
            if missing:
                log.warning("index_repaired", stories=missing, reason="committed, not indexed")

    def replay_curation(self) -> int:
        """The operator's curation committed since we last looked (by any process, this one
        included): the events it changed are rebuilt from the store's members, the stories it
        removed forgotten (LSH entries too), and the separations read anew. Manual merges are
        in the merge log and were replayed with the automatic ones. Returns the steps seen."""
        clusterer = self.clusterer
        steps = self.store.curations_since(self.seen_curation_id)
        if not steps:
            return 0
        changed: set[int] = set()
        for step in steps:
            self.seen_curation_id = step.id
            if step.action == "prune" and step.cutoff is not None:
                changed |= clusterer.events_before(step.cutoff)
            elif step.action != "merge":
                changed.update(step.events)
        clusterer.set_separations(self.store.separations())
        if changed:
            version = self.recipe.version  # a stale signature stays out, as at load
            members = [m for m in self.store.members_of(sorted(changed))
                       if m.signature.version == version]  # fmt: skip
            arriving = [m for m in members if clusterer.event_of(m.story_id) is None]
            clusterer.refresh(changed, members)
            if clusterer.index.shared and arriving:
                # A story moved in from an event outside this window: the shared index may
                # have lost it when that event was evicted. Committed already, so sent now.
                clusterer.index.ensure(
                    (m.story_id, m.signature.terms, m.signature.shingles)
                    for m in arriving
                    if not clusterer.redundant(m.reason, m.similarity)
                )
                clusterer.commit()
        log.info("curation_replayed", steps=len(steps), events=len(changed))
        return len(steps)

    def rebuild(self, *, now: datetime, batch: int = 500) -> dict[str, int]:
        """``ingestor index rebuild``: recompute every stale or missing signature of the window's
        stories under the current fingerprint version, then rebuild the LSH index (in memory,
        or the shared one from scratch) from the store."""
        since = self.start(now)
        version = self.recipe.version
        resigned = 0
        pending: list[tuple[int, Signature]] = []

        def flush() -> None:
            with self.lock, self.store.write() as tx:
                for story_id, signature in pending:
                    tx.set_signature(story_id, signature)
            pending.clear()

        for story_id, story in self.store.iter_unsigned(version, since=since):
            pending.append((story_id, fingerprint(story, self.recipe)))
            resigned += 1
            if len(pending) >= batch:
                flush()
        flush()
        clusterer = self.clusterer
        with self.lock:
            clusterer.clear()
            self.seen_story_id = 0
            self.seen_merge_id = self.store.max_merge_id()
            self.seen_curation_id = self.store.max_curation_id()
            clusterer.set_separations(self.store.separations())
            self.stale_signatures = 0
            items = list(self.store.iter_index(since=since))
            for item in items:
                self.seen_story_id = max(self.seen_story_id, item.story_id)
            loaded = clusterer.load(items)
            clusterer.commit()
        log.info(
            "index_rebuilt", resigned=resigned, stories=loaded, events=clusterer.events,
            fingerprint=version, index=clusterer.index.namespace,
        )  # fmt: skip
        return {
            "resigned": resigned,
            "stories": loaded,
            "events": clusterer.events,
            "indexed": len(clusterer.index.story_ids()),
        }


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """``ingestor index status``: the window as a daemon starting now would load it."""

    fingerprint: str
    backend: str
    namespace: str
    window_stories: int
    window_events: int
    stale_signatures: int
    index_keys: int
    """Keys in the shared index as it is, or in the memory index a start-up would build."""


def survey(store: Store, settings: Settings, *, now: datetime) -> IndexStatus:
    """The window a start-up would load, counted without writing anything: loaded into a
    memory index of its own (a shared index is only read), nothing reconciled or logged."""
    window = Window(store, settings, shared=False)
    since = window.start(now)
    version = window.recipe.version
    fresh = []
    for item in store.iter_index(since=since):
        if item.signature.version == version:
            fresh.append(item)
        else:
            window.stale_signatures += 1
    clusterer = window.clusterer
    clusterer.load(fresh)
    index = clusterer.index
    if settings.index_url:
        index = make_index(
            settings.cluster, window.recipe, url=settings.index_url, namespace=namespace(settings)
        )
    return IndexStatus(
        fingerprint=version,
        backend="redis" if index.shared else "memory",
        namespace=index.namespace,
        window_stories=clusterer.stories,
        window_events=clusterer.events,
        stale_signatures=window.stale_signatures,
        index_keys=len(index.story_ids()),
    )
