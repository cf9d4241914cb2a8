"""The one orchestrator: every stage is called from here, and only from here.

One poll of one feed (``_poll``)::

    result = fetch(feed)                                    # fetch/: network I/O only
    if result failed or was not modified:
        state = schedule.plan(feed, result)                 # schedule.py: pure timing maths
        write step with no stories: update_feed(state)      # nothing else changes
        return FeedRunResult(status, counts=0)
    parsed, stories, skipped = budget.run(parse + normalize, body)  # parse.py, normalize/, in a
                                                            # worker process under a time budget
    for each new entry that is only a summary (a few, within one fetch deadline):
        page = fetch_page(entry.link)                       # fetch/: same checks as a feed
        story = budget.run(article_story, story, page)      # normalize: the page's main text
    signatures = [fingerprint(s) for s in stories]          # fingerprint.py
    state = schedule.plan(feed, result, ttl)
    written = write step(stories, signatures, state)        # below
    log "feed_polled" feed= status= new= duplicates= updated= skipped= new_events= merges=
        articles= articles_failed= elapsed_ms=
    return FeedRunResult(status, counts = written.counts + skipped + articles)

The write step (``_write``), for a batch::

    with window.lock, store.write() as tx:                  # one serialized transaction
        window.catch_up()                                   # merges and stories other processes
                                                            # committed since we last looked
        for story, signature:
            found = tx.find_story(guid, url, external id, source + content hash)
            assignment = clusterer.assign(signature, when, dated) if found is None  # cluster/
            decision = decide(found, story, assignment)     # _decide: pure; duplicate, edit,
                                                            # new (joins or starts an event), merge
            apply(decision):  duplicate: nothing | edit: tx.update_story (a revision)
                              new: tx.insert_story, create_event?, add_membership,
                                   clusterer.add (undone if the transaction fails)
                              merge: new, then clusterer.fold + tx.merge_events
        set the canonical story of every touched event
        clusterer.commit()                                  # a shared index, before the commit
        tx.update_feed(state)                               # the poll state, same transaction
        (the store writes a webhook outbox row per URL for each new event, join and merge)
    return Written(Counts of the outcomes, event of each story)

After a tick, once its transactions committed (``_webhooks``)::

    for item in store.claim_webhooks(due):                  # leased, a few at a time
        status = poster.post(url, body, signed headers)     # fetch/: same address checks
        store.finish_webhook(delivered | retry at backoff | failed after the last attempt)

A tick polls every due feed the store leases to this process on a bounded pool of worker
threads; fetching, parsing and fingerprinting happen in parallel, the write step one batch at a
time. Replay and evaluation (``_replay``) feed files and dataset records through the same
normalize -> fingerprint -> write step.

Owns: ``Pipeline``, the composition of the parts beside this module, each one concern:

* ``_window``: the clusterer's window over the store (load at start-up, catch-up before each
  write, ``index rebuild``, and ``survey`` for ``index status``);
* ``_decide``: the pure write decision; ``_write``: the write step that applies it;
* ``_poll``: polls and ticks; ``_replay``: replays and ``evaluate_dataset``, with ``_clock``
  giving replayed stories without a time the stream's time;
* ``_stages``: what runs in a budget worker, and the write and replay results;
* ``_webhooks``: delivering the webhook outbox after commit.
* ``_curate``: the operator's curation and retention over the store alone (a window takes it
  in from the store's log: ``Window.replay_curation``).

Does not: open itself on behalf of a command. ``ingestor.app`` opens exactly what each operation
needs (the store alone, or a whole pipeline) and is what the CLI and the daemon call.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from ingestor.budget import BudgetRunner
from ingestor.cluster import Clusterer, load_model
from ingestor.config import Settings
from ingestor.pipeline._clock import StreamClock
from ingestor.pipeline._curate import Curator
from ingestor.pipeline._decide import WriteDecision, decide
from ingestor.pipeline._poll import Poller
from ingestor.pipeline._replay import Replayer, evaluate_dataset
from ingestor.pipeline._stages import ReplaySummary, Written, article_story, utcnow
from ingestor.pipeline._webhooks import Deliverer, DeliveryReport
from ingestor.pipeline._window import IndexStatus, Window, survey
from ingestor.pipeline._write import WriteStep
from ingestor.policies import FingerprintPolicy
from ingestor.store import Store, ensure_schema, open_store

__all__ = [
    "Curator",
    "DeliveryReport",
    "IndexStatus",
    "Pipeline",
    "ReplaySummary",
    "StreamClock",
    "WriteDecision",
    "Written",
    "article_story",
    "decide",
    "evaluate_dataset",
    "score_description",
    "survey",
    "utcnow",
]


class Pipeline:
    """Everything a daemon, a replay or an evaluation needs over one open store: the window,
    the write step, a poller and a replayer, composed from settings."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        budget: BudgetRunner | None = None,
        fetcher: Any = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.budget = budget if budget is not None else BudgetRunner(workers=0)
        self.window = Window(store, settings)
        self.writer = WriteStep(store, self.window)
        self.poller = Poller(
            store, settings, self.writer, budget=self.budget, fetcher=fetcher, rng=rng
        )
        self.replayer = Replayer(settings, self.writer, budget=self.budget)
        self.webhooks = Deliverer(store, settings.webhooks, settings.fetch)
        # The flow, by what each part does:
        self.load_index = self.window.load
        self.rebuild_index = self.window.rebuild
        self.ingest = self.writer.write
        self.poll = self.poller.poll
        self.tick = self.poller.tick
        self.replay = self.replayer.replay
        self.deliver_webhooks = self.webhooks.deliver

    # -- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        migrate: bool | None = None,
        budget_workers: int = 0,
        now: datetime | None = None,
        **kwargs: Any,
    ) -> Pipeline:
        """Open the store, check (or migrate) its schema, and load the clusterer's window."""
        store = open_store(
            settings.effective_database_url, max_revisions=settings.store.max_revisions
        )
        try:
            ensure_schema(
                store, migrate=settings.store.auto_migrate if migrate is None else migrate
            )
            return cls.over(store, settings, budget_workers=budget_workers, now=now, **kwargs)
        except BaseException:
            store.close()
            raise

    @classmethod
    def over(
        cls,
        store: Store,
        settings: Settings,
        *,
        budget_workers: int = 0,
        now: datetime | None = None,
        **kwargs: Any,
    ) -> Pipeline:
        """A pipeline over an open store whose schema is current, its window loaded."""
        budget = None
        if budget_workers:
            budget = BudgetRunner(
                workers=budget_workers,
                budget_s=settings.parse.time_budget_s,
                preload=("ingestor.pipeline",),
            )
        pipeline = cls(store, settings, budget=budget, **kwargs)
        try:
            pipeline.load_index(now=now or utcnow())
        except BaseException:
            pipeline.budget.close()
            raise
        return pipeline

    def close(self) -> None:
        """Close the fetcher, the worker processes and the store."""
        self.poller.close()
        self.webhooks.close()
        self.budget.close()
        self.store.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the parts hold ----------------------------------------------------------------
    @property
    def clusterer(self) -> Clusterer:
        return self.window.clusterer

    @property
    def fp_policy(self) -> FingerprintPolicy:
        return self.settings.fingerprint

    @property
    def stale_signatures(self) -> int:
        return self.window.stale_signatures

    @property
    def fetcher(self) -> Any:
        return self.poller.fetcher


def score_description(settings: Settings) -> dict[str, Any]:
    """The verification score as ``events show --explain`` prints it: the shipped model's bias,
    weights and recipe, with the thresholds the settings apply to it."""
    policy = settings.cluster
    return load_model().to_json() | {
        "join_probability": policy.join_probability,
        "merge_probability": policy.merge_probability,
        "min_cosine": policy.min_cosine,
    }
