// kmop's properties provider: on top of the standard BPMN groups, choices where kmop knows the answer
// (operators and their parameters, form files, decisions), a due date, the moment a timer computes to,
// and code editors for scripts and conditions. Services it needs: kmopCatalog {operators, forms,
// decisions(), texts, urls} and kmopPost(url, body) (registered by editor.js).
import {
  Group,
  SelectEntry,
  TextFieldEntry,
  getBusinessObject,
  h,
  is,
  isAny,
  isSelectEntryEdited,
  isTextFieldEntryEdited,
  useEffect,
  useService,
  useState,
} from "../vendor/modeler/modeler.bundle.js";
import { CodeEntry } from "./code-editor.js";
import {
  choices,
  describeTimer,
  findExtension,
  isIsoDuration,
  operatorParameters,
  planParameters,
  propertyValue,
  timerOf,
} from "./kmop-model.js";

const OPERATOR = "spiffworkflow:ServiceTaskOperator";
const PROPERTIES = "spiffworkflow:Properties";

// --- changing extension elements (each change is one undoable command) ---------------------------------

function useUpdater(element) {
  const commandStack = useService("commandStack");
  const bpmnFactory = useService("bpmnFactory");
  const update = (moddleElement, properties) => ({
    cmd: "element.updateModdleProperties",
    context: { element, moddleElement, properties },
  });
  const run = (commands) => commandStack.execute("properties-panel.multi-command-executor", commands);
  const create = (type, attrs) => bpmnFactory.create(type, attrs);

  /** Return the commands that put `value` (a new extension element) on `host`, replacing one of its type. */
  const putExtension = (host, value) => {
    const existing = host.extensionElements;
    if (!existing) return [update(host, { extensionElements: create("bpmn:ExtensionElements", { values: [value] }) })];
    const values = existing.values.filter((v) => v.$type !== value.$type);
    return [update(existing, { values: [...values, value] })];
  };
  return { update, run, create, putExtension };
}

function setProperty(updater, bo, name, value) {
  const { update, run, create, putExtension } = updater;
  const holder = findExtension(bo, PROPERTIES);
  const kept = (holder?.properties || []).filter((property) => property.name !== name);
  const current = (holder?.properties || []).find((property) => property.name === name);
  if (current && value) return run([update(current, { value })]);
  const properties = value ? [...kept, create("spiffworkflow:Property", { name, value })] : kept;
  if (holder) return run([update(holder, { properties })]);
  if (value) run(putExtension(bo, create(PROPERTIES, { properties })));
}

function setOperator(updater, bo, changes, parameters) {
  const { update, run, create, putExtension } = updater;
  const operator = findExtension(bo, OPERATOR);
  const list = parameters && create("spiffworkflow:Parameters", {
    parameters: parameters.map((p) => create("spiffworkflow:Parameter", p)),
  });
  const properties = list ? { ...changes, parameterList: list } : changes;
  if (operator) return run([update(operator, properties)]);
  run(putExtension(bo, create(OPERATOR, properties)));
}

// --- entries ----------------------------------------------------------------------------------------------

function OperatorEntry({ element, id }) {
  const { operators, texts } = useService("kmopCatalog");
  const updater = useUpdater(element);
  const bo = getBusinessObject(element);
  const current = findExtension(bo, OPERATOR)?.id || "";
  return h(SelectEntry, {
    element,
    id,
    label: texts.operator,
    description: operators.find((o) => o.name === current)?.description,
    getValue: () => current,
    getOptions: () => choices(operators.map((o) => o.name), current, texts.none),
    setValue: (name) => {
      const chosen = operators.find((o) => o.name === name);
      setOperator(updater, bo, { id: name || undefined }, planParameters(operatorParameters(bo), chosen));
    },
  });
}

function ParameterEntry({ element, id, name }) {
  const { operators, texts } = useService("kmopCatalog");
  const debounce = useService("debounceInput");
  const updater = useUpdater(element);
  const bo = getBusinessObject(element);
  const chosen = operators.find((o) => o.name === findExtension(bo, OPERATOR)?.id);
  return h(TextFieldEntry, {
    element,
    id,
    label: `${name} — ${texts.value_of}`,
    debounce,
    getValue: () => operatorParameters(bo).find((p) => p.id === name)?.value || "",
    setValue: (value) => {
      const parameters = planParameters(operatorParameters(bo), chosen);
      const planned = parameters.some((p) => p.id === name) ? parameters : [...parameters, { id: name, type: "any", value: "" }];
      setOperator(updater, bo, {}, planned.map((p) => (p.id === name ? { ...p, value: value || "" } : p)));
    },
  });
}

function ResultVariableEntry({ element, id }) {
  const { texts } = useService("kmopCatalog");
  const debounce = useService("debounceInput");
  const updater = useUpdater(element);
  const bo = getBusinessObject(element);
  return h(TextFieldEntry, {
    element,
    id,
    label: texts.result_variable,
    debounce,
    getValue: () => findExtension(bo, OPERATOR)?.resultVariable || "",
    setValue: (value) => setOperator(updater, bo, { resultVariable: value || undefined }),
  });
}

function PropertySelectEntry({ element, id, name, label, options }) {
  const { texts } = useService("kmopCatalog");
  const updater = useUpdater(element);
  const bo = getBusinessObject(element);
  return h(SelectEntry, {
    element,
    id,
    label,
    getValue: () => propertyValue(bo, name),
    getOptions: () => choices(options, propertyValue(bo, name), texts.none),
    setValue: (value) => setProperty(updater, bo, name, value),
  });
}

function FormEntry(props) {
  const { forms, texts } = useService("kmopCatalog");
  return h(PropertySelectEntry, { ...props, name: "formJsonSchemaFilename", label: texts.form_file, options: forms });
}

function DueEntry({ element, id }) {
  const { texts } = useService("kmopCatalog");
  const debounce = useService("debounceInput");
  const updater = useUpdater(element);
  const bo = getBusinessObject(element);
  return h(TextFieldEntry, {
    element,
    id,
    label: texts.due,
    debounce,
    getValue: () => propertyValue(bo, "due"),
    validate: (value) => (value && !isIsoDuration(value) ? texts.not_duration : null),
    setValue: (value) => setProperty(updater, bo, "due", isIsoDuration(value || "") ? value : ""),
  });
}

function DecisionEntry({ element, id }) {
  const { decisions, texts } = useService("kmopCatalog");
  const updater = useUpdater(element);
  const bo = getBusinessObject(element);
  const current = findExtension(bo, "spiffworkflow:CalledDecisionId")?.value || "";
  return h(SelectEntry, {
    element,
    id,
    label: texts.decision_id,
    getValue: () => current,
    getOptions: () => choices(decisions(), current, texts.none),
    setValue: (value) => {
      const kept = (bo.extensionElements?.values || []).filter((v) => v.$type !== "spiffworkflow:CalledDecisionId");
      if (!value && bo.extensionElements) return updater.run([updater.update(bo.extensionElements, { values: kept })]);
      if (value) updater.run(updater.putExtension(bo, updater.create("spiffworkflow:CalledDecisionId", { value })));
    },
  });
}

/** A text entry for a body extension element (messageVariable, messagePayload) on `host`. */
function BodyExtensionEntry({ element, id, host, type, label }) {
  const debounce = useService("debounceInput");
  const updater = useUpdater(element);
  return h(TextFieldEntry, {
    element,
    id,
    label,
    debounce,
    getValue: () => findExtension(host, type)?.value || "",
    setValue: (value) => {
      const existing = findExtension(host, type);
      if (existing) return updater.run([updater.update(existing, { value: value || undefined })]);
      if (value) updater.run(updater.putExtension(host, updater.create(type, { value })));
    },
  });
}

function TimerMoment({ element }) {
  const { texts, urls } = useService("kmopCatalog");
  const post = useService("kmopPost");
  const definition = getBusinessObject(element).eventDefinitions?.find((d) => is(d, "bpmn:TimerEventDefinition"));
  const timer = timerOf(definition);
  const [shown, setShown] = useState({ text: "", error: false });
  useEffect(() => {
    if (!timer || !timer.expression.trim()) return setShown({ text: "", error: false });
    setShown({ text: texts.timer_loading, error: false });
    const wait = setTimeout(() => {
      post(urls.timer, timer)
        .then((answer) => setShown(describeTimer(answer, texts)))
        .catch((error) => setShown({ text: String(error.message || error), error: true }));
    }, 300);
    return () => clearTimeout(wait);
  }, [timer?.kind, timer?.expression]);
  return h(
    "div",
    { class: "bio-properties-panel-entry kmop-timer-moment", "data-entry-id": "kmop-timer-moment" },
    h("p", { id: "timer-moment", class: shown.error ? "kmop-error" : "", role: "status" }, shown.text),
  );
}

function CodeField({ element, id, label, getValue, setValue }) {
  return h(CodeEntry, { element, id, label, language: "python", getValue, setValue });
}

function ScriptEntry({ element, id }) {
  const { texts } = useService("kmopCatalog");
  const modeling = useService("modeling");
  const bo = getBusinessObject(element);
  return h(CodeField, {
    element,
    id,
    label: texts.script_code,
    getValue: () => bo.script || "",
    setValue: (script) => modeling.updateProperties(element, { script, scriptFormat: bo.scriptFormat || "python" }),
  });
}

function ConditionEntry({ element, id }) {
  const { texts } = useService("kmopCatalog");
  const updater = useUpdater(element);
  const bo = getBusinessObject(element);
  return h(CodeField, {
    element,
    id,
    label: texts.condition_code,
    getValue: () => bo.conditionExpression?.body || "",
    setValue: (body) => {
      const expression = body.trim() ? updater.create("bpmn:FormalExpression", { body }) : undefined;
      updater.run([updater.update(bo, { conditionExpression: expression })]);
    },
  });
}

// --- groups -----------------------------------------------------------------------------------------------

const entry = (id, component, isEdited = isTextFieldEntryEdited, extra = {}) => ({ id, component, isEdited, ...extra });
const group = (id, label, entries) => ({ id, label, component: Group, entries });

function serviceTaskGroup(element, catalog) {
  const bo = getBusinessObject(element);
  const chosen = catalog.operators.find((o) => o.name === findExtension(bo, OPERATOR)?.id);
  const names = planParameters(operatorParameters(bo), chosen).map((p) => p.id);
  return group("kmop-service", catalog.texts.service_task, [
    entry("kmop-operator", OperatorEntry, isSelectEntryEdited),
    ...names.map((name) => entry(`kmop-parameter-${name}`, ParameterEntry, isTextFieldEntryEdited, { name })),
    entry("kmop-result-variable", ResultVariableEntry),
  ]);
}

function messageEntries(element, catalog) {
  const bo = getBusinessObject(element);
  const host = is(bo, "bpmn:Task") ? bo : bo.eventDefinitions?.find((d) => is(d, "bpmn:MessageEventDefinition"));
  if (!host) return [];
  const catching = isAny(bo, ["bpmn:ReceiveTask", "bpmn:CatchEvent"]);
  const [type, label] = catching
    ? ["spiffworkflow:MessageVariable", catalog.texts.message_variable]
    : ["spiffworkflow:MessagePayload", catalog.texts.message_payload];
  return [entry(`kmop-${type.split(":")[1]}`, BodyExtensionEntry, isTextFieldEntryEdited, { host, type, label })];
}

function isConditional(element) {
  const bo = getBusinessObject(element);
  const source = bo.sourceRef;
  return is(bo, "bpmn:SequenceFlow") && source && source.default !== bo &&
    (isAny(source, ["bpmn:ExclusiveGateway", "bpmn:InclusiveGateway"]) || bo.conditionExpression);
}

/** Add kmop's groups and entries to the standard ones for `element`. */
function kmopGroups(element, groups, catalog) {
  const t = catalog.texts;
  const added = [];
  if (is(element, "bpmn:ServiceTask")) added.push(serviceTaskGroup(element, catalog));
  if (is(element, "bpmn:UserTask")) {
    added.push(group("kmop-user-task", t.user_task, [entry("kmop-form", FormEntry, isSelectEntryEdited), entry("kmop-due", DueEntry)]));
  } else if (is(element, "bpmn:StartEvent") && !getBusinessObject(element).eventDefinitions?.length) {
    added.push(group("kmop-start-form", t.start_form, [entry("kmop-form", FormEntry, isSelectEntryEdited)]));
  }
  if (is(element, "bpmn:BusinessRuleTask")) {
    added.push(group("kmop-decision", t.decision, [entry("kmop-decision", DecisionEntry, isSelectEntryEdited)]));
  }
  if (is(element, "bpmn:ScriptTask")) added.push(group("kmop-script", t.script, [entry("kmop-script", ScriptEntry)]));
  if (isConditional(element)) added.push(group("kmop-condition", t.condition, [entry("kmop-condition", ConditionEntry)]));

  const timerGroup = groups.find((g) => g.id === "timer");
  if (timerGroup) timerGroup.entries.push(entry("kmop-timer-moment", TimerMoment, () => false));
  const messageGroup = groups.find((g) => g.id === "message");
  const messages = messageEntries(element, catalog);
  if (messageGroup) messageGroup.entries.push(...messages);
  else if (messages.length && is(element, "bpmn:Task")) added.push(group("kmop-message", t.message, messages));

  const general = groups.findIndex((g) => g.id === "general");
  groups.splice(general + 1, 0, ...added);
  return groups;
}

class KmopPropertiesProvider {
  constructor(propertiesPanel, kmopCatalog) {
    propertiesPanel.registerProvider(400, this);
    this.catalog = kmopCatalog;
  }

  getGroups(element) {
    return (groups) => kmopGroups(element, groups, this.catalog);
  }
}
KmopPropertiesProvider.$inject = ["propertiesPanel", "kmopCatalog"];

export const KmopPropertiesModule = {
  __init__: ["kmopPropertiesProvider"],
  kmopPropertiesProvider: ["type", KmopPropertiesProvider],
};
