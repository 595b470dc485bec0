"""monitoring: how long instances wait at each element, worker heartbeats, the indexes of the monitor's counts

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 09:00:00
"""
from alembic import op
import sqlalchemy as sa
import engine.models


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "element_stay",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("process_key", sa.String(length=200), nullable=False),
        sa.Column("process_version_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("element_id", sa.String(length=200), nullable=False),
        sa.Column("top_element_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("entered_at", engine.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("left_at", engine.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"]),
        sa.ForeignKeyConstraint(["process_version_id"], ["process_version.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    open_stay = sa.text("left_at IS NULL")
    op.create_index(
        "ix_element_stay_open", "element_stay", ["top_element_id", "element_id", "process_key"],
        sqlite_where=open_stay, postgresql_where=open_stay,
    )
    op.create_index("ix_element_stay_left", "element_stay", ["left_at", "process_key"])
    op.create_index("ix_element_stay_task", "element_stay", ["instance_id", "task_id"])
    op.create_table(
        "worker_heartbeat",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("beat_at", engine.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", engine.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fired", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    # The monitor's counts of one process, and of the registrations and e-mails that failed.
    op.create_index("ix_instance_process_status", "process_instance", ["process_key", "status", "id"])
    op.create_index("ix_instance_process_created", "process_instance", ["process_key", "created_at"])
    op.create_index("ix_instance_process_ended", "process_instance", ["process_key", "ended_at"])
    op.drop_index("ix_process_instance_process_key", table_name="process_instance")  # covered by those
    op.create_index("ix_registration_created_at", "registration", ["created_at"])
    failed = sa.text("sent_at IS NULL AND error IS NOT NULL")
    op.create_index("ix_outbox_failed", "outbox", ["id"], sqlite_where=failed, postgresql_where=failed)
    # The waits under way when this runs: open stays (since when is known for tasks and messages; a wait
    # inside a call activity counts on its own element until the instance's next run).
    select_open = """
        INSERT INTO element_stay (instance_id, process_key, process_version_id, task_id, element_id,
                                  top_element_id, kind, entered_at)
        SELECT p.instance_id, i.process_key, i.process_version_id, p.task_id, p.element_id, p.element_id,
               '{kind}', {entered}
        FROM {table} p JOIN process_instance i ON i.id = p.instance_id
        WHERE {where}
    """
    op.execute(select_open.format(kind="task", entered="p.created_at", table="user_task",
                                  where="p.status = 'ready'").replace("p.task_id", "p.id"))
    op.execute(select_open.format(kind="timer", entered="NULL", table="wake_up", where="p.kind = 'timer'"))
    op.execute(select_open.format(kind="message", entered="p.created_at", table="message_subscription",
                                  where="1 = 1"))


def downgrade() -> None:
    op.drop_index("ix_outbox_failed", table_name="outbox")
    op.drop_index("ix_registration_created_at", table_name="registration")
    op.create_index("ix_process_instance_process_key", "process_instance", ["process_key"])
    op.drop_index("ix_instance_process_ended", table_name="process_instance")
    op.drop_index("ix_instance_process_created", table_name="process_instance")
    op.drop_index("ix_instance_process_status", table_name="process_instance")
    op.drop_table("worker_heartbeat")
    op.drop_index("ix_element_stay_task", table_name="element_stay")
    op.drop_index("ix_element_stay_left", table_name="element_stay")
    op.drop_index("ix_element_stay_open", table_name="element_stay")
    op.drop_table("element_stay")
