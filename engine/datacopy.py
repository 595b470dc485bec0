"""Copy task data as SpiffWorkflow does, at the speed JSON-like data allows.

SpiffWorkflow 3.2 deep-copies task data where it crosses a boundary: into an embedded subprocess and back
out of it (``SubWorkflowTask.copy_data`` / ``update_data``), from a data object into a task and back
(``DataObject``), a multi-instance item into its child. In a data-heavy multi-instance every item's
subprocess copies the whole, growing data twice, and ``copy.deepcopy`` (its memo, its dispatch per
object) was half of such a run.

Task data here is JSON-like (kmop stores it as JSON; a value that is not is refused at the save), so
``json_copy`` copies dicts and lists by comprehension, hands back the immutable leaves as they are, and
leaves everything else (dates, decimals, sets, tuples, subclasses) to ``copy.deepcopy``. The result is
equal to ``deepcopy``'s, with one difference that matches what a load gives anyway: a container that
occurs twice in the value is copied twice (after a save and a load no two places share one either). A
value that contains itself, or nests deeper than the interpreter's recursion limit, goes to ``deepcopy``
whole, which copies the first and fails on the second exactly as before.

``install()`` makes the library's modules use it; it changes no class, so nothing stored changes.
"""

from __future__ import annotations

import copy
import importlib
from typing import Any

__all__ = ["install", "json_copy"]

_LEAVES = frozenset({str, int, float, bool, type(None)})

# The SpiffWorkflow modules whose ``deepcopy`` copies task data (3.2): each imports ``deepcopy`` by name.
_MODULES = (
    "SpiffWorkflow.bpmn.specs.mixins.subworkflow_task",
    "SpiffWorkflow.bpmn.specs.data_spec",
    "SpiffWorkflow.bpmn.specs.mixins.multiinstance_task",
)


def _copy(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {key: _copy(item) for key, item in value.items()}
    if kind is list:
        return [_copy(item) for item in value]
    if kind in _LEAVES:
        return value
    return copy.deepcopy(value)


def json_copy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """A copy of ``value`` sharing no dict or list with it (``copy.deepcopy``'s signature)."""
    if memo is not None:  # a caller that shares a memo across calls wants deepcopy's bookkeeping
        return copy.deepcopy(value, memo)
    try:
        return _copy(value)
    except RecursionError:  # a value that contains itself (or nests too deep): deepcopy's way
        return copy.deepcopy(value)


def install() -> None:
    """Let SpiffWorkflow copy task data with ``json_copy`` (idempotent)."""
    for name in _MODULES:
        module = importlib.import_module(name)
        if getattr(module, "deepcopy", None) is not copy.deepcopy and module.deepcopy is not json_copy:
            raise RuntimeError(f"{name}.deepcopy is not copy.deepcopy: SpiffWorkflow changed, check datacopy")
        module.deepcopy = json_copy  # type: ignore[attr-defined]
