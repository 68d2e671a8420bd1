"""Participants: active flag (deactivate, never delete), forced PIN change after a reset, and the
coordinator's reopening of a washout-locked session.

* ``reader.active``: a deactivated participant keeps every read, mask and audit event but can no
  longer sign in and is not listed on the sign-in screen.
* ``reader.must_change_pin``: set when a coordinator resets a PIN to a temporary one; the
  participant chooses a new PIN at the next sign-in.
* ``assignment.reopened``: ``{"at", "by", "reason"}`` when a coordinator opened the session before
  its washout date (see ``services/reading_admin.reopen_session``); NULL otherwise.

Revision ID: 0002_participants
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_participants"
down_revision = "0001"
branch_labels = None
depends_on = None


# Plain ALTER TABLE ADD/DROP COLUMN, not batch mode: on SQLite a batch operation copies and drops
# the table, and dropping ``reader`` with foreign keys on deletes every assignment (ON DELETE
# CASCADE) and fails on the reads that reference it. SQLite >= 3.35 and PostgreSQL do both natively.

def upgrade() -> None:
    op.add_column("reader", sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.add_column("reader", sa.Column("must_change_pin", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("assignment", sa.Column("reopened", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("assignment", "reopened")
    op.drop_column("reader", "must_change_pin")
    op.drop_column("reader", "active")
