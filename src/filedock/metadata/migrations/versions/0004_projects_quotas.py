"""projects: quotas, rate limits, archiving; api_keys: expiry and role; quota reservations

Revision ID: 0004
Revises: 0001

A project's `used_bytes` is kept by triggers on `files`: every code path that inserts, tombstones
or purges a file row (POST /files, the Uploads API, the sweeper, any backend) moves the counter in
the same statement, so the quota check in `reserve` (one conditional UPDATE of the project row)
sees exact numbers without anyone having to remember to adjust them.
"""

import sqlalchemy as sa
from alembic import op

from filedock.metadata.migrations.ddl import counters, not_null, nullable, primary_key

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = (
    """CREATE TRIGGER files_usage_insert AFTER INSERT ON files
    WHEN NEW.deleted_at IS NULL
    BEGIN
        UPDATE projects SET used_bytes = used_bytes + NEW.bytes WHERE id = NEW.project_id;
    END""",
    """CREATE TRIGGER files_usage_tombstone AFTER UPDATE OF deleted_at ON files
    WHEN OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL
    BEGIN
        UPDATE projects SET used_bytes = used_bytes - OLD.bytes WHERE id = OLD.project_id;
    END""",
    """CREATE TRIGGER files_usage_delete AFTER DELETE ON files
    WHEN OLD.deleted_at IS NULL
    BEGIN
        UPDATE projects SET used_bytes = used_bytes - OLD.bytes WHERE id = OLD.project_id;
    END""",
)

POSTGRES_TRIGGERS = (
    """CREATE FUNCTION files_usage() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            IF NEW.deleted_at IS NULL THEN
                UPDATE projects SET used_bytes = used_bytes + NEW.bytes WHERE id = NEW.project_id;
            END IF;
            RETURN NEW;
        ELSIF TG_OP = 'UPDATE' THEN
            IF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL THEN
                UPDATE projects SET used_bytes = used_bytes - OLD.bytes WHERE id = OLD.project_id;
            END IF;
            RETURN NEW;
        ELSE
            IF OLD.deleted_at IS NULL THEN
                UPDATE projects SET used_bytes = used_bytes - OLD.bytes WHERE id = OLD.project_id;
            END IF;
            RETURN OLD;
        END IF;
    END $$""",
    """CREATE TRIGGER files_usage AFTER INSERT OR UPDATE OF deleted_at OR DELETE ON files
    FOR EACH ROW EXECUTE FUNCTION files_usage()""",
)


def upgrade() -> None:
    for column in (
        *nullable(
            sa.BigInteger,
            "archived_at",
            "storage_quota_bytes",
            "requests_per_minute",
            "uploads_per_minute",
        ),
        *counters("used_bytes", "reserved_bytes"),
    ):
        op.add_column("projects", column)
    op.add_column("api_keys", sa.Column("expires_at", sa.BigInteger(), nullable=True))
    op.add_column("api_keys", sa.Column("role", sa.Text(), nullable=False, server_default="member"))
    op.create_index("api_keys_project", "api_keys", ["project_id"])
    op.create_table(
        "quota_reservations",
        *primary_key(sa.Text, "id"),
        *not_null(sa.Text, "project_id"),
        *not_null(sa.BigInteger, "bytes", "created_at", "expires_at"),
    )
    op.create_index("quota_reservations_expires_at", "quota_reservations", ["expires_at"])
    # Files stored before this revision count against their project from the start.
    op.execute(
        "UPDATE projects SET used_bytes = (SELECT COALESCE(SUM(bytes), 0) FROM files "
        "WHERE files.project_id = projects.id AND files.deleted_at IS NULL)"
    )
    triggers = POSTGRES_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER files_usage ON files")
        op.execute("DROP FUNCTION files_usage()")
    else:
        for name in ("files_usage_insert", "files_usage_tombstone", "files_usage_delete"):
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("quota_reservations")
    op.drop_index("api_keys_project", "api_keys")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("role")
        batch.drop_column("expires_at")
    with op.batch_alter_table("projects") as batch:
        for name in (
            "reserved_bytes",
            "used_bytes",
            "uploads_per_minute",
            "requests_per_minute",
            "storage_quota_bytes",
            "archived_at",
        ):
            batch.drop_column(name)
