/* Draw a case's BPMN diagram with the vendored bpmn-js viewer and mark where the case is.
 *
 * The page gives everything through data- attributes of #kmop-diagram (no inline script):
 *   data-diagram-url  the BPMN XML of the case's process (same origin, access-checked)
 *   data-active       element ids where the case is now       -> marker "kmop-active"
 *   data-done         element ids the case has passed          -> marker "kmop-done"
 *   data-incident     element ids with an open incident        -> marker "kmop-incident"
 * When done, data-state is "ready" (or "failed"), which the browser tests wait for.
 */
(function () {
  "use strict";

  var box = document.getElementById("kmop-diagram");
  if (!box) {
    return;
  }

  function ids(name) {
    return (box.getAttribute(name) || "").split(/\s+/).filter(Boolean);
  }

  function fail(error) {
    box.setAttribute("data-state", "failed");
    box.textContent = "";
    var message = document.createElement("p");
    message.className = "kmop-diagram-message error";
    message.textContent = box.getAttribute("data-error-text") || "The diagram could not be shown.";
    box.appendChild(message);
    if (window.console && error) {
      window.console.error("kmop: diagram", error);
    }
  }

  function mark(viewer) {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    var root = canvas.getRootElement();
    var active = ids("data-active");
    var marked = {};

    function add(id, marker) {
      var element = registry.get(id);
      // Only shapes of this diagram: a called process's elements and the root are not drawn here.
      if (!element || element === root || element.waypoints) {
        return;
      }
      canvas.addMarker(id, marker);
      marked[id] = true;
    }

    ids("data-done").forEach(function (id) {
      if (active.indexOf(id) < 0) {
        add(id, "kmop-done");
      }
    });
    active.forEach(function (id) { add(id, "kmop-active"); });
    ids("data-incident").forEach(function (id) { add(id, "kmop-incident"); });
    return Object.keys(marked).length;
  }

  // Give the box the diagram's proportions (within limits), so a wide process is not drawn tiny.
  function fit(viewer) {
    var canvas = viewer.get("canvas");
    var inner = canvas.viewbox().inner;
    if (inner.width > 0 && inner.height > 0) {
      var height = box.clientWidth * (inner.height + 40) / (inner.width + 40);
      box.style.height = Math.round(Math.min(Math.max(height, 240), 640)) + "px";
      canvas.resized();
    }
    canvas.zoom("fit-viewport", "auto");
  }

  if (typeof window.BpmnJS !== "function") {
    fail(new Error("bpmn-js is not loaded"));
    return;
  }

  fetch(box.getAttribute("data-diagram-url"), {
    credentials: "same-origin",
    headers: { Accept: "application/xml" }
  })
    .then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.text();
    })
    .then(function (xml) {
      box.textContent = "";
      var viewer = new window.BpmnJS({ container: box });
      return viewer.importXML(xml).then(function () { return viewer; });
    })
    .then(function (viewer) {
      fit(viewer);
      box.setAttribute("data-marked", String(mark(viewer)));
      box.setAttribute("data-state", "ready");
    })
    .catch(fail);
})();
