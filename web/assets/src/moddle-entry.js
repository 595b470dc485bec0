// bpmn-moddle on its own, bundled into web/static/vendor/modeler/bpmn-moddle.bundle.js: it reads and writes
// BPMN XML without a DOM, so tests/js can check kmop's moddle extension against the very code the page runs.
export { BpmnModdle } from "bpmn-moddle";
export { default as bpmnPackage } from "bpmn-moddle/resources/bpmn/json/bpmn.json";
