"""Deliver messages by name and correlation key, from kmop's own subscription table.

The library does not correlate inside event-based gateways, so kmop never lets it choose: a message
goes to one waiting task of one instance whose subscription matches both name and key. A message id
seen before is accepted once. A message nobody waits for is buffered for a while (or refused when
buffering is off) and delivered when a matching subscription appears.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import clock, forms, runner, timers
from .delivery import deliver_action
from .delivery import drain_if_waiting as drain_if_waiting  # the facade drains after a start
from .errors import InvalidInput, MessageIdReused, MessageNotDelivered, MessageTooLate
from .models import BufferedMessage, MessageReceipt, MessageSubscription, ProcessInstance
from .script_host import NotStorable, check_depth
from .services import MessageContract, ServiceContext
from .views import MessageResult

log = logging.getLogger("kmop.messages")


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
    inst = runner.execute(rt, session, instance_id, deliver_action(sub.task_id, name, body), actor=actor)
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
