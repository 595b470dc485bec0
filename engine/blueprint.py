"""Give every workflow its own copy of its version's spec, wired as SpiffWorkflow's deserializer wires it.

SpiffWorkflow changes a parsed spec while a workflow runs. In 3.2 (read in its source):

- ``LoopTask.create_child`` (multi-instance and standard loops) connects the child spec's
  ``completed_event`` to ``merge_child`` the first time it creates a child;
- ``BpmnStartTask.trigger_wf`` connects Start -> event subprocess -> End when a signal, message or other
  event starts an event subprocess;
- ``AdHocSubprocessSpec.add_path`` connects Start -> a conditional path when it starts one;
- the Camunda multi-instance specs rewrite their data references (kmop parses with the Spiff parser and
  never builds those).

The library's own serializer stores the whole spec with each workflow, so these changes survive a
restart, and its deserializer wires the callbacks again on load (``merge_child``, ad-hoc
``path_complete``). kmop stores no spec with an instance, so it does the same by construction:

- A ``Blueprint`` is made once per process version, from a spec that went through the library's own
  ``to_dict``/``from_dict``: it is wired exactly as the deserializer wires a spec. It keeps that spec as
  pickled bytes, one blob per process spec, and never hands out a live object of its own.
- Each workflow gets fresh objects from those bytes (``instantiate``): no instance ever sees another
  instance's run-time changes. Called processes and subprocesses are unpickled when first used.
- After each run, ``changes`` compares the workflow's specs with the blueprint's connections; the
  differences are stored with the instance and applied again on load, which is what the library's
  serializer achieves by storing the whole spec.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Mapping
from typing import Any

from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.event import Event

TOP = ""  # the key of the process's own spec in stored changes; called processes go by their name

# The library's converters for specs (the same configuration the workflow state is stored with).
_SPEC_REGISTRY = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)

Wiring = dict[str, tuple[tuple[str, ...], tuple[str, ...]]]  # task spec name -> (inputs, outputs)
Changes = dict[str, dict[str, list[list[str]]]]  # spec key -> task spec name -> [inputs, outputs]


class SpecChangeError(RuntimeError):
    """A run changed a spec in a way kmop cannot store with the instance (a task spec added or removed)."""


def _deserialized(spec: Any) -> Any:
    """The spec after a round trip through the library's own serializer."""
    return _SPEC_REGISTRY.restore(_SPEC_REGISTRY.convert(spec))


def wiring_of(spec: Any) -> Wiring:
    return {name: (tuple(ts._inputs), tuple(ts._outputs)) for name, ts in spec.task_specs.items()}


class Blueprint:
    """One process version's specs as bytes; ``instantiate`` makes fresh objects for one workflow."""

    def __init__(self, spec: Any, subprocess_specs: dict[str, Any]) -> None:
        top = _deserialized(spec)
        subs = {name: _deserialized(sp) for name, sp in subprocess_specs.items()}
        self.name: str = top.name
        self.start_properties: dict[str, Any] = {}  # of the plain start event (start form, validator)
        self._blobs: dict[str, bytes] = {TOP: pickle.dumps(top, protocol=pickle.HIGHEST_PROTOCOL)}
        self._blobs.update({n: pickle.dumps(sp, protocol=pickle.HIGHEST_PROTOCOL) for n, sp in subs.items()})
        self._wiring: dict[str, Wiring] = {TOP: wiring_of(top)}
        self._wiring.update({n: wiring_of(sp) for n, sp in subs.items()})

    @property
    def size(self) -> int:
        """Bytes kept for this version."""
        return sum(len(b) for b in self._blobs.values())

    def instantiate(self, changes: Changes | None = None) -> tuple[Any, SubprocessSpecs]:
        """Fresh spec objects for one workflow, with the run-time changes it stored applied."""
        changes = changes or {}
        top = self._load(TOP, changes)
        return top, SubprocessSpecs(self, changes)

    def _load(self, key: str, changes: Changes) -> Any:
        spec = pickle.loads(self._blobs[key])
        for name, (inputs, outputs) in changes.get(key, {}).items():
            task_spec = spec.task_specs.get(name)
            if task_spec is None:
                raise SpecChangeError(f"stored spec change names '{name}', which {key or self.name} lacks")
            task_spec._inputs = list(inputs)
            task_spec._outputs = list(outputs)
        return spec

    def changes(self, spec: Any, subprocess_specs: Mapping[str, Any]) -> Changes:
        """How the workflow's specs differ from this blueprint: the changes to store with the instance."""
        found: Changes = {}
        if isinstance(subprocess_specs, SubprocessSpecs):
            loaded = subprocess_specs.loaded()
        else:
            loaded = dict(subprocess_specs)
        for key, live in [(TOP, spec), *loaded.items()]:
            base = self._wiring.get(key)
            if base is None:
                raise SpecChangeError(f"a run added the spec '{key}', which {self.name} does not have")
            if len(live.task_specs) != len(base) or any(n not in base for n in live.task_specs):
                raise SpecChangeError(f"a run added or removed task specs of '{key or self.name}'")
            diff = {
                name: [list(ts._inputs), list(ts._outputs)]
                for name, ts in live.task_specs.items()
                if (tuple(ts._inputs), tuple(ts._outputs)) != base[name]
            }
            if diff:
                found[key] = diff
        return found

    def verify(self, spec: Any, subprocess_specs: Mapping[str, Any], changes: Changes) -> None:
        """Check that this blueprint with ``changes`` rebuilds the workflow's specs exactly: every attribute
        the library serializes and every callback it wires. Raise ``SpecChangeError`` naming what differs.
        Costly: the replay mode runs it after every run, so that a run-time change kmop does not store
        fails the test suite instead of a case after a restart."""
        fresh, fresh_subs = self.instantiate(changes)
        if isinstance(subprocess_specs, SubprocessSpecs):
            loaded = subprocess_specs.loaded()
        else:
            loaded = dict(subprocess_specs)
        for key, live in [(TOP, spec), *loaded.items()]:
            rebuilt = fresh if key == TOP else fresh_subs[key]
            if _SPEC_REGISTRY.convert(live) != _SPEC_REGISTRY.convert(rebuilt):
                raise SpecChangeError(f"the stored changes do not rebuild '{key or self.name}' as it ran")
            if _callbacks(live) != _callbacks(rebuilt):
                raise SpecChangeError(f"a run connected callbacks in '{key or self.name}' that a load lacks")


def _callbacks(spec: Any) -> dict[str, list[int]]:
    """How many callbacks each event of each task spec has."""
    counts: dict[str, list[int]] = {}
    for name, task_spec in spec.task_specs.items():
        events = [v for v in vars(task_spec).values() if isinstance(v, Event)]
        counts[name] = [event.n_subscribers() for event in events]
    return counts


class SubprocessSpecs(Mapping[str, Any]):
    """A workflow's called-process and subprocess specs, each unpickled when first asked for."""

    def __init__(self, blueprint: Blueprint, changes: Changes) -> None:
        self._blueprint = blueprint
        self._changes = changes
        self._names = [k for k in blueprint._blobs if k != TOP]
        self._loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        found = self._loaded.get(name)
        if found is None:
            if name not in self._blueprint._blobs or name == TOP:
                raise KeyError(name)
            found = self._loaded[name] = self._blueprint._load(name, self._changes)
        return found

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name != TOP and name in self._blueprint._blobs

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def loaded(self) -> dict[str, Any]:
        """The specs unpickled so far (the others are as the blueprint has them)."""
        return dict(self._loaded)
