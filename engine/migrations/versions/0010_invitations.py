"""invitations: a local administrator invites a colleague, who sets a password through an e-mailed link

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 12:00:00
"""
from alembic import op
import sqlalchemy as sa
import engine.models


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invitation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("invited_by", sa.Integer(), nullable=False),
        sa.Column("created_at", engine.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", engine.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", engine.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["invited_by"], ["person.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_invitation_person_id", "invitation", ["person_id"])


def downgrade() -> None:
    op.drop_index("ix_invitation_person_id", table_name="invitation")
    op.drop_table("invitation")
