"""What the engine asks of the application that runs on it: its contracts, filled in at start-up.

A service task in a diagram names an operator (``spiffworkflow:serviceTaskOperator id="…"``); the
engine looks the operator up in the ``ServiceRegistry`` and calls the function with a ``ServiceContext``
and the task's parameters as keyword arguments. The function returns JSON-compatible data, which lands
in the task's result variable. Tests swap a service by registering a stand-in under the same name.

The registry also holds start validators, message contracts, the process-data fields to index for
search, and worker jobs: work the application wants done on every sweep of the worker (sending
e-mail, say). The engine defines these contracts and knows nothing of what fills them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class ServiceContext:
    """What a service may know about the call it serves.

    ``idempotency_key`` is the same for every attempt of one execution of one service task: pass it on
    to any external system so that a retry never performs a side effect twice. ``session`` is the
    caller's transaction: writes through it commit together with the instance's new state.
    """

    idempotency_key: str
    instance_id: int
    business_key: str | None
    operator: str
    attempt: int
    now: datetime
    session: Session


ServiceFunction = Callable[..., Any]


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failing call is tried in all, and the first delay (doubled after each failure)."""

    attempts: int | None = None
    backoff_seconds: float | None = None


@dataclass(frozen=True)
class Operator:
    name: str
    function: ServiceFunction
    retry: RetryPolicy
    description: str

    def parameters(self) -> list[str]:
        """Names of the keyword parameters the function takes (besides the context)."""
        params = list(inspect.signature(self.function).parameters.values())[1:]
        return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

    def accepts_any(self) -> bool:
        params = inspect.signature(self.function).parameters.values()
        return any(p.kind is p.VAR_KEYWORD for p in params)


Validator = Callable[[ServiceContext, dict[str, Any]], dict[str, Any]]

Transaction = Callable[..., AbstractContextManager[Session]]
"""``Engine.transaction``: ``with transaction(write=True) as session: …`` commits on success."""

WorkerJob = Callable[[Transaction], int]
"""Work a worker does on every sweep: it opens the transactions it needs (none when it has nothing to
do) and returns how many things it did."""


@dataclass(frozen=True)
class MessageContract:
    """What kmop checks on an incoming message before it correlates it.

    ``validate`` returns the accepted payload (or raises a validation error naming the field); ``check``
    then sees it with the database (a ``ServiceContext``) for what only the data can tell;
    ``key_field``/``id_field`` name payload fields that give the correlation key and the message id when
    the sender does not pass them; with ``refuse_unknown_key`` a key that no instance ever had is refused
    instead of buffered; with ``buffer`` off a message nobody waits for is refused at once.
    """

    name: str
    validate: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    key_field: str | None = None
    id_field: str | None = None
    refuse_unknown_key: bool = False
    check: Validator | None = None
    buffer: bool = True


class ServiceRegistry:
    """Operator name → function, and the other contracts. One registry per engine; nothing registers itself
    at import time: an engine made without one has none."""

    def __init__(self) -> None:
        self._operators: dict[str, Operator] = {}
        self._validators: dict[str, Validator] = {}
        self._messages: dict[str, MessageContract] = {}
        self._search_fields: list[str] = []
        self._jobs: dict[str, WorkerJob] = {}

    def register_validator(self, name: str, function: Validator) -> None:
        """Register a start validator: a start event names it (property ``validator``)."""
        self._validators[name] = function

    def validator(self, name: str) -> Validator | None:
        return self._validators.get(name)

    def register_message(self, contract: MessageContract) -> None:
        self._messages[contract.name] = contract

    def message(self, name: str) -> MessageContract | None:
        return self._messages.get(name)

    def register_search_field(self, name: str) -> None:
        """Index the process-data field ``name`` of every instance, so cases can be found by it (e.g. all
        cases of one customer number) without loading them."""
        if name not in self._search_fields:
            self._search_fields.append(name)

    @property
    def search_fields(self) -> tuple[str, ...]:
        return tuple(self._search_fields)

    def register_job(self, name: str, job: WorkerJob) -> None:
        """Run ``job`` on every sweep of every worker, after the due timers (a failure is logged and
        retried on the next sweep)."""
        self._jobs[name] = job

    @property
    def jobs(self) -> dict[str, WorkerJob]:
        return dict(self._jobs)

    def register(
        self,
        name: str,
        function: ServiceFunction,
        *,
        attempts: int | None = None,
        backoff_seconds: float | None = None,
    ) -> None:
        """Register (or replace) the function behind operator ``name``."""
        doc = (inspect.getdoc(function) or "").splitlines()
        self._operators[name] = Operator(
            name, function, RetryPolicy(attempts, backoff_seconds), doc[0] if doc else ""
        )

    def get(self, name: str) -> Operator | None:
        return self._operators.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._operators

    def __iter__(self) -> Iterator[Operator]:
        return iter(sorted(self._operators.values(), key=lambda op: op.name))
