"""Keep the workflows of recent runs in this process, so that the next step of a case skips its load.

A workflow is offered to the cache when its run saved it, and becomes usable only once the transaction
that saved it has committed (an after-commit hook of the session factory); any rollback, a savepoint's
included, drops what that session offered. A run takes its workflow out of the cache (no two runs ever
share one) and only when the entry is of the instance's current ``lock_version``, which the run reads
under the instance's lock: a step taken meanwhile by another process, or a rolled-back one, simply loads
from the database. Bounded: the least recently used entries go first. Off in replay mode.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

_PENDING = "kmop_offered_workflows"


@dataclass
class Kept:
    """A saved workflow and what its save knows of the stored rows, valid for one ``lock_version``."""

    lock_version: int
    workflow: Any
    loaded: Any  # state.LoadedState


class WorkflowCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[int, Kept] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def attach(self, sessions: sessionmaker[Session]) -> None:
        """Promote offers when a session of ``sessions`` commits; drop them when it rolls back."""
        event.listen(sessions, "after_commit", self._promote)
        event.listen(sessions, "after_soft_rollback", self._drop)

    def take(self, session: Session, instance_id: int, lock_version: int) -> Kept | None:
        """The workflow saved at ``lock_version``, now owned by the caller; None when not kept."""
        pending: dict[int, Kept] = session.info.get(_PENDING, {})
        found = pending.pop(instance_id, None)  # saved earlier in this same transaction
        if found is None:
            with self._lock:
                found = self._entries.pop(instance_id, None)
        if found is not None and found.lock_version == lock_version:
            self.hits += 1
            return found
        self.misses += 1
        return None

    def offer(self, session: Session, instance_id: int, kept: Kept) -> None:
        if self.size <= 0:
            return
        kept.workflow.script_engine = None  # a kept workflow runs nothing until a run gives it an engine
        session.info.setdefault(_PENDING, {})[instance_id] = kept

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _promote(self, session: Session) -> None:
        pending: dict[int, Kept] = session.info.pop(_PENDING, {})
        if not pending:
            return
        with self._lock:
            for instance_id, kept in pending.items():
                self._entries[instance_id] = kept
                self._entries.move_to_end(instance_id)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def _drop(self, session: Session, previous_transaction: Any) -> None:
        session.info.pop(_PENDING, None)
