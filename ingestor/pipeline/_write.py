"""The write step: a batch of fingerprinted stories stored, assigned and counted in one
serialized transaction, with the clusterer rolled back if it does not commit.

Owns: ``WriteStep``: for each story, what the store finds of it and (for a story it does not
hold) the clusterer's assignment go to the pure ``_decide.decide``, and ``_apply`` carries the
decision out: a duplicate changes nothing, an edit becomes a revision, a new story is inserted
into its event (a new one when the assignment says so), a merge also folds the events the story
shows to be one, in the clusterer and in the store's log. Then the canonical story of every
touched event, the shared index, and the feed's poll state, all before the one commit.

Does not: decide (``_decide``, ``cluster``), fetch, parse or fingerprint.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from ingestor.cluster import Merged, Undo
from ingestor.models import Counts, FeedState, Signature, Story, StoryKey
from ingestor.normalize import source_name
from ingestor.pipeline._decide import WriteDecision, decide, needs_assignment
from ingestor.pipeline._stages import Written
from ingestor.pipeline._window import Window
from ingestor.store import Store, WriteTx

__all__ = ["WriteStep"]


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What applying one decision did."""

    kind: Literal["new", "duplicate", "updated"]
    event_id: int | None
    new_event: bool = False
    merges: int = 0


def _variant_source(story: Story) -> str:
    """The source a story is credited to as a variant of another feed's story: its own feed's
    host (the link's host is the other story's), or its source when it has no http(s) feed."""
    return source_name(story.feed_url, story.source)


def _counts(outcomes: Iterable[_Outcome]) -> Counts:
    done = list(outcomes)
    return Counts(
        new=sum(1 for o in done if o.kind == "new"),
        duplicates=sum(1 for o in done if o.kind == "duplicate"),
        updated=sum(1 for o in done if o.kind == "updated"),
        new_events=sum(1 for o in done if o.new_event),
        merges=sum(o.merges for o in done),
    )


class WriteStep:
    """Stories into the store and the window, one transaction a batch."""

    def __init__(self, store: Store, window: Window) -> None:
        self.store = store
        self.window = window

    def write(
        self,
        items: Sequence[tuple[Story, Signature]],
        *,
        feed_id: int | None = None,
        feed_state: FeedState | None = None,
        now: datetime,
    ) -> Written:
        """Store a batch of fingerprinted stories, assign each to an event, and write the feed's
        poll state, all in one transaction. The clusterer is rolled back if the commit fails."""
        window, clusterer = self.window, self.window.clusterer
        outcomes: list[_Outcome] = []
        with window.lock:
            undo: list[Undo | Merged] = []
            try:
                with self.store.write() as tx:
                    window.catch_up()
                    for story, signature in items:
                        key = replace(
                            StoryKey.of(story, feed_id), variant_source=_variant_source(story)
                        )
                        found = tx.find_story(key)
                        assignment = None
                        if needs_assignment(found, story):
                            assignment = clusterer.assign(signature, story.when, dated=story.dated)
                        decision = decide(found, story, assignment)
                        outcomes.append(
                            self._apply(tx, decision, story, signature, feed_id, now, undo)
                        )
                    # Every event that gained a story may have a new canonical story.
                    for event_id in self._touched(undo):
                        tx.set_canonical(event_id, clusterer.canonical(event_id))
                    # A shared index is written before the store commits: any committed story
                    # is then findable by every daemon, and a failed commit takes the entries
                    # out again (undo). A crash in between leaves ids the store never had,
                    # which other daemons ignore and the start-up check removes.
                    clusterer.commit()
                    if feed_id is not None and feed_state is not None:
                        tx.update_feed(feed_id, feed_state)
            except BaseException:
                clusterer.undo(undo)
                raise
            for change in undo:
                if isinstance(change, Undo):
                    window.seen_story_id = max(window.seen_story_id, change.story_id)
        events = {i: o.event_id for i, o in enumerate(outcomes) if o.event_id is not None}
        return Written(_counts(outcomes), events)

    def _apply(
        self,
        tx: WriteTx,
        decision: WriteDecision,
        story: Story,
        signature: Signature,
        feed_id: int | None,
        now: datetime,
        undo: list[Undo | Merged],
    ) -> _Outcome:
        """Carry out one decision in the transaction and the clusterer (``undo`` collects the
        clusterer's changes)."""
        if decision.kind == "duplicate":
            return _Outcome("duplicate", decision.event_id)
        if decision.kind == "edit":
            assert decision.story_id is not None
            # The store refuses an edit past ``max_revisions``: then it is a duplicate.
            edited = tx.update_story(decision.story_id, story, signature)
            return _Outcome("updated" if edited else "duplicate", decision.event_id)
        assignment = decision.assignment
        assert assignment is not None
        clusterer = self.window.clusterer
        if decision.variant_of is not None:
            # Another feed's story has this URL (a unique key): the variant is stored without it,
            # credited to the feed that carried it, not to the publisher the link names.
            story = replace(story, url=None, source=_variant_source(story))
        story_id = tx.insert_story(story, signature, feed_id=feed_id)
        event_id = decision.event_id
        new_event = event_id is None
        if event_id is None:
            event_id = tx.create_event(story_id, now=now)
        tx.add_membership(story_id, event_id, assignment, now=now)
        undo.append(
            clusterer.add(
                story_id,
                event_id,
                signature,
                when=story.when,
                source=story.source,
                assignment=assignment,
                dated=story.dated,
            )
        )
        merges: list[Merged] = []
        if decision.kind == "merge":
            event_id, merges = clusterer.fold(event_id, assignment.merge_with)
            undo.extend(merges)
            for merge in merges:
                tx.merge_events(merge.into, merge.gone.id, story_id=story_id, now=now)
        return _Outcome("new", event_id, new_event, len(merges))

    def _touched(self, changes: list[Undo | Merged]) -> set[int]:
        """The events that gained stories in this transaction, as they are now. A story's event
        may have been merged into another since it joined, and so may the event a merge kept:
        each is followed to where it went, so only events that still exist are named."""
        clusterer = self.window.clusterer
        went = {c.gone.id: c.into for c in changes if isinstance(c, Merged)}
        touched = set()
        for change in changes:
            event_id = (
                change.into if isinstance(change, Merged) else clusterer.event_of(change.story_id)
            )
            while event_id in went:
                event_id = went[event_id]
            if event_id is not None and clusterer.has_event(event_id):
                touched.add(event_id)
        return touched
