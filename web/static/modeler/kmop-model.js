// What the modeler knows about kmop's diagrams, as plain functions on moddle objects and server answers.
// No DOM, no bpmn-js: tests/js/kmop-model.test.mjs runs them in node.

/** Return the extension element of `type` (e.g. "spiffworkflow:Properties") on a business object. */
export function findExtension(bo, type) {
  return (bo?.extensionElements?.values || []).find((value) => value.$type === type);
}

/** Return the value of <spiffworkflow:property name="..."> on a business object, or "". */
export function propertyValue(bo, name) {
  const properties = findExtension(bo, "spiffworkflow:Properties")?.properties || [];
  return properties.find((property) => property.name === name)?.value || "";
}

/** Return the parameters of a service task's operator as [{id, type, value}]. */
export function operatorParameters(bo) {
  const parameters = findExtension(bo, "spiffworkflow:ServiceTaskOperator")?.parameterList?.parameters || [];
  return parameters.map(({ id, type, value }) => ({ id, type, value: value ?? "" }));
}

/**
 * Return the parameters a task gets when it calls `operator`: the operator's own, in its order, keeping the
 * values already filled in; parameters the operator does not know are kept only when it accepts any.
 */
export function planParameters(existing, operator) {
  if (!operator) return existing;
  const byName = new Map(existing.map((parameter) => [parameter.id, parameter]));
  const own = operator.parameters.map((name) => byName.get(name) || { id: name, type: "any", value: "" });
  const extra = operator.accepts_any ? existing.filter((p) => !operator.parameters.includes(p.id)) : [];
  return [...own, ...extra];
}

/** Return select options [{value, label}] from names, with "" (none) first and an unknown current value kept. */
export function choices(names, current, noneLabel) {
  const options = [{ value: "", label: noneLabel }, ...names.map((name) => ({ value: name, label: name }))];
  if (current && !names.includes(current)) options.push({ value: current, label: `${current} (?)` });
  return options;
}

/** Return the ids of the decisions in a DMN file's XML. */
export function decisionIds(dmnXml) {
  const ids = [];
  for (const [, attributes] of dmnXml.matchAll(/<(?:\w+:)?decision\b([^>]*)>/g)) {
    const id = attributes.match(/\bid\s*=\s*"([^"]*)"/);
    if (id) ids.push(id[1]);
  }
  return ids;
}

const DURATION = /^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/;

/** Tell whether text is an ISO 8601 duration such as P2W, P5D or PT12H (what a user task's due takes). */
export function isIsoDuration(text) {
  return DURATION.test(text);
}

const TIMER_KINDS = ["timeDuration", "timeDate", "timeCycle"];

/** Return {kind, expression} of a timer event definition, or null when no kind is chosen yet. */
export function timerOf(definition) {
  const kind = TIMER_KINDS.find((name) => definition?.[name]);
  return kind ? { kind, expression: definition[kind].body || "" } : null;
}

/** Return what the timer field shows for the server's answer: {text, error}. */
export function describeTimer(answer, texts) {
  if (!answer.ok) return { text: answer.message || texts.timer_error, error: true };
  return { text: `${texts.timer_now} ${answer.now_text}: ${texts.timer_moment} ${answer.moment_text}`, error: false };
}

/**
 * Split problems into those shown on the canvas, by element id, and the rest. A problem is pinned when it
 * is about the main diagram and names an element the canvas has.
 */
export function pinProblems(problems, mainFile, hasElement) {
  const pinned = new Map();
  const loose = [];
  for (const problem of problems) {
    if (problem.file === mainFile && problem.element && hasElement(problem.element)) {
      pinned.set(problem.element, [...(pinned.get(problem.element) || []), problem.message]);
    } else {
      loose.push(problem);
    }
  }
  return { pinned, loose };
}

/** Return the JSON parse error of a form schema's text, or null when it parses to an object. */
export function schemaError(text) {
  try {
    const value = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? null : "not an object";
  } catch (error) {
    return error.message;
  }
}
