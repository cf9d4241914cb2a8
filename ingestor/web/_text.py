"""Pure helpers the server's outputs share: feed text made safe to put in XML and HTML, links
made safe to follow, the opaque listing cursor, and the bounded word diff of a variant against
the canonical story.

Owns: ``clean`` (control characters out: XML 1.0 forbids most of them, and a title full of
terminal escapes reads as garbage anyway), ``safe_link`` (only http(s) URLs become links: a
feed's ``javascript:`` link stays text), ``encode_cursor``/``decode_cursor`` and
``word_diff``.

Does not: escape markup. Jinja2's autoescape and ElementTree do that where the text is placed;
``clean`` only removes what no escaping can make valid.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

from ingestor import explain
from ingestor.errors import ConfigError

__all__ = ["Chunk", "clean", "decode_cursor", "encode_cursor", "safe_link", "word_diff"]

_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
"""Characters XML 1.0 does not allow (or that HTML reads as controls); tab and newlines stay."""


def clean(text: str | None, *, limit: int = 0) -> str:
    """``text`` without control characters, cut to ``limit`` characters (an ellipsis last) when
    ``limit`` is positive."""
    out = _FORBIDDEN.sub("", text or "")
    if limit > 0 and len(out) > limit:
        out = out[: limit - 1].rstrip() + "…"
    return out


def safe_link(url: str | None) -> str | None:
    """``url`` if it is an absolute http(s) URL with a host, else ``None``."""
    if not url:
        return None
    url = clean(url).strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(c.isspace() for c in url):
        return None
    return url


# -- the cursor --------------------------------------------------------------------------------
def encode_cursor(last_seen: datetime, event_id: int) -> str:
    """An opaque token for "the events after this one" in newest-first order."""
    raw = json.dumps([last_seen.astimezone(UTC).isoformat(), event_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[datetime, int]:
    """The ``(last_seen, id)`` a cursor names; ``ConfigError`` for anything not made by
    ``encode_cursor``."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        when, event_id = json.loads(raw)
        seen = datetime.fromisoformat(when)
        if seen.utcoffset() is None or type(event_id) is not int or event_id < 0:
            raise ValueError(token)
        return seen.astimezone(UTC), event_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as e:
        raise ConfigError("cursor: not a cursor this server handed out") from e


# -- the word diff ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Chunk:
    """A run of words of a variant: the same as in the canonical story, added, or dropped."""

    op: Literal["same", "added", "dropped"]
    text: str


MAX_WORDS = 1500
"""Words of each text compared: difflib is quadratic at worst, so a long text is cut."""
_KEEP = 8
"""An unchanged run longer than three times this keeps its first and last ``_KEEP`` words."""
_OPS: dict[str, Literal["same", "added", "dropped"]] = {"=": "same", "+": "added", "-": "dropped"}


def word_diff(variant: str, canonical: str, *, max_words: int = MAX_WORDS) -> list[Chunk]:
    """What ``variant`` adds to and drops from ``canonical``, word by word
    (``explain.word_diff``: case and edge punctuation aside), each text cut to ``max_words``
    words; runs of unchanged words longer than 24 keep their first and last 8 with an ellipsis
    between."""
    runs, _ = explain.word_diff(clean(canonical), clean(variant), max_words=max_words)
    out: list[Chunk] = []
    for op, text in runs:
        if op == "=":
            words = text.split(" ")
            if len(words) > 3 * _KEEP:
                text = " ".join([*words[:_KEEP], "…", *words[-_KEEP:]])
        out.append(Chunk(_OPS[op], text))
    return out
