"""A study's annotation label set: ``label_set`` (one row per study, the labels as JSON).

The coordinator's label set is what new masks of the study start with (a saved mask keeps the
label set it was saved with, in ``annotation.label_set``). ``labels`` holds
:meth:`readerstudy.core.annotation_labels.LabelSet.to_dict`. A new table only: nothing existing
changes, so downgrade drops it and loses only the study defaults.

Revision ID: 0008_label_sets
Revises: 0007_read_answers
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_label_sets"
down_revision = "0007_read_answers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "label_set",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("study_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["study_id"], ["study.id"], name=op.f("fk_label_set_study_id_study"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_set")),
        sa.UniqueConstraint("study_id", name=op.f("uq_label_set_study_id")),
    )


def downgrade() -> None:
    op.drop_table("label_set")
