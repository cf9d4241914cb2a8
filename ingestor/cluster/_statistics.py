"""Corpus statistics: how rare each term is among the stories seen so far, and the TF-IDF
vectors verification compares.

Owns: ``Statistics``, the document frequencies and story count of everything added (evicted
stories included: IDF describes the stream, not the window) and the smoothed IDF per background
language, ``idf(t) = ln((N0 + N + 1) / (N0 * bg(t) + df(t) + 1))``, where ``N0`` is
``prior_docs`` and ``bg`` general-language document frequency (``lexicon.background_dfs``), so
the first story of the day is weighed as sensibly as the ten-thousandth.

Does not: know events, candidates or the index. Inputs are ``Signature`` weights and languages;
outputs are unit vectors (term -> weight).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from itertools import repeat

from ingestor import lexicon
from ingestor.models import Signature

__all__ = ["Statistics"]


class Statistics:
    """Document frequencies and the smoothed IDF over every story added (see the module
    docstring). Not thread-safe, like the clusterer that owns it."""

    def __init__(self, prior_docs: int) -> None:
        self.prior_docs = prior_docs
        self._df: Counter[str] = Counter()
        self._n = 0
        self._cache: tuple[Signature, dict[str, float]] | None = None
        self._idf: dict[str, dict[str, float]] = {}
        """Smoothed IDF per background language, then per term."""
        self._idf_refresh_at = 0

    def count(self, terms: Iterable[str]) -> None:
        """One more story, holding ``terms``."""
        self._df.update(terms)
        self._n += 1
        self._cache = None

    def uncount(self, terms: Iterable[str]) -> None:
        """Take back a ``count`` (its story's transaction failed)."""
        self._df.subtract(terms)
        self._n -= 1
        self._cache = None

    def forget_vector(self) -> None:
        """Drop the cached vector (the statistics it was computed with have changed)."""
        self._cache = None

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
            prior = self.prior_docs
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
