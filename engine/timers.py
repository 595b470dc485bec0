"""Wake instances whose timers or service retries fell due; move the simulated clock.

The ``wake_up`` table is the source of truth. A sweep picks due instances in due order and claims them a
few at a time under their row locks taken with SKIP LOCKED, so two workers never wake the same instance
at once and a timer fires exactly once: after the first wake the timer's task no longer waits. A claimed
lot is woken in one transaction; should one of it fail, the lot is rolled back and each is woken in a
transaction of its own: one broken instance is logged and the sweep goes on.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

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
    if run.inst.status == "waiting":
        return  # a service retry keeps its instance running (or in error): a waiting one has none
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


def _still_due(now: datetime) -> Any:
    return select(WakeUp.id).where(WakeUp.instance_id == ProcessInstance.id, WakeUp.due_at <= now).exists()


def claim(session: Session, instance_id: int, now: datetime, wait: bool = False) -> bool:
    """Lock the instance if it still has a wake-up due at ``now``; False when another worker holds it
    (unless ``wait``: then wait for it) or woke it already. One statement, and nothing loaded: a worker
    that comes second to an instance passes it over for the price of an index lookup."""
    runner.begin_write(session)
    stmt = select(ProcessInstance.id).where(ProcessInstance.id == instance_id, _still_due(now))
    return session.scalar(stmt.with_for_update(skip_locked=not wait)) is not None


def claim_many(session: Session, instance_ids: list[int], now: datetime) -> list[int]:
    """Lock and read, in one statement, those of ``instance_ids`` that are active, still due and held by
    no other worker (SKIP LOCKED); return them in the order given. Each run of the lot then takes its
    instance as read here (once), instead of reading it again."""
    runner.begin_write(session)
    stmt = select(ProcessInstance).where(
        ProcessInstance.id.in_(instance_ids), ProcessInstance.status.in_(_ACTIVE), _still_due(now)
    )
    stmt = stmt.with_for_update(skip_locked=True).execution_options(populate_existing=True)
    got = {inst.id: inst for inst in session.scalars(stmt)}
    session.info[runner.CLAIMED] = dict(got)
    return [i for i in instance_ids if i in got]


def _run_claimed(rt: runner.Runtime, session: Session, instance_id: int, wait: bool) -> bool:
    inst = runner.execute(
        rt, session, instance_id, _wake_action, actor=WORKER_NAME, skip_locked=not wait, catch_up=False
    )
    if inst is None:
        return False
    delivery.drain_if_waiting(rt, session, inst)
    return True


def wake(rt: runner.Runtime, session: Session, instance_id: int, wait: bool = False) -> bool:
    """Wake one instance; False when another worker holds it (it will be woken there) or has woken it,
    unless ``wait`` (then wait for it to be free)."""
    if not claim(session, instance_id, clock.now(), wait):
        return False
    return _run_claimed(rt, session, instance_id, wait)


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
    """Wake every instance that is due now, most overdue first; return how many were woken.

    A worker claims ``worker_claim`` instances at a time in one statement and wakes them in one
    transaction: one commit for the lot, and a second worker claims the next ones instead of queueing
    behind the first. Should one of them fail, the lot is rolled back and woken again each in a
    transaction of its own, so that one broken instance is logged and holds up no other. A sweep skips
    an instance another worker holds (that worker wakes it); with ``wait`` (moving the clock) each is
    woken alone and waited for, so that everything due is done when the call returns.
    """
    woken = 0
    size = batch or rt.settings.worker_batch
    per_tx = 1 if wait else max(1, rt.settings.worker_claim)
    _purge_now_and_then(rt, transaction)
    while True:
        now = clock.now()
        with transaction(write=False) as session:
            due = due_instances(session, now, size)
        if not due:
            return woken
        progressed = 0
        for first in range(0, len(due), per_tx):
            progressed += _wake_lot(rt, transaction, due[first : first + per_tx], wait)
        woken += progressed
        if progressed == 0 or len(due) < size:
            return woken


def _wake_lot(rt: runner.Runtime, transaction: Transaction, ids: list[int], wait: bool) -> int:
    """Wake ``ids`` together in one transaction; after any failure, each alone."""
    if len(ids) > 1:
        try:
            with transaction() as session:
                claimed = claim_many(session, ids, clock.now())
                try:
                    for instance_id in claimed:
                        _run_claimed(rt, session, instance_id, wait=False)
                finally:
                    session.info.pop(runner.CLAIMED, None)
            return len(claimed)
        except Exception:  # rolled back: each one again alone, where its failure is logged
            log.info("a lot of %d wake-ups failed together; waking them one by one", len(ids))
    return sum(_wake_alone(rt, transaction, instance_id, wait) for instance_id in ids)


def _wake_alone(rt: runner.Runtime, transaction: Transaction, instance_id: int, wait: bool) -> int:
    try:
        with transaction() as session:
            return 1 if wake(rt, session, instance_id, wait) else 0
    except InstanceEnded:
        return 0  # another worker woke it first and it ended: its wake-up is gone with it
    except KmopError as exc:
        log.warning("instance %s not woken: %s", instance_id, exc.message)
    except Exception:
        log.exception("instance %s failed while being woken; the sweep goes on", instance_id)
    return 0


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
