// What the modeler knows about kmop's diagrams: operators and their parameters, properties, decisions,
// durations, timers and where problems are pinned.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  choices,
  decisionIds,
  describeTimer,
  findExtension,
  isIsoDuration,
  operatorParameters,
  pinProblems,
  planParameters,
  propertyValue,
  schemaError,
  timerOf,
} from "../../web/static/modeler/kmop-model.js";

const userTask = {
  extensionElements: {
    values: [
      {
        $type: "spiffworkflow:Properties",
        properties: [
          { name: "formJsonSchemaFilename", value: "declaration.json" },
          { name: "due", value: "P2W" },
        ],
      },
    ],
  },
};

const serviceTask = {
  extensionElements: {
    values: [
      {
        $type: "spiffworkflow:ServiceTaskOperator",
        id: "notify_provider",
        parameterList: {
          parameters: [
            { id: "template", type: "any", value: '"audit_reminder"' },
            { id: "legacy", type: "any", value: "old" },
          ],
        },
      },
    ],
  },
};

test("properties and operator parameters are read from the extension elements", () => {
  assert.equal(propertyValue(userTask, "due"), "P2W");
  assert.equal(propertyValue(userTask, "formJsonSchemaFilename"), "declaration.json");
  assert.equal(propertyValue(userTask, "validator"), "");
  assert.equal(propertyValue({}, "due"), "");
  assert.equal(findExtension(serviceTask, "spiffworkflow:Properties"), undefined);
  assert.deepEqual(operatorParameters(serviceTask).map((p) => p.id), ["template", "legacy"]);
  assert.deepEqual(operatorParameters({}), []);
});

test("choosing an operator lists its parameters in its order and keeps the values filled in", () => {
  const operator = { name: "notify_provider", parameters: ["email", "template"], accepts_any: false };
  assert.deepEqual(planParameters(operatorParameters(serviceTask), operator), [
    { id: "email", type: "any", value: "" },
    { id: "template", type: "any", value: '"audit_reminder"' },
  ]);
});

test("an operator that accepts any keyword keeps the parameters it does not name", () => {
  const operator = { name: "notify_provider", parameters: ["template"], accepts_any: true };
  assert.deepEqual(planParameters(operatorParameters(serviceTask), operator).map((p) => p.id), ["template", "legacy"]);
  assert.deepEqual(planParameters([{ id: "x", value: "1" }], undefined), [{ id: "x", value: "1" }]);
});

test("select options: none first, an unknown current value kept and marked", () => {
  assert.deepEqual(choices(["a.json"], "", "(geen)"), [
    { value: "", label: "(geen)" },
    { value: "a.json", label: "a.json" },
  ]);
  assert.deepEqual(choices(["a.json"], "gone.json", "-").at(-1), { value: "gone.json", label: "gone.json (?)" });
});

test("decision ids come from the DMN files of the draft", () => {
  const dmn = `<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/">
    <decision id="audit_outcome" name="Auditresultaat"><decisionTable id="t"/></decision>
    <dmn:decision name="x" id="registration_route"></dmn:decision><decisionService id="no"/></definitions>`;
  assert.deepEqual(decisionIds(dmn), ["audit_outcome", "registration_route"]);
});

test("a due date is an ISO 8601 duration", () => {
  for (const good of ["P2W", "P5D", "P1Y2M", "PT12H", "P1DT2H30M", "PT0.5S"]) assert.ok(isIsoDuration(good), good);
  for (const bad of ["", "P", "PT", "2W", '"P2W"', "P2W3", "p2w", "P1DT"]) assert.ok(!isIsoDuration(bad), bad);
});

test("a timer's kind and expression; the server's answer worded for the panel", () => {
  assert.deepEqual(timerOf({ timeDuration: { body: '"P4W"' } }), { kind: "timeDuration", expression: '"P4W"' });
  assert.deepEqual(timerOf({ timeDate: { body: undefined } }), { kind: "timeDate", expression: "" });
  assert.equal(timerOf({}), null);
  const texts = { timer_now: "Nu", timer_moment: "valt op", timer_error: "fout" };
  assert.deepEqual(describeTimer({ ok: true, now_text: "5 december 2026 om 03:00", moment_text: "26 december 2026 om 03:00" }, texts), {
    text: "Nu 5 december 2026 om 03:00: valt op 26 december 2026 om 03:00",
    error: false,
  });
  assert.deepEqual(describeTimer({ ok: false, message: "name 'P3W' is not defined" }, texts), {
    text: "name 'P3W' is not defined",
    error: true,
  });
  assert.deepEqual(describeTimer({ ok: false, message: null }, texts), { text: "fout", error: true });
});

test("problems on elements of the main diagram are pinned; the rest only listed", () => {
  const problems = [
    { file: "registration.bpmn", element: "report_after_4_weeks", message: "timer: name 'P3W' is not defined" },
    { file: "registration.bpmn", element: "report_after_4_weeks", message: "second" },
    { file: "registration.bpmn", element: "gone", message: "no such element on the canvas" },
    { file: "registration.bpmn", element: null, message: "whole file" },
    { file: "audit_outcome.dmn", element: "audit_outcome", message: "in a DMN file" },
  ];
  const { pinned, loose } = pinProblems(problems, "registration.bpmn", (id) => id === "report_after_4_weeks");
  assert.deepEqual([...pinned], [["report_after_4_weeks", ["timer: name 'P3W' is not defined", "second"]]]);
  assert.deepEqual(loose.map((p) => p.message), ["no such element on the canvas", "whole file", "in a DMN file"]);
});

test("a form schema must be a JSON object", () => {
  assert.equal(schemaError('{"type": "object"}'), null);
  assert.equal(schemaError("[]"), "not an object");
  assert.match(schemaError('{"type": '), /JSON/);
});
