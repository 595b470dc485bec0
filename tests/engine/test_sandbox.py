"""Tests for engine.sandbox: normal diagram code runs, escapes are refused, and the time bound holds."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine.errors import KmopError, SandboxError
from engine.sandbox import SandboxedEnvironment, evaluate_expression


def run(script: str, context: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    data = {} if context is None else context
    SandboxedEnvironment(**kwargs).execute(script, data)
    return data


# --- normal use -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "context", "expected"),
    [
        ("amount > 100", {"amount": 150}, True),
        ("amount > 100", {"amount": 50}, False),
        ("(a + b) * 2 - c / 4", {"a": 1, "b": 2, "c": 8}, 4.0),
        ("status == 'approved' and len(items) >= 2", {"status": "approved", "items": [1, 2]}, True),
        ("customer['country'] in ('BE', 'NL')", {"customer": {"country": "BE"}}, True),
        ("sum(x * x for x in values)", {"values": [1, 2, 3]}, 14),
        ("[v for v in values if v % 2]", {"values": [1, 2, 3]}, [1, 3]),
        ("{k: v for k, v in pairs}", {"pairs": [("a", 1)]}, {"a": 1}),
        ("sorted(set(values), reverse=True)[0]", {"values": [3, 1, 3]}, 3),
        ("max(values, key=lambda v: -v)", {"values": [3, 1]}, 1),
        ("f'{amount:,.2f}'", {"amount": 1234.5}, "1,234.50"),
        ("'%s-%03d' % ('nr', 7)", {}, "nr-007"),
        ("2 ** 10 + pow(2, 3) + (1 << 4)", {}, 1048),
        ("[0] * 3 + ['a'] * 2", {}, [0, 0, 0, "a", "a"]),
        ("Decimal('0.10') * 3", {}, Decimal("0.30")),
        ('"P2W"', {}, "P2W"),
        ("date(2026, 1, 1) + timedelta(days=31)", {}, date(2026, 2, 1)),
        (
            "(datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(weeks=6)).isoformat()",
            {},
            "2026-02-12T00:00:00+00:00",
        ),
        ("isinstance(amount, int) and abs(-amount) == amount", {"amount": 3}, True),
        ("getattr(amount, 'real')", {"amount": 3}, 3),
        ("  amount  ", {"amount": 3}, 3),
    ],
)
def test_evaluate_normal_expressions(expression: str, context: dict[str, Any], expected: object) -> None:
    assert SandboxedEnvironment().evaluate(expression, context) == expected


def test_evaluate_does_not_change_the_task_data() -> None:
    context = {"amount": 1}
    SandboxedEnvironment().evaluate("amount + 1", context)
    assert context == {"amount": 1}


def test_evaluate_uses_external_context_with_task_data_taking_precedence() -> None:
    env = SandboxedEnvironment()
    assert env.evaluate("dmninputexpr == 'x'", {}, {"dmninputexpr": "x"}) is True
    assert env.evaluate("a", {"a": "task"}, {"a": "external"}) == "task"


def test_execute_assigns_into_the_task_data_and_leaves_only_data() -> None:
    data = run("total = a + b", {"a": 1, "b": 2})
    assert data == {"a": 1, "b": 2, "total": 3}


def test_execute_supports_container_writes_augmented_assignment_loops_and_functions() -> None:
    script = "\n".join(
        [
            "order['total'] = 0",
            "lines.append({'price': 5})",
            "for line in lines:",
            "    order['total'] = order['total'] + line['price']",
            "count = 0",
            "while count < 5:",
            "    count += 1",
            "text = 'a'",
            "text += 'b'",
            "numbers = [1]",
            "numbers += [2]",
            "numbers *= 2",
            "del order['obsolete']",
            "first, (second, third) = 1, (2, 3)",
            "for key, value in order.items():",
            "    pass",
            "def double(v):",
            "    return v * 2",
            "doubled = [double(n) for n in numbers]",
            "tags = {'x'}",
            "tags |= {'y'}",
            "try:",
            "    ratio = 1 / 0",
            "except (ZeroDivisionError, ValueError):",
            "    ratio = None",
            "print('debug output is collected, not written')",
        ]
    )
    data = run(script, {"order": {"obsolete": True}, "lines": [{"price": 10}]})
    assert data == {
        "order": {"total": 15},
        "lines": [{"price": 10}, {"price": 5}],
        "line": {"price": 5},
        "count": 5,
        "text": "ab",
        "numbers": [1, 2, 1, 2],
        "first": 1,
        "second": 2,
        "third": 3,
        "key": "total",
        "value": 15,
        "doubled": [2, 4, 2, 4],
        "tags": ["x", "y"],  # what the data will be after a save and a load: a list
        "ratio": None,
    }


def test_execute_date_arithmetic() -> None:
    data = run("due = (start + timedelta(weeks=2)).isoformat()", {"start": datetime(2026, 1, 1)})
    assert data["due"] == "2026-01-15T00:00:00"


def test_extra_globals_are_usable_and_removed_from_the_task_data() -> None:
    fixed = datetime(2026, 3, 1, tzinfo=UTC)
    env = SandboxedEnvironment(extra_globals={"now": lambda: fixed, "VAT": 21})
    assert env.evaluate("now().year + VAT", {}) == 2047
    data: dict[str, Any] = {"amount": 100}
    env.execute("with_vat = amount * (100 + VAT) / 100\nstamp = now().isoformat()", data)
    assert data == {"amount": 100, "with_vat": 121.0, "stamp": fixed.isoformat()}


def test_task_data_may_not_overwrite_an_extra_global() -> None:
    env = SandboxedEnvironment(extra_globals={"now": lambda: None})
    with pytest.raises(ValueError, match="overwrites a predefined"):
        env.execute("x = 1", {"now": "a string"})


@pytest.mark.parametrize("isolated", [True, False], ids=["script-host", "in-process"])
def test_context_is_cleaned_even_when_the_script_fails(isolated: bool) -> None:
    data: dict[str, Any] = {"a": 1}
    helper: Any = (
        (lambda: 7) if isolated else len
    )  # a script host takes values, or functions without arguments
    with pytest.raises(ZeroDivisionError):
        SandboxedEnvironment(extra_globals={"helper": helper}, isolated=isolated).execute(
            "b = 2\nc = a / 0", data
        )
    assert data == {"a": 1, "b": 2}


def test_a_helper_that_takes_arguments_cannot_reach_a_script_host() -> None:
    with pytest.raises(SandboxError, match="takes arguments"):
        SandboxedEnvironment(extra_globals={"helper": len}).execute("x = sum([1])", {})


def test_evaluate_expression_works_without_a_task() -> None:
    assert evaluate_expression('"P2W"') == "P2W"
    assert evaluate_expression("amount * 2", {"amount": 4}) == 8
    assert evaluate_expression("now() + 1", extra_globals={"now": lambda: 1}) == 2
    with pytest.raises(SandboxError, match="import"):
        evaluate_expression("__import__('os')")


def test_repeated_evaluation_reuses_the_compiled_code() -> None:
    from engine.sandbox import _compile

    env = SandboxedEnvironment()
    env.evaluate("cache_probe_value > 1", {"cache_probe_value": 2})
    hits = _compile.cache_info().hits
    for _ in range(5):
        env.evaluate("cache_probe_value > 1", {"cache_probe_value": 2})
    assert _compile.cache_info().hits == hits + 5


# --- escapes ----------------------------------------------------------------------------------------

ESCAPES = [
    pytest.param("import os", "import is not allowed", id="import"),
    pytest.param("from os import path", "import is not allowed", id="from-import"),
    pytest.param("__import__('os')", "__import__", id="__import__"),
    pytest.param("open('/etc/passwd')", "open()", id="open"),
    pytest.param("().__class__.__base__.__subclasses__()", "__class__", id="tuple-subclasses"),
    pytest.param("''.__class__.__mro__[1].__subclasses__()", "__class__", id="str-mro-subclasses"),
    pytest.param("(lambda: 0).__globals__", "__globals__", id="function-globals"),
    pytest.param("(x for x in []).gi_frame.f_globals", "gi_frame", id="generator-frame"),
    pytest.param("getattr(1, '__class__')", "'__class__'", id="getattr-dunder"),
    pytest.param("getattr(getattr, '__globals__')", "'__globals__'", id="getattr-globals"),
    pytest.param("getattr((x for x in []), 'gi_frame')", "'gi_frame'", id="getattr-gi_frame"),
    pytest.param('"{0.__class__}".format(1)', "'format'", id="str-format"),
    pytest.param("str.format('{0.__class__}', 1)", "'format'", id="str-format-unbound"),
    pytest.param("'{x.__class__}'.format_map({'x': 1})", "'format_map'", id="str-format_map"),
    pytest.param("getattr('{0.__class__}', 'format')(1)", "'format'", id="getattr-format"),
    pytest.param("eval('1')", "Eval calls", id="eval"),
    pytest.param("exec('x = 1')", "Exec calls", id="exec"),
    pytest.param("compile('1', '', 'eval')", "compile()", id="compile"),
    pytest.param("globals()", "globals()", id="globals"),
    pytest.param("vars()", "vars()", id="vars"),
    pytest.param("locals()", "locals()", id="locals"),
    pytest.param("dir()", "dir()", id="dir"),
    pytest.param("type(1)", "type()", id="type"),
    pytest.param("type('X', (), {})", "type()", id="type-3-args"),
    pytest.param("type(1).__subclasses__()", "__subclasses__", id="type-subclasses"),
    pytest.param("[].__class__", "__class__", id="list-class"),
    pytest.param("Exception.mro()", "'mro'", id="mro"),
    pytest.param("__builtins__", "__builtins__", id="builtins"),
    pytest.param("setattr(d, '__class__', list)", "'__class__'", id="setattr-dunder"),
    pytest.param("delattr(d, '__doc__')", "'__doc__'", id="delattr-dunder"),
    pytest.param("setattr(1, 'real', 2)", "type 'int'", id="setattr-non-container"),
    pytest.param("breakpoint()", "breakpoint", id="breakpoint"),
    pytest.param("help()", "help()", id="help"),
    pytest.param("exit()", "exit()", id="exit"),
    pytest.param("quit()", "quit()", id="quit"),
    pytest.param("input()", "input()", id="input"),
    pytest.param("object()", "object()", id="object"),
    pytest.param("class A:\n    pass", "class definitions", id="class"),
    pytest.param("try:\n    x = 1\nfinally:\n    x = 2", "'finally'", id="finally"),
    pytest.param("try:\n    x = 1\nexcept:\n    x = 2", "bare 'except:'", id="bare-except"),
    pytest.param("try:\n    x = 1\nexcept len([]) or ValueError:\n    x = 2", "except", id="computed-except"),
]


@pytest.mark.parametrize(("source", "named"), ESCAPES)
def test_escape_is_refused_in_a_script(source: str, named: str) -> None:
    data: dict[str, Any] = {"d": {}}
    with pytest.raises(SandboxError) as caught:
        SandboxedEnvironment().execute(source, data)
    message = str(caught.value)
    assert "not allowed" in message or "refused" in message or "reserved" in message
    assert named in message
    assert "__builtins__" not in data
    assert isinstance(caught.value, KmopError)


@pytest.mark.parametrize(
    "expression",
    ["__import__('os')", "().__class__", "getattr(1, '__class__')", '"{0.__class__}".format(1)', "open('x')"],
)
def test_escape_is_refused_in_an_expression(expression: str) -> None:
    with pytest.raises(SandboxError, match="not allowed|refused"):
        SandboxedEnvironment().evaluate(expression, {})


def test_string_module_and_formatter_are_not_reachable() -> None:
    with pytest.raises(NameError):
        evaluate_expression("string.Formatter().format('{0.__class__}', 1)")


# --- time and size bounds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "script",
    [
        pytest.param("while True: pass", id="one-line-loop"),
        pytest.param("n = 0\nwhile True:\n    n += 1", id="counting-loop"),
        pytest.param("try:\n    while 1: pass\nexcept Exception:\n    x = 1\nwhile 1: pass", id="caught"),
        pytest.param("def g():\n    while True:\n        yield 1\nsum(g())", id="generator"),
        pytest.param("def f(n):\n    return f(n - 1) + f(n - 1) if n else 1\nf(60)", id="recursion"),
        pytest.param("x = [i for i in range(10**6) for j in range(10**6)]", id="comprehension"),
    ],
)
def test_long_running_script_is_stopped(script: str) -> None:
    tracer_before = sys.gettrace()
    with pytest.raises(SandboxError, match=r"exceeded the time limit of 0\.5 s"):
        SandboxedEnvironment(timeout_seconds=0.5).execute(script, {})
    assert sys.gettrace() is tracer_before


def test_long_running_expression_is_stopped() -> None:
    with pytest.raises(SandboxError, match="time limit"):
        evaluate_expression("sum(1 for i in range(10**6) for j in range(10**6))", timeout_seconds=0.3)


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("sum(range(10**12))", "range()"),
        ("list(range(0, 10**15, 2))", "range()"),
        ("10**10**10", "integer power"),
        ("pow(10, 10**10)", "integer power"),
        ("x = 10\nx **= 10**10", "integer power"),
        ("'a' * 10**10", "repeated sequence"),
        ("[0] * 10**10", "repeated sequence"),
        ("x = [0]\nx *= 10**10", "repeated sequence"),
        ("1 << 10**10", "integer shift"),
        ("x = 10**200000\ny = x * x", "integer product"),
    ],
)
def test_huge_c_level_operation_is_refused(source: str, named: str) -> None:
    with pytest.raises(SandboxError, match="not allowed") as caught:
        SandboxedEnvironment().execute(source, {})
    assert named in str(caught.value)


def test_small_powers_and_repetitions_still_work() -> None:
    assert evaluate_expression("(-1) ** (10**12) + 0 ** 5 + pow(3, 10**12, 7) + 2 ** -1") == 5.5


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SandboxedEnvironment(timeout_seconds=0)


# --- errors of the diagram code keep their type --------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("x = 1 / 0", ZeroDivisionError),
        ("x = missing + 1", NameError),
        ("x = d['nope']", KeyError),
        ("x = int('abc')", ValueError),
        ("x = getattr(1, 'nope')", AttributeError),
        ("x = 1 +", SyntaxError),
    ],
)
def test_runtime_errors_keep_their_type(source: str, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        SandboxedEnvironment().execute(source, {"d": {}})
    assert not isinstance(caught.value, SandboxError)


def test_expression_errors_keep_their_type() -> None:
    with pytest.raises(ZeroDivisionError):
        evaluate_expression("1 / zero", {"zero": 0})
    with pytest.raises(NameError):
        evaluate_expression("undefined_name > 3")


# --- inside SpiffWorkflow ---------------------------------------------------------------------------

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
                  id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="sandbox_demo" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="compute" name="Compute">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="decide" default="low"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>high</bpmn:outgoing><bpmn:outgoing>low</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:endEvent id="end_high"><bpmn:incoming>high</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end_low"><bpmn:incoming>low</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="compute" />
    <bpmn:sequenceFlow id="f2" sourceRef="compute" targetRef="decide" />
    <bpmn:sequenceFlow id="high" sourceRef="decide" targetRef="end_high">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">total &gt; 100</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="low" sourceRef="decide" targetRef="end_low" />
  </bpmn:process>
</bpmn:definitions>
"""


def make_workflow(script: str) -> BpmnWorkflow:
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(BPMN.replace("{script}", script).encode())
    spec = parser.get_spec("sandbox_demo")
    engine = PythonScriptEngine(environment=SandboxedEnvironment())
    return BpmnWorkflow(spec, script_engine=engine)


def test_workflow_runs_script_and_gateway_condition_in_the_sandbox() -> None:
    workflow = make_workflow("items = [60, 70]\ntotal = 0\nfor item in items:\n    total += item")
    workflow.do_engine_steps()
    assert workflow.completed
    completed = {t.task_spec.name for t in workflow.get_tasks(state=TaskState.COMPLETED)}
    assert "end_high" in completed
    assert "end_low" not in completed
    compute = next(t for t in workflow.get_tasks() if t.task_spec.name == "compute")
    assert compute.data == {"items": [60, 70], "item": 70, "total": 130}


def test_workflow_with_an_import_in_a_script_task_fails_with_a_sandbox_error() -> None:
    workflow = make_workflow("import os\ntotal = 1")
    with pytest.raises(Exception) as caught:
        workflow.do_engine_steps()
    chain: list[BaseException] = []
    error: BaseException | None = caught.value
    while error is not None and len(chain) < 10:
        chain.append(error)
        error = error.__cause__ or error.__context__
    sandbox_errors = [e for e in chain if isinstance(e, SandboxError)]
    assert sandbox_errors, f"no SandboxError in {chain!r}"
    assert "import is not allowed" in str(sandbox_errors[0])
    assert not workflow.completed
