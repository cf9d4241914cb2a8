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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from ingestor import lexicon
from ingestor.models import Assignment, IndexedStory, Signature

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from datasketch import LeanMinHash, MinHashLSH

__all__ = [
    "AGENCY_DOMAINS",
    "ClusterPolicy",
    "Clusterer",
    "Member",
    "Undo",
    "choose_canonical",
]

CanonicalRule = Literal["agency", "earliest", "complete", "priority"]


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
    max_candidates: int = 12
    """Events verified per story: those with the most LSH hits (plus every copy's event)."""
    redundant_copy: float = 0.9
    """A copy at least this alike (shingle Jaccard) with a member is not indexed on its own."""
    canonical: CanonicalRule = "agency"
    source_priority: tuple[str, ...] = ()


AGENCY_DOMAINS: Mapping[str, tuple[str, ...]] = {
    "Reuters": ("reuters.com",),
    "AP": ("apnews.com", "ap.org"),
    "AFP": ("afp.com",),
    "TASS": ("tass.com", "tass.ru"),
    "RIA Novosti": ("ria.ru",),
    "Interfax": ("interfax.com", "interfax.ru"),
    "Sputnik": ("sputniknews.com", "sputnikglobe.com", "sputniknews.in"),
    "Xinhua": ("xinhuanet.com", "news.cn"),
    "Yonhap": ("yna.co.kr", "yonhapnews.co.kr"),
    "KCNA": ("kcna.kp", "kcnawatch.org"),
    "Kyodo": ("kyodonews.net",),
    "ANI": ("aninews.in",),
    "PTI": ("ptinews.com",),
    "IANS": ("ianslive.in",),
    "UPI": ("upi.com",),
    "dpa": ("dpa.com", "dpa-international.com"),
    "EFE": ("efe.com",),
    "ANSA": ("ansa.it",),
    "Anadolu": ("aa.com.tr",),
    "Bernama": ("bernama.com",),
    "Bloomberg": ("bloomberg.com",),
}


@dataclass(frozen=True, slots=True)
class Member:
    """What the canonical policy needs to know of one variant."""

    story_id: int
    when: datetime
    source: str
    length: int
    credits: tuple[str, ...] = ()


def _is_from(source: str, domains: Sequence[str]) -> bool:
    source = source.lower()
    return any(source == d or source.endswith("." + d) for d in domains)


def _most_complete(members: Sequence[Member]) -> Member:
    return min(members, key=lambda m: (-m.length, m.when, m.story_id))


def choose_canonical(
    members: Sequence[Member], rule: CanonicalRule, priority: Sequence[str] = ()
) -> int:
    """The story that stands for the event under ``rule``.

    ``agency`` (the default): the agency most variants credit ("(Reuters) -", "TASS reported");
    its own copy if the event has one, else the most complete variant that credits it first (a
    reprint of its wire), else the most complete variant. ``earliest``: the first published.
    ``complete``: the longest text. ``priority``: the first source on the list that carried it.
    Ties go to the earlier, then the lower id, so the choice is deterministic.
    """
    if not members:
        raise ValueError("an event has at least one member")
    if rule == "earliest":
        return min(members, key=lambda m: (m.when, m.story_id)).story_id
    if rule == "priority":
        for wanted in priority:
            carried = [m for m in members if _is_from(m.source, (wanted.lower(),))]
            if carried:
                return min(carried, key=lambda m: (m.when, m.story_id)).story_id
        return _most_complete(members).story_id
    if rule == "agency":
        credited: Counter[str] = Counter()
        first_credit: dict[str, tuple[datetime, int, int]] = {}
        for m in sorted(members, key=lambda m: (m.when, m.story_id)):
            carrier = [a for a, doms in AGENCY_DOMAINS.items() if _is_from(m.source, doms)]
            # An agency's own copy first, then credits in the order the text gives them (the
            # dateline credit comes first).
            for position, agency in enumerate(dict.fromkeys([*carrier, *m.credits])):
                credited[agency] += 1
                first_credit.setdefault(agency, (m.when, m.story_id, position))
        if credited:
            agency = min(credited, key=lambda a: (-credited[a], first_credit[a]))
            own = [m for m in members if _is_from(m.source, AGENCY_DOMAINS.get(agency, ()))]
            if own:
                return min(own, key=lambda m: (m.when, m.story_id)).story_id
            reprints = [m for m in members if m.credits[:1] == (agency,)]
            if reprints:
                return _most_complete(reprints).story_id
    return _most_complete(members).story_id


@dataclass(slots=True)
class _Event:
    id: int
    first: datetime
    last: datetime
    centroid: dict[str, float] = field(default_factory=dict)
    norm2: float = 0.0
    members: list[Member] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Undo:
    """Everything ``Clusterer.add`` changed, so ``Clusterer.undo`` can take it back."""

    story_id: int
    event_id: int
    vector: Mapping[str, float]
    terms: tuple[str, ...]
    new_event: bool
    previous_span: tuple[datetime, datetime] | None


class Clusterer:
    """The in-memory index of the window's events. Not thread-safe: one writer at a time (the
    pipeline serializes assignment, as the store serializes writes)."""

    def __init__(self, policy: ClusterPolicy = ClusterPolicy()) -> None:
        from datasketch import MinHashLSH

        self.policy = policy
        self._df: Counter[str] = Counter()
        self._n = 0
        self._events: dict[int, _Event] = {}
        self._story_event: dict[int, int] = {}
        self._shingles: dict[int, npt.NDArray[np.uint32]] = {}
        self._lsh_terms: MinHashLSH = MinHashLSH(
            threshold=policy.candidate_threshold, num_perm=policy.num_perm
        )
        self._lsh_copy: MinHashLSH = MinHashLSH(
            threshold=policy.copy_threshold, num_perm=policy.num_perm
        )
        self._newest: datetime | None = None
        self._cache: tuple[Signature, dict[str, float]] | None = None
        self._idf: dict[str, float] = {}
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
        idf, df, bg, log = self._idf, self._df, lexicon.background_df, math.log
        prior = self.policy.prior_docs
        numerator = log(prior + self._n + 1)
        terms = list(signature.weights)
        for term in [t for t in terms if t not in idf]:
            idf[term] = numerator - log(prior * bg(term) + df[term] + 1)
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

    def _lean(self, values: bytes) -> LeanMinHash:
        import numpy as np
        from datasketch import LeanMinHash

        return LeanMinHash(seed=1, hashvalues=np.frombuffer(values, "<u4"), scheme="affine32")

    def assign(self, signature: Signature, when: datetime) -> Assignment:
        """Where a story with this signature and time belongs. Changes nothing."""
        import numpy as np

        copies: dict[int, float] = {}  # event -> best shingle Jaccard with one of its stories
        if signature.shingles and self._shingles:
            mine = np.frombuffer(signature.shingles, "<u4")
            for story_id in self._lsh_copy.query(self._lean(signature.shingles)):
                event_id = self._story_event[story_id]
                if not self._in_window(self._events[event_id], when):
                    continue
                jaccard = float(np.count_nonzero(mine == self._shingles[story_id])) / len(mine)
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
            for story_id in self._lsh_terms.query(self._lean(signature.terms)):
                hits[self._story_event[story_id]] += 1
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
        if best_event is not None and best_cosine >= policy.rewrite_threshold:
            jaccard = copies.get(best_event, 0.0)
            signals["copy_jaccard"] = round(jaccard, 4)
            reason = "rewrite"
            if jaccard >= policy.copy_threshold:
                reason = "identical" if jaccard >= 1.0 else "near-copy"
            return Assignment(best_event, reason, round(best_cosine, 4), signals)
        if copy_event is not None and best_copy >= policy.copy_threshold:
            signals["cosine"] = round(self._cosine(vector, self._events[copy_event]), 4)
            reason = "identical" if best_copy >= 1.0 else "near-copy"
            return Assignment(copy_event, reason, round(best_copy, 4), signals)
        return Assignment(None, "new", 0.0, signals)

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
    ) -> Undo:
        """Put a stored story into the index under ``event_id`` (new or existing).

        A story that joined as a copy at least ``redundant_copy`` alike with an indexed member
        of its event counts in the event's centroid and membership, but is not put into the LSH
        indexes: that member already finds the event for anything that would find the copy,
        and syndicated copies are most of the traffic."""
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
        dot = sum(x * centroid.get(t, 0.0) for t, x in vector.items())
        for term, x in vector.items():
            centroid[term] = centroid.get(term, 0.0) + x
        event.norm2 += 2.0 * dot + sum(x * x for x in vector.values())
        event.members.append(
            Member(story_id, when, source, signature.length, tuple(signature.credits))
        )
        self._story_event[story_id] = event_id
        redundant = (
            assignment is not None
            and assignment.event_id == event_id
            and assignment.signals.get("copy_jaccard", 0.0) >= self.policy.redundant_copy
        )
        if signature.terms and not redundant:
            self._lsh_terms.insert(story_id, self._lean(signature.terms))
        if signature.shingles and not redundant:
            lean = self._lean(signature.shingles)
            self._lsh_copy.insert(story_id, lean)
            self._shingles[story_id] = lean.hashvalues
        if self._newest is None or when > self._newest:
            self._newest = when
        return Undo(story_id, event_id, vector, terms, new_event, previous_span)

    def undo(self, changes: Iterable[Undo]) -> None:
        """Take back ``add`` calls, newest first (their transaction did not commit)."""
        for change in reversed(list(changes)):
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
            self._forget(change.story_id)
        self._cache = None

    def _forget(self, story_id: int) -> None:
        self._story_event.pop(story_id, None)
        if story_id in self._lsh_terms.keys:
            self._lsh_terms.remove(story_id)
        if story_id in self._lsh_copy.keys:
            self._lsh_copy.remove(story_id)
        self._shingles.pop(story_id, None)

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

    def load(self, stories: Iterable[IndexedStory]) -> int:
        """Rebuild from the store (oldest first). Returns how many stories were indexed."""
        count = 0
        for item in stories:
            if item.story_id in self._story_event:
                continue
            self.add(
                item.story_id, item.event_id, item.signature, when=item.when, source=item.source
            )
            count += 1
        self.evict()
        return count
