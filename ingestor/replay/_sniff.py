"""What a replayed file holds, and its text: kind detection from the first bytes, and decoding.

Owns: ``sniff`` (``feed``, ``html``, ``binary`` or ``text`` from the first bytes alone: the root
element after the XML prolog, a JSON Feed ``version``, NULs and control characters) and
``decode_text`` (bytes to text, never failing). ``charset_normalizer`` (installed with
trafilatura) is imported only here, and only when a body is neither UTF-8 nor Western text.

Does not: look at file names (the package weighs the suffix against what ``sniff`` says), parse
feeds (``parse``) or clean text (``normalize``). It is pure: bytes in, values out.

Inputs: bodies of replayed files and archive members, read under the byte cap, and sidecars;
every byte is hostile, so every pattern is bounded or possessive.

Decision: decoding tries a BOM, UTF-8, then the charset an HTML page declares; when ASCII letters
outnumber high bytes three to one it reads cp1252, because ``charset_normalizer`` reads short
Western text as Central European (cp1250); then ``charset_normalizer``'s guess; then cp1252 with
replacement. UTF-16/32 are taken only with a BOM.
"""

from __future__ import annotations

import codecs
import re

__all__ = ["decode_text", "sniff"]

_SNIFF_CHARS = 64 * 1024
_GUESS_BYTES = 256 * 1024
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE, whose BOM is its prefix
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_ASCII_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))
_HIGH_BYTES = bytes(range(128, 256))
_CONTROLS = bytes(c for c in range(32) if c not in b"\t\n\f\r\x1b") + b"\x7f"
_JSON_FEED = re.compile(r'"version"\s*:\s*"https?://jsonfeed\.org/')
_ROOT = re.compile(  # the first element after the prolog; possessive, so linear on any input
    r"(?:\s|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>\[]*+(?:\[.*?\])?+[^>]*+>)*+"
    r"<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)",
    re.I | re.S,
)
_META_CHARSET = re.compile(rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([\w.:-]{1,40})""", re.I)


def decode_text(body: bytes, *, is_html: bool = False) -> str:
    """Bytes to text: BOM, UTF-8, the page's declared charset, cp1252 for Western text (mostly
    ASCII letters), a guess by ``charset_normalizer`` (which tends to read short Western text as
    Central European), then cp1252 with replacement."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, "replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = _META_CHARSET.search(body[:4096]) if is_html else None
    if declared is None and _mostly_ascii_letters(body[:_GUESS_BYTES]):
        return body.decode("cp1252", "replace")
    for name in (declared.group(1).decode("ascii") if declared else None, _guess(body)):
        try:
            if name and not codecs.lookup(name).name.startswith(("utf-16", "utf-32")):
                return body.decode(name, "replace")
        except LookupError:
            continue
    return body.decode("cp1252", "replace")


def sniff(body: bytes) -> str:
    """``feed``, ``html``, ``binary`` or ``text``, from the first bytes alone."""
    head = body[: _SNIFF_CHARS * 4]
    for bom, codec in _BOMS:
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


def _mostly_ascii_letters(sample: bytes) -> bool:
    """Whether ASCII letters outnumber high bytes three to one, as in English or French news."""
    ascii_letters = len(sample) - len(sample.translate(None, _ASCII_LETTERS))
    high = len(sample) - len(sample.translate(None, _HIGH_BYTES))
    return high * 3 < ascii_letters


def _guess(body: bytes) -> str | None:
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - installed with trafilatura
        return None
    best = from_bytes(body[:_GUESS_BYTES]).best()
    return best.encoding if best is not None else None
