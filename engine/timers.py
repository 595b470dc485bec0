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

from . import clock, delivery, runner
from .errors import ClockError, InstanceEnded, KmopError
from .models import ProcessInstance, WakeUp

log = logging.getLogger("kmop.timers")

Transaction = Callable[..., AbstractContextManager[Session]]  # Engine.transaction: (write=...) -> session
_ACTIVE = ("running", "waiting", "error")
WORKER_NAME = f"worker:{socket.gethostname()}:{os.getpid()}"  # the history says which worker fired


def _wake_action(run: runner.Run) -> None:
    runner.fire_timers(run)  # each at its own due time, before the retries that fell due by now
    due_retries = run.session.scalars(
        select(WakeUp).where(
            WakeUp.instance_id == run.inst.id, WakeUp.kind == "retry", WakeUp.due_at <= run.now
        )
    ).all()
    if due_retries:
        run.session.execute(delete(WakeUp).where(WakeUp.id.in_([w.id for w in due_retries])))
        run.session.flush()
        runner.retry_failed_tasks(run)


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


def claim(session: Session, instance_id: int, now: datetime, wait: bool = False) -> bool:
    """Lock the instance if it still has a wake-up due at ``now``; False when another worker holds it
    (unless ``wait``: then wait for it) or woke it already. One statement, and nothing loaded: a worker
    that comes second to an instance passes it over for the price of an index lookup."""
    runner.begin_write(session)
    still_due = (
        select(WakeUp.id).where(WakeUp.instance_id == ProcessInstance.id, WakeUp.due_at <= now).exists()
    )
    stmt = select(ProcessInstance.id).where(ProcessInstance.id == instance_id, still_due)
    return session.scalar(stmt.with_for_update(skip_locked=not wait)) is not None


def wake(rt: runner.Runtime, session: Session, instance_id: int, wait: bool = False) -> bool:
    """Wake one instance; False when another worker holds it (it will be woken there) or has woken it,
    unless ``wait`` (then wait for it to be free)."""
    if not claim(session, instance_id, clock.now(), wait):
        return False
    inst = runner.execute(
        rt, session, instance_id, _wake_action, actor=WORKER_NAME, skip_locked=not wait, catch_up=False
    )
    if inst is None:
        return False
    delivery.drain_if_waiting(rt, session, inst)
    return True


def wake_if_due(rt: runner.Runtime, session: Session, instance_id: int) -> datetime | None:
    """Wake the instance now (waiting for its lock) if a timer of it is due; return the earliest due
    moment that fired, or None when none was due."""
    due: datetime | None = session.scalar(
        select(func.min(WakeUp.due_at)).where(
            WakeUp.instance_id == instance_id, WakeUp.kind == "timer", WakeUp.due_at <= clock.now()
        )
    )
    if due is None:
        return None
    runner.execute(rt, session, instance_id, _wake_action, actor=WORKER_NAME, catch_up=False)
    return due if due.tzinfo is not None else due.replace(tzinfo=UTC)


def fire_due(
    rt: runner.Runtime, transaction: Transaction, batch: int | None = None, wait: bool = False
) -> int:
    """Wake every instance that is due now, each in its own transaction; return how many were woken.

    A sweep skips an instance another worker holds (that worker wakes it); with ``wait`` (moving the
    clock) it waits for it, so that everything due is done when the call returns.
    """
    woken = 0
    size = batch or rt.settings.worker_batch
    _purge_now_and_then(rt, transaction)
    while True:
        now = clock.now()
        with transaction(write=False) as session:
            due = due_instances(session, now, size)
        if not due:
            return woken
        progressed = 0
        for instance_id in due:
            try:
                with transaction() as session:
                    if wake(rt, session, instance_id, wait):
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
        delivery.purge_expired(session)


def advance_to(rt: runner.Runtime, transaction: Transaction, target: datetime) -> int:
    """Move the simulated clock to ``target``, stopping at each due moment on the way, so that every timer
    fires at its own due time and in order, whatever else runs (an instance a worker holds is waited for,
    not skipped). Return how many instances were woken."""
    sim = clock.active()
    if not isinstance(sim, clock.SimulatedClock):
        raise ClockError("the clock is the system clock; start kmop with KMOP_CLOCK=simulated to move it")
    if target < sim.now():
        raise ClockError(f"the clock cannot go back: it is {sim.now().isoformat()}")
    fired = fire_due(rt, transaction, wait=True)
    stuck_at: datetime | None = None
    while True:
        with transaction(write=False) as session:
            due = next_due(session)
        if due is None or due > target:
            break
        if due == stuck_at:  # a wake that fails every time (logged by fire_due): do not loop on it
            log.warning("wake-ups due at %s could not be processed; moving on", due.isoformat())
            break
        sim.set(max(due, sim.now()))
        woken = fire_due(rt, transaction, wait=True)
        fired += woken
        stuck_at = due if woken == 0 else None
    if target > sim.now():
        sim.set(target)
    return fired + fire_due(rt, transaction, wait=True)
