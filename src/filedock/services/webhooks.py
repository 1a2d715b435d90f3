"""Webhook delivery: batch.* events from the outbox, signed per Standard Webhooks, retried.

Events are written to `webhook_events` in the same transaction as the batch's final status, so
none is lost to a crash; a background sender (on every server; each event is leased to one)
POSTs them to FILEDOCK_WEBHOOK_URL with `webhook-id`, `webhook-timestamp` and
`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, and retries failures with
exponential backoff. Signing uses the `standardwebhooks` package; the secret is read as OpenAI's
SDK reads it (`whsec_<base64>` is decoded, any other string is used as its UTF-8 bytes), so
`client.webhooks.unwrap(...)` of the official SDKs verifies our events.
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
import random
import secrets
from typing import TYPE_CHECKING

from standardwebhooks.webhooks import Webhook

from filedock.clock import Clock
from filedock.errors import MetadataError
from filedock.ids import new_event_id
from filedock.metadata.webhook_events import WebhookEvent, WebhookEventRows
from filedock.services.tasks import PollLoop, cancel_and_wait
from filedock.settings import Settings

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("filedock.webhooks")

BACKOFF_FIRST_SECONDS = 5.0
BACKOFF_MAX_SECONDS = 3600.0
LEASE_SECONDS = 60
TIMEOUT_SECONDS = 30.0


def event_body(event_id: str, event_type: str, batch_id: str, created_at: int) -> str:
    """The event as OpenAI sends it."""
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "created_at": created_at,
            "type": event_type,
            "data": {"id": batch_id},
        },
        separators=(",", ":"),
    )


def new_event(status: str, batch_id: str, now: int) -> tuple[str, str, str]:
    """(id, type, body) of the event announcing a batch's final `status`."""
    event_id = new_event_id()
    event_type = f"batch.{status}"
    return event_id, event_type, event_body(event_id, event_type, batch_id, now)


def secret_bytes(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode()


def signed_headers(secret: str, event_id: str, timestamp: int, body: str) -> dict[str, str]:
    """The Standard Webhooks headers for one delivery."""
    when = datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
    signature = Webhook(secret_bytes(secret)).sign(event_id, when, body)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


class WebhookSender:
    """Delivers due events in the background; never in the runner's way."""

    def __init__(self, settings: Settings, rows: WebhookEventRows, clock: Clock) -> None:
        self.settings = settings
        self.rows = rows
        self.clock = clock
        self.owner = "wh_" + secrets.token_hex(8)
        self._loop = PollLoop(
            self._deliver_all_due, settings.batch_poll_seconds, log, "webhook delivery"
        )
        self._client: httpx.AsyncClient | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.settings.webhook_url)

    def kick(self) -> None:
        """An event was written (or time moved): look now."""
        self._loop.kick()

    async def start(self) -> None:
        if not self.enabled:
            return
        import httpx  # only with a webhook URL: a server without one never loads it

        self._client = httpx.AsyncClient(timeout=TIMEOUT_SECONDS)
        self._loop.start()

    async def _deliver_all_due(self) -> None:
        while await self.deliver_due():
            pass

    async def deliver_due(self) -> int:
        """Send the events due now; returns how many were attempted."""
        now = self.clock.now()
        events = await self.rows.claim_due(
            self.owner, now, int(self.clock.time() * 1000), now + LEASE_SECONDS, 10
        )
        for event in events:
            await self._deliver(event)
        return len(events)

    async def _deliver(self, event: WebhookEvent) -> None:
        import httpx  # loaded by start() already

        assert self._client is not None
        timestamp = self.clock.now()
        headers = signed_headers(self.settings.webhook_secret, event.id, timestamp, event.body)
        error: str | None = None
        try:
            response = await self._client.post(
                self.settings.webhook_url, content=event.body.encode(), headers=headers
            )
            if not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        try:
            if error is None:
                await self.rows.delivered(event.id, self.owner, self.clock.now())
                return
            log.warning("webhook %s (%s) failed: %s", event.id, event.type, error)
            delay = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** (event.attempts - 1))
            delay *= random.uniform(0.8, 1.2)
            last = event.attempts >= self.settings.webhook_max_attempts
            await self.rows.retry_later(
                event.id,
                self.owner,
                int((self.clock.time() + delay) * 1000),
                error,
                self.clock.now() if last else None,
            )
        except MetadataError:
            log.exception("could not record the delivery of webhook %s", event.id)

    async def close(self) -> None:
        await cancel_and_wait(self._loop.stop())
        if self._client is not None:
            await self._client.aclose()
            self._client = None
