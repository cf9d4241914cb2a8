"""The clusterer's window: loading it from the store at start-up, checking a shared LSH index
against it, and ``ingestor index rebuild``.

Owns: ``IndexMaintenance``, a part of ``Pipeline`` kept in its own file; it works on the
pipeline's store and clusterer and nothing else.
"""

from __future__ import annotations

import threading
from datetime import datetime

import structlog

from ingestor.cluster import Clusterer
from ingestor.config import Settings
from ingestor.fingerprint import FingerprintPolicy, fingerprint
from ingestor.models import Signature
from ingestor.store import Store

__all__ = ["IndexMaintenance"]

log = structlog.get_logger()


class IndexMaintenance:
    """Part of ``Pipeline`` (see ``ingestor.pipeline``)."""

    store: Store
    settings: Settings
    clusterer: Clusterer
    fp_policy: FingerprintPolicy
    stale_signatures: int
    _seen_story_id: int
    _seen_merge_id: int
    _write_lock: threading.Lock

    def load_index(self, *, now: datetime) -> int:
        """Rebuild the clusterer from the stories of the last window, and check a shared LSH
        index against them (count and fingerprint version), repairing what differs."""
        since = self._window_start(now)
        version = self.fp_policy.version
        # Read before the stories: a merge committed while they load is replayed at catch-up.
        self._seen_merge_id = self.store.max_merge_id()
        fresh = []
        for item in self.store.iter_index(since=since):
            self._seen_story_id = max(self._seen_story_id, item.story_id)
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
            check = self.clusterer.reconcile(fresh, newest_id=self._seen_story_id)
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

    def _window_start(self, now: datetime) -> datetime:
        """Where the clusterer's window starts: one window before the newest story, or before
        ``now`` if that is earlier (a backfill of old news keeps its window across restarts)."""
        newest = self.store.newest_story_time()
        end = now if newest is None else min(now, newest)
        return end - self.clusterer.policy.window

    def rebuild_index(self, *, now: datetime, batch: int = 500) -> dict[str, int]:
        """``ingestor index rebuild``: recompute every stale or missing signature of the window's
        stories under the current fingerprint version, then rebuild the LSH index (in memory,
        or the shared one from scratch) from the store."""
        since = self._window_start(now)
        version = self.fp_policy.version
        resigned = 0
        pending: list[tuple[int, Signature]] = []

        def flush() -> None:
            with self._write_lock, self.store.write() as tx:
                for story_id, signature in pending:
                    tx.set_signature(story_id, signature)
            pending.clear()

        for story_id, story in self.store.iter_unsigned(version, since=since):
            pending.append((story_id, fingerprint(story, self.fp_policy)))
            resigned += 1
            if len(pending) >= batch:
                flush()
        flush()
        with self._write_lock:
            self.clusterer.index.clear()
            self.clusterer = Clusterer(self.clusterer.policy, index=self.clusterer.index)
            self._seen_story_id = 0
            self._seen_merge_id = self.store.max_merge_id()
            self.stale_signatures = 0
            items = list(self.store.iter_index(since=since))
            for item in items:
                self._seen_story_id = max(self._seen_story_id, item.story_id)
            loaded = self.clusterer.load(items)
            self.clusterer.commit()
        log.info(
            "index_rebuilt", resigned=resigned, stories=loaded, events=self.clusterer.events,
            fingerprint=version, index=self.clusterer.index.namespace,
        )  # fmt: skip
        return {
            "resigned": resigned,
            "stories": loaded,
            "events": self.clusterer.events,
            "indexed": len(self.clusterer.index.story_ids()),
        }
