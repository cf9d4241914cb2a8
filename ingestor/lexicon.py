"""Words: tokenization, stopwords, name detection and background word frequencies.

Owns: how text becomes tokens and weighted terms, shared by ``fingerprint`` (which derives a
story's terms) and ``cluster`` (which weighs them against the corpus). Pure functions; the only
data it reads is the ``wordfreq`` package's frequency table, loaded lazily on first use.

Does not: know about stories, signatures or events.

Choices (measured in ``docs/design.md``):

* Tokens are Unicode letter/digit runs; apostrophes stay inside words (``o'brien``) and dots or
  commas only before digits (``6.1``, ``1,000``), so "runway.The" is two tokens.
* A story's *terms* are its content words (stopwords and one-letter tokens dropped), counted in
  the text, with the headline counted ``title_boost`` times and capitalized words that do not
  start a sentence (names: "Rodong Sinmun", "Lohan", "Klitschko") counted ``name_boost`` times.
  Names are what tells two look-alike events apart (two rehab stays, two title fights).
* Background document frequency comes from ``wordfreq`` (word frequencies across large general
  corpora): ``1 - exp(-f * L)`` is the chance that a document of ``L`` words contains a word of
  frequency ``f``. It gives rare words their weight from the first story on, before the stream
  itself has statistics (see ``cluster``'s smoothed IDF).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Generic, TypeVar

V = TypeVar("V")

__all__ = [
    "STOPWORDS",
    "WordTable",
    "analyze",
    "background_df",
    "background_dfs",
    "background_idf",
    "background_idfs",
    "terms",
    "tokens",
]

# Apostrophes stay inside words ("o'brien") except a possessive "'s", which ends the word (the
# "s" left over is a one-letter token: kept in shingles, never a term).
_TOKEN = re.compile(r"[^\W_]+(?:'(?![sS]\b)[^\W_]+)*(?:[.,]\d+)*")
_UPPER = "A-Z\u00c0-\u00d6\u00d8-\u00de\u0391-\u03a9\u0410-\u042f"
_LOWER = "a-z\u00df-\u00f6\u00f8-\u00ff\u03b1-\u03c9\u0430-\u044f"
# A name: a capitalized word in mid-sentence, i.e. right after a lower-case word, a digit or a
# comma. Sentence-initial words ("Officials said") are not names by this rule; "Russian President
# Vladimir Putin" is four.
_NAME = re.compile(rf"(?<=[{_LOWER}0-9,] )[{_UPPER}][^\W_]*(?:'(?![sS]\b)[^\W_]+)*")

STOPWORDS = frozenset(
    """
    a about above across after afterwards again against all almost alone along already also
    although always am among an and another any anyhow anyone anything anyway anywhere are
    around as at back be became because become becomes been before beforehand behind being
    below beside besides between beyond both but by can cannot could did do does doing done
    down due during each either else elsewhere enough etc even ever every everyone
    everything everywhere except few for former formerly from further get gets got had has
    have having he hence her here hereafter hereby herein hers herself him himself his how
    however i ie if in indeed into is it its itself just last latter least less made many
    may me meanwhile might more moreover most mostly much must my myself namely neither
    never nevertheless new next no nobody none noone nor not nothing now nowhere of off
    often on once one only onto or other others otherwise our ours ourselves out over own
    per perhaps please put rather re said same say says see seem seemed seeming seems
    several she should since so some somehow someone something sometime sometimes somewhere
    still such than that the their theirs them themselves then thence there thereafter
    thereby therefore therein thereupon these they this those though through throughout thru
    thus to together too toward towards under until up upon us very via was we well were
    what whatever when whence whenever where whereafter whereas whereby wherein whereupon
    wherever whether which while whither who whoever whole whom whose why will with within
    without would yet you your yours yourself yourselves told tell like would year years
    week day days time mr mrs ms dr
    """.split()  # noqa: SIM905 - a word list reads better as text
)


def _normalize(text: str) -> str:
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).replace("’", "'")
    return text


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens of ``text`` in order (stopwords kept): what shingles are made of."""
    return _TOKEN.findall(_normalize(text).lower())


def analyze(
    text: str, *, name_boost: float, weight: float = 1.0
) -> tuple[list[str], dict[str, float]]:
    """``tokens(text)`` and the content terms of ``text`` with their boosted counts.

    One pass over the text serves both, and the per-word work stays inside C (``findall``,
    ``Counter``), because this is the hot path of fingerprinting.
    """
    text = _normalize(text)
    words: list[str] = _TOKEN.findall(text.lower())
    counts: dict[str, float] = dict(Counter(words))
    for word in [w for w in counts if len(w) < 2 or w in STOPWORDS]:
        del counts[word]
    if weight != 1.0:
        for word in counts:
            counts[word] *= weight
    if name_boost != 1.0:
        extra = weight * (name_boost - 1.0)
        for name in _NAME.findall(text):
            word = name.lower()
            if word in counts:
                counts[word] += extra
    return words, counts


def terms(title: str, text: str, *, name_boost: float, title_boost: float) -> dict[str, float]:
    """Content terms of a story with their boosted counts (see the module docstring)."""
    _, counts = analyze(text, name_boost=name_boost)
    if title:
        for word, count in analyze(title, name_boost=name_boost, weight=title_boost)[1].items():
            counts[word] = counts.get(word, 0.0) + count
    return counts


def _frequency(word: str) -> float:
    from wordfreq import word_frequency  # heavy data load, first use only

    return float(word_frequency(word, "en"))


BACKGROUND_DOC_LENGTH = 500


@lru_cache(maxsize=1 << 18)
def background_df(word: str) -> float:
    """The chance that a general-corpus document of ``BACKGROUND_DOC_LENGTH`` words contains
    ``word``."""
    return 1.0 - math.exp(-_frequency(word) * BACKGROUND_DOC_LENGTH)


class WordTable(Generic[V]):
    """A memo of ``compute(word)`` as a plain dict, for the hot paths that look many words up at
    once (``map(table.__getitem__, words)`` stays in C). ``fill`` adds what is missing and
    returns the table. When it would pass ``limit`` entries a fresh dict is started and bound
    once filled, so threads still reading the old one are never disturbed."""

    def __init__(self, compute: Callable[[str], V], limit: int) -> None:
        self._compute = compute
        self._limit = limit
        self._table: dict[str, V] = {}

    def fill(self, words: Iterable[str]) -> dict[str, V]:
        table = self._table
        wanted = words if isinstance(words, (set, frozenset)) else set(words)
        missing = wanted.difference(table)  # walks the dict in C
        if len(table) + len(missing) > self._limit:
            table = {}
            missing = wanted
        compute = self._compute
        for word in missing:
            table[word] = compute(word)
        self._table = table
        return table

    def get(self, word: str) -> V:
        value = self._table.get(word)
        return self.fill((word,))[word] if value is None else value


_IDF = WordTable(lambda word: -math.log(max(background_df(word), 1e-9)), limit=1 << 18)
_DF = WordTable(background_df, limit=1 << 18)


def background_dfs(words: Iterable[str]) -> dict[str, float]:
    """A table holding ``background_df`` of every word in ``words`` (and of others seen before),
    for C-level lookups on the hot path."""
    return _DF.fill(words)


def background_idf(word: str) -> float:
    """``-ln(background_df(word))``, floored for words no corpus has seen (memoized)."""
    return _IDF.get(word)


def background_idfs(words: Iterable[str]) -> dict[str, float]:
    """A table holding ``background_idf`` of every word in ``words`` (and of others seen
    before), for C-level lookups on the hot path."""
    return _IDF.fill(words)
