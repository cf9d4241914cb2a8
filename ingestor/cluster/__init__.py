"""Event assignment: which event a story belongs to, or whether it starts a new one.

Owns: the in-memory window of recent events (datasketch MinHash-LSH over signatures, event
centroids, corpus statistics), the assignment decision, event merges, and the canonical-story
policy. Its inputs are ``Signature`` values from ``fingerprint`` and, at start-up, the
``IndexedStory`` rows the store hands back; its output is an ``Assignment``. It never touches
the store or the clock: ``pipeline`` persists what it decides and passes every time in.

The method (numbers and the sweep that chose them in ``docs/design.md``):

1. **Candidates** come from two LSH indexes over the stories of the window: one over the
   shingle MinHash (copies), one over the key-term MinHash (rewrites share names and rare words
   where no sentence survives). A candidate story brings its event.
2. **Verification** scores each candidate event by the cosine between the story's TF-IDF vector
   and the event's *centroid* (the sum of its members' unit vectors), with IDF smoothed by a
   background prior, so the first story of the day is weighed as sensibly as the ten-thousandth.
3. **Decision**, from the scored candidates alone: a redundant copy joins its twin's event; else
   the best candidate joins when the cosine reaches ``rewrite_threshold`` (raised for a story
   outside the event's time span); else the event of a copy whose page text is too noisy for
   the cosine; else a new event. Comparing against the centroid, never against single members,
   is what keeps distinct events from chaining together through a series of pairwise links: a
   story must resemble the event as a whole.
4. **Merge.** A story that joins one event and meets another candidate at ``merge_threshold``
   merges the two when their centroids meet without it.
5. **Time.** Only events whose span, widened by ``window`` on both sides, contains the story's
   time (published, else fetched) are candidates; events quiet for longer than the window are
   evicted, which also bounds memory.

Changing the window is separate from deciding: ``assign`` reads, ``add`` writes and returns an
``Undo`` so the pipeline can take the change back if the store's transaction fails.

Its policy is ``ClusterPolicy`` (the ``[cluster]`` settings, from ``ingestor.policies``), and it
reads the fingerprint recipe (``FingerprintPolicy``) its signatures were made with. The
package, one concern a module (import from ``ingestor.cluster``):

* ``_statistics``: document frequencies, smoothed IDF, the story's TF-IDF vector;
* ``_state``: the window's events, their centroids and members (the state decided over);
* ``_candidates``: finding candidates in the LSH index and scoring every signal of each;
* ``_decision``: the pure decision over scored candidates (``Candidate``, ``decide``, the
  ``Reason`` it gives);
* ``_merges``: folding two events into one, and back;
* ``_reconcile``: a shared index checked against the store;
* ``_index``: the two MinHash-LSH indexes, in memory or in Redis;
* ``_canonical``: which variant stands for an event;
* ``_clusterer``: ``Clusterer``, the steps in order over all of the above.
"""

from __future__ import annotations

from ingestor.cluster._canonical import AGENCY_DOMAINS, CanonicalRule, Member, choose_canonical
from ingestor.cluster._clusterer import Clusterer, Undo, make_index
from ingestor.cluster._decision import Candidate, Probe, decide
from ingestor.cluster._index import LSHIndex
from ingestor.cluster._merges import Merged
from ingestor.cluster._reconcile import IndexCheck
from ingestor.cluster._score import ScoreModel, load_model
from ingestor.policies import ClusterPolicy

__all__ = [
    "AGENCY_DOMAINS",
    "Candidate",
    "CanonicalRule",
    "ClusterPolicy",
    "Clusterer",
    "IndexCheck",
    "LSHIndex",
    "Member",
    "Merged",
    "Probe",
    "ScoreModel",
    "Undo",
    "choose_canonical",
    "decide",
    "load_model",
    "make_index",
]
