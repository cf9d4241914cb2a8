"""Character rules every part of normalization agrees on.

Owns: which characters never survive (controls, lone surrogates, non-characters) and which are
removed as invisible (soft hyphens, zero-width spaces, BOMs), line endings folded to ``"\\n"``,
Unicode NFC, telling text that carries markup or entities from plain text, and showing markup
that is still left after unescaping as text (``defang``).

Does not: parse HTML (``_text``), drop boilerplate (``_boilerplate``) or fold text for matching
(``content_hash`` and the fingerprint do that). Imports nothing beyond the standard library.

Inputs: raw strings from feed entries, replayed files and datasets, through the sibling modules;
every one is hostile.

Decision: text is Unicode NFC, not NFKC. NFC never changes what a reader sees ("x²", "½", "™"
stay), and the folding that matching needs (NFKC, casefold, punctuation) happens in
``content_hash`` and in the fingerprint, which are never displayed. Soft hyphens and zero-width
spaces are removed.
"""

from __future__ import annotations

import re
import unicodedata
from html.entities import html5

__all__ = ["CONTROL", "defang", "looks_like_html", "prepare"]

CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
_INVISIBLE = re.compile("[\u00ad\u200b\u2060\ufeff]")
_NEWLINES = re.compile("\r\n?|[\x0b\x0c\x85\u2028\u2029]")
_TAG_START = re.compile(r"<[A-Za-z!/?]")
_ENTITY = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def prepare(value: str) -> str:
    """Line endings as ``"\\n"``, controls and invisible characters removed, NFC."""
    value = _NEWLINES.sub("\n", value)
    return unicodedata.normalize("NFC", _INVISIBLE.sub("", CONTROL.sub("", value)))


def looks_like_html(text: str) -> bool:
    """Whether the text has a tag start or a character reference an HTML parser would resolve."""
    if _TAG_START.search(text):
        return True
    return any(m[1][0] == "#" or m[1] + ";" in html5 for m in _ENTITY.finditer(text))


def defang(text: str) -> str:
    """Markup still left after several unescaping rounds is shown, not interpreted."""
    text = _TAG_START.sub(lambda m: "‹" + m[0][1:], text)
    return _ENTITY.sub(lambda m: "＆" + m[0][1:], text)
