// Autosave: edits mark the draft dirty; a quiet spell of `delay` ms saves it. One save at a time: an edit
// made while a save is under way is saved right after it. No DOM: tests/js/saver.test.mjs runs it in node.

/**
 * Create a saver. `collect()` returns the files to save (may be a promise); `send(files)` stores them and
 * returns the server's answer; `onSaved(answer)`, `onFailed(error)` and `onDirty()` report to the page.
 */
export function createSaver({ collect, send, onSaved = () => {}, onFailed = () => {}, onDirty = () => {}, delay = 1500 }) {
  let timer = null;
  let dirty = false;
  let queue = Promise.resolve();

  async function run() {
    dirty = false;
    try {
      const answer = await send(await collect());
      onSaved(answer);
      return answer;
    } catch (error) {
      dirty = true;
      onFailed(error);
      throw error;
    }
  }

  /** Save now (after a save under way); resolves with the server's answer. */
  function saveNow() {
    clearTimeout(timer);
    timer = null;
    const next = queue.then(run);
    queue = next.catch(() => {});
    return next;
  }

  /** Note an edit: save once nothing changed for `delay` ms. */
  function changed() {
    dirty = true;
    onDirty();
    clearTimeout(timer);
    timer = setTimeout(() => saveNow().catch(() => {}), delay);
  }

  return { changed, saveNow, isDirty: () => dirty || timer !== null };
}
