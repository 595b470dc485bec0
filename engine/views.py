"""Define what the engine hands out: plain dataclasses, never SpiffWorkflow or ORM objects."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class _View:
    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = _plain(asdict(self))  # type: ignore[call-overload]
        return result


@dataclass(frozen=True)
class ProcessView(_View):
    process_key: str
    version: int
    name: str | None
    deployed_at: datetime
    files: list[str]


@dataclass(frozen=True)
class TaskView(_View):
    id: str
    instance_id: int
    process_key: str
    business_key: str | None
    element_id: str
    name: str
    lane: str | None
    form: str | None
    status: str
    created_at: datetime
    due_at: datetime | None
    overdue: bool
    claimed_by: str | None
    completed_by: str | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True)
class TimerView(_View):
    instance_id: int
    task_id: str
    element_id: str
    kind: str
    due_at: datetime


@dataclass(frozen=True)
class SubscriptionView(_View):
    instance_id: int
    element_id: str
    message_name: str
    correlation_key: str | None


@dataclass(frozen=True)
class IncidentView(_View):
    id: int
    instance_id: int
    element_id: str
    error_type: str
    message: str
    attempts: int
    status: str
    created_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class HistoryView(_View):
    at: datetime
    actor: str | None
    event: str
    element_id: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class InstanceSummary(_View):
    id: int
    process_key: str
    version: int
    business_key: str | None
    status: str
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    waiting_at: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class InstanceDetail(_View):
    id: int
    process_key: str
    version: int
    business_key: str | None
    status: str
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    data: dict[str, Any]
    ready_tasks: list[TaskView]
    timers: list[TimerView]
    subscriptions: list[SubscriptionView]
    incidents: list[IncidentView]
    history: list[HistoryView]
    active_elements: list[str]
    completed_elements: list[str]
    process_name: str | None = None
    element_names: dict[str, str] = field(default_factory=dict)  # element id (and process key) -> name


@dataclass(frozen=True)
class MessageResult(_View):
    status: str  # delivered | duplicate | buffered
    message_name: str
    correlation_key: str | None
    instance_id: int | None
    detail: str


@dataclass(frozen=True)
class DeployView(_View):
    deployment_id: int | None
    created: list[dict[str, Any]]
    unchanged: list[dict[str, Any]]
