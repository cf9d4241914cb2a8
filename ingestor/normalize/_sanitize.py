"""HTML safe to store and show again: the nh3 allow-list.

Owns: ``sanitize_html`` and its policy (the tags, attributes and URL schemes kept, the elements
dropped with their content, ``rel`` on every link). nh3 is imported only here.

Does not: extract text (``_text``) or judge boilerplate, and keeps no images (tracking pixels).

Inputs: entry bodies from ``ParsedEntry.content_html`` and HTML fragments from replayed files,
with the entry's link (or the feed's URL) as the base for relative links; all hostile.
"""

from __future__ import annotations

import nh3

from ingestor.normalize._chars import CONTROL, STORED_CONTROL
from ingestor.normalize._urls import canonical_url
from ingestor.words import word_set

__all__ = ["sanitize_html"]

_ALLOWED_TAGS = word_set(
    "a abbr b blockquote br code dd del dl dt em h2 h3 h4 h5 h6 hr i ins li ol p pre q s small "
    "strong sub sup table tbody td tfoot th thead tr u ul"
)
_CONTENT_DROPPED = word_set(
    "script style iframe object embed applet noscript template svg math textarea select button "
    "frameset frame"
)
_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "td": {"colspan", "rowspan"},
               "th": {"colspan", "rowspan"}, "ol": {"start"}}  # fmt: skip


def sanitize_html(html: str, *, base_url: str | None) -> str:
    """HTML safe to store and show: a small tag allow-list, no scripts, styles, frames or event
    handlers, links only to http(s) and mailto (relative ones resolved against ``base_url``), and
    every link ``rel="noopener noreferrer nofollow"``. Images are not kept (tracking pixels)."""
    base = canonical_url(base_url)
    cleaned = nh3.clean(
        CONTROL.sub("", html),
        tags=set(_ALLOWED_TAGS),
        clean_content_tags=set(_CONTENT_DROPPED),
        attributes={tag: set(names) for tag, names in _ATTRIBUTES.items()},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
        url_relative=("rewrite_with_base", base) if base else "deny",
    )
    # nh3 resolves character references (``&#27;`` is ESC): controls are removed once more
    # from what it wrote, every C0 and C1 one but tab and newline.
    return STORED_CONTROL.sub("", cleaned.replace("\r\n", "\n")).strip()
