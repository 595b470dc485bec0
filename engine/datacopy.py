"""Copy task data as SpiffWorkflow does, at the speed of a pickle round trip.

SpiffWorkflow 3.2 deep-copies task data where it crosses a boundary: into an embedded subprocess and back
out of it (``SubWorkflowTask.copy_data`` / ``update_data``), from a data object into a task and back
(``DataObject``), a multi-instance item into its child. In a data-heavy multi-instance every item's
subprocess copies the whole, growing data twice, and ``copy.deepcopy`` (Python code run for every
object) was the largest part of such a run.

``data_copy`` makes the same deep copy through ``pickle`` (C code): shared objects stay shared within the
copy and a value that contains itself is copied as ``deepcopy`` copies it. A value pickle cannot take (a
function, a value nested deeper than its recursion limit, ...) goes to ``copy.deepcopy`` as before,
which copies it or fails as it always did. Only kmop's own objects are ever unpickled here.

``install()`` makes the library's modules use it; it changes no class, so nothing stored changes.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import pickle
from collections.abc import Iterator
from typing import Any

__all__ = ["data_copy", "install", "library_copy"]

# The SpiffWorkflow modules whose ``deepcopy`` copies task data (3.2): each imports ``deepcopy`` by name.
_MODULES = (
    "SpiffWorkflow.bpmn.specs.mixins.subworkflow_task",
    "SpiffWorkflow.bpmn.specs.data_spec",
    "SpiffWorkflow.bpmn.specs.mixins.multiinstance_task",
)


def data_copy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """A deep copy of ``value`` (``copy.deepcopy``'s signature and result)."""
    if memo is not None:  # a caller that shares a memo across calls wants deepcopy's bookkeeping
        return copy.deepcopy(value, memo)
    try:
        return pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))  # noqa: S301
    except Exception:  # not picklable, or too deep for pickle: deepcopy copies it or fails as before
        return copy.deepcopy(value)


def install() -> None:
    """Let SpiffWorkflow copy task data with ``data_copy`` (idempotent)."""
    for name in _MODULES:
        module = importlib.import_module(name)
        if getattr(module, "deepcopy", None) is not copy.deepcopy and module.deepcopy is not data_copy:
            raise RuntimeError(f"{name}.deepcopy is not copy.deepcopy: SpiffWorkflow changed, check datacopy")
        module.deepcopy = data_copy  # type: ignore[attr-defined]


@contextlib.contextmanager
def library_copy() -> Iterator[None]:
    """SpiffWorkflow's own ``copy.deepcopy`` for a while (a benchmark's raw-library baseline)."""
    modules = [importlib.import_module(name) for name in _MODULES]
    before = [module.deepcopy for module in modules]  # type: ignore[attr-defined]
    for module in modules:
        module.deepcopy = copy.deepcopy  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for module, kept in zip(modules, before, strict=True):
            module.deepcopy = kept  # type: ignore[attr-defined]
