"""Why a variant sits in its event: the passages it shares with the canonical story.

Owns: ``shared_passages`` (``ingestor events show --explain``) and ``word_diff`` (``ingestor
stories diff``), pure functions over two texts. Both are computed on demand from the stored
texts (never stored), so they always speak of the texts as they are now.

Does not: decide anything. The scores that placed a story are the ``signals`` its ``Assignment``
carried, stored with its membership.
"""

from __future__ import annotations

import difflib
import re
import unicodedata

__all__ = ["MAX_DIFF_WORDS", "shared_passages", "word_diff"]

_WORD = re.compile(r"\S+")
_STRIP = re.compile(r"^[^\w]+|[^\w]+$")


def _words(text: str) -> tuple[list[str], list[str]]:
    shown = _WORD.findall(unicodedata.normalize("NFKC", text))
    keys = [_STRIP.sub("", w).casefold().replace("’", "'") for w in shown]
    return shown, keys


def shared_passages(text: str, canonical: str, *, min_words: int = 5, limit: int = 5) -> list[str]:
    """The longest runs of at least ``min_words`` words that ``text`` shares with
    ``canonical`` (case and punctuation aside), longest first, as they read in ``text``; within
    the first ``MAX_DIFF_WORDS`` words of each (difflib is quadratic at worst)."""
    shown, keys = _words(text)
    _, other = _words(canonical)
    keys, other = keys[:MAX_DIFF_WORDS], other[:MAX_DIFF_WORDS]
    matcher = difflib.SequenceMatcher(None, keys, other, autojunk=False)
    blocks = [b for b in matcher.get_matching_blocks() if b.size >= min_words]
    blocks.sort(key=lambda b: (-b.size, b.a))
    return [" ".join(shown[b.a : b.a + b.size]) for b in blocks[:limit]]


MAX_DIFF_WORDS = 5000
"""Words of each text ``word_diff`` compares; beyond them the diff says it was truncated."""


def word_diff(
    old: str, new: str, *, max_words: int = MAX_DIFF_WORDS
) -> tuple[list[tuple[str, str]], bool]:
    """A word diff of two texts: ``(op, words)`` runs, ``op`` one of ``=`` (both), ``-`` (only
    in ``old``), ``+`` (only in ``new``); and whether either text was cut at ``max_words``
    words (difflib is quadratic at worst, so the input is bounded). Words are compared as
    ``shared_passages`` compares them (case and edge punctuation aside) and shown as written:
    an ``=`` run as ``new`` writes it."""
    a, a_keys = _words(old)
    b, b_keys = _words(new)
    truncated = len(a) > max_words or len(b) > max_words
    a, b, a_keys, b_keys = a[:max_words], b[:max_words], a_keys[:max_words], b_keys[:max_words]
    runs: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, a_keys, b_keys, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            runs.append(("=", " ".join(b[j1:j2])))
            continue
        if i2 > i1:
            runs.append(("-", " ".join(a[i1:i2])))
        if j2 > j1:
            runs.append(("+", " ".join(b[j1:j2])))
    return runs, truncated
