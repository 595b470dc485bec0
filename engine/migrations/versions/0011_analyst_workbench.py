"""analyst workbench: drafts of process models, the reason of a deployment, the definitions audit trail

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 03:00:00
"""
from alembic import op
import sqlalchemy as sa
import engine.models


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deployment") as batch:
        batch.add_column(sa.Column("reason", sa.Text(), nullable=True))
    op.create_table(
        "model_draft",
        sa.Column("process_key", sa.String(length=200), nullable=False),
        sa.Column("base_version", sa.Integer(), nullable=True),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=True),
        sa.Column("updated_at", engine.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("process_key"),
    )
    op.create_table(
        "definition_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", engine.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("process_key", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_definition_audit_process_key", "definition_audit", ["process_key"])


def downgrade() -> None:
    op.drop_index("ix_definition_audit_process_key", table_name="definition_audit")
    op.drop_table("definition_audit")
    op.drop_table("model_draft")
    with op.batch_alter_table("deployment") as batch:
        batch.drop_column("reason")
