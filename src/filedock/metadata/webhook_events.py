"""Rows of the webhook outbox: events written with a batch's final status, delivered after."""

from __future__ import annotations

from dataclasses import dataclass

from filedock.metadata.db import Database


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    batch_id: str
    created_at: int
    body: str
    attempts: int


class WebhookEventRows:
    """Rows of `webhook_events`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim_due(
        self, owner: str, now: int, now_ms: int, until: int, limit: int
    ) -> list[WebhookEvent]:
        """Lease up to `limit` undelivered events due at `now_ms` (oldest first)."""
        # A MATERIALIZED pick: see BatchRows.claim_lines.
        rows = await self.db.fetch_all(
            "WITH pick AS MATERIALIZED (SELECT id AS picked FROM webhook_events "
            "WHERE delivered_at IS NULL AND abandoned_at IS NULL AND next_attempt_ms <= ? "
            "AND (lease_owner IS NULL OR lease_until < ?) "
            f"ORDER BY created_at LIMIT ?{self.db.skip_locked}) "
            "UPDATE webhook_events SET lease_owner = ?, lease_until = ?, "
            "attempts = attempts + 1 FROM pick WHERE webhook_events.id = pick.picked "
            "AND (webhook_events.lease_owner IS NULL OR webhook_events.lease_until < ?) "
            "RETURNING id, type, batch_id, created_at, body, attempts",
            (now_ms, now, limit, owner, until, now),
        )
        return [WebhookEvent(r[0], r[1], r[2], int(r[3]), r[4], int(r[5])) for r in rows]

    async def delivered(self, event_id: str, owner: str, now: int) -> None:
        await self.db.execute(
            "UPDATE webhook_events SET delivered_at = ?, lease_owner = NULL, lease_until = NULL "
            "WHERE id = ? AND lease_owner = ?",
            (now, event_id, owner),
        )

    async def retry_later(
        self, event_id: str, owner: str, next_ms: int, error: str, abandon_at: int | None
    ) -> None:
        """Schedule the next attempt, or give up (`abandon_at`) after the last one."""
        await self.db.execute(
            "UPDATE webhook_events SET next_attempt_ms = ?, last_error = ?, abandoned_at = ?, "
            "lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?",
            (next_ms, error[:2000], abandon_at, event_id, owner),
        )

    async def next_due_ms(self) -> int | None:
        """When the next undelivered event is due (None: nothing to send)."""
        row = await self.db.fetch_one(
            "SELECT MIN(next_attempt_ms) FROM webhook_events "
            "WHERE delivered_at IS NULL AND abandoned_at IS NULL"
        )
        return int(row[0]) if row and row[0] is not None else None
