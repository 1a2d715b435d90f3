"""uploads and upload_parts (the Uploads API)

Revision ID: 0003
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("project_id", sa.Text(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("mime_type", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("file_expires_after", sa.BigInteger(), nullable=True),
        # Sum of the parts' sizes; the part insert and this increment are one statement pair
        # in one transaction, so concurrent parts can never exceed `bytes`.
        sa.Column("received_bytes", sa.BigInteger(), nullable=False, server_default="0"),
        # The id the File gets; set when a completion starts, kept once completed.
        sa.Column("file_id", sa.Text(), nullable=True),
        # The quota reservation holding `bytes` for the project until completion or expiry.
        sa.Column("reservation_id", sa.Text(), nullable=True),
    )
    op.create_index("uploads_status_expires_at", "uploads", ["status", "expires_at"])
    op.create_table(
        "upload_parts",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("upload_id", sa.Text(), sa.ForeignKey("uploads.id"), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("blob_key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("upload_parts_upload_id", "upload_parts", ["upload_id"])
    op.create_index("upload_parts_blob_key", "upload_parts", ["blob_key"])


def downgrade() -> None:
    op.drop_table("upload_parts")
    op.drop_table("uploads")
