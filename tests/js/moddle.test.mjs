// The spiffworkflow moddle extension: every extension element of kmop's diagrams survives import + export,
// as a typed object (not a generic one) the properties panel can edit.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { BpmnModdle, bpmnPackage } from "../../web/static/vendor/modeler/bpmn-moddle.bundle.js";
import { kmopModdleExtensions } from "../../web/static/modeler/spiffworkflow-moddle.js";

const root = new URL("../../", import.meta.url);
const moddle = () => new BpmnModdle(kmopModdleExtensions(bpmnPackage));

// Each <spiffworkflow:...> start tag with its attributes sorted, plus element bodies: what must survive.
function extensionElements(xml) {
  const found = [];
  const tag = /<spiffworkflow:(\w+)((?:\s+[\w:]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>([^<]*)/g;
  for (const [, name, attrs, selfClosing, text] of xml.matchAll(tag)) {
    const pairs = [...attrs.matchAll(/([\w:]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)]
      .map(([, key, double, single]) => `${key}=${unescape(double ?? single)}`)
      .sort();
    found.push(`${name}(${pairs.join(",")})${selfClosing ? "" : unescape(text.trim())}`);
  }
  return found.sort();
}

const ENTITIES = { quot: '"', apos: "'", lt: "<", gt: ">", amp: "&" };

function unescape(text) {
  return text.replace(/&(#x?)?(\w+);/g, (_, number, name) =>
    number ? String.fromCodePoint(Number.parseInt(name, number === "#x" ? 16 : 10)) : ENTITIES[name],
  );
}

// Extension elements moddle kept only as generic XML (their type missing from the descriptor), by $type.
function genericElements(node, found = []) {
  if (Array.isArray(node)) node.forEach((child) => genericElements(child, found));
  else if (node && typeof node === "object" && node.$type) {
    if (node.$descriptor?.isGeneric) found.push(node.$type);
    for (const [key, value] of Object.entries(node)) if (!key.startsWith("$")) genericElements(value, found);
  }
  return found;
}

async function roundTrip(xml) {
  const { rootElement, warnings } = await moddle().fromXML(xml, "bpmn:Definitions");
  assert.deepEqual(warnings.map((w) => w.message), []);
  const { xml: exported } = await moddle().toXML(rootElement, { format: true });
  return { rootElement, exported };
}

const diagrams = readdirSync(new URL("bpmn/", root)).filter((name) => name.endsWith(".bpmn"));
const fixtures = readdirSync(new URL("tests/js/fixtures/", root)).filter((name) => name.endsWith(".bpmn"));

for (const path of [...diagrams.map((n) => `bpmn/${n}`), ...fixtures.map((n) => `tests/js/fixtures/${n}`)]) {
  test(`${path}: every spiffworkflow extension element survives import and export`, async () => {
    const original = readFileSync(new URL(path, root), "utf8");
    const { rootElement, exported } = await roundTrip(original);
    assert.ok(extensionElements(original).length > 0, "the file has extension elements to check");
    assert.deepEqual(extensionElements(exported), extensionElements(original));
    assert.deepEqual(genericElements(rootElement), [], "every extension element has a type in the descriptor");
    const again = await roundTrip(exported);
    assert.equal(again.exported, exported, "a second round trip changes nothing");
  });
}

test("registration.bpmn: the extension elements are typed, not generic", async () => {
  const { rootElement } = await roundTrip(readFileSync(new URL("bpmn/registration.bpmn", root), "utf8"));
  const process = rootElement.rootElements.find((e) => e.id === "registration");
  const byId = Object.fromEntries(process.flowElements.map((e) => [e.id, e]));

  const [operator] = byId.eligibility_check.extensionElements.values;
  assert.equal(operator.$type, "spiffworkflow:ServiceTaskOperator");
  assert.equal(operator.id, "check_eligibility");
  assert.equal(operator.resultVariable, "eligibility");
  assert.deepEqual(operator.parameterList.parameters.map((p) => [p.id, p.type, p.value]), [
    ["enterprise_number", "any", "enterprise_number"],
    ["company_name", "any", "company_name"],
    ["services", "any", "services"],
  ]);

  const [properties] = byId.sign_declaration.extensionElements.values;
  assert.equal(properties.$type, "spiffworkflow:Properties");
  assert.deepEqual(properties.properties.map((p) => [p.name, p.value]), [
    ["formJsonSchemaFilename", "declaration.json"],
    ["due", "P2W"],
  ]);

  const [decision] = byId.decide_outcome.extensionElements.values;
  assert.equal(decision.$type, "spiffworkflow:CalledDecisionId");
  assert.equal(decision.value, "audit_outcome");
});

test("registration.bpmn: the multi-instance keeps its collection variables (names, not ids)", async () => {
  const { exported } = await roundTrip(readFileSync(new URL("bpmn/registration.bpmn", root), "utf8"));
  assert.match(exported, /<bpmn:loopDataInputRef>services<\/bpmn:loopDataInputRef>/);
  assert.match(exported, /<bpmn:loopDataOutputRef>declarations<\/bpmn:loopDataOutputRef>/);
});

test("a new extension element is written in the namespace SpiffWorkflow reads", async () => {
  const m = moddle();
  const operator = m.create("spiffworkflow:ServiceTaskOperator", {
    id: "notify_provider",
    resultVariable: "mail",
    parameterList: m.create("spiffworkflow:Parameters", {
      parameters: [m.create("spiffworkflow:Parameter", { id: "template", type: "any", value: '"x"' })],
    }),
  });
  const task = m.create("bpmn:ServiceTask", {
    id: "t",
    extensionElements: m.create("bpmn:ExtensionElements", { values: [operator] }),
  });
  const process = m.create("bpmn:Process", { id: "p", flowElements: [task] });
  const definitions = m.create("bpmn:Definitions", { id: "d", targetNamespace: "x", rootElements: [process] });
  const { xml } = await m.toXML(definitions);
  assert.match(xml, /xmlns:spiffworkflow="http:\/\/spiffworkflow\.org\/bpmn\/schema\/1\.0\/core"/);
  assert.match(xml, /<spiffworkflow:serviceTaskOperator id="notify_provider" resultVariable="mail">/);
  assert.match(xml, /<spiffworkflow:parameters><spiffworkflow:parameter id="template" type="any" value="&#34;x&#34;" \/>/);
});
