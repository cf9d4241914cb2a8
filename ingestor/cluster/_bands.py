"""A compact in-memory band table: MinHash-LSH buckets as plain dicts of byte keys.

Owns: ``BandTable``, the in-memory form of one LSH index. A signature's MinHash values are cut
into ``bands`` of ``rows`` values (datasketch's optimal split for the threshold, ``_index``
computes it); two stories are candidates when any band is byte-for-byte equal. Each band is a
dict from the band's bytes, a slice of the stored signature itself, to the story holding it, or
to a set of them once a second story shares it.

Why not datasketch's ``MinHashLSH`` in memory: its dict storage keeps a ``set`` object per band
key and byte-swaps every band through numpy, and held 17.9 KB and about 30 µs a story in our two
indexes; most band keys are held by one story, so a dict entry to an int is the common case
here. The answers are the same (``tests/test_index.py`` compares them with datasketch's on the
same signatures). datasketch stays the index shared through Redis, whose layout other daemons
read.

Does not: hash (signatures arrive as MinHash bytes) or choose thresholds.
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["BandTable"]

_VALUE_BYTES = 4
"""Bytes per MinHash value (uint32)."""


class BandTable:
    """The buckets of one LSH index over MinHash bytes; see the module docstring."""

    __slots__ = ("_cuts", "_keys", "_tables")

    def __init__(self, bands: int, rows: int) -> None:
        step = rows * _VALUE_BYTES
        self._cuts = [(i * step, (i + 1) * step) for i in range(bands)]
        self._tables: list[dict[bytes, int | set[int]]] = [{} for _ in range(bands)]
        self._keys: dict[int, bytes] = {}
        """Story -> its MinHash bytes, to find its buckets again on removal."""

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, story_id: object) -> bool:
        return story_id in self._keys

    def __iter__(self) -> Iterator[int]:
        return iter(self._keys)

    def insert(self, story_id: int, values: bytes) -> None:
        if story_id in self._keys:
            self.remove(story_id)
        self._keys[story_id] = values
        for (start, end), table in zip(self._cuts, self._tables, strict=True):
            key = values[start:end]
            held = table.get(key)
            if held is None:
                table[key] = story_id
            elif isinstance(held, set):
                held.add(story_id)
            elif held != story_id:
                table[key] = {held, story_id}

    def remove(self, story_id: int) -> None:
        values = self._keys.pop(story_id, None)
        if values is None:
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
        for (start, end), table in zip(self._cuts, self._tables, strict=True):
            held = table.get(values[start:end])
            if held is None:
                continue
            if isinstance(held, set):
                found.update(held)
            else:
                found.add(held)
        return found

    def clear(self) -> None:
        self._keys.clear()
        for table in self._tables:
            table.clear()
