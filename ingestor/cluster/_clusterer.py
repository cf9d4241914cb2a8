"""``Clusterer``: the window's events, their statistics and LSH index, behind one object.

Owns: the order of the steps (``assign``: find and score candidates, then ``decide``; ``add``:
put a stored story into the window; ``undo``: take a failed transaction's changes back), and
what keeps the window bounded (``evict``) and in step with the store (``load``,
``reconcile``). Each step is in its own module beside this one; see the package docstring.

Does not: touch the store or the clock. Not thread-safe: one writer at a time (the pipeline
serializes assignment, as the store serializes writes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from ingestor.cluster import _candidates, _merges
from ingestor.cluster._canonical import Member
from ingestor.cluster._decision import Candidate, Probe, conclusive, decide, redundant
from ingestor.cluster._index import LSHIndex
from ingestor.cluster._merges import Merged
from ingestor.cluster._reconcile import IndexCheck, reconcile
from ingestor.cluster._score import ScoreModel, load_model
from ingestor.cluster._state import Event, Window
from ingestor.cluster._statistics import Statistics
from ingestor.models import Assignment, IndexedStory, Signature
from ingestor.policies import ClusterPolicy, FingerprintPolicy

__all__ = ["Clusterer", "Undo", "make_index"]

DEFAULT_POLICY = ClusterPolicy()
DEFAULT_RECIPE = FingerprintPolicy()


def make_index(
    policy: ClusterPolicy, recipe: FingerprintPolicy, *, url: str = "", namespace: str = "ingestor"
) -> LSHIndex:
    """The LSH index for signatures of ``recipe`` under ``policy``'s thresholds: in memory, or
    shared in Redis at ``url``."""
    return LSHIndex(
        num_perm=recipe.num_perm,
        copy_perm=recipe.shingle_perm,
        copy_threshold=policy.copy_threshold,
        candidate_threshold=policy.candidate_threshold,
        url=url,
        namespace=namespace,
    )


@dataclass(frozen=True, slots=True)
class Undo:
    """Everything ``Clusterer.add`` changed, so ``Clusterer.undo`` can take it back."""

    story_id: int
    event_id: int
    vector: Mapping[str, float]
    terms: tuple[str, ...]
    new_event: bool
    previous_span: tuple[datetime, datetime] | None
    previous_newest: datetime | None
    previous_dated: tuple[datetime, datetime] | None = None


class Clusterer:
    """The window's events and their LSH index; see the package docstring."""

    def __init__(
        self,
        policy: ClusterPolicy = DEFAULT_POLICY,
        *,
        recipe: FingerprintPolicy = DEFAULT_RECIPE,
        index: LSHIndex | None = None,
        model: ScoreModel | None = None,
    ):
        self.policy = policy
        self.model = model or load_model()
        """The verification score (``_score``): the shipped one unless a test or a training run
        passes its own."""
        self.recipe = recipe
        """The fingerprint recipe of the signatures it is given: their MinHash sizes, and the
        ``short_text`` under which a story (a summary, a teaser) never merges events."""
        self.index = index or make_index(policy, recipe)
        self._stats = Statistics(policy.prior_docs)
        self._window = Window(policy.window)

    # -- reading -------------------------------------------------------------------------------
    @property
    def stories(self) -> int:
        return len(self._window.story_event)

    @property
    def events(self) -> int:
        return len(self._window.events)

    @property
    def posted(self) -> int:
        """Stories in the term postings (the indexed ones of the window)."""
        return len(self._window.posted)

    def has_event(self, event_id: int) -> bool:
        """Whether the window holds ``event_id`` (an event merged away or evicted it does not)."""
        return event_id in self._window.events

    def event_of(self, story_id: int) -> int | None:
        return self._window.story_event.get(story_id)

    def canonical(self, event_id: int) -> int:
        event = self._window.events[event_id]
        return event.canonical(self.policy.canonical, tuple(self.policy.source_priority))

    def vector(self, signature: Signature) -> dict[str, float]:
        """The story's TF-IDF unit vector against the statistics of the stories seen so far."""
        return self._stats.vector(signature)

    def redundant(self, reason: str, similarity: float) -> bool:
        """Whether a story that joined this way is left out of the LSH index (see ``add``)."""
        return redundant(self.policy, reason, similarity)

    def candidates(
        self, signature: Signature, when: datetime, *, dated: bool = True
    ) -> list[Candidate]:
        """Every candidate event for a story with this signature and time, scored, in the order
        found (copies first). ``dated``: the time is the story's own (published, or fetched by
        a poll), not only its place in a stream. Changes nothing."""
        return self._scored(signature, when, dated, search=True)

    def assign(self, signature: Signature, when: datetime, *, dated: bool = True) -> Assignment:
        """Where a story with this signature and time belongs. Changes nothing."""
        vector = self.vector(signature)
        probe = Probe(when, len(vector), signature.length >= self.recipe.short_text)
        scored = self._scored(signature, when, dated, search=False)
        if not conclusive(self.policy, scored):
            scored = self._scored(signature, when, dated, search=True)
        return decide(self.policy, probe, scored)

    def _scored(
        self, signature: Signature, when: datetime, dated: bool, *, search: bool
    ) -> list[Candidate]:
        """The copies' events scored, and with ``search`` the key-term candidates too. A copy
        so close that it decides (``conclusive``) spares the key-term search."""
        policy, window = self.policy, self._window
        vector = self.vector(signature)
        copies = _candidates.copies(window, self.index, signature, when)
        others: list[int] = []
        if search:
            others = _candidates.by_terms(policy, window, self.index, signature, when, copies)
        own = when if dated else None
        return _candidates.score(policy, self.model, window, vector, own, copies, others)

    # -- merging -------------------------------------------------------------------------------
    def plan_merge(self, event_id: int, other: int) -> tuple[int, int] | None:
        """Which way events ``event_id`` and ``other`` (``Assignment.merge_with``) merge:
        ``(into, gone)``, or ``None`` when either has left the window or they are one."""
        return _merges.plan(self._window, event_id, other)

    def fold(self, event_id: int, others: Iterable[int]) -> tuple[int, list[Merged]]:
        """Merge every event of ``others`` that is one with ``event_id`` (which a story just
        joined): the event the story is in now, and the merges made (undo records)."""
        return _merges.fold(self._window, event_id, others)

    def merge(self, into: int, gone: int) -> Merged | None:
        """Fold event ``gone`` into ``into`` (planned here, or committed by another process)."""
        return _merges.merge(self._window, into, gone)

    # -- curation ------------------------------------------------------------------------------
    def set_separations(self, pairs: Iterable[tuple[int, int]]) -> None:
        """The pairs of events the operator split apart (the store's ``separations``): no
        automatic merge folds them together. Replaces what was known."""
        apart: dict[int, set[int]] = {}
        for a, b in pairs:
            apart.setdefault(a, set()).add(b)
            apart.setdefault(b, set()).add(a)
        self._window.apart = apart

    def refresh(self, event_ids: Iterable[int], members: Iterable[IndexedStory]) -> int:
        """Rebuild ``event_ids`` from ``members``, the store's members of them now (after a
        split, move, delete or prune): centroids, spans and members anew. A story that was in
        one of them and is in none now (deleted or pruned) is forgotten, its LSH entries too;
        one new to the window (moved from an evicted event) is added. Returns the events
        rebuilt."""
        window = self._window
        wanted = set(event_ids)
        groups: dict[int, list[IndexedStory]] = {}
        for item in members:
            if item.event_id in wanted:
                groups.setdefault(item.event_id, []).append(item)
        present = {item.story_id for group in groups.values() for item in group}
        known: set[int] = set()
        for event_id in wanted:
            event = window.events.pop(event_id, None)
            for member in event.members if event is not None else ():
                window.story_event.pop(member.story_id, None)
                known.add(member.story_id)
        for story_id in known - present:
            self._forget(story_id)
        for event_id, group in groups.items():
            for item in group:
                if item.story_id in window.story_event:  # in an event not named: left alone
                    continue
                if item.story_id not in known:
                    self.add(
                        item.story_id, event_id, item.signature, when=item.when,
                        source=item.source, reason=item.reason, similarity=item.similarity,
                        index=not self.index.shared, dated=item.dated,
                    )  # fmt: skip
                    continue
                event = window.events.get(event_id)
                if event is None:
                    event = window.events[event_id] = Event(event_id, item.when, item.when)
                event.widen(item.when, dated=item.dated)
                event.add_vector(self.vector(item.signature))
                event.members.append(
                    Member(item.story_id, item.when, item.source, item.signature.length,
                           tuple(item.signature.credits))
                )  # fmt: skip
                window.story_event[item.story_id] = event_id
        self._stats.forget_vector()
        return len(groups)

    def events_before(self, cutoff: datetime) -> set[int]:
        """The events of the window with a member older than ``cutoff`` (a prune): what
        ``refresh`` must rebuild."""
        return {
            event.id
            for event in self._window.events.values()
            if any(member.when < cutoff for member in event.members)
        }

    # -- writing -------------------------------------------------------------------------------
    def add(
        self,
        story_id: int,
        event_id: int,
        signature: Signature,
        *,
        when: datetime,
        source: str,
        assignment: Assignment | None = None,
        reason: str = "",
        similarity: float = 0.0,
        index: bool = True,
        dated: bool = True,
    ) -> Undo:
        """Put a stored story into the clusterer under ``event_id`` (new or existing).

        A story that joined as a copy at least ``redundant_copy`` alike with a member counts in
        the event's centroid and membership, but is not put into the LSH indexes: that member
        already finds the event for anything that would find the copy, and syndicated copies
        are most of the traffic. ``reason``/``similarity`` say how it joined when there is no
        ``assignment`` (a story read back from the store). ``index=False``: the LSH index
        already holds it (a shared index another daemon wrote). ``dated``: ``when`` is the
        story's own time, not only its place in a stream (see ``candidates``)."""
        import numpy as np

        window = self._window
        if story_id in window.story_event:
            raise ValueError(f"story {story_id} is already indexed")
        vector = self.vector(signature)
        terms = tuple(signature.weights)
        self._stats.count(terms)
        event = window.events.get(event_id)
        new_event = event is None
        previous_span = None if event is None else (event.first, event.last)
        previous_dated = None if event is None else event.dated
        if event is None:
            event = window.events[event_id] = Event(event_id, when, when)
        event.widen(when, dated=dated)
        event.add_vector(vector)
        event.members.append(
            Member(story_id, when, source, signature.length, tuple(signature.credits))
        )
        window.story_event[story_id] = event_id
        if assignment is not None:
            reason, similarity = assignment.reason, assignment.similarity
        if not self.redundant(reason, similarity):
            window.indexed.add(story_id)
            if signature.shingles:
                window.shingles[story_id] = np.frombuffer(signature.shingles, "<u4")
            if index:
                self.index.insert(story_id, terms=signature.terms, shingles=signature.shingles)
            window.post(story_id, _candidates.posted_terms(self.policy, signature))
        previous_newest = window.newest
        if window.newest is None or when > window.newest:
            window.newest = when
        return Undo(
            story_id, event_id, vector, terms, new_event, previous_span, previous_newest,
            previous_dated,
        )  # fmt: skip

    def undo(self, changes: Iterable[Undo | Merged]) -> None:
        """Take back ``add`` and ``merge`` calls, newest first (their transaction did not
        commit)."""
        window = self._window
        for change in reversed(list(changes)):
            if isinstance(change, Merged):
                _merges.unmerge(window, change)
                continue
            event = window.events[change.event_id]
            event.subtract(change.vector)
            event.members = [m for m in event.members if m.story_id != change.story_id]
            if change.new_event:
                del window.events[change.event_id]
            elif change.previous_span is not None:
                event.first, event.last = change.previous_span
                event.dated = change.previous_dated
            self._stats.uncount(change.terms)
            window.newest = change.previous_newest
            self._forget(change.story_id)
        self.index.rollback()
        self._stats.forget_vector()

    def _forget(self, story_id: int) -> None:
        window = self._window
        window.story_event.pop(story_id, None)
        window.shingles.pop(story_id, None)
        window.unpost(story_id)
        if story_id in window.indexed:
            window.indexed.discard(story_id)
            self.index.remove([story_id])

    def evict(self, now: datetime | None = None) -> int:
        """Drop events quiet for longer than the window before ``now`` (default: the newest
        story seen). Corpus statistics are kept. Returns how many events went."""
        now = now or self._window.newest
        if now is None:
            return 0
        stale = list(self._window.stale(now))
        for event in stale:
            for member in event.members:
                self._forget(member.story_id)
            del self._window.events[event.id]
        return len(stale)

    def load(self, stories: Iterable[IndexedStory], *, index: bool = True) -> int:
        """Rebuild from the store (oldest first). Returns how many stories were loaded.
        ``index=False`` leaves the LSH index alone (a shared one: see ``reconcile``)."""
        count = 0
        for item in stories:
            if item.story_id in self._window.story_event:
                continue
            self.add(
                item.story_id, item.event_id, item.signature, when=item.when, source=item.source,
                reason=item.reason, similarity=item.similarity, index=index, dated=item.dated,
            )  # fmt: skip
            count += 1
        self.evict()
        return count

    def reconcile(self, stories: Iterable[IndexedStory], *, newest_id: int) -> IndexCheck:
        """Compare a shared LSH index with the stories loaded from the store, and repair it
        (``_reconcile``)."""
        return reconcile(self._window, self.index, stories, newest_id=newest_id)

    def clear(self) -> None:
        """Forget every story, event and statistic and empty the index (``index rebuild``)."""
        self.index.clear()
        self._stats = Statistics(self.policy.prior_docs)
        self._window = Window(self.policy.window)

    def commit(self) -> None:
        """The store committed: make the index writes of this batch durable (shared index)."""
        self.index.commit()
