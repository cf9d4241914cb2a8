"""Event assignment: which event a story belongs to, or whether it starts a new one.

Owns: the in-memory index of recent events (datasketch MinHash-LSH over signatures, event
centroids, corpus statistics), the assignment decision, and the canonical-story policy. Its
inputs are ``Signature`` values from ``fingerprint`` and, at start-up, the ``IndexedStory`` rows
the store hands back; its output is an ``Assignment``. It never touches the store or the clock:
``pipeline`` persists what it decides and passes every time in.

The decision (numbers and the sweep that chose them in ``docs/design.md``):

1. **Candidates** come from two LSH indexes over the stories of the window: one over the
   shingle MinHash (copies), one over the key-term MinHash (rewrites share names and rare words
   where no sentence survives). A candidate story brings its event.
2. **Verification** scores each candidate event by the cosine between the story's TF-IDF vector
   and the event's *centroid* (the sum of its members' unit vectors). IDF is smoothed with a
   background prior: ``idf(t) = ln((N0 + N + 1) / (N0 * bg(t) + df(t) + 1))``, where ``df`` and
   ``N`` count the stories seen so far and ``bg`` is general-language document frequency, so the
   first story of the day is weighed as sensibly as the ten-thousandth.
3. **Decision.** The story joins the best event when the cosine reaches ``rewrite_threshold``
   (a rewrite, or a copy when the shingles agree too); otherwise it joins the event of a story
   whose shingle Jaccard reaches ``copy_threshold`` (a copy whose page text is too noisy for the
   cosine); otherwise it starts an event. Comparing against the centroid, never against single
   members, is what keeps distinct events from chaining together through a series of pairwise
   links: a story must resemble the event as a whole.
4. **Time.** Only events whose span, widened by ``window`` on both sides, contains the story's
   time (published, else fetched) are candidates; events quiet for longer than the window are
   evicted, which also bounds memory.

Changing the index is separate from deciding: ``assign`` reads, ``add`` writes and returns an
``Undo`` so the pipeline can take the change back if the store's transaction fails.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import repeat
from typing import TYPE_CHECKING

from ingestor import lexicon
from ingestor.cluster._canonical import AGENCY_DOMAINS, CanonicalRule, Member, choose_canonical
from ingestor.cluster._index import LSHIndex
from ingestor.models import Assignment, IndexedStory, Signature

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "AGENCY_DOMAINS",
    "ClusterPolicy",
    "Clusterer",
    "IndexCheck",
    "LSHIndex",
    "Member",
    "Merged",
    "Undo",
    "choose_canonical",
]


@dataclass(frozen=True, slots=True)
class ClusterPolicy:
    rewrite_threshold: float = 0.35
    copy_threshold: float = 0.5
    candidate_threshold: float = 0.1
    """LSH threshold on key-term Jaccard: low, because verification decides."""
    window: timedelta = timedelta(hours=72)
    prior_docs: int = 2000
    """``N0``: how many documents' worth of weight the background frequencies carry."""
    num_perm: int = 128
    shingle_perm: int = 64
    max_candidates: int = 12
    """Events verified per story: those with the most LSH hits (plus every copy's event)."""
    time_penalty: float = 0.1
    """Added to ``rewrite_threshold`` for a story a whole window away from an event's span
    (proportionally less for less): see ``Clusterer.threshold``."""
    redundant_copy: float = 0.8
    """A copy at least this alike (shingle Jaccard) with a member is not indexed on its own."""
    canonical: CanonicalRule = "agency"
    source_priority: tuple[str, ...] = ()
    merge_threshold: float = 0.55
    """A story that joins one event and meets another candidate event's centroid at least this
    well asks whether the two are one story that split early: they merge if their centroids
    meet at ``rewrite_threshold`` (``Clusterer._same_story``). 0: never."""
    merge_min_words: int = 50
    """Stories shorter than this (a summary or a teaser: the fingerprint's ``short_text``) join
    events but never merge them: a merge moves whole events on one story's word."""


@dataclass(slots=True)
class _Event:
    id: int
    first: datetime
    last: datetime
    centroid: dict[str, float] = field(default_factory=dict)
    norm2: float = 0.0
    members: list[Member] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Merged:
    """What ``Clusterer.merge`` changed, so ``Clusterer.undo`` can take it back."""

    into: int
    gone: _Event
    """The folded event as it was (its object, no longer mutated)."""
    previous_span: tuple[datetime, datetime]
    members_before: int


@dataclass(frozen=True, slots=True)
class IndexCheck:
    """What ``Clusterer.reconcile`` found in a shared index."""

    expected: int
    present: int
    missing: int
    removed: int


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


class Clusterer:
    """The window's events and their LSH index. Not thread-safe: one writer at a time (the
    pipeline serializes assignment, as the store serializes writes)."""

    def __init__(self, policy: ClusterPolicy = ClusterPolicy(), *, index: LSHIndex | None = None):
        self.policy = policy
        self.index = index or LSHIndex(
            num_perm=policy.num_perm,
            copy_perm=policy.shingle_perm,
            copy_threshold=policy.copy_threshold,
            candidate_threshold=policy.candidate_threshold,
        )
        self._df: Counter[str] = Counter()
        self._n = 0
        self._events: dict[int, _Event] = {}
        self._story_event: dict[int, int] = {}
        self._shingles: dict[int, npt.NDArray[np.uint32]] = {}
        self._indexed: set[int] = set()
        """Stories this process expects in the LSH index (not the redundant copies)."""
        self._newest: datetime | None = None
        self._cache: tuple[Signature, dict[str, float]] | None = None
        self._idf: dict[str, dict[str, float]] = {}
        """Smoothed IDF per background language, then per term."""
        self._idf_refresh_at = 0

    # -- reading -------------------------------------------------------------------------------
    @property
    def stories(self) -> int:
        return len(self._story_event)

    @property
    def events(self) -> int:
        return len(self._events)

    def event_of(self, story_id: int) -> int | None:
        return self._story_event.get(story_id)

    def canonical(self, event_id: int) -> int:
        event = self._events[event_id]
        return choose_canonical(event.members, self.policy.canonical, self.policy.source_priority)

    def vector(self, signature: Signature) -> dict[str, float]:
        """The story's TF-IDF unit vector against the statistics of the stories seen so far.

        IDF values are cached and the cache is dropped whenever the corpus has grown by 1/64
        (and at least 64 stories) since it was filled: IDF moves slowly, and recomputing a
        logarithm per term per story was a tenth of the clustering time."""
        if self._cache is not None and self._cache[0] is signature:
            return self._cache[1]
        import numpy as np

        if self._n >= self._idf_refresh_at:
            self._idf.clear()
            self._idf_refresh_at = self._n + max(64, self._n // 64)
        language = signature.language
        idf = self._idf.get(language)
        if idf is None:
            idf = self._idf[language] = {}
        terms = list(signature.weights)
        missing = list(set(terms).difference(idf))  # walks the 200 terms, not the table
        if missing:  # one numpy pass: per-term Python arithmetic was most of this function
            prior = self.policy.prior_docs
            bg = lexicon.background_dfs(missing, language)
            seen = np.fromiter(
                map(self._df.get, missing, repeat(0)), dtype=np.float64, count=len(missing)
            )
            seen += prior * np.fromiter(map(bg.__getitem__, missing), np.float64, len(missing))
            values = math.log(prior + self._n + 1) - np.log(seen + 1.0)
            idf.update(zip(missing, values.tolist(), strict=True))
        counts = np.fromiter(signature.weights.values(), dtype=np.float64, count=len(terms))
        raw = (1.0 + np.log(np.maximum(counts, 1.0))) * np.fromiter(
            map(idf.__getitem__, terms), dtype=np.float64, count=len(terms)
        )
        norm = float(np.sqrt(raw @ raw)) or 1.0
        unit = dict(zip(terms, (raw / norm).tolist(), strict=True))
        self._cache = (signature, unit)
        return unit

    def _in_window(self, event: _Event, when: datetime) -> bool:
        window = self.policy.window
        return event.first - window <= when <= event.last + window

    def assign(self, signature: Signature, when: datetime) -> Assignment:
        """Where a story with this signature and time belongs. Changes nothing."""
        import numpy as np

        copies: dict[int, float] = {}  # event -> best shingle Jaccard with one of its stories
        if signature.shingles and self._shingles:
            mine = np.frombuffer(signature.shingles, "<u4")
            for story_id in self.index.query_copies(signature.shingles):
                event_id = self._story_event.get(story_id)
                twin = self._shingles.get(story_id)
                if event_id is None or twin is None:
                    continue  # evicted here, or committed elsewhere and not caught up yet
                if not self._in_window(self._events[event_id], when):
                    continue
                jaccard = float(np.count_nonzero(mine == twin)) / len(mine)
                if jaccard > copies.get(event_id, 0.0):
                    copies[event_id] = jaccard
        if copies:
            best_copy_event = max(copies, key=lambda e: copies[e])
            if copies[best_copy_event] >= self.policy.redundant_copy:
                # A copy this close belongs with its twin: no candidate search can say more.
                jaccard = copies[best_copy_event]
                cosine = self._cosine(self.vector(signature), self._events[best_copy_event])
                signals = {
                    "cosine": round(cosine, 4),
                    "copy_jaccard": round(jaccard, 4),
                    "candidates": float(len(copies)),
                }
                reason = "identical" if jaccard >= 1.0 else "near-copy"
                return Assignment(best_copy_event, reason, round(jaccard, 4), signals)
        hits: Counter[int] = Counter()
        if signature.terms and self._story_event:
            for story_id in self.index.query_terms(signature.terms):
                event_id = self._story_event.get(story_id)
                if event_id is not None:
                    hits[event_id] += 1
        candidates = set(copies)
        for event_id, _ in hits.most_common():
            if len(candidates) >= self.policy.max_candidates + len(copies):
                break
            if event_id not in candidates and self._in_window(self._events[event_id], when):
                candidates.add(event_id)
        vector = self.vector(signature)
        scores = sorted(
            ((self._cosine(vector, self._events[e]), e) for e in candidates), reverse=True
        )
        best_cosine, best_event = scores[0] if scores else (0.0, None)
        copy_event = max(copies, key=lambda e: copies[e]) if copies else None
        best_copy = copies[copy_event] if copy_event is not None else 0.0
        signals = {
            "cosine": round(best_cosine, 4),
            "second_cosine": round(scores[1][0], 4) if len(scores) > 1 else 0.0,
            "copy_jaccard": round(best_copy, 4),
            "candidates": float(len(candidates)),
            "terms": float(len(vector)),
        }
        policy = self.policy
        best = self._events[best_event] if best_event is not None else None
        if best is not None and best_cosine >= self.threshold(best.first, best.last, when):
            jaccard = copies.get(best.id, 0.0)
            signals["copy_jaccard"] = round(jaccard, 4)
            reason = "rewrite"
            if jaccard >= policy.copy_threshold:
                reason = "identical" if jaccard >= 1.0 else "near-copy"
            signals["threshold"] = round(self.threshold(best.first, best.last, when), 4)
            also: tuple[int, ...] = ()
            if signature.length >= policy.merge_min_words:
                also = self._same_story(best, scores[1:])
            if also:
                signals["merges"] = float(len(also))
            return Assignment(best.id, reason, round(best_cosine, 4), signals, also)
        if copy_event is not None and best_copy >= policy.copy_threshold:
            signals["cosine"] = round(self._cosine(vector, self._events[copy_event]), 4)
            reason = "identical" if best_copy >= 1.0 else "near-copy"
            return Assignment(copy_event, reason, round(best_copy, 4), signals)
        return Assignment(None, "new", 0.0, signals)

    def threshold(self, event_first: datetime, event_last: datetime, when: datetime) -> float:
        """The cosine a story at ``when`` needs to join an event spanning ``first..last``:
        ``rewrite_threshold``, raised by up to ``time_penalty`` as the story lies further
        outside the event's span, in proportion to the window. Stories of the same day join at
        the base threshold; a look-alike two days later (the same president's next visit)
        needs clearly more in common."""
        policy = self.policy
        if event_first <= when <= event_last:
            gap = 0.0
        else:
            gap = min(abs(when - event_first), abs(when - event_last)) / policy.window
        return policy.rewrite_threshold + policy.time_penalty * min(1.0, gap)

    def _same_story(self, best: _Event, others: list[tuple[float, int]]) -> tuple[int, ...]:
        """The other candidate events that are the same story as ``best``, which the story
        joins: the story meets them at ``merge_threshold`` (so the question is worth asking),
        and their centroids meet ``best``'s at ``rewrite_threshold`` *without* this story, as
        a story must to join an event. Two events that split early (their first stories
        shared too little) pass once each has grown towards the whole story; a roundup that
        covers two unrelated stories meets both, but cannot make them meet each other."""
        merge = self.policy.merge_threshold
        if merge <= 0.0 or best.norm2 <= 0.0:
            return ()
        same = []
        for cosine, event_id in others:
            if cosine < merge:
                break  # ``others`` is sorted, best first
            other = self._events[event_id]
            if other.norm2 <= 0.0:
                continue
            small, large = sorted((best.centroid, other.centroid), key=len)
            dot = sum([x * large.get(t, 0.0) for t, x in small.items()])
            if dot / math.sqrt(best.norm2 * other.norm2) >= self.policy.rewrite_threshold:
                same.append(event_id)
        return tuple(same)

    def plan_merge(self, event_id: int, other: int) -> tuple[int, int] | None:
        """Which way events ``event_id`` and ``other`` (``Assignment.merge_with``, checked by
        ``assign``) merge: ``(into, gone)``, the larger absorbing the smaller, the older on a
        tie; ``None`` when either has left the window or they are one already."""
        a, b = self._events.get(event_id), self._events.get(other)
        if a is None or b is None or a is b:
            return None
        into, gone = sorted((a, b), key=lambda e: (-len(e.members), e.id))
        return into.id, gone.id

    def fold(self, event_id: int, others: Iterable[int]) -> tuple[int, list[Merged]]:
        """Merge every event of ``others`` that ``plan_merge`` finds to be one with
        ``event_id`` (which a story just joined). Returns the event the story is in now and
        the merges made, in order (each is an ``undo`` record, and the store must log each)."""
        done = []
        for other in others:
            plan = self.plan_merge(event_id, other)
            if plan is None:
                continue
            change = self.merge(*plan)
            if change is not None:
                done.append(change)
                event_id = plan[0]
        return event_id, done

    def merge(self, into: int, gone: int) -> Merged | None:
        """Fold event ``gone`` into ``into`` (a merge this process planned, or one another
        process committed). ``None`` when there is nothing to fold: ``gone`` is not in the window.
        When ``into`` is not (evicted here), ``gone`` simply takes its id."""
        folded = self._events.pop(gone, None)
        if folded is None:
            return None
        kept = self._events.get(into)
        if kept is None:
            kept = self._events[into] = _Event(into, folded.first, folded.last)
            # renamed, not merged: an undo must leave no empty ``into`` behind
        span = (kept.first, kept.last)
        before = len(kept.members)
        centroid = kept.centroid
        for term, x in folded.centroid.items():
            centroid[term] = centroid.get(term, 0.0) + x
        kept.norm2 = sum(x * x for x in centroid.values())
        kept.first, kept.last = min(kept.first, folded.first), max(kept.last, folded.last)
        kept.members.extend(folded.members)
        for member in folded.members:
            self._story_event[member.story_id] = into
        return Merged(into, folded, span, before)

    @staticmethod
    def _cosine(vector: Mapping[str, float], event: _Event) -> float:
        if event.norm2 <= 0.0:
            return 0.0
        centroid = event.centroid
        dot = sum([vector[t] * centroid[t] for t in vector.keys() & centroid.keys()])
        return dot / math.sqrt(event.norm2)

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
    ) -> Undo:
        """Put a stored story into the clusterer under ``event_id`` (new or existing).

        A story that joined as a copy at least ``redundant_copy`` alike with a member of its
        event counts in the event's centroid and membership, but is not put into the LSH
        indexes: that member already finds the event for anything that would find the copy,
        and syndicated copies are most of the traffic. ``reason``/``similarity`` say how it
        joined when there is no ``assignment`` (a story read back from the store).
        ``index=False``: the LSH index already holds it (a shared index another daemon
        wrote)."""
        import numpy as np

        if story_id in self._story_event:
            raise ValueError(f"story {story_id} is already indexed")
        vector = self.vector(signature)
        self._cache = None
        terms = tuple(signature.weights)
        self._df.update(terms)
        self._n += 1
        event = self._events.get(event_id)
        new_event = event is None
        previous_span = None if event is None else (event.first, event.last)
        if event is None:
            event = self._events[event_id] = _Event(event_id, when, when)
        else:
            event.first = min(event.first, when)
            event.last = max(event.last, when)
        centroid = event.centroid
        get = centroid.get
        dot = 0.0
        for term, x in vector.items():
            before = get(term, 0.0)
            dot += x * before
            centroid[term] = before + x
        event.norm2 += 2.0 * dot + (1.0 if vector else 0.0)  # |C+v|^2 = |C|^2 + 2C.v + |v|^2
        event.members.append(
            Member(story_id, when, source, signature.length, tuple(signature.credits))
        )
        self._story_event[story_id] = event_id
        if assignment is not None:
            reason, similarity = assignment.reason, assignment.similarity
        if not self.redundant(reason, similarity):
            self._indexed.add(story_id)
            if signature.shingles:
                self._shingles[story_id] = np.frombuffer(signature.shingles, "<u4")
            if index:
                self.index.insert(story_id, terms=signature.terms, shingles=signature.shingles)
        previous_newest = self._newest
        if self._newest is None or when > self._newest:
            self._newest = when
        return Undo(story_id, event_id, vector, terms, new_event, previous_span, previous_newest)

    def undo(self, changes: Iterable[Undo | Merged]) -> None:
        """Take back ``add`` and ``merge`` calls, newest first (their transaction did not
        commit)."""
        for change in reversed(list(changes)):
            if isinstance(change, Merged):
                self._unmerge(change)
                continue
            event = self._events[change.event_id]
            centroid = event.centroid
            for term, x in change.vector.items():
                centroid[term] = centroid.get(term, 0.0) - x
            event.norm2 = sum(x * x for x in centroid.values())
            event.members = [m for m in event.members if m.story_id != change.story_id]
            if change.new_event:
                del self._events[change.event_id]
            elif change.previous_span is not None:
                event.first, event.last = change.previous_span
            self._df.subtract(change.terms)
            self._n -= 1
            self._newest = change.previous_newest
            self._forget(change.story_id)
        self.index.rollback()
        self._cache = None

    def _unmerge(self, change: Merged) -> None:
        kept = self._events[change.into]
        folded = change.gone
        if change.members_before == 0:  # ``merge`` renamed ``gone`` to ``into``
            del self._events[change.into]
        else:
            centroid = kept.centroid
            for term, x in folded.centroid.items():
                centroid[term] = centroid.get(term, 0.0) - x
            kept.norm2 = sum(x * x for x in centroid.values())
            kept.first, kept.last = change.previous_span
            del kept.members[change.members_before :]
        self._events[folded.id] = folded
        for member in folded.members:
            self._story_event[member.story_id] = folded.id

    def redundant(self, reason: str, similarity: float) -> bool:
        """Whether a story that joined this way is left out of the LSH index (see ``add``)."""
        return reason in ("identical", "near-copy") and similarity >= self.policy.redundant_copy

    def _forget(self, story_id: int) -> None:
        self._story_event.pop(story_id, None)
        self._shingles.pop(story_id, None)
        if story_id in self._indexed:
            self._indexed.discard(story_id)
            self.index.remove([story_id])

    def evict(self, now: datetime | None = None) -> int:
        """Drop events quiet for longer than the window before ``now`` (default: the newest
        story seen). Corpus statistics are kept. Returns how many events went."""
        now = now or self._newest
        if now is None:
            return 0
        horizon = now - self.policy.window
        stale = [e for e in self._events.values() if e.last < horizon]
        for event in stale:
            for member in event.members:
                self._forget(member.story_id)
            del self._events[event.id]
        return len(stale)

    def load(self, stories: Iterable[IndexedStory], *, index: bool = True) -> int:
        """Rebuild from the store (oldest first). Returns how many stories were loaded.
        ``index=False`` leaves the LSH index alone (a shared one: see ``reconcile``)."""
        count = 0
        for item in stories:
            if item.story_id in self._story_event:
                continue
            self.add(
                item.story_id, item.event_id, item.signature, when=item.when, source=item.source,
                reason=item.reason, similarity=item.similarity, index=index,
            )  # fmt: skip
            count += 1
        self.evict()
        return count

    def reconcile(self, stories: Iterable[IndexedStory], *, newest_id: int) -> IndexCheck:
        """Compare a shared LSH index with the stories loaded from the store, and repair it:
        insert what it lacks (a crash between a commit and the index write), remove what the
        store does not hold in the window (rolled back, or evicted by nobody). Stories newer
        than ``newest_id`` (the newest the store showed) are left alone: another daemon may
        have just written them."""
        items = {item.story_id: item for item in stories if item.story_id in self._indexed}
        present = self.index.story_ids()
        missing = sorted(set(items) - present)
        extra = sorted(k for k in present - set(self._story_event) if k <= newest_id)
        for story_id in missing:
            signature = items[story_id].signature
            self.index.insert(story_id, terms=signature.terms, shingles=signature.shingles)
        self.index.commit()
        self.index.remove(extra)
        return IndexCheck(
            expected=len(self._indexed), present=len(present), missing=len(missing),
            removed=len(extra),
        )  # fmt: skip

    def commit(self) -> None:
        """The store committed: make the index writes of this batch durable (shared index)."""
        self.index.commit()
