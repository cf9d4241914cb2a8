"""Bytes to text: the one decoder for every document read from outside.

Owns: the byte-order marks, the lenient ``decode_text`` (article pages, replayed files and
sidecars: it never fails) and the strict ``decode_xml`` (OPML: it refuses what it cannot read).
``charset_normalizer`` (installed with trafilatura) is imported only here, and only when a body
is neither UTF-8 nor Western text.

Does not: sniff what a document is (``replay``), parse it or clean it. Pure: bytes in, text out;
every byte is hostile, so every pattern is bounded.

Decisions:

* ``decode_text`` tries a BOM, the charset the transport declared (a ``Content-Type`` header's
  ``charset``), UTF-8, then the charset an HTML page declares; when ASCII letters outnumber high
  bytes three to one it reads cp1252, because ``charset_normalizer`` reads short Western text as
  Central European (cp1250); then ``charset_normalizer``'s guess; then cp1252 with replacement.
  UTF-16 and UTF-32 are taken only with a BOM.
* ``decode_xml`` takes a BOM, else UTF-16 recognized by its ``<?`` without one, else the XML
  declaration's encoding, else UTF-8, and decodes strictly: a parser must be fed exactly the text
  that was checked, never a guess.
"""

from __future__ import annotations

import codecs
import re

from ingestor.errors import one_line

__all__ = ["BOMS", "decode_text", "decode_xml"]

BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE, whose BOM is its prefix
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
"""Byte-order marks and the codec each one announces, longest match first."""
_GUESS_BYTES = 256 * 1024
_ASCII_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))
_HIGH_BYTES = bytes(range(128, 256))
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]{1,40})""", re.I)
_META_CHARSET = re.compile(rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([\w.:-]{1,40})""", re.I)
_NO_BOM_UTF16 = ((b"<\x00?\x00", "utf-16-le"), (b"\x00<\x00?", "utf-16-be"))
_XML_DECLARED = re.compile(rb"""<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z][\w.:-]{0,39})["']""")


def decode_text(body: bytes, *, content_type: str | None = None, is_html: bool = False) -> str:
    """Bytes to text, never failing: BOM, the ``charset`` of ``content_type`` (a header; when
    the body decodes in it), UTF-8,
    the page's own declared charset (``is_html``), cp1252 for Western text (mostly ASCII
    letters), a guess by ``charset_normalizer`` (which tends to read short Western text as
    Central European), then cp1252 with replacement."""
    for bom, codec in BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, "replace")
    if content_type and (charset := _HEADER_CHARSET.search(content_type)):
        try:
            return body.decode(charset[1])
        except (LookupError, UnicodeDecodeError):
            pass
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


def decode_xml(data: bytes) -> str:
    """An XML document as text, strictly: a byte-order mark, else UTF-16 recognized by its
    first characters, else the declared encoding, else UTF-8. Raises ``LookupError`` for an
    encoding Python does not know and ``UnicodeError`` for bytes that are not valid in it, each
    with a one-line message naming the encoding."""
    codec = "utf-8"
    for bom, name in BOMS:
        if data.startswith(bom):
            data, codec = data[len(bom) :], name
            break
    else:
        for prefix, name in _NO_BOM_UTF16:
            if data.startswith(prefix):
                codec = name
                break
        else:
            if declared := _XML_DECLARED.match(data):
                codec = declared.group(1).decode("ascii")
    try:
        return data.decode(codec)
    except LookupError as e:
        raise LookupError(f"unknown text encoding {one_line(codec, limit=40)!r}") from e
    except (UnicodeError, ValueError) as e:
        raise UnicodeError(f"not valid {one_line(codec, limit=40)} text") from e


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
