"""Delivering the webhook outbox after commit: claim due notifications, sign them, POST them,
record each outcome with its backoff.

Owns: ``Deliverer``. Each body is the exact JSON the outbox stored, signed with HMAC-SHA256
under ``webhooks.secret`` (header ``X-Ingestor-Signature: sha256=<hex>``), sent with its
``Idempotency-Key`` (the same on every retry), its kind (``X-Ingestor-Event``) and nothing
else of ours. A 2xx answer marks it delivered; anything else (a non-2xx, a blocked address, a
timeout) is retried after ``backoff_base_s * 2**attempts`` seconds, at most ``backoff_max_s``,
until ``max_attempts``, then kept as failed. At least once: a receiver may see a notification
twice (a crash between its 2xx and our mark) and should use the idempotency key.

Does not: write notifications (the store's write transaction does, ``store.outbox``), or reach
the network itself (``fetch.Poster``, with the feeds' address checks). A run is bounded: claims
of ``_CLAIM`` at a time, ``webhooks.batch`` notifications, and ``_RUN_S`` seconds at most; what
is left waits for the next tick.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from ingestor.errors import FetchError, one_line
from ingestor.fetch import Poster
from ingestor.models import OutboxItem
from ingestor.policies import FetchPolicy, WebhookPolicy
from ingestor.store import Store

__all__ = ["Deliverer", "DeliveryReport", "signature"]

log = structlog.get_logger()
_CLAIM = 10
_RUN_S = 60.0


def signature(secret: str, body: bytes) -> str:
    """The ``X-Ingestor-Signature`` value of ``body``: ``sha256=`` and the hex HMAC."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    """Given up on after the last attempt."""


class Deliverer:
    """Sends what the outbox holds for the configured URLs; a no-op without any."""

    def __init__(
        self, store: Store, policy: WebhookPolicy, fetch: FetchPolicy, *, poster: Any = None
    ) -> None:
        self._store = store
        self._policy = policy
        self._fetch = fetch
        self._poster = poster

    @property
    def poster(self) -> Any:
        if self._poster is None:
            self._poster = Poster(self._fetch)
        return self._poster

    def close(self) -> None:
        if self._poster is not None and hasattr(self._poster, "close"):
            self._poster.close()

    def retry_at(self, attempts: int, now: datetime) -> datetime | None:
        """When the next attempt after ``attempts`` failed ones is due; ``None``: give up."""
        if attempts >= self._policy.max_attempts:
            return None
        delay = self._policy.backoff_base_s * 2 ** min(attempts - 1, 30)
        return now + timedelta(seconds=min(delay, self._policy.backoff_max_s))

    def deliver(self, *, now: datetime) -> DeliveryReport:
        """Try the due notifications (bounded, see the module docstring)."""
        if not self._policy.urls:
            return DeliveryReport()
        started = time.monotonic()
        delivered = retrying = failed = 0
        lease_s = self._policy.timeout_s * _CLAIM + 30
        while delivered + retrying + failed < self._policy.batch:
            if time.monotonic() - started > _RUN_S:
                break
            room = min(_CLAIM, self._policy.batch - (delivered + retrying + failed))
            items = self._store.claim_webhooks(now=now, limit=room, lease_s=lease_s)
            if not items:
                break
            for item in items:
                outcome = self._send(item, now)
                delivered += outcome == "delivered"
                retrying += outcome == "retrying"
                failed += outcome == "failed"
        report = DeliveryReport(delivered, retrying, failed)
        if delivered or retrying or failed:
            log.info("webhooks_delivered", delivered=delivered, retrying=retrying, failed=failed,
                     elapsed_ms=int((time.monotonic() - started) * 1000))  # fmt: skip
        return report

    def _send(self, item: OutboxItem, now: datetime) -> str:
        body = item.payload.encode()
        headers = {
            "X-Ingestor-Event": item.kind,
            "X-Ingestor-Delivery": item.idempotency_key,
            "Idempotency-Key": item.idempotency_key,
            "X-Ingestor-Signature": signature(self._policy.secret, body),
        }
        error: str | None = None
        try:
            status = self.poster.post(item.url, body, headers, timeout_s=self._policy.timeout_s)
            if 200 <= status < 300:
                self._store.finish_webhook(item.id, now=now, delivered=True, retry_at=None,
                                           error=None)  # fmt: skip
                return "delivered"
            error = f"HTTP {status}"
        except FetchError as e:
            error = one_line(e, limit=300)
        retry = self.retry_at(item.attempts + 1, now)
        self._store.finish_webhook(item.id, now=now, delivered=False, retry_at=retry, error=error)
        log.warning("webhook_failed", url=item.url, kind=item.kind, attempts=item.attempts + 1,
                    error=error, given_up=retry is None)  # fmt: skip
        return "failed" if retry is None else "retrying"
