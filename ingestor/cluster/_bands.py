"""A compact in-memory band table: MinHash-LSH buckets as sorted arrays of band hashes.

Owns: ``BandTable``, the in-memory form of one LSH index. A signature's MinHash values are cut
into ``bands`` of ``rows`` values (datasketch's optimal split for the threshold, ``_index``
computes it); two stories are candidates when any band is equal. Each band is one 64-bit key
(``band_keys``), salted with the band's number; a story is ``bands`` keys.

Layout, for memory that stays small per story:

* stories inserted since the last fold sit in one dict per band, from the band's bytes (a
  slice of the signature) to the story holding it, or a set of them once a second story shares
  it: the cheapest insert and query there is in Python;
* when those reach an eighth of the table (at least ``CONSOLIDATE_MIN``), they are folded into
  two parallel numpy arrays sorted by key, ``uint64`` keys and ``int64`` story ids: 16 bytes a
  band, 1.4 KB a story for our two indexes' 89 bands, where the dict form held about 7 KB; a
  query finds a key's stories with a binary search;
* a story removed after it was folded is remembered (``_removed``) and left out of answers
  until the next fold drops its entries.

Why not datasketch's ``MinHashLSH`` in memory: its dict storage keeps a ``set`` object per band
key and byte-swaps every band through numpy, and held 17.9 KB and about 30 µs a story in our two
indexes. The answers are the same (``tests/test_index.py`` compares them with datasketch's on
the same signatures), but for a 64-bit key collision between two different bands, which would
add a candidate (verified like any other, never a missed one) with a chance of about one in
10^10 per query at a million stories. datasketch stays the index shared through Redis, whose
layout other daemons read.

Does not: hash shingles (signatures arrive as MinHash bytes) or choose thresholds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Keys = npt.NDArray[np.uint64]
    Words = npt.NDArray[np.unsignedinteger[Any]]

__all__ = ["CONSOLIDATE_MIN", "BandTable"]

CONSOLIDATE_MIN = 1024
"""Fewest new stories folded into the sorted arrays at once (a fold sorts the whole table)."""
CONSOLIDATE_SHARE = 8
"""New stories are folded in once they are this fraction (1/8) of the table: each fold's sort
is then paid for by many inserts, and the dict part stays a small share of the memory."""

_VALUE_BYTES = 4
"""Bytes per MinHash value (uint32)."""
_GOLDEN = 0x9E3779B97F4A7C15
"""Band salts are multiples of this odd constant, spread over the 64 bits of a key."""
_PRIME = 0x100000001B3
"""FNV's 64-bit prime, to fold a band of several words into one."""


class BandTable:
    """The buckets of one LSH index over MinHash bytes; see the module docstring."""

    __slots__ = (
        "_bands", "_cuts", "_ids", "_keys", "_live", "_recent", "_removed", "_salts", "_tables",
        "_word_type", "_words",
    )  # fmt: skip

    def __init__(self, bands: int, rows: int) -> None:
        import numpy as np  # heavy: loaded when the first index is built

        self._bands = bands
        # Bands read as uint64 words when a band is a whole number of them, else uint32 ones.
        whole = (rows * _VALUE_BYTES) % 8 == 0
        self._word_type = np.dtype("<u8") if whole else np.dtype("<u4")
        self._words = rows // 2 if whole else rows
        self._salts = np.arange(1, bands + 1, dtype=np.uint64) * np.uint64(_GOLDEN)
        self._live: dict[int, None] = {}
        """Every story held, in the order inserted."""
        self._recent: dict[int, bytes] = {}
        """Stories not yet folded into the arrays -> their MinHash bytes."""
        step = rows * _VALUE_BYTES
        self._cuts = [(i * step, (i + 1) * step) for i in range(bands)]
        self._tables: list[dict[bytes, int | set[int]]] = [{} for _ in range(bands)]
        """Per band: the band's bytes -> the recent story or stories holding it."""
        self._keys: Keys = np.empty(0, np.uint64)
        self._ids: npt.NDArray[np.int64] = np.empty(0, np.int64)
        self._removed: set[int] = set()
        """Folded stories removed since the last fold."""

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, story_id: object) -> bool:
        return story_id in self._live

    def __iter__(self) -> Iterator[int]:
        return iter(self._live)

    @property
    def folded(self) -> int:
        """Band entries in the sorted arrays (removed stories' included until the next fold)."""
        return int(self._keys.size)

    def band_keys(self, values: bytes | Words) -> Keys:
        """The band keys of a signature (its MinHash bytes) or of many (a 2-D array of their
        words, one row each), as an array of shape (bands,) or (signatures, bands). A band of
        two MinHash values is 8 bytes, one ``uint64`` word, and its key is that word XOR the
        band's salt: equal keys in one band are equal bands, exactly. Longer bands fold their
        words into one (FNV-style multiply and XOR) first. The salt keeps equal values in two
        bands apart."""
        import numpy as np

        if isinstance(values, bytes):
            values = np.frombuffer(values, self._word_type)
        words = values[..., : self._bands * self._words]
        cells = words.reshape(*words.shape[:-1], self._bands, self._words)
        folded = cells[..., 0]
        for j in range(1, self._words):
            folded = (folded * np.uint64(_PRIME)) ^ cells[..., j]
        keys: Keys = folded ^ self._salts
        return keys

    def insert(self, story_id: int, values: bytes) -> None:
        if story_id in self._live:
            self.remove(story_id)
        self._live[story_id] = None
        self._recent[story_id] = values
        for (start, end), table in zip(self._cuts, self._tables, strict=True):
            key = values[start:end]
            held = table.get(key)
            if held is None:
                table[key] = story_id
            elif isinstance(held, set):
                held.add(story_id)
            elif held != story_id:
                table[key] = {held, story_id}
        if len(self._recent) >= max(CONSOLIDATE_MIN, len(self._live) // CONSOLIDATE_SHARE):
            self.fold()

    def remove(self, story_id: int) -> None:
        if story_id not in self._live:
            return
        del self._live[story_id]
        values = self._recent.pop(story_id, None)
        if values is None:
            self._removed.add(story_id)
            return
        for (start, end), table in zip(self._cuts, self._tables, strict=True):
            key = values[start:end]
            held = table.get(key)
            if held is None:
                continue
            if isinstance(held, set):
                held.discard(story_id)
                if len(held) == 1:
                    table[key] = next(iter(held))
                elif not held:
                    del table[key]
            elif held == story_id:
                del table[key]

    def query(self, values: bytes) -> set[int]:
        found: set[int] = set()
        if self._recent:
            for (start, end), table in zip(self._cuts, self._tables, strict=True):
                held = table.get(values[start:end])
                if held is None:
                    continue
                if isinstance(held, set):
                    found.update(held)
                else:
                    found.add(held)
        sorted_keys = self._keys
        if sorted_keys.size:
            import numpy as np

            keys = self.band_keys(values)
            low = np.searchsorted(sorted_keys, keys)
            hit = sorted_keys[np.minimum(low, sorted_keys.size - 1)] == keys
            if hit.any():
                low = low[hit]
                high = np.searchsorted(sorted_keys, keys[hit], "right")
                ids = self._ids
                single = high - low == 1  # most buckets hold one story
                folded = set(ids[low[single]].tolist())
                for a, b in zip(low[~single].tolist(), high[~single].tolist(), strict=True):
                    folded.update(ids[a:b].tolist())
                found |= folded - self._removed if self._removed else folded
        return found

    def fold(self) -> None:
        """Fold the recent stories into the sorted arrays, dropping removed stories' entries."""
        import numpy as np

        keys, ids = self._keys, self._ids
        if self._removed:
            gone = np.fromiter(self._removed, np.int64, len(self._removed))
            kept = ~np.isin(ids, gone)
            keys, ids = keys[kept], ids[kept]
        if self._recent:
            count = len(self._recent)
            words = np.frombuffer(b"".join(self._recent.values()), self._word_type)
            new_keys = self.band_keys(words.reshape(count, -1)).ravel()  # type: ignore[arg-type]
            new_ids = np.repeat(np.fromiter(self._recent, np.int64, count), self._bands)
            keys, ids = np.concatenate([keys, new_keys]), np.concatenate([ids, new_ids])
        order = np.argsort(keys, kind="stable")
        self._keys, self._ids = keys[order], ids[order]
        self._recent.clear()
        for table in self._tables:
            table.clear()
        self._removed.clear()

    def clear(self) -> None:
        import numpy as np

        self._live.clear()
        self._recent.clear()
        for table in self._tables:
            table.clear()
        self._removed.clear()
        self._keys = np.empty(0, np.uint64)
        self._ids = np.empty(0, np.int64)
