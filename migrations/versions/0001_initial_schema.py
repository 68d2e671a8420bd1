"""Initial schema, plus triggers that make submitted reads and the audit trail append-only.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 10:20:38.610939
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_event_hash")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_audit_event_prev_hash")),
    )
    op.create_table(
        "study",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("protocol", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study")),
        sa.UniqueConstraint("name", name=op.f("uq_study_name")),
    )
    op.create_table(
        "arm",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("study_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("shows_ai", sa.Boolean(), nullable=False),
        sa.Column("sequential", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_arm_study_id_study"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_arm")),
        sa.UniqueConstraint("study_id", "name", name=op.f("uq_arm_study_id_name")),
    )
    with op.batch_alter_table("arm", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_arm_study_id"), ["study_id"], unique=False)

    op.create_table(
        "reader",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("study_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("seniority", sa.String(length=16), nullable=False),
        sa.Column("pin_hash", sa.String(length=300), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_reader_study_id_study"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reader")),
        sa.UniqueConstraint("study_id", "name", name=op.f("uq_reader_study_id_name")),
    )
    with op.batch_alter_table("reader", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reader_study_id"), ["study_id"], unique=False)

    op.create_table(
        "site",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("study_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_site_study_id_study"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site")),
        sa.UniqueConstraint("study_id", "name", name=op.f("uq_site_study_id_name")),
    )
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_site_study_id"), ["study_id"], unique=False)

    op.create_table(
        "assignment",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("study_id", sa.String(length=32), nullable=False),
        sa.Column("reader_id", sa.String(length=32), nullable=False),
        sa.Column("arm_id", sa.String(length=32), nullable=False),
        sa.Column("session", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("case_ids", sa.JSON(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["arm_id"], ["arm.id"], name=op.f("fk_assignment_arm_id_arm"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["reader_id"], ["reader.id"], name=op.f("fk_assignment_reader_id_reader"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_assignment_study_id_study"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment")),
        sa.UniqueConstraint(
            "reader_id", "arm_id", "session", name=op.f("uq_assignment_reader_id_arm_id_session")
        ),
    )
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assignment_reader_id"), ["reader_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_assignment_study_id"), ["study_id"], unique=False)

    op.create_table(
        "case",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("study_id", sa.String(length=32), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("source_ref", sa.String(length=500), nullable=False),
        sa.Column("modality", sa.String(length=16), nullable=False),
        sa.Column("truth", sa.Integer(), nullable=True),
        sa.Column("split", sa.String(length=16), nullable=False),
        sa.Column("site_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"], name=op.f("fk_case_site_id_site")),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_case_study_id_study"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case")),
        sa.UniqueConstraint("study_id", "pseudonym", name=op.f("uq_case_study_id_pseudonym")),
        sa.UniqueConstraint("study_id", "source_ref", name=op.f("uq_case_study_id_source_ref")),
    )
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_study_id"), ["study_id"], unique=False)

    op.create_table(
        "model",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("study_id", sa.String(length=32), nullable=False),
        sa.Column("reader_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("checkpoint_hash", sa.String(length=64), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["reader_id"], ["reader.id"], name=op.f("fk_model_reader_id_reader")),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_model_study_id_study"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model")),
        sa.UniqueConstraint("study_id", "name", "version", name=op.f("uq_model_study_id_name_version")),
    )
    with op.batch_alter_table("model", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_study_id"), ["study_id"], unique=False)

    op.create_table(
        "annotation",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("annotator_id", sa.String(length=32), nullable=False),
        sa.Column("label_set", sa.JSON(), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["annotator_id"], ["reader.id"], name=op.f("fk_annotation_annotator_id_reader")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_annotation_case_id_case"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["annotation.id"], name=op.f("fk_annotation_parent_id_annotation")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotation")),
        sa.UniqueConstraint(
            "case_id", "annotator_id", "version", name=op.f("uq_annotation_case_id_annotator_id_version")
        ),
    )
    with op.batch_alter_table("annotation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_annotation_annotator_id"), ["annotator_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_annotation_case_id"), ["case_id"], unique=False)

    op.create_table(
        "image_asset",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_image_asset_case_id_case"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_asset")),
    )
    with op.batch_alter_table("image_asset", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_image_asset_case_id"), ["case_id"], unique=False)

    op.create_table(
        "model_run",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("model_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"], ["model.id"], name=op.f("fk_model_run_model_id_model"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_run")),
    )
    with op.batch_alter_table("model_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_run_model_id"), ["model_id"], unique=False)

    op.create_table(
        "phi_mapping",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("original", sa.JSON(), nullable=False),
        sa.Column("date_shift_days", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_phi_mapping_case_id_case"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phi_mapping")),
        sa.UniqueConstraint("case_id", name=op.f("uq_phi_mapping_case_id")),
    )
    op.create_table(
        "read",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("assignment_id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("reader_id", sa.String(length=32), nullable=False),
        sa.Column("arm_id", sa.String(length=32), nullable=False),
        sa.Column("session", sa.Integer(), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("binary", sa.Integer(), nullable=False),
        sa.Column("confidence", sa.Integer(), nullable=False),
        sa.Column("time_ms", sa.Integer(), nullable=False),
        sa.Column("active_ms", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("app_version", sa.String(length=32), nullable=False),
        sa.Column("view_state", sa.JSON(), nullable=False),
        sa.Column("ai_shown", sa.JSON(), nullable=True),
        sa.Column("corrected_by", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["arm_id"], ["arm.id"], name=op.f("fk_read_arm_id_arm")),
        sa.ForeignKeyConstraint(
            ["assignment_id"], ["assignment.id"], name=op.f("fk_read_assignment_id_assignment")
        ),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"], name=op.f("fk_read_case_id_case")),
        sa.ForeignKeyConstraint(["reader_id"], ["reader.id"], name=op.f("fk_read_reader_id_reader")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_read")),
        sa.UniqueConstraint(
            "assignment_id",
            "case_id",
            "phase",
            "revision",
            name=op.f("uq_read_assignment_id_case_id_phase_revision"),
        ),
    )
    with op.batch_alter_table("read", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_read_assignment_id"), ["assignment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_read_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_read_reader_id"), ["reader_id"], unique=False)

    op.create_table(
        "prediction",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("model_id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("saliency_path", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_prediction_case_id_case"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["model.id"], name=op.f("fk_prediction_model_id_model"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["model_run.id"], name=op.f("fk_prediction_run_id_model_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prediction")),
        sa.UniqueConstraint("run_id", "case_id", name=op.f("uq_prediction_run_id_case_id")),
    )
    with op.batch_alter_table("prediction", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_prediction_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_prediction_model_id"), ["model_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_prediction_run_id"), ["run_id"], unique=False)

    op.create_table(
        "synthetic_image",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("model_id", sa.String(length=32), nullable=True),
        sa.Column("model_hash", sa.String(length=64), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("mask_annotation_id", sa.String(length=32), nullable=True),
        sa.Column("class_label", sa.Integer(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("sampler", sa.String(length=32), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("guidance_scale", sa.Float(), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case.id"], name=op.f("fk_synthetic_image_case_id_case"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["mask_annotation_id"],
            ["annotation.id"],
            name=op.f("fk_synthetic_image_mask_annotation_id_annotation"),
        ),
        sa.ForeignKeyConstraint(["model_id"], ["model.id"], name=op.f("fk_synthetic_image_model_id_model")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_synthetic_image")),
    )
    with op.batch_alter_table("synthetic_image", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_synthetic_image_case_id"), ["case_id"], unique=False)

    _create_append_only_triggers()


def downgrade() -> None:
    _drop_append_only_triggers()
    with op.batch_alter_table("synthetic_image", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_synthetic_image_case_id"))

    op.drop_table("synthetic_image")
    with op.batch_alter_table("prediction", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prediction_run_id"))
        batch_op.drop_index(batch_op.f("ix_prediction_model_id"))
        batch_op.drop_index(batch_op.f("ix_prediction_case_id"))

    op.drop_table("prediction")
    with op.batch_alter_table("read", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_read_reader_id"))
        batch_op.drop_index(batch_op.f("ix_read_case_id"))
        batch_op.drop_index(batch_op.f("ix_read_assignment_id"))

    op.drop_table("read")
    op.drop_table("phi_mapping")
    with op.batch_alter_table("model_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_run_model_id"))

    op.drop_table("model_run")
    with op.batch_alter_table("image_asset", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_image_asset_case_id"))

    op.drop_table("image_asset")
    with op.batch_alter_table("annotation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_annotation_case_id"))
        batch_op.drop_index(batch_op.f("ix_annotation_annotator_id"))

    op.drop_table("annotation")
    with op.batch_alter_table("model", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_study_id"))

    op.drop_table("model")
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_study_id"))

    op.drop_table("case")
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assignment_study_id"))
        batch_op.drop_index(batch_op.f("ix_assignment_reader_id"))

    op.drop_table("assignment")
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_site_study_id"))

    op.drop_table("site")
    with op.batch_alter_table("reader", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reader_study_id"))

    op.drop_table("reader")
    with op.batch_alter_table("arm", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_arm_study_id"))

    op.drop_table("arm")
    op.drop_table("study")
    op.drop_table("audit_event")


APPEND_ONLY = ("read", "audit_event")


def _create_append_only_triggers() -> None:
    """Submitted reads and audit events can never be updated or deleted, whatever the client."""
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        if dialect == "sqlite":
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f'CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON "{table}" '
                    f"BEGIN SELECT RAISE(ABORT, '{table} rows are append-only'); END"
                )
        elif dialect == "postgresql":
            op.execute(
                f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger AS $$ "
                f"BEGIN RAISE EXCEPTION '{table} rows are append-only'; END $$ LANGUAGE plpgsql"
            )
            op.execute(
                f'CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON "{table}" '
                f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
            )


def _drop_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        if dialect == "sqlite":
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
        elif dialect == "postgresql":
            op.execute(f'DROP TRIGGER IF EXISTS {table}_append_only ON "{table}"')
            op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
