"""batches, batch_requests, engine_slots and webhook_events (the Batch API)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from filedock.metadata.migrations.ddl import (
    counters,
    lease,
    not_null,
    nullable,
    primary_key,
    sequence,
)

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TOKENS = ("input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens", "total_tokens")


def upgrade() -> None:
    op.create_table(
        "batches",
        # Creation order, newest first even within one second.
        sequence(),
        sa.Column("id", sa.Text(), nullable=False, unique=True),
        *not_null(sa.Text, "project_id", "endpoint"),
        *nullable(sa.Text, "model"),
        *not_null(sa.Text, "input_file_id", "completion_window", "status"),
        *nullable(sa.Text, "output_file_id", "error_file_id"),
        *not_null(sa.BigInteger, "created_at"),
        *nullable(
            sa.BigInteger,
            "in_progress_at",
            "expires_at",
            "finalizing_at",
            "completed_at",
            "failed_at",
            "expired_at",
            "cancelling_at",
            "cancelled_at",
        ),
        # Counts and usage are summed from batch_requests while the batch runs and frozen here
        # when it ends (its request rows are then removed).
        *counters("total", "completed", "failed"),
        *nullable(sa.BigInteger, *TOKENS),
        *nullable(sa.Text, "errors", "metadata"),
        *nullable(sa.BigInteger, "output_expires_after"),
        *nullable(
            sa.Text,
            "input_blob_key",
            # Ids the output and error files get, chosen before they are written (a
            # finalizer that crashed after publishing a file finds it again instead of
            # writing a second one).
            "output_file_reserved",
            "error_file_reserved",
            "engine",
        ),
        # One server at a time validates or finalizes a batch.
        *lease(),
        sqlite_autoincrement=True,
    )
    op.create_index("batches_project_order", "batches", ["project_id", "seq"])
    op.create_index("batches_status", "batches", ["status"])
    op.create_table(
        "batch_requests",
        *primary_key(sa.Text, "batch_id"),
        *primary_key(sa.BigInteger, "line"),
        *not_null(sa.Text, "custom_id"),
        # Where the request is in the input blob: lines are read by ranged reads.
        *not_null(sa.BigInteger, "byte_offset", "byte_length"),
        *not_null(sa.Text, "state"),  # pending, leased, done
        *counters("attempts", "not_before_ms"),
        *lease(),
        *nullable(
            sa.Text,
            "outcome",  # completed, failed
            "result",  # the output or error file line
        ),
        *nullable(sa.BigInteger, *TOKENS),
    )
    op.create_index("batch_requests_claim", "batch_requests", ["batch_id", "state", "line"])
    op.create_table(
        "engine_slots",
        # Slot n of an engine may be held by one server: the engine's concurrency limit holds
        # across servers.
        *primary_key(sa.Text, "engine"),
        *primary_key(sa.BigInteger, "slot"),
        *nullable(sa.Text, "owner"),
        *nullable(sa.BigInteger, "lease_until"),
    )
    op.create_table(
        "webhook_events",
        # The outbox: written with the batch's final status, delivered (and retried) after.
        *primary_key(sa.Text, "id"),
        *not_null(sa.Text, "type", "batch_id"),
        *not_null(sa.BigInteger, "created_at"),
        *not_null(sa.Text, "body"),
        *counters("attempts", "next_attempt_ms"),
        *nullable(sa.BigInteger, "delivered_at", "abandoned_at"),
        *nullable(sa.Text, "last_error"),
        *lease(),
    )
    op.create_index("webhook_events_due", "webhook_events", ["delivered_at", "next_attempt_ms"])


def downgrade() -> None:
    op.drop_table("webhook_events")
    op.drop_table("engine_slots")
    op.drop_table("batch_requests")
    op.drop_table("batches")
