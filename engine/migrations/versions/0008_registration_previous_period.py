"""a registration keeps the period before a renewal's: until the renewed period starts, that is the current one

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 23:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# A registration renewed before this migration: its history holds the period the renewed one follows on.
BACKFILL = """
UPDATE registration
SET previous_from = (
        SELECT c.valid_from FROM registration_change c
        WHERE c.registration_id = registration.id
          AND c.valid_until = registration.valid_from AND c.valid_from < registration.valid_from
        ORDER BY c.id DESC LIMIT 1
    ),
    previous_until = valid_from
WHERE EXISTS (
    SELECT 1 FROM registration_change c
    WHERE c.registration_id = registration.id
      AND c.valid_until = registration.valid_from AND c.valid_from < registration.valid_from
)
"""


def upgrade() -> None:
    with op.batch_alter_table('registration') as batch_op:
        batch_op.add_column(sa.Column('previous_from', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('previous_until', sa.Date(), nullable=True))
    op.execute(sa.text(BACKFILL))


def downgrade() -> None:
    with op.batch_alter_table('registration') as batch_op:
        batch_op.drop_column('previous_until')
        batch_op.drop_column('previous_from')
