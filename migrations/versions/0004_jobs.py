"""Jobs: every engine run is a ModelRun with status, preset, device, data, metrics, command and log;
predictions say whether the model was trained on their case.

* ``model_run.model_id`` becomes nullable (a training run has no model until it is added as a
  reader) and ``model_run.study_id`` names the run's study (filled from the model for old rows).
* Old runs' status ``finished`` becomes ``done``.
* ``prediction.in_training_set``: the model was trained on this case (false for old rows).

Revision ID: 0004_jobs
Revises: 0002_participants
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_jobs"
down_revision = "0002_participants"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_run", schema=None) as batch_op:
        batch_op.alter_column("model_id", existing_type=sa.String(length=32), nullable=True)
        batch_op.add_column(sa.Column("study_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("preset", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("device", sa.String(length=64), server_default="", nullable=False))
        batch_op.add_column(sa.Column("data", sa.JSON(), server_default="{}", nullable=False))
        batch_op.add_column(sa.Column("metrics", sa.JSON(), server_default="{}", nullable=False))
        batch_op.add_column(sa.Column("out_dir", sa.String(length=1000), server_default="", nullable=False))
        batch_op.add_column(sa.Column("log_path", sa.String(length=1000), server_default="", nullable=False))
        batch_op.add_column(sa.Column("command", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_model_run_study_id"), ["study_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_model_run_study_id_study"), "study", ["study_id"], ["id"],
                                    ondelete="CASCADE")
    op.execute("UPDATE model_run SET study_id = (SELECT model.study_id FROM model WHERE model.id = model_run.model_id)")
    op.execute("UPDATE model_run SET status = 'done' WHERE status = 'finished'")
    with op.batch_alter_table("prediction", schema=None) as batch_op:
        batch_op.add_column(sa.Column("in_training_set", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("prediction", schema=None) as batch_op:
        batch_op.drop_column("in_training_set")
    op.execute("DELETE FROM model_run WHERE model_id IS NULL")  # runs without a model cannot go back
    op.execute("UPDATE model_run SET status = 'finished' WHERE status = 'done'")
    with op.batch_alter_table("model_run", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_model_run_study_id_study"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_model_run_study_id"))
        for col in ("pid", "error", "command", "log_path", "out_dir", "metrics", "data", "device", "preset",
                    "study_id"):
            batch_op.drop_column(col)
        batch_op.alter_column("model_id", existing_type=sa.String(length=32), nullable=False)
