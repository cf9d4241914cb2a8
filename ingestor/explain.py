"""Why a variant sits in its event: the passages it shares with the canonical story.

Owns: ``shared_passages``, a pure function over two texts used by ``ingestor events show
--explain``. It is computed on demand from the stored texts (never stored), so it always speaks
of the texts as they are now.

Does not: decide anything. The scores that placed a story are the ``signals`` its ``Assignment``
carried, stored with its membership.
"""

from __future__ import annotations

import difflib
import re
import unicodedata

__all__ = ["shared_passages"]

_WORD = re.compile(r"\S+")
_STRIP = re.compile(r"^[^\w]+|[^\w]+$")


def _words(text: str) -> tuple[list[str], list[str]]:
    shown = _WORD.findall(unicodedata.normalize("NFKC", text))
    keys = [_STRIP.sub("", w).casefold().replace("’", "'") for w in shown]
    return shown, keys


def shared_passages(text: str, canonical: str, *, min_words: int = 5, limit: int = 5) -> list[str]:
    """The longest runs of at least ``min_words`` words that ``text`` shares with
    ``canonical`` (case and punctuation aside), longest first, as they read in ``text``."""
    shown, keys = _words(text)
    _, other = _words(canonical)
    matcher = difflib.SequenceMatcher(None, keys, other, autojunk=False)
    blocks = [b for b in matcher.get_matching_blocks() if b.size >= min_words]
    blocks.sort(key=lambda b: (-b.size, b.a))
    return [" ".join(shown[b.a : b.a + b.size]) for b in blocks[:limit]]
