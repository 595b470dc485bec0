"""Wake instances whose timers or service retries fell due; move the simulated clock.

The ``wake_up`` table is the source of truth. A sweep picks due instances in due order; each is woken
in a transaction of its own, under the instance's row lock taken with SKIP LOCKED, so two workers never
wake the same instance at once and a timer fires exactly once: after the first wake the timer's task
no longer waits. One broken instance is logged and the sweep goes on.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from . import clock, messages, runner
from .errors import ClockError, InstanceEnded, KmopError
from .models import ProcessInstance, WakeUp

log = logging.getLogger("kmop.timers")

Transaction = Callable[[], AbstractContextManager[Session]]
_ACTIVE = ("running", "waiting", "error")
WORKER_NAME = f"worker:{socket.gethostname()}:{os.getpid()}"  # the history says which worker fired


def _wake_action(run: runner.Run) -> None:
    due_retries = run.session.scalars(
        select(WakeUp).where(
            WakeUp.instance_id == run.inst.id, WakeUp.kind == "retry", WakeUp.due_at <= run.now
        )
    ).all()
    if due_retries:
        run.session.execute(delete(WakeUp).where(WakeUp.id.in_([w.id for w in due_retries])))
        run.session.flush()
        runner.retry_failed_tasks(run)
    runner.fire_timers(run)


def due_instances(session: Session, now: datetime, limit: int) -> list[int]:
    """Instances with a wake-up due at ``now``, the longest overdue first."""
    rows = session.execute(
        select(WakeUp.instance_id, func.min(WakeUp.due_at).label("first"))
        .join(ProcessInstance, ProcessInstance.id == WakeUp.instance_id)
        .where(WakeUp.due_at <= now, ProcessInstance.status.in_(_ACTIVE))
        .group_by(WakeUp.instance_id)
        .order_by("first")
        .limit(limit)
    ).all()
    return [r[0] for r in rows]


def next_due(session: Session) -> datetime | None:
    value: datetime | None = session.scalar(
        select(func.min(WakeUp.due_at))
        .join(ProcessInstance, ProcessInstance.id == WakeUp.instance_id)
        .where(ProcessInstance.status.in_(_ACTIVE))
    )
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def wake(rt: runner.Runtime, session: Session, instance_id: int) -> bool:
    """Wake one instance; False when another worker holds it (it will be woken there)."""
    inst = runner.execute(
        rt, session, instance_id, _wake_action, actor=WORKER_NAME, skip_locked=True, catch_up=False
    )
    if inst is None:
        return False
    messages.drain_if_waiting(rt, session, inst)
    return True


def wake_if_due(rt: runner.Runtime, session: Session, instance_id: int) -> bool:
    """Wake the instance now (waiting for its lock) if a timer of it is due; True if it was."""
    due = session.scalar(
        select(WakeUp.id)
        .where(WakeUp.instance_id == instance_id, WakeUp.kind == "timer", WakeUp.due_at <= clock.now())
        .limit(1)
    )
    if due is None:
        return False
    runner.execute(rt, session, instance_id, _wake_action, actor=WORKER_NAME, catch_up=False)
    return True


def fire_due(rt: runner.Runtime, transaction: Transaction, batch: int | None = None) -> int:
    """Wake every instance that is due now, each in its own transaction; return how many were woken."""
    woken = 0
    size = batch or rt.settings.worker_batch
    _purge_now_and_then(rt, transaction)
    while True:
        now = clock.now()
        with transaction() as session:
            due = due_instances(session, now, size)
        if not due:
            return woken
        progressed = 0
        for instance_id in due:
            try:
                with transaction() as session:
                    if wake(rt, session, instance_id):
                        progressed += 1
            except InstanceEnded:
                pass  # another worker woke it first and it ended: its wake-up is gone with it
            except KmopError as exc:
                log.warning("instance %s not woken: %s", instance_id, exc.message)
            except Exception:
                log.exception("instance %s failed while being woken; the sweep goes on", instance_id)
        woken += progressed
        if progressed == 0 or len(due) < size:
            return woken


_last_purge: list[float] = [0.0]


def _purge_now_and_then(rt: runner.Runtime, transaction: Transaction) -> None:
    import time

    if time.monotonic() - _last_purge[0] < 60:
        return
    _last_purge[0] = time.monotonic()
    with transaction() as session:
        messages.purge_expired(session)


def advance_to(rt: runner.Runtime, transaction: Transaction, target: datetime) -> int:
    """Move the simulated clock to ``target``, firing what falls due in between, in due order."""
    sim = clock.active()
    if not isinstance(sim, clock.SimulatedClock):
        raise ClockError("the clock is the system clock; start kmop with KMOP_CLOCK=simulated to move it")
    if target < sim.now():
        raise ClockError(f"the clock cannot go back: it is {sim.now().isoformat()}")
    fired = fire_due(rt, transaction)
    stuck_at: datetime | None = None
    while True:
        with transaction() as session:
            due = next_due(session)
        if due is None or due > target:
            break
        if due == stuck_at:
            log.warning("wake-ups due at %s could not be processed; moving on", due.isoformat())
            break
        step = max(due, sim.now())
        sim.set(step)
        woken = fire_due(rt, transaction)
        fired += woken
        stuck_at = due if woken == 0 else None
    if target > sim.now():
        sim.set(target)
    return fired + fire_due(rt, transaction)
