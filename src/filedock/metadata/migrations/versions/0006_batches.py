"""batches, batch_requests, engine_slots and webhook_events (the Batch API)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# A 64-bit sequence on PostgreSQL; SQLite needs INTEGER PRIMARY KEY for its rowid alias.
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMES = (
    "created_at",
    "in_progress_at",
    "expires_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
)
TOKENS = ("input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens", "total_tokens")


def upgrade() -> None:
    op.create_table(
        "batches",
        # Creation order, newest first even within one second.
        sa.Column("seq", SEQ, sa.Identity(), primary_key=True),
        sa.Column("id", sa.Text(), nullable=False, unique=True),
        sa.Column("project_id", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("input_file_id", sa.Text(), nullable=False),
        sa.Column("completion_window", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("output_file_id", sa.Text(), nullable=True),
        sa.Column("error_file_id", sa.Text(), nullable=True),
        *(sa.Column(name, sa.BigInteger(), nullable=name != "created_at") for name in TIMES),
        # Counts and usage are summed from batch_requests while the batch runs and frozen here
        # when it ends (its request rows are then removed).
        sa.Column("total", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("completed", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("failed", sa.BigInteger(), nullable=False, server_default="0"),
        *(sa.Column(name, sa.BigInteger(), nullable=True) for name in TOKENS),
        sa.Column("errors", sa.Text(), nullable=True),
        sa.Column("metadata", sa.Text(), nullable=True),
        sa.Column("output_expires_after", sa.BigInteger(), nullable=True),
        sa.Column("input_blob_key", sa.Text(), nullable=True),
        # Ids the output and error files get, chosen before they are written (a finalizer that
        # crashed after publishing a file finds it again instead of writing a second one).
        sa.Column("output_file_reserved", sa.Text(), nullable=True),
        sa.Column("error_file_reserved", sa.Text(), nullable=True),
        sa.Column("engine", sa.Text(), nullable=True),
        # One server at a time validates or finalizes a batch.
        sa.Column("lease_owner", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.BigInteger(), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("batches_project_order", "batches", ["project_id", "seq"])
    op.create_index("batches_status", "batches", ["status"])
    op.create_table(
        "batch_requests",
        sa.Column("batch_id", sa.Text(), primary_key=True),
        sa.Column("line", sa.BigInteger(), primary_key=True),
        sa.Column("custom_id", sa.Text(), nullable=False),
        # Where the request is in the input blob: lines are read by ranged reads.
        sa.Column("byte_offset", sa.BigInteger(), nullable=False),
        sa.Column("byte_length", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),  # pending, leased, done
        sa.Column("attempts", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("not_before_ms", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("lease_owner", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),  # completed, failed
        sa.Column("result", sa.Text(), nullable=True),  # the output or error file line
        *(sa.Column(name, sa.BigInteger(), nullable=True) for name in TOKENS),
    )
    op.create_index("batch_requests_claim", "batch_requests", ["batch_id", "state", "line"])
    op.create_table(
        "engine_slots",
        # Slot n of an engine may be held by one server: the engine's concurrency limit holds
        # across servers.
        sa.Column("engine", sa.Text(), primary_key=True),
        sa.Column("slot", sa.BigInteger(), primary_key=True),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "webhook_events",
        # The outbox: written with the batch's final status, delivered (and retried) after.
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("batch_id", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attempts", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("next_attempt_ms", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("delivered_at", sa.BigInteger(), nullable=True),
        sa.Column("abandoned_at", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.BigInteger(), nullable=True),
    )
    op.create_index("webhook_events_due", "webhook_events", ["delivered_at", "next_attempt_ms"])


def downgrade() -> None:
    op.drop_table("webhook_events")
    op.drop_table("engine_slots")
    op.drop_table("batch_requests")
    op.drop_table("batches")
