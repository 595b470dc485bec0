"""Deliver messages by name and correlation key, from kmop's own subscription table.

The library does not correlate inside event-based gateways, so kmop never lets it choose: a message
goes to one waiting task of one instance whose subscription matches both name and key. A message id
seen before is accepted once. A message nobody waits for is buffered for a while (or refused when
buffering is off) and delivered when a matching subscription appears.
"""

from __future__ import annotations

import copy
import logging
from datetime import timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tasks.registry import MessageContract, ServiceContext

from . import clock, forms, projections, runner, timers
from .errors import Conflict, InvalidInput, MessageIdReused, MessageNotDelivered, MessageTooLate
from .models import BufferedMessage, MessageReceipt, MessageSubscription, ProcessInstance
from .script_host import NotStorable, check_depth
from .views import MessageResult

log = logging.getLogger("kmop.messages")


def _deliver_action(task_id: str, name: str, payload: dict[str, Any]) -> runner.Action:
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
            # an earlier message already set (a second audit report): merge again, after it. Fresh copies,
            # because the library's deep merge writes the old values into the payload's own dicts.
            task.data.update(copy.deepcopy(payload))
        run.record("message_received", projections.element_id(task), message=name, fields=sorted(payload))

    return action


def send(
    rt: runner.Runtime,
    session: Session,
    name: str,
    key: str | None,
    payload: dict[str, Any] | None,
    message_id: str | None,
    actor: str | None = None,
    thrown: bool = False,
) -> MessageResult:
    """Deliver, buffer or refuse one message; see the module docstring. ``thrown``: sent by an instance
    (kept for a case that may wait for it, even when the sender was the key's last open case)."""
    if not name:
        raise InvalidInput("a message needs a name", field="name")
    if payload is not None and not isinstance(payload, dict):
        raise InvalidInput("a message payload must be a JSON object", field="payload")
    try:
        check_depth(payload)
    except NotStorable as exc:
        raise InvalidInput(f"the payload {exc}", field="payload") from None
    body = payload or {}
    contract = rt.registry.message(name)
    if contract is not None:
        body, key, message_id = _apply_contract(session, contract, body, key, message_id)
    now = clock.now()
    repeat = _repeat(session, message_id, name, key)
    if repeat is not None:
        return repeat
    sub = _find_subscription(session, name, key)
    if sub is not None:
        # Under the case's lock (a run of it elsewhere finishes first), fire what fell due before the
        # message arrived, then look again: events take effect in time order, and the same message sent
        # twice at once is delivered by one and answered "duplicate" to the other.
        locked = runner.lock_instance(session, sub.instance_id)
        repeat = _repeat(session, message_id, name, key)
        if repeat is not None:
            return repeat
        ended = locked is None or locked.status in runner.ENDED
        deadline = None if ended else timers.wake_if_due(rt, session, sub.instance_id)
        sub = _find_subscription(session, name, key)
        if sub is None and deadline is not None:
            raise MessageTooLate(
                f"the case with key '{key}' stopped waiting for message '{name}' when a deadline due "
                f"{deadline.isoformat()} passed, before the message arrived; it was not accepted"
            )
    if sub is None:
        if contract is not None and not contract.buffer:
            raise MessageNotDelivered(
                f"no case with key '{key}' waits for message '{name}' now; it was not accepted"
            )
        return _buffer_or_refuse(rt, session, name, key, body, message_id, now, refuse_ended=not thrown)
    instance_id = sub.instance_id
    inst = runner.execute(rt, session, instance_id, _deliver_action(sub.task_id, name, body), actor=actor)
    _receipt(session, message_id, name, key, instance_id, now, "delivered")
    if inst is not None:
        drain_if_waiting(rt, session, inst)
    return MessageResult("delivered", name, key, instance_id, f"delivered to instance {instance_id}")


def _repeat(session: Session, message_id: str | None, name: str, key: str | None) -> MessageResult | None:
    """ "duplicate" when this message id was accepted before for this message and key; None when new.

    An id accepted for another message or key is refused: answering "duplicate" would drop this message
    without a word.
    """
    if not message_id:
        return None
    seen = session.get(MessageReceipt, message_id, populate_existing=True)
    if seen is None:
        return None
    if seen.message_name != name or seen.correlation_key != key:
        raise MessageIdReused(
            f"message id {message_id} was already used for message '{seen.message_name}' with key "
            f"'{seen.correlation_key}'; give this message its own id"
        )
    when = seen.received_at.isoformat()
    return MessageResult(
        "duplicate", name, key, seen.instance_id, f"message id {message_id} was already accepted at {when}"
    )


def _apply_contract(
    session: Session, contract: MessageContract, body: dict[str, Any], key: str | None, message_id: str | None
) -> tuple[dict[str, Any], str | None, str | None]:
    if contract.validate is not None:
        try:
            body = contract.validate(body)
        except Exception as exc:
            error = forms.as_input_error(exc)
            if error is None:
                raise
            raise error from exc
    if contract.key_field:
        in_body = body.get(contract.key_field)
        if key is not None and in_body is not None and str(in_body) != key:
            raise InvalidInput(
                f"the key '{key}' and the payload's {contract.key_field} '{in_body}' differ",
                field=contract.key_field,
            )
        key = key if key is not None else (str(in_body) if in_body is not None else None)
        if key is None:
            raise InvalidInput(
                f"message '{contract.name}' needs {contract.key_field}", field=contract.key_field
            )
    if contract.id_field and message_id is None and body.get(contract.id_field):
        message_id = str(body[contract.id_field])
    if contract.refuse_unknown_key:
        known = session.scalar(select(ProcessInstance.id).where(ProcessInstance.business_key == key).limit(1))
        if known is None:
            raise MessageNotDelivered(f"message '{contract.name}' refused: no case is known with key '{key}'")
    if contract.check is not None:
        ctx = ServiceContext(
            idempotency_key=f"message:{contract.name}:{key}",
            instance_id=0,
            business_key=key,
            operator=contract.name,
            attempt=1,
            now=clock.now(),
            session=session,
        )
        try:
            body = contract.check(ctx, body)
        except Exception as exc:
            error = forms.as_input_error(exc)
            if error is None:
                raise
            raise error from exc
    return body, key, message_id


def _receipt(
    session: Session,
    message_id: str | None,
    name: str,
    key: str | None,
    instance_id: int | None,
    now: Any,
    outcome: str,
) -> None:
    """Remember an accepted message id, so that the same message sent again is accepted once."""
    if message_id:
        session.add(
            MessageReceipt(
                message_id=message_id,
                message_name=name,
                correlation_key=key,
                instance_id=instance_id,
                received_at=now,
                outcome=outcome,
            )
        )


def _find_subscription(session: Session, name: str, key: str | None) -> MessageSubscription | None:
    return session.scalars(
        select(MessageSubscription)
        .where(
            MessageSubscription.message_name == name,
            MessageSubscription.correlation_key.is_(None)
            if key is None
            else MessageSubscription.correlation_key == key,
        )
        .order_by(MessageSubscription.created_at, MessageSubscription.id)
        .limit(1)
    ).first()


def _buffer_or_refuse(
    rt: runner.Runtime,
    session: Session,
    name: str,
    key: str | None,
    body: dict[str, Any],
    message_id: str | None,
    now: Any,
    refuse_ended: bool = True,
) -> MessageResult:
    """Keep a message nobody waits for yet, for a case that may still wait for it; refuse it otherwise.

    A key whose every case has ended can never be waited on again: such a message is refused, never
    kept until it silently expires (``refuse_ended``; a message thrown by an instance is always kept).
    """
    seconds = rt.settings.message_buffer_seconds
    if seconds <= 0:
        raise MessageNotDelivered(
            f"no instance waits for message '{name}' with correlation key '{key}'; "
            "buffering is off, so the message was not accepted"
        )
    if key is not None and refuse_ended:
        statuses = set(
            session.scalars(select(ProcessInstance.status).where(ProcessInstance.business_key == key))
        )
        if statuses and statuses <= set(runner.ENDED):
            raise MessageNotDelivered(
                f"every case with key '{key}' has ended, so none will wait for message '{name}' again; "
                "it was not accepted"
            )
    if message_id:
        try:  # the same message buffered twice at once: the second finds the first's receipt
            with session.begin_nested():
                _receipt(session, message_id, name, key, None, now, "buffered")
                session.flush()
        except IntegrityError:
            repeat = _repeat(session, message_id, name, key)
            if repeat is not None:
                return repeat
            raise
    session.add(
        BufferedMessage(
            message_name=name,
            correlation_key=key,
            payload=body,
            message_id=message_id,
            received_at=now,
            expires_at=now + timedelta(seconds=seconds),
        )
    )
    until = (now + timedelta(seconds=seconds)).isoformat()
    return MessageResult(
        "buffered", name, key, None, f"no instance waits for it yet; kept until {until} for one that will"
    )


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
        action = _deliver_action(sub.task_id, buffered.message_name, dict(buffered.payload))
        runner.execute(rt, session, instance_id, action, actor="buffer")
        if buffered.message_id:
            receipt = session.get(MessageReceipt, buffered.message_id)
            if receipt is not None:
                receipt.instance_id, receipt.outcome = instance_id, "delivered"
        session.delete(buffered)
        session.flush()
        delivered += 1
    return delivered
