"""The write decision: what storing one story means, from what the store already holds. Pure.

Owns: ``WriteDecision`` and ``decide``. A story the store finds (``WriteTx.find_story``: same
feed GUID, canonical URL, record id, or source and text) is a ``duplicate`` when its text is the
stored one and an ``edit`` when it is not; a story the store does not hold is ``new``, joining
the event the clusterer assigned (or starting one), or ``merge`` when the assignment also says
which other events it shows to be the same story.

Does not: write, or ask the clusterer (``_write`` does both, and applies the decision).

Who may edit a story is decided here: only its own feed (or, for a replayed record, another
record). The same canonical URL from another feed (``StoryMatch.foreign``) is never an edit: the
same text is a duplicate (a copy), another text a new story, a variant of the event the clusterer
assigns, stored without the URL (``variant_of``), which stays with the story that has it, and
credited to the feed that carried it (its host), not to the publisher the link names. A feed
reusing another's links with its own headlines can then add variants but never rewrite a story
or speak under the other's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ingestor.models import Assignment, Story, StoryMatch

__all__ = ["WriteDecision", "WriteKind", "decide"]

WriteKind = Literal["duplicate", "edit", "new", "merge"]


@dataclass(frozen=True, slots=True)
class WriteDecision:
    kind: WriteKind
    story_id: int | None = None
    """The stored story a duplicate or an edit is (``None`` for a new story)."""
    event_id: int | None = None
    """The event the story is in (a duplicate, an edit) or joins (``None``: it starts one)."""
    assignment: Assignment | None = None
    """How a new story joins its event, as the clusterer assigned it."""
    variant_of: int | None = None
    """For a new story whose canonical URL another feed's story has: that story (the new one
    is stored without the URL)."""


def _variant(found: StoryMatch | None, story: Story) -> bool:
    """Whether ``story`` is another feed's different text under a stored story's URL."""
    return found is not None and found.foreign and found.content_hash != story.content_hash


def needs_assignment(found: StoryMatch | None, story: Story) -> bool:
    """Whether ``decide`` needs the clusterer's assignment for ``story``, which the store found
    as ``found`` (only a story to insert is assigned: assignment reads the index)."""
    return found is None or _variant(found, story)


def decide(found: StoryMatch | None, story: Story, assignment: Assignment | None) -> WriteDecision:
    """What to do with ``story``: ``found`` is what the store holds of it, ``assignment`` the
    clusterer's answer when ``needs_assignment(found)``."""
    if found is not None and not _variant(found, story):
        kind: WriteKind = "duplicate" if found.content_hash == story.content_hash else "edit"
        return WriteDecision(kind, found.story_id, found.event_id)
    if assignment is None:
        raise ValueError("a story the store does not hold needs the clusterer's assignment")
    kind = "merge" if assignment.merge_with else "new"
    variant_of = found.story_id if found is not None else None
    return WriteDecision(kind, None, assignment.event_id, assignment, variant_of)
