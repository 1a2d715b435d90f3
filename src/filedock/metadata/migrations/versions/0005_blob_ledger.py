"""blob_intents (the blob ledger), rate_limits (shared rate-limit buckets)

Revision ID: 0005
Revises: 0003

Before the first byte of any blob is written, its key is recorded in `blob_intents` with a lease
(`state` = held). The row that publishes the blob (a file or an Uploads part) consumes the intent
in the same statement, by the triggers below: every code path that inserts such a row, on any
backend, does it without having to remember. A sweeper that found the lease lapsed first marks
the intent `claimed` (then `swept` once the bytes are gone); an insert that meets such an intent
fails, so a row can never be published for bytes a sweep is deleting or has deleted.
"""

import sqlalchemy as sa
from alembic import op

from filedock.metadata.migrations.ddl import not_null, primary_key

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES_WITH_BLOBS = ("files", "upload_parts")

SQLITE_TRIGGERS = tuple(
    f"""CREATE TRIGGER {table}_consume_intent AFTER INSERT ON {table}
    BEGIN
        SELECT RAISE(ABORT, 'blob lease lost: the sweeper claimed this blob')
        WHERE EXISTS (
            SELECT 1 FROM blob_intents WHERE key = NEW.blob_key AND state <> 'held'
        );
        DELETE FROM blob_intents WHERE key = NEW.blob_key;
    END"""
    for table in TABLES_WITH_BLOBS
)

POSTGRES_TRIGGERS = (
    """CREATE FUNCTION consume_blob_intent() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        found_state TEXT;
    BEGIN
        -- Deleting locks the intent: a sweeper's claim waits for this transaction, or this
        -- waits for the claim and then sees its state.
        DELETE FROM blob_intents WHERE key = NEW.blob_key RETURNING state INTO found_state;
        IF found_state IS NOT NULL AND found_state <> 'held' THEN
            RAISE EXCEPTION 'blob lease lost: the sweeper claimed blob %', NEW.blob_key;
        END IF;
        RETURN NEW;
    END $$""",
    *(
        f"""CREATE TRIGGER {table}_consume_intent AFTER INSERT ON {table}
        FOR EACH ROW EXECUTE FUNCTION consume_blob_intent()"""
        for table in TABLES_WITH_BLOBS
    ),
)


def upgrade() -> None:
    op.create_table(
        "blob_intents",
        *primary_key(sa.Text, "key"),
        *not_null(
            sa.Text,
            # What the blob is for: file, part, compose (a composed Uploads file), ...
            "kind",
            # The server process holding the lease, or the sweeper that claimed it.
            "owner",
            # held (work in progress) -> claimed (a sweeper is deleting) -> swept (bytes gone)
            "state",
        ),
        *not_null(sa.BigInteger, "lease_until", "created_at"),
    )
    # The periodic sweep reads lapsed leases only: (state, lease_until) is its range scan.
    op.create_index("blob_intents_state_lease", "blob_intents", ["state", "lease_until"])
    op.create_table(
        "rate_limits",
        *primary_key(sa.Text, "key_id", "kind"),
        *not_null(sa.Float, "tokens"),
        # Milliseconds since the epoch of the last refill.
        *not_null(sa.BigInteger, "updated_ms"),
    )
    triggers = POSTGRES_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES_WITH_BLOBS:
            op.execute(f"DROP TRIGGER {table}_consume_intent ON {table}")
        op.execute("DROP FUNCTION consume_blob_intent()")
    else:
        for table in TABLES_WITH_BLOBS:
            op.execute(f"DROP TRIGGER {table}_consume_intent")
    op.drop_table("rate_limits")
    op.drop_table("blob_intents")
