"""Answers to the study-defined questions, per read: ``read.answers`` (JSON, NULL for none).

``{"schema": 1, "values": {question key: answer}}`` (see :mod:`readerstudy.core.questions`);
NULL on reads of studies without study-defined questions and on every read made before this
revision. Plain ALTER TABLE ADD/DROP COLUMN, not batch mode: on SQLite a batch operation copies
and drops the table, which would drop the append-only triggers of ``read`` (0006_audit) and fail
on the reads other rows reference.

Revision ID: 0007_read_answers
Revises: 0006_audit
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_read_answers"
down_revision = "0006_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("read", sa.Column("answers", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("read", "answers")
