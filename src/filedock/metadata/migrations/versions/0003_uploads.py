"""uploads and upload_parts (the Uploads API)

Revision ID: 0003
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from filedock.metadata.migrations.ddl import counters, not_null, nullable, primary_key

revision = "0003"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uploads",
        *primary_key(sa.Text, "id"),
        *not_null(sa.Text, "project_id", "filename", "purpose"),
        *not_null(sa.BigInteger, "bytes"),
        *not_null(sa.Text, "mime_type"),
        *not_null(sa.BigInteger, "created_at", "expires_at"),
        *not_null(sa.Text, "status"),
        *nullable(sa.BigInteger, "file_expires_after"),
        # Sum of the parts' sizes; the part insert and this increment are one statement pair
        # in one transaction, so concurrent parts can never exceed `bytes`.
        *counters("received_bytes"),
        *nullable(
            sa.Text,
            # The id the File gets; set when a completion starts, kept once completed.
            "file_id",
            # The quota reservation holding `bytes` for the project until completion or expiry.
            "reservation_id",
        ),
    )
    op.create_index("uploads_status_expires_at", "uploads", ["status", "expires_at"])
    op.create_table(
        "upload_parts",
        *primary_key(sa.Text, "id"),
        sa.Column("upload_id", sa.Text(), sa.ForeignKey("uploads.id"), nullable=False),
        *not_null(sa.BigInteger, "bytes"),
        *not_null(sa.Text, "sha256", "blob_key"),
        *not_null(sa.BigInteger, "created_at"),
    )
    op.create_index("upload_parts_upload_id", "upload_parts", ["upload_id"])
    op.create_index("upload_parts_blob_key", "upload_parts", ["blob_key"])


def downgrade() -> None:
    op.drop_table("upload_parts")
    op.drop_table("uploads")
