"""What the operator reads beyond the event list: one story, search, the export stream, and
what other daemons replay of curation.

Owns: ``ReadOps``, the part of ``SQLStore`` behind ``stories show``, ``search``, ``events
export``, ``prune --dry-run`` and the curation log (``curations_since``, ``separations``,
``members_of``). Search is dialect-specific and only here: SQLite's FTS5 table
``stories_fts`` (external content, kept in step by triggers), PostgreSQL's
``websearch_to_tsquery`` over the expression index ``ix_stories_search``.

Does not: write. A query's words are taken out of the user's text (``query_words``) and
quoted for FTS5, so quotes, ``*``, ``NEAR(``, ``-`` or ``OR`` in a query are words or
nothing, never syntax; PostgreSQL's ``websearch_to_tsquery`` accepts any text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Float, Integer, Text, func, select, text

from ingestor.errors import NotFound, StoreError
from ingestor.models import (
    Curation,
    ExportedEvent,
    IndexedStory,
    PruneReport,
    Revision,
    SearchHit,
    StoryDetail,
)
from ingestor.store.curation import prune_plan
from ingestor.store.rows import (
    events_filter,
    index_query,
    indexed_from_row,
    story_from_row,
    variant_from_row,
)
from ingestor.store.schema import (
    UTCDateTime,
    curations,
    event_separations,
    events,
    memberships,
    stories,
    story_revisions,
)

__all__ = ["MAX_QUERY_WORDS", "ReadOps", "query_words"]

MAX_QUERY_WORDS = 32
"""Words of a search query kept; the rest are dropped."""
_WORD = re.compile(r"\w+", re.UNICODE)
_PAGE = 200

_COLUMNS: dict[str, Any] = {
    "id": Integer, "event_id": Integer, "title": Text, "source": Text, "when_at": UTCDateTime,
    "rank": Float,
}  # fmt: skip
_SQLITE_SEARCH = text(
    "SELECT s.id, m.event_id, s.title, s.source, s.when_at, -bm25(stories_fts) AS rank "
    "FROM stories_fts JOIN stories s ON s.id = stories_fts.rowid "
    "LEFT JOIN memberships m ON m.story_id = s.id "
    "WHERE stories_fts MATCH :query AND s.deleted_at IS NULL "
    "ORDER BY rank DESC, s.id DESC LIMIT :limit"
).columns(**_COLUMNS)
_PG_DOCUMENT = (
    "to_tsvector('simple'::regconfig, coalesce(s.title, '') || ' ' || coalesce(s.text, ''))"
)
# Built from the constants above; the user's query is a bound parameter.
_PG_SEARCH = text(
    f"SELECT s.id, m.event_id, s.title, s.source, s.when_at, "  # noqa: S608
    f"ts_rank({_PG_DOCUMENT}, q) AS rank "
    f"FROM stories s CROSS JOIN websearch_to_tsquery('simple'::regconfig, :query) q "
    f"LEFT JOIN memberships m ON m.story_id = s.id "
    f"WHERE {_PG_DOCUMENT} @@ q AND s.deleted_at IS NULL "
    f"ORDER BY rank DESC, s.id DESC LIMIT :limit"
).columns(**_COLUMNS)


def query_words(query: str) -> list[str]:
    """The words a search looks for (at most ``MAX_QUERY_WORDS``); ``StoreError`` when there
    are none."""
    found = _WORD.findall(query)
    if not found:
        raise StoreError(f"the query {query[:60]!r} has no words to search for")
    return found[:MAX_QUERY_WORDS]


class ReadOps:
    """Reading for the operator (mixed into ``SQLStore``)."""

    dialect: str

    if TYPE_CHECKING:

        def _read(self, what: str) -> AbstractContextManager[Connection]: ...

    # -- stories ------------------------------------------------------------------------------
    def get_story(self, story_id: int) -> StoryDetail:
        """A story with its earlier texts (oldest first), its event and how it joined it;
        ``NotFound``."""
        query = (
            select(stories, memberships)
            .select_from(stories.outerjoin(memberships, memberships.c.story_id == stories.c.id))
            .where(stories.c.id == story_id)
        )
        with self._read("get_story") as conn:
            row = conn.execute(query).first()
            if row is None:
                raise NotFound(f"no story {story_id}")
            revisions = conn.execute(
                select(story_revisions)
                .where(story_revisions.c.story_id == story_id)
                .order_by(story_revisions.c.replaced_at, story_revisions.c.id)
            ).all()
        m = row._mapping
        return StoryDetail(
            story_id=story_id,
            story=story_from_row(row),
            event_id=m["event_id"],
            variant=variant_from_row(row) if m["event_id"] is not None else None,
            revisions=tuple(
                Revision(r.title, r.text, r.content_hash, r.replaced_at) for r in revisions
            ),
            updated_at=m["updated_at"],
            deleted_at=m["deleted_at"],
        )

    def search(self, query: str, *, limit: int = 20) -> list[SearchHit]:
        """Stories matching every word of ``query``, best first (deleted ones left out)."""
        words = query_words(query)
        if self.dialect == "sqlite":
            statement, value = _SQLITE_SEARCH, " ".join(f'"{w}"' for w in words)
        elif self.dialect == "postgresql":
            statement, value = _PG_SEARCH, " ".join(words)
        else:
            raise StoreError(f"search is not supported on {self.dialect}")
        with self._read("search") as conn:
            rows = conn.execute(statement, {"query": value, "limit": limit}).all()
        return [
            SearchHit(
                story_id=r.id,
                event_id=r.event_id,
                title=r.title,
                source=r.source,
                when=r.when_at,
                rank=float(r.rank or 0.0),
            )
            for r in rows
        ]

    # -- export -------------------------------------------------------------------------------
    def iter_export(
        self, *, since: datetime | None = None, min_size: int = 1
    ) -> Iterator[ExportedEvent]:
        """Every event (at least ``min_size`` members, a story joined at or after ``since``:
        ingestion time, as ``events list`` filters) with its variants, by id, read a page of
        events at a time (never all at once)."""
        after = 0
        while True:
            query = select(events).where(*events_filter(since, min_size), events.c.id > after)
            with self._read("iter_export") as conn:
                page = conn.execute(query.order_by(events.c.id).limit(_PAGE)).all()
                if not page:
                    return
                ids = [row.id for row in page]
                variants: dict[int, list[Any]] = {i: [] for i in ids}
                for row in conn.execute(
                    select(stories, memberships)
                    .join(memberships, memberships.c.story_id == stories.c.id)
                    .where(memberships.c.event_id.in_(ids))
                    .order_by(stories.c.when_at, stories.c.id)
                ):
                    variants[row.event_id].append(variant_from_row(row))
            for row in page:
                found = tuple(variants[row.id])
                if not found:
                    continue
                canonical = next(
                    (v for v in found if v.story_id == row.canonical_story_id), found[0]
                )
                yield ExportedEvent(
                    row.id, row.size, row.first_seen, row.last_seen, canonical, found
                )
            after = ids[-1]

    # -- curation and retention ------------------------------------------------------------------
    def curations_since(self, curation_id: int) -> list[Curation]:
        query = select(curations).where(curations.c.id > curation_id).order_by(curations.c.id)
        with self._read("curations_since") as conn:
            return [
                Curation(
                    r.id, r.action, r.event_id, r.other_event_id, r.stories, r.cutoff, r.created_at
                )
                for r in conn.execute(query)
            ]

    def max_curation_id(self) -> int:
        with self._read("max_curation_id") as conn:
            query = select(func.coalesce(func.max(curations.c.id), 0))
            return int(conn.execute(query).scalar_one())

    def separations(self) -> list[tuple[int, int]]:
        """Pairs of events the operator split apart (each pair once, smaller id first)."""
        query = select(event_separations.c.event_id, event_separations.c.apart_from).where(
            event_separations.c.event_id < event_separations.c.apart_from
        )
        with self._read("separations") as conn:
            return [(int(a), int(b)) for a, b in conn.execute(query)]

    def members_of(self, event_ids: list[int]) -> list[IndexedStory]:
        """The signed members of these events, by story id."""
        found: list[IndexedStory] = []
        with self._read("members_of") as conn:
            for start in range(0, len(event_ids), 500):
                chunk = event_ids[start : start + 500]
                query = index_query().where(memberships.c.event_id.in_(chunk))
                found.extend(indexed_from_row(row) for row in conn.execute(query))
        return sorted(found, key=lambda item: item.story_id)

    def prune_preview(self, before: datetime) -> PruneReport:
        """What ``WriteTx.prune`` would remove now, without removing it."""
        with self._read("prune_preview") as conn:
            gone, emptied, changed = prune_plan(conn, before)
        return PruneReport(before, len(gone), len(emptied), len(changed), dry_run=True)
