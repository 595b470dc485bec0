"""Find a workflow's READY tasks without walking every task of its tree.

At every engine step SpiffWorkflow 3.2 asks each active workflow for its READY tasks
(``get_tasks(state=READY)``), and its task iterator visits the whole tree, finished branches and every
subprocess included, one Python generator step per task. In a multi-instance of 300 items whose items
are subprocesses, the tree holds thousands of finished tasks and each step walks them all (0.35 s of a
3.1 s run at 300 items; the raw library steps ten_tasks about 30 % faster without the walk).

``ready_tasks`` answers the same question from the workflows' task dicts: it collects the READY tasks of
the workflow and of the subprocesses its tasks own, then orders them as the iterator would (depth-first,
a task's subprocess before its children, children in order), by each task's path from the root. It
checks what the iterator checks on the way down: children only below a task that is at least FUTURE
(or owns a subprocess), a path that reaches the workflow's root. Where it cannot be sure of giving the
iterator's answer (a task off the tree, a path deeper than ``MAX_DEPTH``), it asks the iterator.

One difference is deliberate. The iterator stops descending at its depth 1000, and its depth count
drifts upward each time it leaves the subprocess of a task without children (a multi-instance item, a
loop iteration): after about a thousand such items it misses READY tasks that are really a few levels
deep, and an instance would stop with a task READY that never runs. ``ready_tasks`` finds them.

``install()`` makes ``get_tasks(state=READY)`` (and nothing else) take this way; with ``KMOP_CHECK_WALK=1``
(the test suite sets it) every answer is compared with the iterator's, and a difference raises, except
tasks the iterator missed after cutting a branch at its depth bound (the rest in the same order).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from SpiffWorkflow.bpmn.util.subworkflow import BpmnBaseWorkflow
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.util.task import TaskState

__all__ = ["MAX_DEPTH", "install", "library_walk", "ready_tasks"]

READY = TaskState.READY
FUTURE = TaskState.FUTURE
MAX_DEPTH = 400  # deeper paths are the iterator's to answer (its bound is 1000, and its other walks share it)

_ORIGINAL = BpmnBaseWorkflow.get_tasks


def _collect(workflow: Any, subprocesses: dict[Any, Any], found: list[Any], owner: dict[int, Any]) -> None:
    for task in workflow.tasks.values():
        if task._state == READY:
            found.append(task)
        sub = subprocesses.get(task.id)
        if sub is not None:
            owner[id(sub)] = task
            _collect(sub, subprocesses, found, owner)


def _path(
    task: Any, workflow: Any, owner: dict[int, Any], subprocesses: dict[Any, Any]
) -> tuple[int, ...] | None:
    """The task's position in the iterator's order (a path of indexes from ``workflow``'s root), or None
    where the iterator might not reach it the same way."""
    steps: list[int] = []
    node, where = task, task.workflow
    while True:
        parent = where.tasks.get(node._parent) if node._parent is not None else None
        if parent is not None:
            if parent._state < FUTURE and parent.id not in subprocesses:
                return None  # the iterator does not descend below a predicted task
            steps.append(1 + parent._children.index(node.id))  # 0 is the task's own subprocess
            node = parent
        else:
            if node is not where.task_tree:
                return None  # off the tree: not something the iterator would find
            if where is workflow:
                break
            found = owner.get(id(where))
            if found is None:
                return None
            steps.append(0)
            node, where = found, found.workflow
        if len(steps) > MAX_DEPTH:
            return None
    steps.reverse()
    return tuple(steps)


def ready_tasks(workflow: Any) -> list[Any]:
    """``workflow.get_tasks(state=TaskState.READY)``: the same tasks in the same order."""
    subprocesses = workflow.top_workflow.subprocesses
    found: list[Any] = []
    owner: dict[int, Any] = {}
    _collect(workflow, subprocesses, found, owner)
    if not found:
        return found
    keyed = []
    for task in found:
        path = _path(task, workflow, owner, subprocesses)
        if path is None:
            return list(_ORIGINAL(workflow, state=READY))
        keyed.append((path, task))
    if len(keyed) > 1:
        keyed.sort(key=lambda pair: pair[0])
    return [task for _, task in keyed]


def _asks_ready(first_task: Any, kwargs: dict[str, Any]) -> bool:
    """Whether a ``get_tasks`` call is the one ``ready_tasks`` answers: READY, from the root, no more."""
    return first_task is None and len(kwargs) == 1 and kwargs.get("state") == READY


def _get_tasks(self: Any, first_task: Any = None, **kwargs: Any) -> list[Any]:
    if _asks_ready(first_task, kwargs):
        return ready_tasks(self)
    return list(_ORIGINAL(self, first_task, **kwargs))


class _WatchedIterator(BpmnTaskIterator):  # type: ignore[misc]  # the library has no types
    """The library's iterator, noting whether it left a task's children unvisited for its depth bound."""

    cut = False

    def _next(self) -> Any:
        if self.task_list and self.depth >= self.max_depth:
            task = self.task_list[0]
            if task._children or task.workflow.top_workflow.subprocesses.get(task.id) is not None:
                self.cut = True
        return super()._next()


def _checked_get_tasks(self: Any, first_task: Any = None, **kwargs: Any) -> list[Any]:
    mine = _get_tasks(self, first_task, **kwargs)
    if not _asks_ready(first_task, kwargs):
        return mine
    walk = _WatchedIterator(self.task_tree, state=READY)
    theirs = list(walk)
    ids, their_ids = [t.id for t in mine], [t.id for t in theirs]
    if ids == their_ids:
        return mine
    if walk.cut and _in_order_within(their_ids, ids):
        return mine  # the iterator's depth count ran past its bound and missed these: a library bug
    names, their_names = [t.task_spec.name for t in mine], [t.task_spec.name for t in theirs]
    raise AssertionError(f"readywalk: {names} != the iterator's {their_names}")


def _in_order_within(part: list[Any], whole: list[Any]) -> bool:
    rest = iter(whole)
    return all(any(item == other for other in rest) for item in part)


def install() -> None:
    """Let every BPMN workflow answer ``get_tasks(state=READY)`` by ``ready_tasks`` (idempotent)."""
    checked = os.environ.get("KMOP_CHECK_WALK", "") not in ("", "0")
    BpmnBaseWorkflow.get_tasks = _checked_get_tasks if checked else _get_tasks  # type: ignore[method-assign]


@contextlib.contextmanager
def library_walk() -> Iterator[None]:
    """SpiffWorkflow's own iterator for a while (a benchmark's raw-library baseline); then as before."""
    mine = BpmnBaseWorkflow.__dict__.get("get_tasks")
    BpmnBaseWorkflow.get_tasks = _ORIGINAL  # type: ignore[method-assign]
    try:
        yield
    finally:
        if mine is None:
            del BpmnBaseWorkflow.get_tasks
        else:
            BpmnBaseWorkflow.get_tasks = mine  # type: ignore[method-assign]
