"""What a replayed file holds: kind detection from the first bytes.

Owns: ``sniff`` (``feed``, ``html``, ``binary`` or ``text`` from the first bytes alone: the root
element after the XML prolog, a JSON Feed ``version``, NULs and control characters).

Does not: look at file names (the package weighs the suffix against what ``sniff`` says), decode
text (``ingestor.charsets``), parse feeds (``parse``) or clean text (``normalize``). It is pure:
bytes in, values out.

Inputs: bodies of replayed files and archive members, read under the byte cap; every byte is
hostile, so every pattern is bounded or possessive.
"""

from __future__ import annotations

import re

from ingestor.charsets import BOMS

__all__ = ["sniff"]

_SNIFF_CHARS = 64 * 1024
_CONTROLS = bytes(c for c in range(32) if c not in b"\t\n\f\r\x1b") + b"\x7f"
_JSON_FEED = re.compile(r'"version"\s*:\s*"https?://jsonfeed\.org/')
_ROOT = re.compile(  # the first element after the prolog; possessive, so linear on any input
    r"(?:\s|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*+(?:\[.*?\])?+[^>]*+>)*+"
    r"<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)",
    re.I | re.S,
)


def sniff(body: bytes) -> str:
    """``feed``, ``html``, ``binary`` or ``text``, from the first bytes alone."""
    head = body[: _SNIFF_CHARS * 4]
    for bom, codec in BOMS:
        if head.startswith(bom):
            text = head[len(bom) :].decode(codec, "replace")[:_SNIFF_CHARS]
            break
    else:
        head = head[:_SNIFF_CHARS]
        controls = len(head) - len(head.translate(None, _CONTROLS))
        if b"\0" in head or controls * 100 > len(head):
            return "binary"
        text = head.decode("latin-1")
    text = text.lstrip()
    if text.startswith("{"):
        return "feed" if _JSON_FEED.search(text) else "text"
    match = _ROOT.match(text)
    root = match.group(1).lower() if match else None
    if root in ("rss", "feed", "rdf"):
        return "feed"
    return "html" if root in ("html", "head", "body") else "text"
