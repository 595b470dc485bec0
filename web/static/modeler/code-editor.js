// CodeMirror 6 editors: Python for scripts and conditions (in the properties panel), JSON for form files.
import { EditorView, basicSetup, h, json, python, useEffect, useRef } from "../vendor/modeler/modeler.bundle.js";

const LANGUAGES = { python, json };

/** Mount a CodeMirror editor in `parent`; `onChange(text)` runs after each edit (debounced by `delay`). */
export function createCodeEditor(parent, { doc = "", language = "python", label = "", onChange = () => {}, delay = 300 }) {
  let timer = null;
  const view = new EditorView({
    doc,
    parent,
    extensions: [
      basicSetup,
      LANGUAGES[language](),
      EditorView.lineWrapping,
      EditorView.contentAttributes.of({ "aria-label": label }),
      EditorView.updateListener.of((update) => {
        if (!update.docChanged) return;
        clearTimeout(timer);
        timer = setTimeout(() => onChange(view.state.doc.toString()), delay);
      }),
    ],
  });
  return view;
}

/** Replace the editor's text (after undo, or another element selected) unless the user is typing in it. */
export function syncCodeEditor(view, text) {
  if (view.hasFocus || view.state.doc.toString() === text) return;
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}

/** A properties panel entry holding a code editor. */
export function CodeEntry({ element, id, label, language, getValue, setValue }) {
  const parent = useRef(null);
  const view = useRef(null);
  const latest = useRef(setValue);
  latest.current = setValue;
  useEffect(() => {
    view.current = createCodeEditor(parent.current, { doc: getValue(), language, label, onChange: (text) => latest.current(text) });
    return () => view.current.destroy();
  }, [element]);
  useEffect(() => view.current && syncCodeEditor(view.current, getValue()));
  return h(
    "div",
    { class: "bio-properties-panel-entry kmop-code-entry", "data-entry-id": id },
    h("div", { class: "bio-properties-panel-label" }, label),
    h("div", { class: "kmop-code", ref: parent }),
  );
}
