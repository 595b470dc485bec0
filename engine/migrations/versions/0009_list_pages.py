"""lists by page: an instance's earliest due date, indexes to sort and search by, search fields anew

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 10:00:00
"""
from alembic import op
import sqlalchemy as sa
import engine.models


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_READY = sa.text("status = 'ready'")
# The earliest of two values that may be NULL, the same in SQLite and PostgreSQL.
_EARLIEST = """
UPDATE process_instance SET due_at = (
  SELECT CASE WHEN t IS NULL THEN w WHEN w IS NULL THEN t WHEN t < w THEN t ELSE w END FROM (
    SELECT (SELECT MIN(due_at) FROM user_task
            WHERE user_task.instance_id = process_instance.id AND user_task.status = 'ready') AS t,
           (SELECT MIN(due_at) FROM wake_up
            WHERE wake_up.instance_id = process_instance.id AND wake_up.kind = 'timer') AS w
  ) AS dues
)
WHERE status NOT IN ('completed', 'cancelled')
"""


def upgrade() -> None:
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.add_column(sa.Column('due_at', engine.models.UTCDateTime(), nullable=True))
        batch_op.create_index('ix_instance_due', ['due_at', 'id'], unique=False)
    op.execute(_EARLIEST)
    # The application may index more search fields than when these instances last ran: forget what was
    # indexed, so that `kmop init` (or `kmop reindex`) indexes every instance again.
    op.execute("UPDATE process_instance SET search = NULL")
    with op.batch_alter_table('user_task', schema=None) as batch_op:
        batch_op.create_index(
            'ix_user_task_ready_lane_due', ['lane', 'due_at', 'created_at', 'id'],
            sqlite_where=_READY, postgresql_where=_READY,
        )
        batch_op.create_index(
            'ix_user_task_ready_due', ['due_at', 'created_at', 'id'],
            sqlite_where=_READY, postgresql_where=_READY,
        )
    with op.batch_alter_table('instance_attribute', schema=None) as batch_op:
        batch_op.drop_index('ix_instance_attribute_lookup')
        batch_op.create_index('ix_instance_attribute_value', ['name', 'value', 'instance_id'], unique=False)
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql' and _trigrams_available(bind):
        # Text inside a search field (a name) is found by trigrams, not by reading every value.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX IF NOT EXISTS ix_instance_attribute_trigram "
            "ON instance_attribute USING gin (value gin_trgm_ops)"
        )


def _trigrams_available(bind: sa.engine.Connection) -> bool:
    """pg_trgm is installed, or can be by this user (a trusted extension needs CREATE on the database)."""
    return bool(bind.execute(sa.text(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') OR ("
        " EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm')"
        " AND has_database_privilege(current_database(), 'CREATE'))"
    )).scalar())


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_instance_attribute_trigram")
    with op.batch_alter_table('instance_attribute', schema=None) as batch_op:
        batch_op.drop_index('ix_instance_attribute_value')
        batch_op.create_index('ix_instance_attribute_lookup', ['name', 'value'], unique=False)
    with op.batch_alter_table('user_task', schema=None) as batch_op:
        batch_op.drop_index('ix_user_task_ready_due', sqlite_where=_READY, postgresql_where=_READY)
        batch_op.drop_index('ix_user_task_ready_lane_due', sqlite_where=_READY, postgresql_where=_READY)
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.drop_index('ix_instance_due')
        batch_op.drop_column('due_at')
