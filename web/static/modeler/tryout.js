/* Colour the path a try-out took on its diagram, with the vendored bpmn-js viewer (no inline script).
 *
 * #try-diagram gives everything through data- attributes:
 *   data-diagram-url  the BPMN XML of the tried process (same origin)
 *   data-done         element ids passed                -> marker "try-done" (green)
 *   data-active       element ids where it waits now    -> marker "try-active"
 *   data-incident     element ids with an open incident -> marker "try-incident"
 *   data-path         element ids passed, in order      -> a small numbered badge on each (first pass)
 * When done, data-state is "ready" (or "failed") and data-marked says how many shapes were marked.
 * Everything else on the page works without this script.
 */
(function () {
  "use strict";

  var box = document.getElementById("try-diagram");
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
    message.className = "try-diagram-message error";
    message.textContent = box.getAttribute("data-error-text") || "The diagram could not be shown.";
    box.appendChild(message);
    if (window.console && error) {
      window.console.error("kmop: try-out diagram", error);
    }
  }

  function mark(viewer) {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    var overlays = viewer.get("overlays");
    var root = canvas.getRootElement();
    var active = ids("data-active");
    var marked = {};

    function shape(id) {
      var element = registry.get(id);
      // Only shapes of this diagram: a called process's elements and the root are not drawn here.
      return element && element !== root && !element.waypoints ? element : null;
    }

    function add(id, marker) {
      if (shape(id)) {
        canvas.addMarker(id, marker);
        marked[id] = true;
      }
    }

    ids("data-done").forEach(function (id) {
      if (active.indexOf(id) < 0) {
        add(id, "try-done");
      }
    });
    active.forEach(function (id) { add(id, "try-active"); });
    ids("data-incident").forEach(function (id) { add(id, "try-incident"); });

    var numbered = {};
    ids("data-path").forEach(function (id, index) {
      if (numbered[id] || !shape(id)) {
        return;
      }
      numbered[id] = true;
      var badge = document.createElement("span");
      badge.className = "try-order";
      badge.textContent = String(index + 1);
      overlays.add(id, "try-order", { position: { top: -10, left: -10 }, html: badge });
    });
    return Object.keys(marked).length;
  }

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
