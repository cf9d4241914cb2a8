"""Fingerprints: what clustering knows of a story, derived from its clean text and versioned.

Owns: turning a ``Story`` into a ``Signature``. Pure: text in, values out; no clock, no I/O.

A signature has three parts, one per question the clusterer asks:

* ``shingles``: a datasketch MinHash over the text's word ``shingle_size``-grams. Two copies of
  one wire story (the same text behind different site furniture) have a high shingle Jaccard;
  two outlets' rewrites of one statement do not (0.03-0.11 for the seed articles), so this part
  only ever finds copies. A text under ``short_text`` words is shingled after its headline:
  unrelated stories of a paywalled feed share one teaser line as their whole text.
* ``weights`` and ``terms``: the story's content terms with boosted counts (``lexicon.analyze``
  of the text, plus the headline's counted ``title_boost`` times),
  kept to the ``max_terms`` most distinctive by background frequency, and a MinHash over the
  ``key_terms`` most distinctive of them. Rewrites of one story share their distinctive terms
  (names, places, the op-ed's newspaper) even when no sentence survives; ``terms`` finds them as
  LSH candidates and ``weights`` verifies them against an event's centroid.
* ``credits``: news agencies the text names as its origin, for the canonical-story policy.
* ``language``: the language whose background frequencies weigh the terms
  (``lexicon.detect_language``), so that a German story's "und" weighs as little as an English
  story's "and".

Hashing: datasketch's default hashes every item with SHA-1 in a Python loop. Here each distinct
token is hashed once (CRC-32), shingle hashes are combined with numpy, and the resulting 32-bit
integers are permuted with datasketch's own permutation parameters and mixing (scheme
``affine32``, identity hash function) in one numpy pass: the values are exactly those of
``MinHash.update_batch``, which spent most of its time turning the items into a Python list and
back (a test compares the two).

``VERSION`` names the recipe: ``FingerprintPolicy.version``, the code's recipe
(``policies.FINGERPRINT_RECIPE``) and every parameter of the ``[fingerprint]`` settings.
Anything that changes what a signature contains (shingle size, permutation count, term
selection, boosts, tokens) must change it, so stored signatures of another version are
recomputed instead of being compared with new ones. ``fp2`` added the language (an ``fp1``
signature weighed every language's words by English frequencies) and the headline in the
shingles of short texts; ``fp3`` boosts names in every cased script ("Łukasz", "Šefčovič",
"İlham" were not names before).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Collection
from functools import lru_cache
from typing import TYPE_CHECKING

from ingestor import lexicon
from ingestor.agencies import SPELLINGS
from ingestor.models import Signature, Story
from ingestor.policies import FingerprintPolicy

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["VERSION", "FingerprintPolicy", "agency_credits", "fingerprint"]


DEFAULT_POLICY = FingerprintPolicy()
VERSION = DEFAULT_POLICY.version

# -- agency credits ------------------------------------------------------------------------
# The spellings that credit each agency come from ``ingestor.agencies``, the one agency table.
_ALT = "|".join(sorted((re.escape(s) for s in SPELLINGS), key=len, reverse=True))
# "(Reuters) -", "MOSCOW (Sputnik) –", "(ANI)" at the end, "TASS reported", "according to TASS",
# "told Reuters", "Published by Sputnik", "the TASS news agency". Case-sensitive on purpose:
# "ap" or "ria" in running lower-case text is not a credit.
_CREDIT = re.compile(
    rf"\((?P<paren>{_ALT})\)"
    rf"|\b(?P<verb>{_ALT})(?:\s+news agency)?\s+(?:reported|reports|said|says|quoted|cited)\b"
    rf"|\b(?:according to|told|cited by|quoted by|published by|via)\s+(?:the\s+)?"
    rf"(?:[A-Z][a-z]+\s+){{0,2}}?(?P<prep>{_ALT})\b"
    rf"|\bthe\s+(?P<agency>{_ALT})\s+news agency\b"
)


# Each spelling with the lower-cased words a text must contain for it to be there at all.
_NEEDED_WORDS = {
    s: frozenset(w for w in re.findall(r"[^\W_]+", s.lower()) if w not in ("of", "the"))
    for s in SPELLINGS
}


def _mention_spans(
    text: str, reach: int = 60, words: Collection[str] | None = None
) -> list[tuple[int, int]]:
    """Stretches of ``text`` around every spelling of an agency, merged: the only places a
    credit can be. ``str.find`` per spelling is far cheaper than one regex over the text, and
    ``words`` (the text's lower-cased words, when the caller has them) rules most spellings out
    without reading the text at all."""
    spans: list[tuple[int, int]] = []
    for spelling, needed in _NEEDED_WORDS.items():
        if words is not None and not all(w in words for w in needed):
            continue
        start = text.find(spelling)
        while start >= 0:
            spans.append((max(0, start - reach), start + len(spelling) + reach))
            start = text.find(spelling, start + 1)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def agency_credits(text: str, *, words: Collection[str] | None = None) -> tuple[str, ...]:
    """Agencies ``text`` credits as a source, canonical names in order of first credit.
    ``words``: the text's lower-cased words, if known (a shortcut, same result)."""
    seen: dict[str, None] = {}
    for lo, hi in _mention_spans(text, words=words):
        for match in _CREDIT.finditer(text, lo, hi):
            spelled = next(g for g in match.groups() if g)
            seen.setdefault(SPELLINGS[spelled], None)
    return tuple(seen)


# -- hashing -------------------------------------------------------------------------------
_MULTIPLIERS = (0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F, 0x165667B1, 0xD3A2646C, 0xFD7046C5)


_HASHES = lexicon.WordTable(lambda word: zlib.crc32(word.encode("utf-8")), limit=1 << 20)


def _token_hashes(words: Collection[str]) -> dict[str, int]:
    """A table holding the CRC-32 of every word in ``words`` (see ``lexicon.WordTable``)."""
    return _HASHES.fill(words)


def _shingle_hashes(
    words: list[str], vocabulary: Collection[str], size: int
) -> npt.NDArray[np.uint32]:
    import numpy as np

    # Hash each distinct word once; the per-position lookup is then a C-level dict access.
    table = _token_hashes(vocabulary)
    hashes = np.fromiter(map(table.__getitem__, words), dtype=np.uint32, count=len(words))
    size = min(size, len(words))  # a text shorter than one shingle is one shingle
    n = len(words) - size + 1 if words else 0
    combined = np.zeros(n, dtype=np.uint32)
    for offset in range(size):
        multiplier = np.uint32(_MULTIPLIERS[offset % len(_MULTIPLIERS)])
        combined = combined * np.uint32(31) + hashes[offset : offset + n] * multiplier
    return combined  # repeats left in: a minimum is the same over a multiset as over its set


@lru_cache(maxsize=8)
def _permutations(num_perm: int) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
    """datasketch's permutation parameters ``(a, b)`` for ``num_perm`` (seed 1, ``affine32``),
    taken from a MinHash it made, so the values below are exactly datasketch's."""
    import numpy as np
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=1, hashfunc=int, scheme="affine32").permutations
    return np.asarray(a, dtype=np.uint32), np.asarray(b, dtype=np.uint32)


_FMIX32 = (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16)
"""The MurmurHash3 32-bit finalizer's shifts and multipliers, which datasketch's ``affine32``
scheme applies to each input hash before its permutations."""
_ROWS = 4096
"""Items permuted at once: bounds the (items x permutations) matrix of a long text."""


def _minhash_bytes(items: npt.NDArray[np.uint32], num_perm: int) -> bytes:
    """The MinHash values of ``items`` (32-bit hashes), as datasketch's
    ``MinHash(num_perm, seed=1, hashfunc=int, scheme="affine32").update_batch(items)`` computes
    them, in numpy without the per-item Python calls (``tests/test_fingerprint.py`` checks they
    are the same bytes)."""
    import numpy as np

    if len(items) == 0:
        return b""
    a, b = _permutations(num_perm)
    s1, m1, s2, m2, s3 = (np.uint32(c) for c in _FMIX32)
    hv = np.asarray(items, dtype=np.uint32)
    hv = hv ^ (hv >> s1)
    hv = hv * m1
    hv = hv ^ (hv >> s2)
    hv = hv * m2
    hv = hv ^ (hv >> s3)
    out = np.full(num_perm, 0xFFFFFFFF, dtype=np.uint32)
    for start in range(0, len(hv), _ROWS):
        block = hv[start : start + _ROWS, None] * a + b  # wraps modulo 2**32, as datasketch's
        np.minimum(out, block.min(axis=0), out=out)
    return bytes(out.astype("<u4").tobytes())


def fingerprint(story: Story, policy: FingerprintPolicy = DEFAULT_POLICY) -> Signature:
    """The signature of ``story`` under ``policy``."""
    import numpy as np

    words, counts, language = lexicon.analyze(story.text, name_boost=policy.name_boost)
    headline: list[str] = []
    if story.title:
        title = lexicon.analyze(
            story.title, name_boost=policy.name_boost, weight=policy.title_boost
        )
        headline = title.words
        for word, count in title.counts.items():
            counts[word] = counts.get(word, 0.0) + count
    vocabulary = set(words)
    if headline and len(words) < policy.short_text:
        shingles = _shingle_hashes(
            headline + words, vocabulary.union(headline), policy.shingle_size
        )
    else:
        shingles = _shingle_hashes(words, vocabulary, policy.shingle_size)
    # Distinctiveness against general language: count times background IDF. Ties keep the
    # order of first appearance (a stable sort), so the choice is deterministic.
    terms = list(counts)
    score = np.fromiter(counts.values(), dtype=np.float64, count=len(terms))
    idf = lexicon.background_idfs(terms, language)
    score *= np.fromiter(map(idf.__getitem__, terms), dtype=np.float64, count=len(terms))
    order = np.argsort(-score, kind="stable")[: policy.max_terms]
    kept = [terms[i] for i in order.tolist()]
    key_terms = kept[: policy.key_terms]
    table = _token_hashes(key_terms)
    key = np.fromiter(map(table.__getitem__, key_terms), dtype=np.uint32, count=len(key_terms))
    return Signature(
        version=policy.version,
        shingles=_minhash_bytes(shingles, policy.shingle_perm),
        terms=_minhash_bytes(np.unique(key), policy.num_perm),
        weights={term: counts[term] for term in kept},
        length=len(words),
        credits=agency_credits(story.text, words=vocabulary),
        language=language,
    )
