"""What a run does when a task fails: retry a service with backoff through a wake-up, or open an
incident on the task, keeping the progress made."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState

from . import projections
from .models import Incident, ServiceAttempt, WakeUp
from .run import Run, idempotency_key

log = logging.getLogger("kmop.engine")


def _root_cause(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    current: BaseException = exc
    while id(current) not in seen:
        seen.add(id(current))
        context = None if current.__suppress_context__ else current.__context__
        inner = getattr(current, "exception", None) or current.__cause__ or context
        if not isinstance(inner, BaseException):
            break
        current = inner
    return current


def on_failure(run: Run, exc: Exception) -> None:
    failed = [t for t in projections.all_tasks(run.wf) if t.state == TaskState.ERROR]
    if not failed:
        failed = unset_timers(run)  # a timer whose expression failed when it started waiting
    if not failed:
        raise exc  # not a task failure: let the caller's transaction roll back
    task = failed[0]
    cause = _root_cause(exc)
    message = f"{type(cause).__name__}: {cause}"
    element = projections.element_id(task)
    operator = getattr(task.task_spec, "operation_name", None)
    if operator is not None and not run.manual_retry:
        key = idempotency_key(run.inst.id, task)
        attempt = run.session.get(ServiceAttempt, key)
        if attempt is None:
            attempt = ServiceAttempt(idempotency_key=key, instance_id=run.inst.id, failures=0, last_error="")
            run.session.add(attempt)
        attempt.failures += 1
        attempt.last_error = message
        op = run.runtime.registry.get(operator)
        settings = run.runtime.settings
        diagram_retries = (
            task.task_spec.retries
        )  # <spiffworkflow:retry retries="N">: N retries after the first
        limit = (
            (op.retry.attempts if op else None)
            or (int(diagram_retries) + 1 if diagram_retries is not None else None)
            or settings.service_attempts
        )
        base = (op.retry.backoff_seconds if op else None) or task.task_spec.retry_backoff_base
        base = float(base if base is not None else settings.service_backoff_seconds)
        run.record("service_failed", element, attempt=attempt.failures, of=int(limit), error=message)
        if attempt.failures < int(limit):
            due = run.now + timedelta(seconds=base * 2 ** (attempt.failures - 1))
            run.session.add(
                WakeUp(
                    instance_id=run.inst.id,
                    task_id=str(task.id),
                    element_id=element,
                    kind="retry",
                    due_at=due,
                )
            )
            run.retry_scheduled = True
            log.warning(
                "service %s failed (attempt %s), retry at %s",
                operator,
                attempt.failures,
                due,
                extra=run.log_fields(
                    element=element,
                    operator=operator,
                    attempt=attempt.failures,
                    error_type=type(cause).__name__,
                    outcome="retry",
                ),
            )
            return
    else:
        run.record("task_failed", element, error=message)
    attempts = 1
    if operator is not None:
        row = run.session.get(ServiceAttempt, idempotency_key(run.inst.id, task))
        attempts = row.failures if row else 1
    run.session.add(
        Incident(
            instance_id=run.inst.id,
            task_id=str(task.id),
            element_id=element,
            error_type=type(cause).__name__,
            message=str(cause) or type(cause).__name__,
            attempts=attempts,
            status="open",
            created_at=run.now,
        )
    )
    run.record("incident_opened", element, error=message)
    run.incident_opened = True
    log.error(
        "incident on instance %s at %s: %s",
        run.inst.id,
        element,
        type(cause).__name__,
        extra=run.log_fields(
            element=element,
            operator=operator,
            attempt=attempts,
            error_type=type(cause).__name__,
            outcome="incident",
        ),
    )


def unset_timers(run: Run) -> list[Any]:
    broken = [
        t
        for t in projections.all_tasks(run.wf)
        if not t.state & TaskState.FINISHED_MASK
        and t.parent is not None
        and t.parent.state == TaskState.COMPLETED  # on the frontier: it was about to start waiting
        and "event_value" not in t.internal_data
        and any(isinstance(e, TimerEventDefinition) for e in projections.event_parts(t))
    ]
    for task in broken:
        task._set_state(TaskState.ERROR)
    return broken
