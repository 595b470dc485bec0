"""``engine.datacopy``: the copy SpiffWorkflow makes of task data equals ``copy.deepcopy``'s and shares
no container with the original; what pickle cannot take is copied by ``deepcopy`` as before."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine import datacopy
from engine.datacopy import data_copy

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=5),
    max_leaves=40,
)


def containers(value: Any) -> list[Any]:
    """Every dict and list inside ``value`` (itself included)."""
    found, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            found.append(item)
            stack.extend(item)
    return found


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_a_copy_equals_deepcopys_and_shares_no_container(value: Any) -> None:
    copied = data_copy(value)
    assert copied == copy.deepcopy(value)
    mine = {id(c) for c in containers(value)}
    assert not mine & {id(c) for c in containers(copied)}


def test_values_that_are_not_json_are_deep_copied_as_before() -> None:
    when = datetime(2026, 3, 5, 9, 30, tzinfo=UTC)
    value = {"at": when, "day": date(2026, 3, 5), "amount": Decimal("12.50"), "tags": {"a", "b"}}
    value["t"] = (1, [2])
    copied = data_copy(value)
    assert copied == value
    assert copied["tags"] is not value["tags"]
    assert copied["t"][1] is not value["t"][1]


def test_a_value_that_contains_itself_is_copied_the_way_deepcopy_copies_it() -> None:
    loop: dict[str, Any] = {"name": "loop"}
    loop["self"] = loop
    copied = data_copy(loop)
    assert copied is not loop
    assert copied["self"] is copied


def test_what_pickle_cannot_take_is_deep_copied_as_before() -> None:
    value = {"check": lambda x: x > 1, "items": [1, 2]}
    copied = data_copy(value)
    assert copied["check"] is value["check"]  # deepcopy keeps a function as it is
    assert copied["items"] == [1, 2] and copied["items"] is not value["items"]


def test_a_container_shared_inside_the_value_stays_shared_in_the_copy_as_with_deepcopy() -> None:
    shared = [1, 2]
    copied = data_copy({"a": shared, "b": shared})
    assert copied["a"] is copied["b"] and copied["a"] is not shared


def test_mutating_the_copy_leaves_the_original_alone() -> None:
    original = {"items": [{"n": 1, "tags": ["x"]}], "count": 1}
    copied = data_copy(original)
    copied["items"][0]["tags"].append("y")
    copied["items"].append({"n": 2})
    assert original == {"items": [{"n": 1, "tags": ["x"]}], "count": 1}


def test_spiffworkflow_copies_task_data_with_it() -> None:
    import SpiffWorkflow.bpmn.specs.data_spec as data_spec
    import SpiffWorkflow.bpmn.specs.mixins.multiinstance_task as multiinstance_task
    import SpiffWorkflow.bpmn.specs.mixins.subworkflow_task as subworkflow_task

    datacopy.install()  # idempotent: the engine installed it when it was imported
    for module in (subworkflow_task, data_spec, multiinstance_task):
        assert module.deepcopy is data_copy  # type: ignore[attr-defined]
