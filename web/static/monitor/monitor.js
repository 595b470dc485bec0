/* The monitor page: the heatmap on the diagram, the chart, and the figures refreshed in place.
 *
 * Everything comes from the page (no inline script): #monitor-data holds the figures as JSON (per element:
 * waiting now, median and p90 stay in seconds and in words, the link to the cases), #monitor-diagram the
 * URL of the BPMN XML, #monitor-figures the URL of the figures alone (refetched every 30 seconds, or at
 * once with window.kmopMonitor.refresh()), #monitor-trends the URL of the slower panels (the time to a
 * decision and the chart, with their JSON in #monitor-trends-data), loaded after the page and every 5
 * minutes. When drawn, #monitor-diagram gets data-state="ready" and data-painted (how many elements got a
 * badge), the chart's canvas data-drawn="true", and each refresh counts up #monitor-figures'
 * data-refreshed and #monitor-trends' data-loaded: the browser tests wait for these.
 */
(function () {
  "use strict";

  var REFRESH_MS = 30000;
  var TRENDS_EVERY = 10; // the trends every 10th refresh: every 5 minutes
  var figures = document.getElementById("monitor-figures");
  var box = document.getElementById("monitor-diagram");
  var viewer = null;
  var chart = null;
  var badges = [];
  var mode = "waiting";

  function data() {
    var element = document.getElementById("monitor-data");
    try {
      return JSON.parse(element.textContent);
    } catch (error) {
      return { elements: {}, texts: {}, chart: {} };
    }
  }

  // 1 (light) to 4 (dark) by the value's share of the largest; 0 for nothing.
  function level(value, max) {
    if (!value || !max) {
      return 0;
    }
    return Math.min(4, Math.max(1, Math.ceil((4 * value) / max)));
  }

  function paint() {
    if (!viewer) {
      return;
    }
    var figuresNow = data();
    var overlays = viewer.get("overlays");
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    badges.forEach(function (id) { overlays.remove(id); });
    badges = [];
    registry.getAll().forEach(function (element) {
      for (var n = 1; n <= 4; n += 1) {
        canvas.removeMarker(element.id, "heat-" + n);
      }
    });
    var ids = Object.keys(figuresNow.elements).filter(function (id) {
      var element = registry.get(id);
      return element && !element.waypoints && element !== canvas.getRootElement();
    });
    var value = function (id) {
      var e = figuresNow.elements[id];
      return (mode === "waiting" ? e.waiting : e[mode]) || 0;
    };
    var max = ids.reduce(function (top, id) { return Math.max(top, value(id)); }, 0);
    var texts = figuresNow.texts || {};
    ids.forEach(function (id) {
      var e = figuresNow.elements[id];
      var n = level(value(id), max);
      if (!n) {
        return;
      }
      canvas.addMarker(id, "heat-" + n);
      var badge = document.createElement(mode === "waiting" ? "a" : "span");
      badge.className = "heat-badge heat-badge-" + n;
      badge.textContent = mode === "waiting" ? String(e.waiting) : e[mode + "_text"];
      badge.title = e.name + ": " + e.waiting + " " + texts.waiting + "; " + texts.median + " " +
        e.median_text + ", " + texts.p90 + " " + e.p90_text;
      badge.setAttribute("data-element", id);
      if (mode === "waiting") {
        badge.href = e.link;
      }
      badges.push(overlays.add(id, "kmop-heat", { position: { top: -14, right: 14 }, html: badge }));
    });
    box.setAttribute("data-painted", String(badges.length));
    box.setAttribute("data-mode", mode);
    var none = document.getElementById("heat-none");
    if (none) {
      none.hidden = badges.length > 0;
    }
  }

  function chartData() {
    var element = document.getElementById("monitor-trends-data");
    try {
      return element ? JSON.parse(element.textContent) : null;
    } catch (error) {
      return null;
    }
  }

  function drawChart() {
    var canvas = document.getElementById("monitor-chart");
    var figuresNow = chartData();
    if (!canvas || !figuresNow || !figuresNow.labels || figuresNow.empty || typeof window.Chart !== "function") {
      return;
    }
    if (chart) {
      chart.destroy();
    }
    var colours = ["#1f5fa8", "#2e8540", "#b3261e", "#8a6d00"];
    chart = new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: figuresNow.labels,
        datasets: figuresNow.datasets.map(function (set, i) {
          return { label: set.label, data: set.data, backgroundColor: colours[i % colours.length] };
        })
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
        onClick: function (event, items) {
          // a bar of started applications leads to those cases
          var item = items[0];
          if (item && figuresNow.datasets[item.datasetIndex].key === "started" && figuresNow.links[item.index]) {
            window.location.href = figuresNow.links[item.index];
          }
        }
      }
    });
    canvas.setAttribute("data-drawn", "true");
  }

  // Fetch a fragment of the page; a redirect means the session ended: show the log-in page as a page.
  function fragment(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } }).then(function (response) {
      if (response.redirected) {
        window.location.reload();
        throw new Error("logged out");
      }
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.text();
    });
  }

  // The slower panels (time to decision, the chart): after the page's own figures, then every 5 minutes.
  function loadTrends() {
    var box = document.getElementById("monitor-trends");
    if (!box) {
      return Promise.resolve();
    }
    return fragment(box.getAttribute("data-url"))
      .then(function (html) {
        var open = Array.prototype.map.call(box.querySelectorAll("details"), function (d) { return d.open; });
        box.innerHTML = html;
        Array.prototype.forEach.call(box.querySelectorAll("details"), function (d, i) { d.open = Boolean(open[i]); });
        box.setAttribute("data-loaded", String(Number(box.getAttribute("data-loaded")) + 1));
        drawChart();
      })
      .catch(function (error) {
        if (window.console) {
          window.console.warn("kmop: monitor trends", error);
        }
      });
  }

  function refreshFigures() {
    if (!figures) {
      return Promise.resolve();
    }
    return fragment(figures.getAttribute("data-refresh-url"))
      .then(function (html) {
        // keep what the reader opened and where they were
        var open = Array.prototype.map.call(figures.querySelectorAll("details"), function (d) { return d.open; });
        var x = window.scrollX;
        var y = window.scrollY;
        figures.innerHTML = html;
        Array.prototype.forEach.call(figures.querySelectorAll("details"), function (d, i) {
          d.open = Boolean(open[i]);
        });
        window.scrollTo(x, y);
        figures.setAttribute("data-refreshed", String(Number(figures.getAttribute("data-refreshed")) + 1));
        paint();
      })
      .catch(function (error) {
        // the figures shown stay; the next round tries again
        if (window.console) {
          window.console.warn("kmop: monitor refresh", error);
        }
      });
  }

  // Give the box the diagram's proportions (within limits), so a wide process is not drawn in a sliver.
  function fit(made) {
    var canvas = made.get("canvas");
    var inner = canvas.viewbox().inner;
    if (inner.width > 0 && inner.height > 0) {
      var height = (box.clientWidth * (inner.height + 40)) / (inner.width + 40);
      box.style.height = Math.round(Math.min(Math.max(height, 260), 640)) + "px";
      canvas.resized();
    }
    canvas.zoom("fit-viewport", "auto");
  }

  function showDiagram() {
    if (!box) {
      return;
    }
    var fail = function (error) {
      box.setAttribute("data-state", "failed");
      box.textContent = box.getAttribute("data-error-text") || "The diagram could not be shown.";
      if (window.console && error) {
        window.console.error("kmop: monitor diagram", error);
      }
    };
    if (typeof window.BpmnJS !== "function") {
      fail(new Error("bpmn-js is not loaded"));
      return;
    }
    fetch(box.getAttribute("data-diagram-url"), { credentials: "same-origin", headers: { Accept: "application/xml" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (xml) {
        box.textContent = "";
        var made = new window.BpmnJS({ container: box });
        return made.importXML(xml).then(function () { return made; });
      })
      .then(function (made) {
        viewer = made;
        fit(viewer);
        box.setAttribute("data-state", "ready");
        paint();
      })
      .catch(fail);
  }

  Array.prototype.forEach.call(document.querySelectorAll(".heat-modes button"), function (button) {
    button.addEventListener("click", function () {
      mode = button.getAttribute("data-mode");
      Array.prototype.forEach.call(document.querySelectorAll(".heat-modes button"), function (other) {
        other.setAttribute("aria-pressed", String(other === button));
      });
      paint();
    });
  });

  function refresh() {
    return Promise.all([refreshFigures(), loadTrends()]);
  }

  showDiagram();
  loadTrends();
  var rounds = 0;
  window.setInterval(function () {
    if (!document.hidden) {
      rounds += 1;
      refreshFigures();
      if (rounds % TRENDS_EVERY === 0) {
        loadTrends();
      }
    }
  }, REFRESH_MS);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      refresh();
    }
  });
  window.kmopMonitor = { refresh: refresh };
})();
