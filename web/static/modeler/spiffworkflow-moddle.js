// The moddle extension for xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core": the
// extension elements SpiffWorkflow (and so kmop's engine) reads. With it bpmn-js keeps them as typed
// objects the properties panel can edit; tests/js/moddle.test.mjs checks that nothing is lost on export.
const attr = (name) => ({ name, isAttr: true, type: "String" });
const body = (name) => ({ name, isBody: true, type: "String" });
const element = (name, ...properties) => ({ name, superClass: ["Element"], properties });

export const spiffworkflowDescriptor = {
  name: "SpiffWorkflow",
  uri: "http://spiffworkflow.org/bpmn/schema/1.0/core",
  prefix: "spiffworkflow",
  xml: { tagAlias: "lowerCase" },
  associations: [],
  types: [
    // <spiffworkflow:serviceTaskOperator id="notify_provider" resultVariable="reminder">
    element(
      "ServiceTaskOperator",
      attr("id"),
      attr("resultVariable"),
      { name: "parameterList", type: "Parameters" },
      { name: "retry", type: "Retry" },
    ),
    element("Parameters", { name: "parameters", type: "Parameter", isMany: true }),
    element("Parameter", attr("id"), attr("type"), attr("value")),
    element("Retry", attr("retries"), attr("backoff_base")),
    // <spiffworkflow:properties><spiffworkflow:property name="due" value="P2W" />
    element("Properties", { name: "properties", type: "Property", isMany: true }),
    element("Property", attr("name"), attr("value")),
    element("CalledDecisionId", body("value")),
    element("PreScript", body("value")),
    element("PostScript", body("value")),
    element("MessageVariable", body("value")),
    element("MessagePayload", body("value")),
    element("TaskMetadataValues", { name: "values", type: "TaskMetadataValue", isMany: true }),
    element("TaskMetadataValue", attr("name"), attr("value")),
  ],
  enumerations: [],
};

// SpiffWorkflow reads <bpmn:loopDataInputRef>services</bpmn:loopDataInputRef> as the name of a process
// variable, where BPMN expects the id of a data element: read as a reference the name would not resolve
// and be dropped on export. This copy of the BPMN package keeps both as plain text.
const VARIABLE_REFS = ["loopDataInputRef", "loopDataOutputRef"];

export function bpmnWithVariableRefs(bpmnPackage) {
  const copy = structuredClone(bpmnPackage);
  const loop = copy.types.find((type) => type.name === "MultiInstanceLoopCharacteristics");
  loop.properties = loop.properties.map((property) =>
    VARIABLE_REFS.includes(property.name) ? { name: property.name, type: "String" } : property,
  );
  return copy;
}

/** Return the moddle extensions kmop's modeler and tests use (pass the bundle's bpmnPackage). */
export function kmopModdleExtensions(bpmnPackage) {
  return { bpmn: bpmnWithVariableRefs(bpmnPackage), spiffworkflow: spiffworkflowDescriptor };
}
