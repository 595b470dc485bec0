"""The one exception hierarchy of kmop.

Every error the engine raises on purpose is a ``KmopError``. The web layer and the CLI map the
subclasses to answers: ``NotFound`` → 404, ``Conflict`` → 409, ``Forbidden`` → 403, every other
``KmopError`` (bad input) → 400. An ``Incident`` is not raised to callers: it is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass


class KmopError(Exception):
    """Base class: a clear message meant for the person or system that made the call."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(KmopError):
    """The thing asked for does not exist (an instance, a task, a process key, an incident)."""

    status = 404


class Conflict(KmopError):
    """The request raced another one, or the state no longer allows it (task already completed)."""

    status = 409


class Claimed(Conflict):
    """Someone else has claimed the task: only they complete or release it (an operator may release it)."""

    def __init__(self, task_id: str, claimed_by: str) -> None:
        super().__init__(f"task {task_id} is claimed by {claimed_by}")
        self.claimed_by = claimed_by


class MessageIdReused(Conflict):
    """A message id already accepted for another message or correlation key (not a repeat of it)."""


class InstanceEnded(Conflict):
    """The instance is completed or cancelled: nothing can change it any more."""


class Forbidden(KmopError):
    """The caller lacks the role or right the request needs."""

    status = 403


class InvalidInput(KmopError):
    """Input data is wrong; ``field`` names the offending field when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Problem:
    """One problem found in a deployment: which file, which element, what is wrong."""

    file: str
    element: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}" + (f" [{self.element}]" if self.element else "")
        return f"{where}: {self.message}"


class DeploymentError(KmopError):
    """A deployment was refused; ``problems`` lists every problem found. Nothing was stored."""

    def __init__(self, problems: list[Problem]) -> None:
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"deployment refused, {len(problems)} problem(s):\n{lines}")
        self.problems = problems


class SandboxError(KmopError):
    """An expression or script in a diagram tried something the sandbox forbids, or ran too long."""


class MessageNotDelivered(NotFound):
    """A message matched no waiting instance and was not kept: buffering is off, the message's contract
    does not wait, or every case with its key has ended."""


class MessageTooLate(MessageNotDelivered):
    """A message arrived for a wait that a deadline due before it had already ended; not accepted."""

    status = 409


class ClockError(KmopError):
    """The clock cannot be moved (normal mode), or was asked to move backwards."""
