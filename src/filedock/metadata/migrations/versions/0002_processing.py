"""processing leases on files, and stored validation reports

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from filedock.metadata.migrations.ddl import lease, not_null

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Who is processing a file and until when; a lease that runs out may be claimed again.
    for column in lease():
        op.add_column("files", column)
    op.create_index("files_status", "files", ["status"])
    op.create_table(
        "file_reports",
        sa.Column(
            "file_id",
            sa.Text(),
            sa.ForeignKey("files.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        *not_null(sa.Text, "report"),
        *not_null(sa.BigInteger, "created_at"),
    )


def downgrade() -> None:
    op.drop_table("file_reports")
    op.drop_index("files_status", "files")
    with op.batch_alter_table("files") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("lease_owner")
