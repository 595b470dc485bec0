/* Colour the two diagrams of the version diff (/modeler/<key>/diff) with the vendored bpmn-js viewer.
 * Each .diff-diagram gives its diagram's URL and the element ids to mark through data- attributes
 * (data-added, data-removed, data-changed -> markers diff-added, diff-removed, diff-changed, and a badge
 * on each marked shape with the word in data-added-text, data-removed-text, data-changed-text). When done,
 * data-state is "ready" (or "failed") and data-marked says how many elements were marked. The table of
 * changes below the diagrams says the same in words, with or without this script. */
(function () {
  "use strict";

  function ids(box, name) {
    return (box.getAttribute(name) || "").split(/\s+/).filter(Boolean);
  }

  function fail(box, error) {
    box.setAttribute("data-state", "failed");
    var message = document.createElement("p");
    message.className = "diff-message error";
    message.textContent = box.getAttribute("data-error-text") || "The diagram could not be shown.";
    box.replaceChildren(message);
    if (window.console && error) window.console.error("kmop: diff diagram", error);
  }

  // A word on each marked shape, never smaller than at 100 %: a whole diagram fitted in its box is drawn
  // too small to see a coloured outline.
  function badge(box, viewer, element, state) {
    if (element.waypoints) return;
    var word = document.createElement("span");
    word.className = "diff-badge diff-badge-" + state;
    word.textContent = box.getAttribute("data-" + state + "-text") || state;
    viewer.get("overlays").add(element.id, "diff-badge", { position: { top: -2, left: 0 }, html: word, scale: { min: 1 } });
  }

  function mark(box, viewer) {
    var registry = viewer.get("elementRegistry");
    var canvas = viewer.get("canvas");
    var marked = 0;
    ["added", "removed", "changed"].forEach(function (state) {
      ids(box, "data-" + state).forEach(function (id) {
        var element = registry.get(id);
        if (element) {
          canvas.addMarker(id, "diff-" + state);
          badge(box, viewer, element, state);
          marked += 1;
        }
      });
    });
    canvas.zoom("fit-viewport", "auto");
    box.setAttribute("data-marked", String(marked));
    box.setAttribute("data-state", "ready");
  }

  function show(box) {
    fetch(box.getAttribute("data-diagram-url"), { credentials: "same-origin", headers: { Accept: "application/xml" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (xml) {
        var viewer = new window.BpmnJS({ container: box });
        return viewer.importXML(xml).then(function () { mark(box, viewer); });
      })
      .catch(function (error) { fail(box, error); });
  }

  var boxes = document.querySelectorAll(".diff-diagram");
  if (typeof window.BpmnJS !== "function") {
    boxes.forEach(function (box) { fail(box, new Error("bpmn-js is not loaded")); });
    return;
  }
  boxes.forEach(show);
})();
