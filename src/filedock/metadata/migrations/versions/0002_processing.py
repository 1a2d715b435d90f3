"""processing leases on files, and stored validation reports

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Who is processing a file and until when; a lease that runs out may be claimed again.
    op.add_column("files", sa.Column("lease_owner", sa.Text(), nullable=True))
    op.add_column("files", sa.Column("lease_until", sa.BigInteger(), nullable=True))
    op.create_index("files_status", "files", ["status"])
    op.create_table(
        "file_reports",
        sa.Column(
            "file_id",
            sa.Text(),
            sa.ForeignKey("files.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("file_reports")
    op.drop_index("files_status", "files")
    with op.batch_alter_table("files") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("lease_owner")
