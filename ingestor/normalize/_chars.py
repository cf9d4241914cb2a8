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

__all__ = ["CONTROL", "STORED_CONTROL", "defang", "looks_like_html", "one_line_title", "prepare"]

CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")
STORED_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Every C0 and C1 control but tab and newline: none is left in a stored field."""
_INVISIBLE = re.compile("[\u00ad\u200b\u2060\ufeff]")
_NEWLINES = re.compile("\r\n?|[\x0b\x0c\x85\u2028\u2029]")
_JOINERS = "\u200c\u200d"
_FORMAT = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f]"
)
"""Unicode's format characters (category Cf, as of Unicode 15)."""
_TAG_START = re.compile(r"<[A-Za-z!/?]")
_ENTITY = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def prepare(value: str) -> str:
    """Line endings as ``"\\n"``, controls and invisible characters removed, NFC."""
    value = _NEWLINES.sub("\n", value)
    return unicodedata.normalize("NFC", _INVISIBLE.sub("", CONTROL.sub("", value)))


def _format_char(match: re.Match[str]) -> str:
    """A format character as a title keeps it: ZWNJ/ZWJ only between two letters or marks."""
    char, text, at = match[0], match.string, match.start()
    if char in _JOINERS and 0 < at < len(text) - 1:
        before, after = text[at - 1], text[at + 1]
        if _in_word(before) and _in_word(after):
            return char
    return ""


def _in_word(char: str) -> bool:
    return unicodedata.category(char)[0] in "LM" or char in _JOINERS


def one_line_title(value: str) -> str:
    """A title or a source name without format characters (Unicode category Cf: the bidi
    embeddings, overrides and isolates U+202A-E and U+2066-9, the marks U+200E/F and U+061C,
    invisible operators, tag characters, ...), which would reorder or hide what a reader sees.
    Zero-width (non-)joiners stay inside words, where Persian, Arabic and the Indic scripts
    need them (ZWNJ in Persian "می‌خواهم", ZWJ in Sinhala and Malayalam conjuncts); anywhere
    else they go too."""
    return _FORMAT.sub(_format_char, value).strip()


def looks_like_html(text: str) -> bool:
    """Whether the text has a tag start or a character reference an HTML parser would resolve."""
    if _TAG_START.search(text):
        return True
    return any(m[1][0] == "#" or m[1] + ";" in html5 for m in _ENTITY.finditer(text))


def defang(text: str) -> str:
    """Markup still left after several unescaping rounds is shown, not interpreted."""
    text = _TAG_START.sub(lambda m: "‹" + m[0][1:], text)
    return _ENTITY.sub(lambda m: "＆" + m[0][1:], text)
