"""The webhook outbox: notifications written in the transaction that made the change they tell
of, then claimed, delivered and marked by the deliverer after commit.

Owns: ``notify`` (inside a write transaction: one row per configured URL, with its own
idempotency key and the exact JSON body that will be signed and sent), ``claim_due`` (due
pending rows, leased so a second daemon does not send them at the same time), ``finish`` (a
delivery's outcome: delivered, retried at a later time, or failed after the last attempt) and
``backlog``.

Does not: send anything, compute backoff, or know the secret (``pipeline._webhooks`` does).
Delivery is at least once: a row is marked delivered only after the receiver answered 2xx, so a
crash between the two sends it again, with the same idempotency key.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, func, insert, select, update

from ingestor.models import OutboxItem, WebhookKind
from ingestor.store.schema import webhook_outbox

__all__ = ["backlog", "claim_due", "finish", "notify"]


def notify(
    conn: Connection,
    urls: tuple[str, ...],
    kind: WebhookKind,
    event_id: int,
    data: Mapping[str, Any],
    *,
    now: datetime,
) -> None:
    """One pending row per URL for ``kind`` about ``event_id``, due at once."""
    for url in urls:
        key = uuid.uuid4().hex
        body = {"id": key, "type": kind, "created_at": now.isoformat(), "event_id": event_id}
        payload = json.dumps(body | dict(data), ensure_ascii=False, separators=(",", ":"))
        conn.execute(
            insert(webhook_outbox).values(
                url=url, kind=kind, event_id=event_id, idempotency_key=key, payload=payload,
                created_at=now, status="pending", attempts=0, next_attempt_at=now,
            )
        )  # fmt: skip


def claim_due(conn: Connection, *, now: datetime, limit: int, lease_s: float) -> list[OutboxItem]:
    """Up to ``limit`` pending rows due at ``now``, oldest first, leased until ``now +
    lease_s`` (their next attempt moves there, so a crash mid-delivery retries them then)."""
    rows = conn.execute(
        select(webhook_outbox)
        .where(webhook_outbox.c.status == "pending", webhook_outbox.c.next_attempt_at <= now)
        .order_by(webhook_outbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if rows:
        conn.execute(
            update(webhook_outbox)
            .where(webhook_outbox.c.id.in_([r.id for r in rows]))
            .values(next_attempt_at=now + timedelta(seconds=lease_s))
        )
    return [
        OutboxItem(
            id=r.id, url=r.url, kind=cast(WebhookKind, r.kind), event_id=r.event_id,
            idempotency_key=r.idempotency_key, payload=r.payload, attempts=r.attempts,
        )
        for r in rows
    ]  # fmt: skip


def finish(
    conn: Connection,
    item_id: int,
    *,
    now: datetime,
    delivered: bool,
    retry_at: datetime | None,
    error: str | None,
) -> None:
    """Record one attempt: delivered, or failed with ``error`` and retried at ``retry_at``
    (``None``: that was the last attempt; the row is kept as failed)."""
    values: dict[str, Any] = {"attempts": webhook_outbox.c.attempts + 1, "last_error": error}
    if delivered:
        values |= {"status": "delivered", "delivered_at": now, "last_error": None}
    elif retry_at is None:
        values |= {"status": "failed"}
    else:
        values |= {"next_attempt_at": retry_at}
    conn.execute(update(webhook_outbox).where(webhook_outbox.c.id == item_id).values(**values))


def backlog(conn: Connection) -> int:
    """Notifications not delivered yet (and not given up on)."""
    query = select(func.count()).select_from(webhook_outbox)
    return int(conn.execute(query.where(webhook_outbox.c.status == "pending")).scalar_one())
