"""The values handed from one pipeline stage to the next.

Owns: one frozen dataclass per hand-off, in the order data flows
(``FeedSource`` -> ``FetchResult`` -> ``ParsedFeed``/``ParsedEntry`` -> ``Story`` -> ``Signature``
-> ``Assignment`` -> ``Event``/``Variant`` -> ``FeedRunResult`` with its ``Counts``), plus the small
records the store hands back.

Does not: import any stage, any third-party library, or read the clock. Every ``datetime`` here is
timezone-aware UTC; constructors check that, so a naive time is a bug caught at the hand-off, not
a silent shift hours later.

Two halves, imported from here: ``_feeds`` (a feed, a fetch, a parsed document, the poll state,
the poll's outcome and its ``Counts``) and ``_stories`` (a story, its signature, its assignment,
and the events and records the store hands back), ``_curation`` (the records of curation,
search, export and retention); ``_time`` checks the times.
"""

from __future__ import annotations

from ingestor.models._curation import (
    Curation,
    CurationAction,
    ExportedEvent,
    PruneReport,
    Revision,
    SearchHit,
    StoryDetail,
)
from ingestor.models._feeds import (
    Counts,
    FeedRunResult,
    FeedSource,
    FeedState,
    FeedStatus,
    FetchResult,
    ParsedEntry,
    ParsedFeed,
    feed_identity,
)
from ingestor.models._stories import (
    Assignment,
    Event,
    EventDetail,
    EventMerge,
    IndexedStory,
    OutboxItem,
    Reason,
    Signature,
    Story,
    StoryKey,
    StoryMatch,
    Variant,
    WebhookKind,
)

__all__ = [
    "Assignment",
    "Counts",
    "Curation",
    "CurationAction",
    "Event",
    "EventDetail",
    "EventMerge",
    "ExportedEvent",
    "FeedRunResult",
    "FeedSource",
    "FeedState",
    "FeedStatus",
    "FetchResult",
    "IndexedStory",
    "OutboxItem",
    "ParsedEntry",
    "ParsedFeed",
    "PruneReport",
    "Reason",
    "Revision",
    "SearchHit",
    "Signature",
    "Story",
    "StoryDetail",
    "StoryKey",
    "StoryMatch",
    "Variant",
    "WebhookKind",
    "feed_identity",
]
