"""Hand a message to the task that waits for it, and deliver buffered messages once a case waits for them."""

from __future__ import annotations

import copy
import logging
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import clock, projections, runner
from .errors import Conflict
from .models import BufferedMessage, MessageReceipt, MessageSubscription, ProcessInstance

log = logging.getLogger("kmop.messages")


def deliver_action(task_id: str, name: str, payload: dict[str, Any]) -> runner.Action:
    def action(run: runner.Run) -> None:
        task = projections.find_task(run.wf, task_id)
        if task is None or task.state != TaskState.WAITING:
            raise Conflict(f"the task waiting for message '{name}' is no longer waiting; send it again")
        # Reuse the parsed definition (trap 6); a gateway holds one per outgoing event.
        event_def = next(
            e
            for e in projections.event_parts(task)
            if isinstance(e, MessageEventDefinition) and e.name == name
        )
        task.task_spec.catch(task, BpmnEvent(event_def, payload))
        if getattr(event_def, "message_var", None) is None:
            # No spiffworkflow:messageVariable: the payload's fields become process data.
            task.data.update(copy.deepcopy(payload))
        task.task_spec._update(task)
        if getattr(event_def, "message_var", None) is None:
            # The library's update re-inherits the parent's data, which would undo the merge for fields
            # an earlier message already set (a second report of the same kind): merge again, after it.
            # Fresh copies, because the library's deep merge writes the old values into the payload's
            # own dicts.
            task.data.update(copy.deepcopy(payload))
        run.record("message_received", projections.element_id(task), message=name, fields=sorted(payload))

    return action


def drain_if_waiting(rt: runner.Runtime, session: Session, inst: ProcessInstance) -> int:
    """Deliver buffered messages to the instance when its last run left it waiting for a message."""
    waiting = runner.waiting_of(inst)
    if waiting is not None and not waiting.messages:
        return 0
    return drain_buffer(rt, session, inst.id)


def purge_expired(session: Session) -> int:
    """Drop buffered messages whose time is up (the worker does this now and then), never silently: the
    receipt of each says it expired undelivered, and the log names it."""
    expired = session.scalars(select(BufferedMessage).where(BufferedMessage.expires_at < clock.now())).all()
    for message in expired:
        log.warning(
            "buffered message '%s' for key '%s' (id %s) expired undelivered: no case waited for it",
            message.message_name,
            message.correlation_key,
            message.message_id,
        )
        receipt = session.get(MessageReceipt, message.message_id) if message.message_id else None
        if receipt is not None:
            receipt.outcome = "expired"
        session.delete(message)
    return len(expired)


def drain_buffer(rt: runner.Runtime, session: Session, instance_id: int, limit: int = 20) -> int:
    """Deliver buffered messages that the instance now waits for, oldest first."""
    delivered = 0
    now = clock.now()
    for _ in range(limit):
        match = session.execute(
            select(BufferedMessage, MessageSubscription)
            .join(
                MessageSubscription,
                (MessageSubscription.message_name == BufferedMessage.message_name)
                & (MessageSubscription.correlation_key == BufferedMessage.correlation_key),
            )
            .where(MessageSubscription.instance_id == instance_id, BufferedMessage.expires_at >= now)
            .order_by(BufferedMessage.received_at, BufferedMessage.id)
            .limit(1)
        ).first()
        if match is None:
            break
        buffered, sub = match
        action = deliver_action(sub.task_id, buffered.message_name, dict(buffered.payload))
        runner.execute(rt, session, instance_id, action, actor="buffer")
        if buffered.message_id:
            receipt = session.get(MessageReceipt, buffered.message_id)
            if receipt is not None:
                receipt.instance_id, receipt.outcome = instance_id, "delivered"
        session.delete(buffered)
        session.flush()
        delivered += 1
    return delivered
