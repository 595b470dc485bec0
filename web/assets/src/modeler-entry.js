// The one module esbuild bundles into web/static/vendor/modeler/modeler.bundle.js.
// It only re-exports what kmop's own scripts in web/static/modeler/ use, so those stay plain ES modules
// that need no build step (they import this bundle by a relative URL).
export { default as BpmnModeler } from "bpmn-js/lib/Modeler";
export { BpmnModdle } from "bpmn-moddle";
export { default as bpmnPackage } from "bpmn-moddle/resources/bpmn/json/bpmn.json";
export { is, isAny, getBusinessObject } from "bpmn-js/lib/util/ModelUtil";
export { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, useService } from "bpmn-js-properties-panel";
export {
  Group,
  SelectEntry,
  TextFieldEntry,
  isSelectEntryEdited,
  isTextFieldEntryEdited,
} from "@bpmn-io/properties-panel";
export { h } from "@bpmn-io/properties-panel/preact";
export { useEffect, useRef, useState } from "@bpmn-io/properties-panel/preact/hooks";
export { default as DmnModeler } from "dmn-js/lib/Modeler";
export { EditorView, basicSetup } from "codemirror";
export { python } from "@codemirror/lang-python";
export { json } from "@codemirror/lang-json";
