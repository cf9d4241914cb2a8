"""Words: tokenization, term selection, name detection and background word frequencies.

Owns: how text becomes tokens and weighted terms, shared by ``fingerprint`` (which derives a
story's terms) and ``cluster`` (which weighs them against the corpus). Pure functions; the only
data they read is ``wordfreq``'s frequency tables and the word lists of ``ingestor.words``
(stopwords, and the function-word table shipped there), each loaded lazily on first use.

Does not: know about stories, signatures or events.

Choices (measured in ``docs/design.md``):

* Tokens are Unicode letter/digit runs; apostrophes stay inside words (``o'brien``) and dots or
  commas only before digits (``6.1``, ``1,000``), so "runway.The" is two tokens.
* A story's *terms* are its content words (stopwords and one-letter tokens dropped), counted in
  the text, with the headline counted ``title_boost`` times and capitalized words that do not
  start a sentence (names: "Rodong Sinmun", "Lohan", "Klitschko", "Šefčovič") counted
  ``name_boost`` times; capitals and lower case are Unicode's letter categories, in any cased
  script. Names are what tells two look-alike events apart (two rehab stays, two title fights).
* Background document frequency comes from ``wordfreq`` (word frequencies across large general
  corpora): ``1 - exp(-f * L)`` is the chance that a document of ``L`` words contains a word of
  frequency ``f``. It gives rare words their weight from the first story on, before the stream
  itself has statistics (see ``cluster``'s smoothed IDF).
* Frequencies are per language (``detect_language``: the language whose 100 most frequent words
  make up most of the text, English by default), because a German "und" is as common as an
  English "and" and must weigh as little (``docs/design.md`` §3.6).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from functools import lru_cache
from itertools import groupby
from typing import Generic, NamedTuple, TypeVar

from ingestor.words import FUNCTION_WORDS_FILE, STOPWORDS, function_word_table

V = TypeVar("V")

__all__ = [
    "Analysis",
    "WordTable",
    "analyze",
    "background_df",
    "background_dfs",
    "background_idf",
    "background_idfs",
    "detect_language",
    "tokens",
]

DEFAULT_LANGUAGE = "en"
FUNCTION_WORDS = 100
"""Words per language in the detection table: each language's most frequent words, which are
its articles, pronouns, prepositions and auxiliaries."""
MIN_SHARE = 0.2
"""The share of a text's tokens that must be one language's function words for it to count as
that language; below it (too short, or a script whose words we do not split) the default."""

# Apostrophes stay inside words ("o'brien") except a possessive "'s", which ends the word (the
# "s" left over is a one-letter token: kept in shingles, never a term).
_TOKEN = re.compile(r"[^\W_]+(?:'(?![sS]\b)[^\W_]+)*(?:[.,]\d+)*")
CASED_PLANES_END = 0x20000
"""Every cased letter (``Lu``, ``Lt``, ``Ll``) lies in Unicode's first two planes (the tests
check it against the running Python's Unicode database), so only those are scanned."""


@lru_cache(maxsize=1)
def _name_pattern() -> re.Pattern[str]:
    """A name: a capitalized word in mid-sentence, i.e. right after a lower-case word, a digit
    or a comma. Sentence-initial words ("Officials said") are not names by this rule; "Russian
    President Vladimir Putin" is four. Capitals and lower case are Unicode's letter categories
    (upper- and titlecase ``Lu``/``Lt``, lowercase ``Ll``), so "Łukasz", "Maroš Šefčovič" and
    "İlham" are names as "Lukasz" is, in every cased script."""
    upper = _category_class(("Lu", "Lt"))
    lower = _category_class(("Ll",))
    return re.compile(rf"(?<=[{lower}0-9,] )[{upper}][^\W_]*(?:'(?![sS]\b)[^\W_]+)*")


def _category_class(categories: Collection[str]) -> str:
    """The body of a regex character class holding every code point of Unicode general
    ``categories``, as ranges (Python's ``re`` has no ``\\p{Lu}``; one scan of the cased planes,
    about 20 ms, once per process)."""
    parts: list[str] = []
    start = 0
    for category, run in groupby(map(unicodedata.category, map(chr, range(CASED_PLANES_END)))):
        end = start + sum(1 for _ in run)
        if category in categories:
            parts.append(f"\\U{start:08x}-\\U{end - 1:08x}")
        start = end
    return "".join(parts)


def _normalize(text: str) -> str:
    if not text.isascii():
        # "İ" lower-cases to "i" and a combining dot, which would split "İlham" in two tokens.
        text = unicodedata.normalize("NFKC", text).replace("’", "'").replace("İ", "I")
    return text


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens of ``text`` in order (stopwords kept): what shingles are made of."""
    return _TOKEN.findall(_normalize(text).lower())


class Analysis(NamedTuple):
    words: list[str]
    """``tokens(text)``."""
    counts: dict[str, float]
    """Content terms with their boosted counts."""
    language: str
    """``detect_language(words)``."""


def analyze(text: str, *, name_boost: float, weight: float = 1.0) -> Analysis:
    """``tokens(text)``, the content terms of ``text`` with their boosted counts, and its
    language.

    One pass over the text serves all three, and the per-word work stays inside C (``findall``,
    ``Counter``, set intersections), because this is the hot path of fingerprinting.
    """
    text = _normalize(text)
    words: list[str] = _TOKEN.findall(text.lower())
    counts: dict[str, float] = dict(Counter(words))
    language = _language(counts, len(words))
    for word in [w for w in counts if len(w) < 2 or w in STOPWORDS]:
        del counts[word]
    if weight != 1.0:
        for word in counts:
            counts[word] *= weight
    if name_boost != 1.0:
        extra = weight * (name_boost - 1.0)
        for name in _name_pattern().findall(text):
            word = name.lower()
            if word in counts:
                counts[word] += extra
    return Analysis(words, counts, language)


def _frequency(word: str, language: str) -> float:
    from wordfreq import word_frequency  # heavy data load, first use only

    if language == DEFAULT_LANGUAGE:
        return float(word_frequency(word, DEFAULT_LANGUAGE))
    # Other languages from wordfreq's small lists (about 4 MB each, loaded on first use): they
    # hold every word common enough to matter here; rarer ones count as unseen.
    return float(word_frequency(word, language, wordlist="small"))


BACKGROUND_DOC_LENGTH = 500


def background_df(word: str, language: str = DEFAULT_LANGUAGE) -> float:
    """The chance that a general-corpus document of ``BACKGROUND_DOC_LENGTH`` words in
    ``language`` contains ``word``."""
    return 1.0 - math.exp(-_frequency(word, language) * BACKGROUND_DOC_LENGTH)


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


class _Background:
    """Per-language memo tables of background DF and IDF, created on first use of a language."""

    def __init__(self) -> None:
        self._df: dict[str, WordTable[float]] = {}
        self._idf: dict[str, WordTable[float]] = {}

    def df(self, language: str) -> WordTable[float]:
        table = self._df.get(language)
        if table is None:
            fresh = WordTable(lambda word: background_df(word, language), limit=1 << 18)
            table = self._df.setdefault(language, fresh)  # atomic: racing threads agree
        return table

    def idf(self, language: str) -> WordTable[float]:
        table = self._idf.get(language)
        if table is None:
            df = self.df(language)
            fresh = WordTable(lambda word: -math.log(max(df.get(word), 1e-9)), limit=1 << 18)
            table = self._idf.setdefault(language, fresh)
        return table


_BACKGROUND = _Background()


def background_dfs(words: Iterable[str], language: str = DEFAULT_LANGUAGE) -> dict[str, float]:
    """A table holding ``background_df`` of every word in ``words`` (and of others seen before),
    for C-level lookups on the hot path."""
    return _BACKGROUND.df(language).fill(words)


def background_idf(word: str, language: str = DEFAULT_LANGUAGE) -> float:
    """``-ln(background_df(word))``, floored for words no corpus has seen (memoized)."""
    return _BACKGROUND.idf(language).get(word)


def background_idfs(words: Iterable[str], language: str = DEFAULT_LANGUAGE) -> dict[str, float]:
    """A table holding ``background_idf`` of every word in ``words`` (and of others seen
    before), for C-level lookups on the hot path."""
    return _BACKGROUND.idf(language).fill(words)


# -- language ----------------------------------------------------------------------------------


def build_function_words(per_language: int = FUNCTION_WORDS) -> dict[str, list[str]]:
    """Each language's ``per_language`` most frequent words in wordfreq's small lists, for the
    languages our tokenizer splits into words (not Chinese, Japanese or Korean). This is what
    ``function_words.json`` holds; loading every list takes 140 MB, so it is computed once,
    shipped, and checked against wordfreq by the tests. Regenerate with
    ``python -c "import ingestor.lexicon as m; m.write_function_words()"``."""
    from wordfreq import available_languages, iter_wordlist

    def top(language: str, skip: Collection[str] = ()) -> list[str]:
        words = iter_wordlist(language, wordlist="small")
        kept = (w for w in words if w.isalpha() and w not in skip)
        if skip:  # not the default language
            kept = (w for w in kept if len(w) > 1 or not w.isascii())
        return [w for w, _ in zip(kept, range(per_language), strict=False)]

    english = top(DEFAULT_LANGUAGE)
    table = {DEFAULT_LANGUAGE: english}
    # A word shared with English counts for English, the default, and one-letter Latin words
    # count for no other language ("p. m.", initials). Some lists (Tamil, Hindi, Bengali) hold
    # English words, from web text that mixes the two.
    skip = set(english)
    for language in sorted(available_languages(wordlist="small")):
        if language in ("zh", "ja", "ko", DEFAULT_LANGUAGE):
            continue
        table[language] = top(language, skip)
    return table


def write_function_words() -> None:
    lines = [
        f"{json.dumps(lang)}: {json.dumps(words, ensure_ascii=False)}"
        for lang, words in build_function_words().items()
    ]
    FUNCTION_WORDS_FILE.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")


@lru_cache(maxsize=1)
def _function_words() -> tuple[frozenset[str], dict[str, tuple[str, ...]]]:
    """The default language's function words, and every other language's: word -> the
    languages it is a function word of (none of them the default: see ``build_function_words``).
    """
    table = function_word_table()
    default = frozenset(table.pop(DEFAULT_LANGUAGE, ()))
    index: dict[str, list[str]] = {}
    for language, words in table.items():
        for word in words:
            index.setdefault(word, []).append(language)
    return default, {word: tuple(languages) for word, languages in index.items()}


def detect_language(words: Sequence[str]) -> str:
    """The language whose function words make up the largest share of ``words``, or
    ``DEFAULT_LANGUAGE`` if none reaches ``MIN_SHARE``.

    Background frequencies are per language: without this, a German story's "der", "und" and
    "nicht" would weigh as much as names (they are rare in English), and unrelated German stories
    would meet at cosine 0.4-0.6 on them."""
    return _language(Counter(words), len(words))


def _language(counts: Mapping[str, float], total: int) -> str:
    if not total:
        return DEFAULT_LANGUAGE
    default, index = _function_words()
    # The intersections run in C; the Python loops only see the words that hit.
    own = sum(map(counts.__getitem__, counts.keys() & default))
    others = counts.keys() & index.keys()
    if own >= sum(map(counts.__getitem__, others)):
        # No other language can have more hits than all other-language words together
        # (ties go to the default): the common case, an English story, stops here.
        return DEFAULT_LANGUAGE
    shares: dict[str, float] = {}
    for word in others:
        count = counts[word]
        for lang in index[word]:
            shares[lang] = shares.get(lang, 0.0) + count
    best, hits = max(shares.items(), key=lambda item: (item[1], item[0]))
    if hits <= own or hits < MIN_SHARE * total:
        return DEFAULT_LANGUAGE
    return best
