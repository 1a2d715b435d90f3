"""files, projects and api_keys

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from filedock.metadata.migrations.ddl import not_null, nullable, primary_key, sequence

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "projects",
        *primary_key(sa.Text, "id"),
        *not_null(sa.Text, "name"),
        *not_null(sa.BigInteger, "created_at"),
    )
    op.execute(
        "INSERT INTO projects (id, name, created_at) VALUES ('proj_default', 'Default project', 0)"
    )
    op.create_table(
        "files",
        sequence(),
        sa.Column("id", sa.Text(), nullable=False, unique=True),
        *not_null(sa.Text, "project_id", "purpose", "filename"),
        *not_null(sa.BigInteger, "bytes", "created_at"),
        *nullable(sa.BigInteger, "expires_at"),
        *not_null(sa.Text, "status"),
        *nullable(sa.Text, "status_details"),
        *not_null(sa.Text, "sha256", "blob_key"),
        *nullable(sa.BigInteger, "deleted_at"),
        sqlite_autoincrement=True,
    )
    op.create_index("files_project_order", "files", ["project_id", "created_at", "seq"])
    op.create_index(
        "files_project_purpose_order", "files", ["project_id", "purpose", "created_at", "seq"]
    )
    op.create_index("files_expires_at", "files", ["expires_at"])
    op.create_index("files_deleted_at", "files", ["deleted_at"])
    op.create_index("files_blob_key", "files", ["blob_key"])
    op.create_table(
        "api_keys",
        *primary_key(sa.Text, "id"),
        *not_null(sa.Text, "project_id", "name", "prefix"),
        sa.Column("key_hash", sa.Text(), nullable=False, unique=True),
        *not_null(sa.BigInteger, "created_at"),
        *nullable(sa.BigInteger, "revoked_at"),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_table("files")
    op.drop_table("projects")
