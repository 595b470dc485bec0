"""Remember, for a few seconds, the callers whose bearer token this process has verified.

Looking a token up (the token, its person, their organisation and roles) is a transaction of its own on
every API request, and costs more than some calls' own work. A verified caller is kept by the SHA-256 of
the token (never the token itself) for ``KMOP_API_TOKEN_CACHE_SECONDS`` of real time (default 10; 0 keeps
nothing), in this process only.

A write through SQLAlchemy's ORM to a token, a person, a role grant or an organisation forgets every kept
caller of this process at once, when it is flushed and again when it is committed: a token revoked, a
person blocked, a role withdrawn, an enterprise number corrected (``tasks.people``, the account and
administration pages, ``kmop token revoke`` in this process) is refused by the next request. Another
process (a second gunicorn worker, ``kmop token revoke`` run on the command line) cannot reach this one's
memory: there the change takes effect within the lifetime. Noting a token's use (``last_used_at``, once a
minute) forgets nothing.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Mapper, ORMExecuteState, Session, make_transient_to_detached, object_session

from tasks.models import ApiToken, Organisation, Person, RoleGrant

LIFETIME_SECONDS = 10.0
MAX_CALLERS = 1024  # then all are forgotten: a flood of distinct tokens cannot grow the memory
WATCHED = (ApiToken, Person, RoleGrant, Organisation)
CHANGED = "kmop_callers_changed"  # in ``Session.info``: forget again when this session commits
USE_ONLY = frozenset({"last_used_at"})

_lock = threading.Lock()
_generation = 0  # raised by every change that may alter who a caller is
_watching = False


def generation() -> int:
    return _generation


def forget_all() -> None:
    """Forget every kept caller of this process (in every application: they compare the generation)."""
    global _generation
    with _lock:
        _generation += 1


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass
class Verified:
    """What a token's lookup found: the person's columns, roles, organisation keys, its last noted use."""

    person: dict[str, Any]
    roles: frozenset[str]
    enterprise_number: str | None
    audit_bureau_code: str | None
    last_used_at: datetime | None
    generation: int = 0
    expires: float = 0.0

    @classmethod
    def of(cls, person: Person, roles: frozenset[str], org: Organisation | None, token: ApiToken) -> Verified:
        columns = {attr.key: getattr(person, attr.key) for attr in inspect(Person).column_attrs}
        return cls(
            columns,
            roles,
            org.enterprise_number if org else None,
            org.audit_bureau_code if org else None,
            token.last_used_at,
        )

    def detached_person(self) -> Person:
        """A person of its own for each request, detached as if loaded and expunged (no session shares it)."""
        person = Person(**self.person)
        make_transient_to_detached(person)
        return person


class Callers:
    """One application's kept callers, by token digest, each until it expires or the generation moves."""

    def __init__(self, lifetime: float, clock: Callable[[], float]) -> None:
        self.lifetime = lifetime
        self.clock = clock
        self._kept: dict[bytes, Verified] = {}

    def get(self, key: bytes) -> Verified | None:
        found = self._kept.get(key)
        if found is None:
            return None
        if found.generation != _generation or self.clock() >= found.expires:
            self._kept.pop(key, None)
            return None
        return found

    def keep(self, key: bytes, found: Verified, seen_generation: int) -> None:
        """Keep ``found``, read after ``seen_generation`` was current, unless something changed since."""
        if self.lifetime <= 0:
            return
        with _lock:
            if seen_generation != _generation:  # a change committed while it was read: maybe stale
                return
            if len(self._kept) >= MAX_CALLERS:
                self._kept.clear()
            found.generation = seen_generation
            found.expires = self.clock() + self.lifetime
            self._kept[key] = found


# ------------------------------------------------------------------------------- watching for changes


def watch_changes() -> None:
    """Forget kept callers on every ORM write to the watched tables, in any session of this process."""
    global _watching
    with _lock:
        if _watching:
            return
        _watching = True
    for cls in WATCHED:
        for name in ("after_insert", "after_update", "after_delete"):
            event.listen(cls, name, _row_written)
    event.listen(Session, "do_orm_execute", _statement)
    event.listen(Session, "after_commit", _committed)


def _row_written(_mapper: Mapper[Any], _connection: Any, target: Any) -> None:
    if isinstance(target, ApiToken) and _changed_keys(target) <= USE_ONLY:
        return  # its use noted: who the caller is did not change
    _changed(object_session(target))


def _changed_keys(target: Any) -> set[str]:
    return {attr.key for attr in inspect(target).attrs if attr.history.has_changes()}


def _statement(state: ORMExecuteState) -> None:
    """A bulk ``update()`` or ``delete()`` of a watched table (``people.revoke_tokens``)."""
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    if any(issubclass(mapper.class_, WATCHED) for mapper in state.all_mappers):
        _changed(state.session)


def _changed(session: Session | None) -> None:
    forget_all()
    if session is not None:
        session.info[CHANGED] = True


def _committed(session: Session) -> None:
    if session.info.pop(CHANGED, False):
        forget_all()  # again: a request that read the old rows before the commit may have kept them
