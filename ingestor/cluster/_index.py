"""The two MinHash-LSH indexes the clusterer asks for candidates, in memory or in Redis.

Owns: ``LSHIndex``: one LSH index over shingle MinHashes (copies, threshold ``copy_threshold``)
and one over key-term MinHashes (rewrite candidates, ``candidate_threshold``), keyed by story id,
with datasketch's band split for each threshold: in memory a ``_bands.BandTable`` each (the
default), or datasketch ``MinHashLSH`` indexes in Redis (``index_url``) when several daemons
share one index.

Does not: decide anything, or hold event state. Inputs are the MinHash bytes of ``Signature``
values; outputs are story ids.

Redis mode. One datasketch insert is a round trip per band, so a batch's inserts wait in
``pending`` (queried from a small in-memory index alongside Redis) until ``commit`` sends them on
one pipeline. The pipeline calls ``commit`` inside the store's transaction, just before the store
commits: a story the store has committed is then in the index for every daemon. If the store's
commit fails, the clusterer's undo removes the entries again; a crash in between leaves ids the
store never held, which every daemon ignores (it knows no such story) and the start-up check
removes. The store is the source of truth; the index only ever holds a superset of it. Keys
live under a namespace that names the fingerprint version and the thresholds, so signatures of
another recipe are never mixed in: a new recipe starts an empty namespace, which the check then
fills.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ingestor.cluster._bands import BandTable
from ingestor.errors import IndexError_

if TYPE_CHECKING:
    from datasketch import LeanMinHash, MinHashLSH

__all__ = ["LSHIndex"]


def lean(values: bytes) -> LeanMinHash:
    """A datasketch LeanMinHash over stored hash values (scheme ``affine32``)."""
    import numpy as np
    from datasketch import LeanMinHash

    return LeanMinHash(seed=1, hashvalues=np.frombuffer(values, "<u4"), scheme="affine32")


@lru_cache(maxsize=32)
def _band_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """datasketch's (bands, rows) for a threshold: computed by numeric integration, which costs
    tens of milliseconds, so once per process."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return int(lsh.b), int(lsh.r)


def _redis_params(url: str) -> dict[str, Any]:
    from redis.connection import parse_url

    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise IndexError_(f"index_url must be a redis:// URL, got {parts.scheme or url!r}")
    params: dict[str, Any] = dict(parse_url(url))  # type: ignore[no-untyped-call]
    params.pop("connection_class", None)
    params.setdefault("socket_timeout", 10)
    params.setdefault("socket_connect_timeout", 5)
    return params


class LSHIndex:
    """Candidate look-ups for the clusterer; see the module docstring."""

    def __init__(
        self,
        *,
        num_perm: int,
        copy_perm: int | None = None,
        copy_threshold: float,
        candidate_threshold: float,
        url: str = "",
        namespace: str = "ingestor",
    ) -> None:
        self.num_perm = num_perm
        self.copy_perm = copy_perm or num_perm
        self._thresholds = (copy_threshold, candidate_threshold)
        self.url = url
        self.shared = bool(url)
        self.namespace = (
            f"{namespace}:c{copy_threshold:g}:t{candidate_threshold:g}:p{self.copy_perm}-{num_perm}"
        )
        self._pending: dict[int, tuple[bytes, bytes]] = {}
        copy_threshold, candidate_threshold = self._thresholds
        self._local_copy = BandTable(*_band_params(copy_threshold, self.copy_perm))
        self._local_terms = BandTable(*_band_params(candidate_threshold, self.num_perm))
        """In memory mode, the index itself; with Redis, this batch's inserts until ``commit``."""
        self._copy: MinHashLSH | None = None
        self._terms: MinHashLSH | None = None
        if url:
            self._copy, self._terms = self._pair(url)

    def _pair(self, url: str) -> tuple[MinHashLSH, MinHashLSH]:
        from datasketch import MinHashLSH

        copy_threshold, candidate_threshold = self._thresholds
        copy_params = _band_params(copy_threshold, self.copy_perm)
        terms_params = _band_params(candidate_threshold, self.num_perm)
        params = _redis_params(url)
        configs: list[dict[str, Any]] = [
            {"type": "redis", "basename": f"{self.namespace}:{kind}:".encode(), "redis": params}
            for kind in ("copy", "terms")
        ]
        try:
            return (
                MinHashLSH(num_perm=self.copy_perm, params=copy_params, storage_config=configs[0]),
                MinHashLSH(num_perm=self.num_perm, params=terms_params, storage_config=configs[1]),
            )
        except Exception as e:  # redis-py errors: connection refused, auth, bad database
            raise IndexError_(f"cannot open the LSH index at {_masked(url)}: {e}") from e

    # -- writing -------------------------------------------------------------------------------
    def insert(self, story_id: int, *, terms: bytes, shingles: bytes) -> None:
        if terms:
            self._local_terms.insert(story_id, terms)
        if shingles:
            self._local_copy.insert(story_id, shingles)
        if self.shared:
            self._pending[story_id] = (terms, shingles)

    def remove(self, story_ids: Iterable[int]) -> None:
        for story_id in story_ids:
            self._local_copy.remove(story_id)
            self._local_terms.remove(story_id)
            if self._pending.pop(story_id, None) is not None:
                continue
            if self._copy is not None and self._terms is not None:
                self._remove(self._copy, story_id)
                self._remove(self._terms, story_id)

    @staticmethod
    def _remove(lsh: MinHashLSH, story_id: int) -> None:
        try:
            if story_id in lsh:
                lsh.remove(story_id)
        except ValueError:  # another daemon removed it first
            pass
        except Exception as e:
            raise IndexError_(f"LSH index remove failed: {e}") from e

    def commit(self) -> int:
        """Send pending inserts to the shared index (after the store committed them)."""
        if self._copy is None or self._terms is None or not self._pending:
            return 0
        pending, self._pending = self._pending, {}
        try:
            pipe = self._copy.keys._redis.pipeline(transaction=False)
            for story_id, (term_values, shingle_values) in pending.items():
                if shingle_values:
                    _queue_insert(pipe, self._copy, story_id, lean(shingle_values))
                if term_values:
                    _queue_insert(pipe, self._terms, story_id, lean(term_values))
            pipe.execute()
        except Exception as e:
            raise IndexError_(f"LSH index write failed: {e}") from e
        finally:
            for story_id in pending:
                self._local_copy.remove(story_id)
                self._local_terms.remove(story_id)
        return len(pending)

    def ensure(self, stories: Iterable[tuple[int, bytes, bytes]]) -> int:
        """Make sure these committed stories (id, terms, shingles) are in the shared index,
        queueing the ones it lacks for the next ``commit``: one pipelined round trip. Called for
        the stories other processes committed, so the index heals whatever its writer could not
        do (a writer without the shared index, a Redis that lost recent writes). Returns how
        many were missing."""
        if self._copy is None or self._terms is None:
            return 0
        wanted = [item for item in stories if item[2] or item[1]]
        if not wanted:
            return 0
        try:
            pipe = self._copy.keys._redis.pipeline(transaction=False)
            for story_id, _, _ in wanted:
                pipe.hexists(self._terms.keys._name, pickle.dumps(story_id))
            present = pipe.execute()
        except Exception as e:
            raise IndexError_(f"LSH index read failed: {e}") from e
        missing = [item for item, found in zip(wanted, present, strict=True) if not found]
        for story_id, terms, shingles in missing:
            self.insert(story_id, terms=terms, shingles=shingles)
        return len(missing)

    def rollback(self) -> None:
        self.remove(list(self._pending))

    def clear(self) -> None:
        """Empty the index (``ingestor index rebuild``)."""
        if not self.shared:
            self._local_copy.clear()
            self._local_terms.clear()
            return
        for story_id in self.story_ids():
            self.remove([story_id])

    # -- reading -------------------------------------------------------------------------------
    def query_copies(self, shingles: bytes) -> list[int]:
        return self._query(self._copy, self._local_copy, shingles)

    def query_terms(self, terms: bytes) -> list[int]:
        return self._query(self._terms, self._local_terms, terms)

    def _query(self, shared: MinHashLSH | None, local: BandTable, values: bytes) -> list[int]:
        if not values:
            return []
        if shared is None:
            return list(local.query(values))
        try:
            found = _pipelined_query(shared, lean(values))
        except Exception as e:
            raise IndexError_(f"LSH index query failed: {e}") from e
        if self._pending:
            found.update(local.query(values))
        return list(found)

    def story_ids(self) -> set[int]:
        """Every story id in the index (either part)."""
        if self._copy is None or self._terms is None:
            return set(self._local_copy) | set(self._local_terms)
        try:
            found: set[int] = set()
            for lsh in (self._copy, self._terms):
                for key in lsh.keys.keys():  # noqa: SIM118 - a datasketch storage, not a dict
                    found.add(pickle.loads(key))  # noqa: S301 - own keys
            return found | set(self._pending)
        except Exception as e:
            raise IndexError_(f"LSH index read failed: {e}") from e

    def __contains__(self, story_id: int) -> bool:
        if story_id in self._pending or story_id in self._local_copy:
            return True
        if story_id in self._local_terms:
            return True
        if self._copy is None or self._terms is None:
            return False
        return story_id in self._copy or story_id in self._terms


# datasketch's Redis storage sends one round trip per band, both for queries (its query buffer
# included, in 2.0) and for each storage's buffer in an insertion session: 89 round trips per
# story with our two indexes. These two helpers write and read exactly the same Redis layout
# through datasketch's own storage objects and band hashing, but queue every command of a story
# (or of a whole batch) on one pipeline. They rely on MinHashLSH's ``hashranges``, ``_H``,
# ``keys`` and ``hashtables`` and the storages' ``_insert``/``_get_items``/``redis_key``, stable
# within datasketch 2.x (pinned); ``tests/test_index.py`` checks the layout against datasketch's
# own ``insert`` and ``query``.
def _bands(lsh: MinHashLSH, minhash: LeanMinHash) -> list[bytes]:
    return [lsh._H(minhash.hashvalues[start:end]) for start, end in lsh.hashranges]


def _queue_insert(pipe: Any, lsh: MinHashLSH, story_id: int, minhash: LeanMinHash) -> None:
    key = pickle.dumps(story_id)
    bands = _bands(lsh, minhash)
    lsh.keys._insert(pipe, key, *bands)
    for band, table in zip(bands, lsh.hashtables, strict=True):
        table._insert(pipe, band, key)


def _pipelined_query(lsh: MinHashLSH, minhash: LeanMinHash) -> set[int]:
    bands = _bands(lsh, minhash)
    pipe = lsh.keys._redis.pipeline(transaction=False)
    for band, table in zip(bands, lsh.hashtables, strict=True):
        table._get_items(pipe, table.redis_key(band))
    keys: set[bytes] = set()
    for members in pipe.execute():
        keys.update(members)  # the same story sits in many bands: unpickle each once
    return {pickle.loads(k) for k in keys}  # noqa: S301 - keys we pickled


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
