// The editor page (/modeler/<key>/edit): the draft's BPMN diagram, DMN tables and form files in tabs,
// autosaved to the server, which answers with the problems `kmop deploy` would print; those are listed
// and pinned on the canvas. The deploy button stays disabled while a problem remains.
import {
  BpmnModeler,
  BpmnPropertiesPanelModule,
  BpmnPropertiesProviderModule,
  DmnModeler,
  bpmnPackage,
} from "../vendor/modeler/modeler.bundle.js";
import { createCodeEditor } from "./code-editor.js";
import { decisionIds, pinProblems, schemaError } from "./kmop-model.js";
import { KmopPropertiesModule } from "./properties.js";
import { createSaver } from "./saver.js";
import { kmopModdleExtensions } from "./spiffworkflow-moddle.js";

const { urls, texts } = JSON.parse(document.getElementById("modeler-config").textContent);
const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
const $ = (selector) => document.querySelector(selector);

async function request(method, url, body) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRFToken": csrfToken },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
  return response.json();
}
const post = (url, body) => request("POST", url, body);

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

// --- tabs -------------------------------------------------------------------------------------------------

const tabs = [];

function addTab(label, panel, onShow = () => {}) {
  const button = element("button", { type: "button", role: "tab", class: "editor-tab" }, label);
  button.addEventListener("click", () => showTab(tab));
  const tab = { label, button, panel, onShow };
  tabs.push(tab);
  $("#editor-tabs").append(button);
  if (panel.parentNode !== $("#tab-panels")) $("#tab-panels").append(panel);
  return tab;
}

function showTab(shown) {
  for (const tab of tabs) {
    tab.button.setAttribute("aria-selected", String(tab === shown));
    tab.panel.hidden = tab !== shown;
  }
  shown.onShow();
}

// --- documents: each file of the draft, with a way to read its current content -------------------------

function dmnDocument(file, saver) {
  const panel = element("section", { class: "tab-panel dmn-panel" });
  const container = element("div", { class: "dmn-canvas" });
  panel.append(container);
  let modeler = null;
  const watched = new WeakSet();
  const open = async () => {
    if (modeler) return;
    modeler = new DmnModeler({ container });
    modeler.on("views.changed", () => {
      const viewer = modeler.getActiveViewer();
      if (viewer && !watched.has(viewer)) {
        watched.add(viewer);
        viewer.on("commandStack.changed", () => saver.changed());
      }
    });
    await modeler.importXML(file.content);
  };
  const read = async () => (modeler ? (await modeler.saveXML({ format: true })).xml : file.content);
  return { file, panel, open, read };
}

function formDocument(file, saver) {
  let text = file.content;
  const previews = { nl: element("div", { class: "form-preview", inert: "" }), en: element("div", { class: "form-preview", inert: "" }) };
  const source = element("div", { class: "form-source" });
  const panel = element(
    "section",
    { class: "tab-panel form-panel" },
    source,
    element("div", { class: "form-previews" },
      element("section", { lang: "nl" }, element("h3", {}, texts.preview_nl), previews.nl),
      element("section", { lang: "en" }, element("h3", {}, texts.preview_en), previews.en)),
  );
  let wait = null;
  const preview = () => {
    const error = schemaError(text);
    for (const [lang, target] of Object.entries(previews)) {
      if (error) {
        target.replaceChildren(element("p", { class: "kmop-error" }, `${texts.invalid_json}: ${error}`));
        continue;
      }
      post(urls.form_preview, { schema: text, lang })
        .then((answer) => {
          if (answer.error) target.replaceChildren(element("p", { class: "kmop-error" }, answer.error));
          else target.innerHTML = answer.html; // kmop's own form renderer, same origin
        })
        .catch((failure) => target.replaceChildren(element("p", { class: "kmop-error" }, failure.message)));
    }
  };
  let editor = null;
  const open = () => {
    if (editor) return;
    editor = createCodeEditor(source, {
      doc: text,
      language: "json",
      label: file.name,
      onChange: (changed) => {
        text = changed;
        saver.changed();
        clearTimeout(wait);
        wait = setTimeout(preview, 500);
      },
    });
    preview();
  };
  return { file, panel, open, read: async () => text };
}

// --- problems: listed beside the canvas, pinned on their element -------------------------------------------

function showProblems(state, problems) {
  state.problems = problems;
  const registry = state.modeler.get("elementRegistry");
  const overlays = state.modeler.get("overlays");
  const { pinned } = pinProblems(problems, state.main, (id) => Boolean(registry.get(id)));
  overlays.remove({ type: "kmop-problem" });
  for (const [id, messages] of pinned) {
    const badge = element("div", { class: "kmop-problem", title: messages.join("\n"), "data-element": id }, messages.join(" · "));
    // Never smaller than at 100 %, so that it stays readable on a whole diagram fitted in the window; it
    // sits just above its element (editor.css lifts it by its own height), clear of the context pad.
    overlays.add(id, "kmop-problem", { position: { top: -2, left: 0 }, html: badge, scale: { min: 1 } });
  }
  $("#problems").replaceChildren(...problems.map((problem) => problemItem(state, problem)));
  $("#problems-none").hidden = problems.length > 0;
  $("#deploy-button").disabled = problems.length > 0;
}

function problemItem(state, problem) {
  const shape = problem.file === state.main && problem.element && state.modeler.get("elementRegistry").get(problem.element);
  const name = shape?.businessObject.name;
  const where = problem.element ? (name ? `${name} (${problem.element})` : problem.element) : texts.whole_file;
  const item = element(
    "li",
    { class: "problem", "data-element": problem.element || "", "data-file": problem.file, tabindex: "0" },
    element("span", { class: "problem-where" }, `${problem.file} · ${where}`),
    element("span", { class: "problem-message" }, problem.message),
  );
  const go = () => goToProblem(state, problem, shape);
  item.addEventListener("click", go);
  item.addEventListener("keydown", (event) => event.key === "Enter" && go());
  return item;
}

function goToProblem(state, problem, shape) {
  const tab = tabs.find((t) => t.label === problem.file);
  if (tab) showTab(tab);
  if (!shape) return;
  state.modeler.get("selection").select(shape);
  state.modeler.get("canvas").scrollToElement(shape);
}

// --- saving -----------------------------------------------------------------------------------------------

function setStatus(text, failed = false) {
  $("#save-status").textContent = text;
  $("#save-status").classList.toggle("kmop-error", failed);
}

async function collect(state) {
  return Promise.all(state.documents.map(async (doc) => ({ name: doc.file.name, content: await doc.read() })));
}

function wireForms(state, saver) {
  $("#deploy-form").addEventListener("submit", async (event) => {
    if (!saver.isDirty()) return;
    event.preventDefault();
    await saver.saveNow();
    if (!state.problems.length) event.target.submit();
  });
  $("#discard-form")?.addEventListener("submit", (event) => {
    if (!window.confirm(texts.confirm_discard)) event.preventDefault();
  });
}

// --- start ------------------------------------------------------------------------------------------------

async function start() {
  const [draft, operators, forms] = await Promise.all([
    request("GET", urls.draft),
    request("GET", urls.operators).catch(() => []),
    request("GET", urls.forms).then((answer) => answer.forms).catch(() => []),
  ]);
  const state = { main: draft.main, problems: [], documents: [] };
  const catalog = {
    operators,
    forms,
    texts,
    urls,
    decisions: () => state.decisions || [],
  };
  const saver = createSaver({
    collect: () => collect(state),
    send: (files) => request("PUT", urls.draft, { files }),
    onDirty: () => setStatus(texts.unsaved),
    onSaved: (answer) => {
      setStatus(`${texts.saved_at} ${answer.saved_at_text}`);
      $("#discard-form").hidden = false; // there is a draft now
      showProblems(state, answer.problems);
      refreshDecisions(state);
    },
    onFailed: (error) => setStatus(`${texts.save_failed}: ${error.message}`, true),
  });
  state.modeler = new BpmnModeler({
    container: "#canvas",
    propertiesPanel: { parent: "#properties" },
    additionalModules: [
      BpmnPropertiesPanelModule,
      BpmnPropertiesProviderModule,
      KmopPropertiesModule,
      { kmopCatalog: ["value", catalog], kmopPost: ["value", post] },
    ],
    moddleExtensions: kmopModdleExtensions(bpmnPackage),
  });

  for (const file of draft.files) {
    if (file.name === draft.main) {
      state.documents.push({ file, read: async () => (await state.modeler.saveXML({ format: true })).xml });
    } else if (file.kind === "dmn" || file.kind === "form") {
      const doc = (file.kind === "dmn" ? dmnDocument : formDocument)(file, saver);
      state.documents.push(doc);
    } else {
      state.documents.push({ file, read: async () => file.content }); // kept as it is
    }
  }
  const processTab = addTab(draft.main, $("#tab-process"), () => state.modeler.get("canvas").resized());
  for (const doc of state.documents.filter((d) => d.panel)) {
    addTab(doc.file.name, doc.panel, () => doc.open());
  }
  showTab(processTab);
  await state.modeler.importXML(draft.files.find((f) => f.name === draft.main).content);
  state.modeler.get("canvas").zoom("fit-viewport");
  refreshDecisions(state);
  showProblems(state, draft.problems);
  setStatus(draft.saved ? `${texts.saved_at} ${draft.updated_at_text}` : texts.not_saved_yet);
  state.modeler.on("commandStack.changed", () => saver.changed());
  wireForms(state, saver);

  window.kmopModeler = {
    modeler: state.modeler,
    saveNow: () => saver.saveNow(),
    problems: () => state.problems.slice(),
  };
}

async function refreshDecisions(state) {
  const dmn = state.documents.filter((doc) => doc.file.kind === "dmn");
  state.decisions = (await Promise.all(dmn.map((doc) => doc.read()))).flatMap(decisionIds);
}

start().catch((error) => setStatus(`${texts.load_failed}: ${error.message}`, true));
