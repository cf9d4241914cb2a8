"""``ingestor.charsets``: the one decoder, lenient for pages and replayed files, strict for
OPML."""

from __future__ import annotations

import codecs

import pytest

from ingestor.charsets import decode_text, decode_xml

CAFE = "Café in Zürich"


def test_a_header_charset_is_used_when_the_body_decodes_in_it() -> None:
    """The ``Content-Type`` header's charset decides over UTF-8 and guessing; a charset the body
    does not decode in (or an unknown one) is passed over."""
    latin = CAFE.encode("latin-1")
    assert decode_text(latin, content_type='text/html; charset="iso-8859-1"') == CAFE
    assert decode_text(CAFE.encode(), content_type="text/html; charset=nonsense") == CAFE
    assert decode_text(CAFE.encode(), content_type="text/html; charset=ascii") == CAFE


def test_a_byte_order_mark_wins_over_every_declaration() -> None:
    """A BOM says what the bytes are, whatever a header or a meta tag claims."""
    body = codecs.BOM_UTF16_LE + f"<meta charset=latin-1>{CAFE}".encode("utf-16-le")
    page = decode_text(body, content_type="text/html; charset=iso-8859-1", is_html=True)
    assert page.endswith(CAFE)


def test_xml_is_decoded_strictly_by_its_declaration() -> None:
    """An XML document's declared encoding is used, and bytes it cannot decode, or an encoding
    Python does not know, are refused with one line naming the encoding."""
    assert decode_xml(b'<?xml version="1.0" encoding="latin-1"?><x>\xe9</x>').endswith("é</x>")
    with pytest.raises(UnicodeError, match="not valid utf-8 text"):
        decode_xml(b"<x>\xe9</x>")
    with pytest.raises(LookupError, match="unknown text encoding 'klingon'"):
        decode_xml(b'<?xml version="1.0" encoding="klingon"?><x/>')
