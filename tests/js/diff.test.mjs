// The version diff's script (web/static/modeler/diff.js), run in a sandbox with a stand-in page and viewer:
// each listed element gets its marker and a readable badge; a page without bpmn-js says so in each box.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import vm from "node:vm";

const SOURCE = readFileSync(new URL("../../web/static/modeler/diff.js", import.meta.url), "utf8");

function node(tag) {
  return {
    tag,
    className: "",
    textContent: "",
    children: [],
    replaceChildren(...children) {
      this.children = children;
    },
  };
}

function box(attributes) {
  const element = node("div");
  element.attributes = { ...attributes };
  element.getAttribute = (name) => element.attributes[name] ?? null;
  element.setAttribute = (name, value) => {
    element.attributes[name] = value;
  };
  return element;
}

/** A viewer holding shapes `ids` (and one connection, "flow"), recording markers and overlays. */
function viewerClass(ids, seen) {
  return class {
    constructor({ container }) {
      this.container = container;
      seen.push(this);
      this.markers = [];
      this.overlays = [];
      this.zoomed = null;
    }

    importXML(xml) {
      this.xml = xml;
      return Promise.resolve();
    }

    get(service) {
      const shapes = Object.fromEntries(ids.map((id) => [id, { id }]));
      shapes.flow = { id: "flow", waypoints: [{ x: 0, y: 0 }] };
      return {
        elementRegistry: { get: (id) => shapes[id] },
        canvas: {
          addMarker: (id, marker) => this.markers.push([id, marker]),
          zoom: (how) => (this.zoomed = how),
        },
        overlays: { add: (id, type, options) => this.overlays.push({ id, type, options }) },
      }[service];
    }
  };
}

async function run(boxes, BpmnJS) {
  const document = {
    querySelectorAll: () => boxes,
    createElement: node,
  };
  const fetch = async (url) => ({ ok: true, text: async () => `<xml for ${url}>` });
  const window = { BpmnJS, console: { error: () => {} } };
  vm.runInNewContext(SOURCE, { document, window, fetch });
  for (let i = 0; i < 20 && boxes.some((b) => b.attributes["data-state"] === "loading"); i += 1) {
    await new Promise((resolve) => setImmediate(resolve));
  }
}

test("changed, added and removed elements get their marker and a badge that stays readable", async () => {
  const seen = [];
  const old = box({
    "data-state": "loading",
    "data-diagram-url": "/v1.xml",
    "data-removed": "gone",
    "data-changed": "report_after_4_weeks flow",
    "data-changed-text": "gewijzigd",
    "data-removed-text": "verwijderd",
  });
  const fresh = box({
    "data-state": "loading",
    "data-diagram-url": "/v2.xml",
    "data-added": "new_task",
    "data-changed": "report_after_4_weeks flow unknown",
    "data-changed-text": "gewijzigd",
  });
  await run([old, fresh], viewerClass(["gone", "new_task", "report_after_4_weeks"], seen));

  assert.equal(old.attributes["data-state"], "ready");
  assert.equal(fresh.attributes["data-state"], "ready");
  const [first, second] = seen;
  assert.equal(first.xml, "<xml for /v1.xml>");
  assert.deepEqual(first.markers, [
    ["gone", "diff-removed"],
    ["report_after_4_weeks", "diff-changed"],
    ["flow", "diff-changed"],
  ]);
  assert.equal(old.attributes["data-marked"], "3");
  assert.equal(fresh.attributes["data-marked"], "3"); // "unknown" is not in this diagram
  assert.equal(first.zoomed, "fit-viewport");

  // Badges on shapes only (not on the connection), with the page's word, never scaled below 100 %.
  assert.deepEqual(
    first.overlays.map((o) => [o.id, o.options.html.textContent, o.options.html.className]),
    [
      ["gone", "verwijderd", "diff-badge diff-badge-removed"],
      ["report_after_4_weeks", "gewijzigd", "diff-badge diff-badge-changed"],
    ],
  );
  assert.equal(JSON.stringify(first.overlays[0].options.scale), JSON.stringify({ min: 1 })); // another realm
  // A word the page did not give falls back to the state's name.
  assert.deepEqual(
    second.overlays.map((o) => o.options.html.textContent),
    ["added", "gewijzigd"],
  );
});

test("without bpmn-js each box says the diagram could not be shown", async () => {
  const lonely = box({ "data-state": "loading", "data-error-text": "Het diagram kon niet getoond worden." });
  await run([lonely], undefined);
  assert.equal(lonely.attributes["data-state"], "failed");
  assert.equal(lonely.children[0].textContent, "Het diagram kon niet getoond worden.");
});
