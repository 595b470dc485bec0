// Autosave: debounced, one save at a time, a failed save keeps the draft dirty.
import assert from "node:assert/strict";
import { mock, test } from "node:test";
import { createSaver } from "../../web/static/modeler/saver.js";

function recorder(answer = { problems: [] }) {
  const sent = [];
  let version = 0;
  return {
    sent,
    edit: () => (version += 1),
    collect: () => [{ name: "registration.bpmn", content: `v${version}` }],
    send: async (files) => {
      sent.push(files[0].content);
      return answer;
    },
  };
}

test("edits in a quick row are saved once, after the quiet delay", async () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    const r = recorder();
    const saved = [];
    const saver = createSaver({ ...r, onSaved: (answer) => saved.push(answer), delay: 1500 });
    for (let i = 0; i < 3; i += 1) {
      r.edit();
      saver.changed();
      mock.timers.tick(1000);
    }
    assert.deepEqual(r.sent, []);
    assert.equal(saver.isDirty(), true);
    mock.timers.tick(500);
    await saver.saveNow(); // waits for the timed save, then saves again (nothing changed: same content)
    assert.deepEqual(r.sent, ["v3", "v3"]);
    assert.equal(saved.length, 2);
    assert.equal(saver.isDirty(), false);
  } finally {
    mock.timers.reset();
  }
});

test("saveNow cancels the pending timer and resolves with the server's answer", async () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    const r = recorder({ saved_at_text: "03:12", problems: [{ file: "a", element: null, message: "m" }] });
    const saver = createSaver({ ...r });
    r.edit();
    saver.changed();
    const answer = await saver.saveNow();
    assert.equal(answer.saved_at_text, "03:12");
    mock.timers.tick(5000);
    assert.deepEqual(r.sent, ["v1"]);
  } finally {
    mock.timers.reset();
  }
});

test("saves never overlap: the second waits for the first", async () => {
  let release;
  const order = [];
  const saver = createSaver({
    collect: () => [],
    send: (files) => {
      order.push("start");
      return new Promise((resolve) => {
        release = () => {
          order.push("end");
          resolve({ problems: [] });
        };
      });
    },
  });
  const first = saver.saveNow();
  const second = saver.saveNow();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(order, ["start"]);
  release();
  await first;
  await new Promise((resolve) => setImmediate(resolve));
  release();
  await second;
  assert.deepEqual(order, ["start", "end", "start", "end"]);
});

test("a failed save is reported, the draft stays dirty and the next save still runs", async () => {
  const failures = [];
  let fail = true;
  const saver = createSaver({
    collect: () => [],
    send: async () => {
      if (fail) throw new Error("offline");
      return { problems: [] };
    },
    onFailed: (error) => failures.push(error.message),
  });
  await assert.rejects(saver.saveNow(), /offline/);
  assert.deepEqual(failures, ["offline"]);
  assert.equal(saver.isDirty(), true);
  fail = false;
  await saver.saveNow();
  assert.equal(saver.isDirty(), false);
});
