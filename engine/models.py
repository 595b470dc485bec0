"""Define kmop's tables: definitions, instances with their stored state, and the projections kmop owns.

The SpiffWorkflow state of an instance is split into a small skeleton (on ``process_instance``) and one
row per task (``instance_task_state``), so that a save writes only the rows that changed. Everything a
dashboard or inbox reads (ready user tasks, pending wake-ups, message subscriptions, incidents, history)
lives in its own indexed table and never needs the workflow to be deserialized.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Store aware UTC datetimes; SQLite drops the zone, so put it back on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("kmop stores only timezone-aware datetimes")
        # SQLite keeps the wall-clock digits and drops the offset: always hand it UTC.
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


MAX_ID = 2**31 - 1
"""The largest id a row can have (ids are 32-bit integers on PostgreSQL): a larger one names nothing."""


def is_id(value: int) -> bool:
    """Whether ``value`` can be the id of a row; a query with a larger one fails on PostgreSQL."""
    return 0 < value <= MAX_ID


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: UTCDateTime}


class Deployment(Base):
    __tablename__ = "deployment"
    id: Mapped[int] = mapped_column(primary_key=True)
    deployed_at: Mapped[datetime]
    deployed_by: Mapped[str | None] = mapped_column(String(200))
    summary: Mapped[dict[str, Any]]
    reason: Mapped[str | None] = mapped_column(Text, default=None)  # why (the analyst's message)


class DefinitionFile(Base):
    """One BPMN, DMN or form file, stored once per distinct content."""

    __tablename__ = "definition_file"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(10))  # bpmn | dmn | form
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    content: Mapped[str] = mapped_column(Text)
    provides: Mapped[dict[str, Any]]  # {"processes": [...], "decisions": [...]}
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id"))
    created_at: Mapped[datetime]


class ProcessVersion(Base):
    """A process key at one version: the exact set of files its spec is parsed from."""

    __tablename__ = "process_version"
    __table_args__ = (
        UniqueConstraint("process_key", "version"),
        UniqueConstraint("process_key", "bundle_hash"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    process_key: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int]
    name: Mapped[str | None] = mapped_column(String(300))
    bundle_hash: Mapped[str] = mapped_column(String(64))
    file_ids: Mapped[dict[str, Any]]  # {"bpmn": [ids], "dmn": [ids], "form": [ids]}
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id"))
    deployed_at: Mapped[datetime]


_READY = text("status = 'ready'")
# An open case with a business key: the condition of the unique index below, and of the engine's check
# before a start (``queries.open_with_key``), so that the two cannot disagree.
OPEN_WITH_KEY = text("business_key IS NOT NULL AND status NOT IN ('completed', 'cancelled')")


class ProcessInstance(Base):
    __tablename__ = "process_instance"
    # One open case per process and business key (messages find a case by its key); ended cases keep theirs.
    __table_args__ = (
        Index("ix_instance_due", "due_at", "id"),
        # the monitor's counts of one process: by status, started per period, ended per period
        Index("ix_instance_process_status", "process_key", "status", "id"),
        Index("ix_instance_process_created", "process_key", "created_at"),
        Index("ix_instance_process_ended", "process_key", "ended_at"),
        Index(
            "uq_instance_open_business_key",
            "process_key",
            "business_key",
            unique=True,
            sqlite_where=OPEN_WITH_KEY,
            postgresql_where=OPEN_WITH_KEY,
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(200))  # indexed first in the monitor's indexes
    business_key: Mapped[str | None] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    skeleton: Mapped[str] = mapped_column(Text)  # workflow state without tasks and without the spec
    lock_version: Mapped[int] = mapped_column(Integer, default=0)
    started_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    # The registry's search fields as the last run left them (None: not indexed since kmop indexes).
    search: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    # The earliest due date of its ready user tasks and waiting timers, as the last run left them (None
    # when nothing it waits for has one, or it ended): lists filter and sort by it.
    due_at: Mapped[datetime | None]


class InstanceAttribute(Base):
    """One search field of an instance (``ServiceRegistry.register_search_field``), to find cases by."""

    __tablename__ = "instance_attribute"
    # finds instances by a field's value, and reads them in the field's order (ties by instance)
    __table_args__ = (Index("ix_instance_attribute_value", "name", "value", "instance_id"),)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class InstanceTaskState(Base):
    """A running instance's tasks, one serialized task per row (``engine.state``). A row whose ``scope`` is
    ``"#value"`` holds instead one large task-data value kept once by content (``engine.values``): its
    ``task_id`` is the value's hash and its ``seq`` -1."""

    __tablename__ = "instance_task_state"
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("process_instance.id", ondelete="CASCADE"), primary_key=True
    )
    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    scope: Mapped[str] = mapped_column(String(36))  # "" top workflow, else the subprocess id, or "#value"
    seq: Mapped[int]  # creation order: a task is restored after its parent
    body: Mapped[str] = mapped_column(Text)


class UserTask(Base):
    """The inbox projection: one row per user task that became ready."""

    __tablename__ = "user_task"
    __table_args__ = (
        Index("ix_user_task_open", "status", "lane"),
        # one page of the ready tasks (of a lane), soonest due first: read in index order
        Index(
            "ix_user_task_ready_lane_due", "lane", "due_at", "created_at", "id",
            sqlite_where=_READY, postgresql_where=_READY,
        ),
        Index(
            "ix_user_task_ready_due", "due_at", "created_at", "id",
            sqlite_where=_READY, postgresql_where=_READY,
        ),
    )  # fmt: skip
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the SpiffWorkflow task id
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    element_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(300))
    lane: Mapped[str | None] = mapped_column(String(200))
    form: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20))  # ready | completed | cancelled
    created_at: Mapped[datetime]
    due_at: Mapped[datetime | None] = mapped_column(index=True)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(String(200))


class WakeUp(Base):
    """A moment at which an instance must be woken: a timer falling due, or a service retry."""

    __tablename__ = "wake_up"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))  # timer | retry
    due_at: Mapped[datetime] = mapped_column(index=True)


_OPEN_STAY = text("left_at IS NULL")


class ElementStay(Base):
    """How long an instance waited at an element: one row per waiting task (a ready user task, a timer, a
    message), opened when the wait began and closed when it ended, kept by every run (``projections.sync``).

    The monitor counts the open ones per element (where cases wait now) and takes percentiles of the closed
    ones' ``seconds`` (how long cases spend there) without loading any case.
    """

    __tablename__ = "element_stay"
    __table_args__ = (
        Index("ix_element_stay_open", "top_element_id", "element_id", "process_key", sqlite_where=_OPEN_STAY,
              postgresql_where=_OPEN_STAY),
        Index("ix_element_stay_left", "left_at", "process_key"),
        Index("ix_element_stay_task", "instance_id", "task_id"),
    )  # fmt: skip
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    process_key: Mapped[str] = mapped_column(String(200))
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"))
    task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(200))
    # the element of the instance's own diagram the wait is in: the element itself, or the call activity or
    # subprocess that contains it (a 2-year timer of a called follow-up process counts on the call activity)
    top_element_id: Mapped[str] = mapped_column(String(200))
    # task | timer | message, or boundary: an event attached to the activity the instance waits at, kept for
    # its deadline but counted neither as a wait nor in the time spent
    kind: Mapped[str] = mapped_column(String(10))
    entered_at: Mapped[datetime | None]  # None: the wait began before kmop kept stays
    left_at: Mapped[datetime | None]
    seconds: Mapped[float | None] = mapped_column(Float)  # left_at - entered_at, for percentiles in SQL


class WorkerHeartbeat(Base):
    """The last sign of life of each ``kmop worker`` (by name: host and process id), on kmop's clock:
    ``/readyz`` is unready when the youngest is older than ``KMOP_HEARTBEAT_MAX_SECONDS``."""

    __tablename__ = "worker_heartbeat"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    beat_at: Mapped[datetime]
    started_at: Mapped[datetime]
    fired: Mapped[int] = mapped_column(Integer, default=0)


class MessageSubscription(Base):
    __tablename__ = "message_subscription"
    __table_args__ = (Index("ix_subscription_match", "message_name", "correlation_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(200))
    message_name: Mapped[str] = mapped_column(String(200))
    correlation_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]


class MessageReceipt(Base):
    """Every message id ever accepted, so that a repeated delivery is accepted once."""

    __tablename__ = "message_receipt"
    message_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    message_name: Mapped[str] = mapped_column(String(200))
    correlation_key: Mapped[str | None] = mapped_column(String(200))
    instance_id: Mapped[int | None]
    received_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(20))  # delivered | buffered | expired (undelivered)


class BufferedMessage(Base):
    __tablename__ = "buffered_message"
    __table_args__ = (Index("ix_buffered_match", "message_name", "correlation_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    message_name: Mapped[str] = mapped_column(String(200))
    correlation_key: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]]
    message_id: Mapped[str | None] = mapped_column(String(200))
    received_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Incident(Base):
    __tablename__ = "incident"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(200))
    error_type: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int]
    status: Mapped[str] = mapped_column(String(20), index=True)  # open | resolved
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(200))


class ServiceAttempt(Base):
    """Failed attempts of one service-task execution, keyed by its idempotency key."""

    __tablename__ = "service_attempt"
    idempotency_key: Mapped[str] = mapped_column(String(120), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    failures: Mapped[int]
    last_error: Mapped[str] = mapped_column(Text)


class HistoryEntry(Base):
    """Append-only: who did what, when, and which data changed."""

    __tablename__ = "history"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(40))
    element_id: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]]


class ClockState(Base):
    """The simulated "now", shared by every process (one row)."""

    __tablename__ = "clock_state"
    id: Mapped[int] = mapped_column(primary_key=True)
    now: Mapped[datetime]


class ModelDraft(Base):
    """An analyst's unsaved-to-production edit of one process: its files as they are being edited.

    A draft never affects a running case: only deploying it makes a new version. One draft per process key;
    ``base_version`` is the version it was started from (to warn when another version was deployed since).
    """

    __tablename__ = "model_draft"
    process_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    base_version: Mapped[int | None]
    files: Mapped[dict[str, Any]]  # {"files": [{"name": ..., "content": ...}, ...]}
    updated_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime]


class DefinitionAudit(Base):
    """Append-only trail of what analysts did to definitions: deploys, migrations (who, when, why, what)."""

    __tablename__ = "definition_audit"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(20))  # deploy | migrate | discard
    process_key: Mapped[str] = mapped_column(String(200), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]]  # deploy: versions, changed elements; migrate: from/to, moved, refused
