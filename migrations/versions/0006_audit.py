"""Audit: sealed segments (``audit_event.chain``) and triggers that also refuse REPLACE / UPSERT.

SQLite's ``INSERT OR REPLACE`` (and ``REPLACE``) deletes the conflicting row without firing
DELETE triggers unless ``recursive_triggers`` is on, which a client such as the ``sqlite3`` shell
does not set: a stored read could be overwritten with every trigger in place. A ``BEFORE INSERT``
trigger that refuses any insert colliding with a stored key closes that path whatever the
connection's pragmas (it fires before conflict resolution). ``INSERT ... ON CONFLICT DO UPDATE``
fires the UPDATE trigger as well. On PostgreSQL ``ON CONFLICT DO UPDATE`` fires the row UPDATE
trigger; ``TRUNCATE`` (which fires no row trigger) is refused by a statement trigger.

Revision ID: 0006_audit
Revises: 0004_jobs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_audit"
down_revision = "0004_jobs"
branch_labels = None
depends_on = None

APPEND_ONLY = ("read", "audit_event")
# every key a new row could collide with (primary key and unique constraints)
KEYS = {
    "read": ("NEW.id = t.id", "(NEW.assignment_id = t.assignment_id AND NEW.case_id = t.case_id "
                              "AND NEW.phase = t.phase AND NEW.revision = t.revision)"),
    "audit_event": ("NEW.seq = t.seq", "NEW.hash = t.hash", "(NEW.chain = t.chain AND NEW.prev_hash = t.prev_hash)"),
}


def _sqlite_triggers(with_replace: bool) -> None:
    for table in APPEND_ONLY:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f'CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON "{table}" '
                       f"BEGIN SELECT RAISE(ABORT, '{table} rows are append-only'); END")
        if with_replace:
            cond = " OR ".join(KEYS[table])
            op.execute(f'CREATE TRIGGER {table}_no_replace BEFORE INSERT ON "{table}" '
                       f'WHEN EXISTS (SELECT 1 FROM "{table}" AS t WHERE {cond}) '
                       f"BEGIN SELECT RAISE(ABORT, '{table} rows are append-only: a stored row cannot be "
                       f"replaced'); END")


def _drop_sqlite_triggers() -> None:
    for table in APPEND_ONLY:
        for verb in ("update", "delete", "replace"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _drop_sqlite_triggers()  # the batch copy below recreates audit_event
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain", sa.String(length=64), server_default="", nullable=False))
        batch_op.drop_constraint("uq_audit_event_prev_hash", type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_audit_event_chain_prev_hash"), ["chain", "prev_hash"])
    if dialect == "sqlite":
        _sqlite_triggers(with_replace=True)
    elif dialect == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"CREATE OR REPLACE FUNCTION {table}_no_truncate() RETURNS trigger AS $$ "
                       f"BEGIN RAISE EXCEPTION '{table} rows are append-only'; END $$ LANGUAGE plpgsql")
            op.execute(f'CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON "{table}" '
                       f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_no_truncate()")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _drop_sqlite_triggers()
    elif dialect == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f'DROP TRIGGER IF EXISTS {table}_no_truncate ON "{table}"')
            op.execute(f"DROP FUNCTION IF EXISTS {table}_no_truncate()")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_event_chain_prev_hash"), type_="unique")
        batch_op.create_unique_constraint("uq_audit_event_prev_hash", ["prev_hash"])
        batch_op.drop_column("chain")
    if dialect == "sqlite":
        _sqlite_triggers(with_replace=False)
